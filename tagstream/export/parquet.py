"""Parquet tables of an analysis (polars): g2, trace, FLID and one decay file per regime; with the
regime fits / spectra also regime_fits, spectra_<regime> and trap_spectrum. Which tables an analysis
has is decided in one place, tagstream.product.Analysis.tables (for analyze, export and the app).

Files are written atomically (temporary file in the same directory, then os.replace) and never
overwrite an existing file unless overwrite=True.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from tagstream.atomic import atomic_path
from tagstream.errors import ExportError  # noqa: F401 - re-exported (callers import it from here)


def results_frames(res) -> dict[str, pl.DataFrame]:
    """The tables to export: file name -> DataFrame."""
    out: dict[str, pl.DataFrame] = {}
    if res.g2 is not None:
        out["g2.parquet"] = pl.DataFrame({"tau_ps": res.g2.tau_ps, "count": res.g2.counts,
                                          "g2_normalized": res.g2.normalized})
    tr = res.trace
    names = np.array(["" ] + [r.regime.file_tag for r in res.regimes], dtype=object)
    out["trace.parquet"] = pl.DataFrame({
        "bin_start_ps": tr.bin_start_ps, "counts_a": tr.counts_a, "counts_b": tr.counts_b, "counts": tr.counts,
        "n_referenced": tr.n_referenced, "lifetime_ns": tr.lifetime_ns, "on": tr.on,
        "regime": tr.regime.astype(np.int8),
        "regime_name": pl.Series(names[tr.regime.astype(np.int64) + 1].tolist(), dtype=pl.Utf8)})
    f = res.flid
    ci, li = np.meshgrid(np.arange(f.hist.shape[0]), np.arange(f.hist.shape[1]), indexing="ij")
    out["flid.parquet"] = pl.DataFrame({
        "count_lo": f.count_edges[ci.ravel()], "count_hi": f.count_edges[ci.ravel() + 1],
        "lifetime_lo_ns": f.lifetime_edges_ns[li.ravel()], "lifetime_hi_ns": f.lifetime_edges_ns[li.ravel() + 1],
        "n_bins": f.hist.ravel()})
    for r in res.regimes:
        out[f"decay_{r.regime.file_tag}.parquet"] = pl.DataFrame({"t_ps": r.t_ps, "count": r.counts})
    if getattr(res, "levels", None) is not None:              # analyze --levels: levels.parquet, level_flid.parquet
        from tagstream.levels.result import level_frames

        out.update(level_frames(res.levels))
    if getattr(res, "blinking", None) is not None:            # dwells.parquet, dwell_histograms.parquet
        out.update(res.blinking.tables())
    if getattr(res, "intensity_correlation", None) is not None:
        out["intensity_correlation.parquet"] = res.intensity_correlation.table()
    if getattr(res, "g2_time", None) is not None:
        out["g2_vs_time.parquet"] = res.g2_time.table()
    return out


def regime_analysis_frames(res, fits=None, spectra=None) -> dict[str, pl.DataFrame]:
    """Tables of the regime fits and spectra (tagstream.analysis.regimes RegimeFits / RegimeSpectra):
    regime_fits.parquet (one row per regime, the numbers of `analyze --json`, null where not fitted),
    spectra_<regime>.parquet and trap_spectrum.parquet (energy_ev, intensity, error; the trap spectrum
    also has each regime's reconstruction as intensity_<regime> / error_<regime>)."""
    from tagstream.analysis.regimes import regime_fields

    out: dict[str, pl.DataFrame] = {}
    if fits is None and spectra is None:
        return out
    rows = [{"regime": r.regime.file_tag, "range_lo_ns": float(r.range_ns[0]),
             "range_hi_ns": float(r.range_ns[1]), "n_bins": int(r.n_bins), "n_photons": int(r.n_photons),
             **regime_fields(fits, spectra, i)} for i, r in enumerate(res.regimes)]
    schema = {k: (pl.Utf8 if k in ("regime", "fit_mode", "fit_message", "fit_warnings") or k.endswith("_err_kind")
                  else pl.Boolean if k in ("fit_success", "fit_ok")
                  else pl.Int64 if k in ("n_bins", "n_photons", "spectrum_frames") else pl.Float64)
              for k in dict.fromkeys(k for row in rows for k in row)}
    out["regime_fits.parquet"] = pl.DataFrame(rows, schema=schema)
    if spectra is not None:
        for r, rs in zip(res.regimes, spectra.spectra):
            out[f"spectra_{r.regime.file_tag}.parquet"] = pl.DataFrame(
                {"energy_ev": spectra.energy_ev, "intensity": rs.density, "error": rs.density_err})
        t = spectra.trap
        if t is not None:
            cols = {"energy_ev": t.energy_ev, "intensity": t.density, "error": t.density_err}
            names = {r.regime.label: r.regime.file_tag for r in res.regimes}
            for lab, (dens, err) in t.per_regime.items():
                cols[f"intensity_{names[lab]}"] = dens
                cols[f"error_{names[lab]}"] = err
            out["trap_spectrum.parquet"] = pl.DataFrame(cols)
    return out


def write_tables(frames: dict, directory, overwrite: bool = False, also: tuple = ()) -> list[Path]:
    """Write {file name: DataFrame} as Parquet into `directory` (created if needed), each atomically;
    returns the paths. Nothing is written if any of them (or of `also`, e.g. the report written
    next) exists and overwrite is False (ExportError)."""
    d = Path(directory)
    existing = [n for n in [*frames, *also] if (d / n).exists()]
    if existing and not overwrite:
        raise ExportError(f"{d} already holds {', '.join(existing)}; use --force to overwrite")
    d.mkdir(parents=True, exist_ok=True)
    written = []
    for name, df in frames.items():
        with atomic_path(d / name) as tmp:
            df.write_parquet(tmp)
        written.append(d / name)
    return written
