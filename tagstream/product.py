"""The analysis product: ONE analysis of a recording, whoever asks (`tagstream analyze`, the batch
`tagstream export`, the live app at the end of a run).

    from tagstream.product import AnalysisOptions, analyze_recording
    a = analyze_recording("qd.qutag", AnalysisOptions(config=AnalysisConfig(trace_bin_ms=100), fit="global"))
    a.results, a.fits, a.spectra, a.warnings     # Results (fits attached), RegimeFits, RegimeSpectra, [str]
    a.to_json()                                  # the one JSON document (schema in README, "JSON document")
    a.tables()                                   # {file name: polars DataFrame}: the same for analyze and batch
    a.write("out/", overwrite=False)             # tables + report.png, each atomically
    a.summary_row(), a.summary_text(), a.report_notes()

`analyze_recording` also takes a Results (a live pipeline's final snapshot): then nothing is re-read.
Callers only choose inputs (AnalysisOptions) and outputs; every number comes from here, computed by
the library's single implementations (tagstream.pipeline, tagstream.analysis.regimes fit_results /
spectra_results). Anything doubtful (reader warnings, frame-timing warnings, regimes not fitted, fits
not converged, spectra that could not be used) is collected in `warnings` and said in every output.
"""

from __future__ import annotations

import math
import os
import threading
import warnings as _warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from tagstream.errors import TagstreamError
from tagstream.setup import ResolvedSetup, Setup, resolve_setup

if TYPE_CHECKING:   # the analysis stack (numba) loads when an analysis runs, not for `tagstream --help`
    from tagstream.pipeline import AnalysisConfig
    from tagstream.results import Results

REPORT_NAME = "report.png"
# warnings.catch_warnings swaps process-global state: one analysis at a time records (threads: Dask, app)
_CATCH_LOCK = threading.Lock()
FIT_MODELS = ("global", "single", "be_trap")


@dataclass(frozen=True)
class AnalysisOptions:
    """Everything that decides the numbers of an analysis (the same object for analyze, export, app).

    config: tagstream.pipeline.AnalysisConfig (trace bin, threshold, regimes, t0, g2, levels, ...).
    setup: the whole instrument Setup (a live source, tests); None = each recording's own, part by
        part (tagstream.setup.resolve_setup): setup_overrides (CLI flags; a channel None = "none")
        > setup_file (--setup), else the recording's sidecar (<stem>.setup.toml / .meta.json) > what
        the file's header and first tags propose (tagstream.io.propose) > the defaults.
        setup_source: where a given setup came from (messages).
    skip_missing_channels: SSTT: analyse the channel files present when listed ones are missing.
    fit: decay model of the regime fits ("global", "single", "be_trap"); None = no fits.
    fit_options: tagstream.analysis.fit_options.FitOptions (IRF, fit range, band-edge test, fast
        component; from the CLI: tagstream.commands.fit_options); None = the fit's defaults.
    spectra: EMCCD spectra file (.sif / .spectra.npz) or a tagstream.spectra.SpectralSeries; None =
        the recording's <stem>.spectra.npz sidecar if present and spectra_sidecar, else no spectra.
    workers / scheduler: analyse the recording in time slices on this many local processes / on the
        Dask cluster at this address (tagstream.slices: the same numbers as on one core).
    """

    config: AnalysisConfig = field(default_factory=lambda: _default_config())
    setup: Setup | None = None
    setup_source: str = "given"
    setup_overrides: Mapping[str, Any] = field(default_factory=dict)
    setup_file: str | None = None
    skip_missing_channels: bool = False
    resolved_setup: ResolvedSetup | None = None   # resolved up front (for_recording), used as it is
    fit: str | None = "global"
    fit_options: Any = None
    spectra: Any = None
    spectra_sidecar: bool = True
    workers: int = 1
    scheduler: str | None = None

    def __post_init__(self) -> None:
        if self.fit is not None and self.fit not in FIT_MODELS:
            raise TagstreamError(f"unknown fit model {self.fit!r}; use one of {', '.join(FIT_MODELS)}")

    def resolve_setup(self, recording=None, header: Mapping | None = None) -> ResolvedSetup:
        """The setup of `recording` (None: a live source), part by part, with where each part came
        from; header: what the recording proposes (tagstream.io.propose.propose_setup)."""
        if self.resolved_setup is not None:
            return self.resolved_setup
        cli = dict(self.setup_overrides)
        if self.config.laser_period_ps is not None:
            cli["laser_period_ps"] = self.config.laser_period_ps
        if self.setup is not None:
            import dataclasses

            setup = dataclasses.replace(self.setup, **{k: v for k, v in cli.items() if k != "laser_period_ps"})
            origins = {k: ("CLI" if k in cli else self.setup_source) for k in
                       ("sync", "spad_a", "spad_b", "frame", "sync_divider", "sync_filtered", "laser_period_ps")}
            return ResolvedSetup(setup, self.config.laser_period_ps, origins)
        return resolve_setup(recording, header, self.setup_file, cli)

    def for_recording(self, recording) -> "AnalysisOptions":
        """These options with `recording`'s setup resolved (its header and first tags read): what the
        batch hashes and ships to a worker, so the worker analyses exactly what was planned."""
        import dataclasses

        rs = self.resolve_setup(recording, _probe(recording)[0])
        config = self.config if rs.laser_period_ps is None else dataclasses.replace(
            self.config, laser_period_ps=rs.laser_period_ps)
        return dataclasses.replace(self, setup=rs.setup, setup_source=rs.describe(), setup_overrides={},
                                   setup_file=None, config=config, resolved_setup=rs)

    def resolve_spectra(self, recording=None) -> tuple[Any, str | None]:
        """(spectra file / SpectralSeries or None, how chosen: "given" | "sidecar" | None)."""
        if self.spectra is not None:
            return self.spectra, "given"
        if self.spectra_sidecar and recording is not None:
            side = sidecar_spectra(recording)
            if side is not None:
                return side, "sidecar"
        return None, None


def _probe(recording) -> tuple[dict | None, dict | None]:
    """(setup parts the recording's header and first tags propose, probe facts), or (None, None) for
    a recording that cannot be read: its analysis then fails with the reader's own message."""
    from tagstream.io import open_tags
    from tagstream.io.propose import propose_setup

    try:
        return propose_setup(open_tags(recording, skip_missing_channels=True, allow_truncated=True))
    except TagstreamError:
        return None, None


def _default_config():
    from tagstream.pipeline import AnalysisConfig

    return AnalysisConfig()


def report_skipped() -> str | None:
    """None if the PNG report can be drawn in this process, else why not (one line)."""
    from tagstream.export.report import report_unavailable

    return report_unavailable()


def sidecar_spectra(recording) -> Path | None:
    """The recording's <stem>.spectra.npz (as `tagstream simulate` writes it), if present."""
    p = Path(recording)
    c = p.with_name(p.stem + ".spectra.npz")
    return c if c.is_file() else None


@dataclass(frozen=True)
class Analysis:
    """Everything tagstream reports about one recording. results carries the regime fits
    (RegimeResult.fit); fits / spectra are tagstream.analysis.regimes RegimeFits / RegimeSpectra or
    None; series: the SpectralSeries used (for drawing); notes: human lines (fits, spectra);
    warnings: what to distrust, in words."""

    source: str                     # recording path, or a title for a live run
    options: AnalysisOptions
    setup: Setup
    setup_source: str
    results: Results
    fits: Any = None
    spectra: Any = None
    series: Any = None
    spectra_file: str | None = None
    spectra_source: str | None = None
    spectra_error: str | None = None
    format: str | None = None
    notes: tuple = ()
    warnings: tuple = ()
    resolved: ResolvedSetup | None = None   # the setup part by part, with origins (None: a live run)

    @property
    def title(self) -> str:
        return Path(self.source).name if self.source else "tagstream"

    # ----------------------------------------------------------------------------------- JSON
    def to_json(self) -> dict:
        """The JSON document (README "JSON document" lists every field and unit)."""
        from tagstream.analysis.regimes import global_fit_fields, regime_fields, trap_spectrum_fields

        d = {"schema": 1, "recording": self.source, "format": self.format, "setup_source": self.setup_source,
             **self.results.to_json_dict()}
        for i, (r, reg) in enumerate(zip(d["regimes"], self.results.regimes)):
            r["label"] = reg.regime.label
            r.update(regime_fields(self.fits, self.spectra, i))
        d["fit"] = global_fit_fields(self.fits)
        d["spectra"] = None if self.spectra is None else {
            "file": self.spectra_file, "source": self.spectra_source, "n_frames": self.spectra.n_frames,
            "timing": self.spectra.timing_source, "on": _peak_fields(self.spectra.on)}
        d["spectra_error"] = self.spectra_error
        d["trap_spectrum"] = trap_spectrum_fields(self.spectra)
        d["setup"] = None if self.resolved is None else self.resolved.to_json_dict()
        d["warnings"] = list(self.warnings)
        return d

    # --------------------------------------------------------------------------------- tables
    def tables(self) -> dict:
        """{file name: polars DataFrame}: g2, trace, flid, decay_<regime>, levels (with levels), and
        with fits / spectra regime_fits, spectra_<regime>, trap_spectrum."""
        from tagstream.export.parquet import regime_analysis_frames, results_frames

        return {**results_frames(self.results), **regime_analysis_frames(self.results, self.fits, self.spectra)}

    def output_names(self, report: bool = True) -> list[str]:
        """The files write() writes: the tables, and report.png if asked for and drawable here."""
        return sorted(self.tables()) + ([REPORT_NAME] if report and report_skipped() is None else [])

    def write(self, directory, *, overwrite: bool = False, report: bool = True, log=None) -> list[Path]:
        """Write tables() (Parquet) and the PNG report into `directory`, each atomically; nothing is
        written if any would overwrite an existing file without overwrite=True (ExportError). Where
        the report cannot be drawn (no matplotlib) every table is still written and log (e.g. print)
        gets one line saying the report was skipped and why."""
        from tagstream.export.parquet import write_tables

        why = report_skipped() if report else None
        draw = report and why is None
        written = write_tables(self.tables(), directory, overwrite, also=(REPORT_NAME,) if draw else ())
        if draw:
            written.append(self.write_report(Path(directory) / REPORT_NAME, overwrite=True))
        elif why is not None and log is not None:
            log(f"report.png skipped: {why}; the {len(written)} tables are written")
        return written

    def write_report(self, path, *, overwrite: bool = False) -> Path:
        """The one-page PNG report (tagstream.export.report, matplotlib Agg: no Qt) of this analysis."""
        from tagstream.export.report import render_report

        return render_report(self, path, overwrite=overwrite)

    # ----------------------------------------------------------------------------------- text
    def report_notes(self) -> list[str]:
        """Header lines of the PNG report: global fit, spectral peaks, and every warning."""
        from tagstream.analysis.regimes import report_notes

        return report_notes(self.fits, self.spectra) + [f"⚠ {w}" for w in self.warnings]

    def summary_text(self) -> str:
        """The human summary of `tagstream analyze` (without --json)."""
        res = self.results
        g, tr = res.g2, res.trace
        lines = [f"{self.source}: {res.n_records} tags, {res.duration_s:.3f} s",
                 "counts: " + ", ".join(f"{k} {v}" for k, v in res.counts.items()),
                 f"laser period: {res.laser_period_ps:.3f} ps" if res.laser_period_ps else "laser period: unknown (no sync)",
                 f"unreferenced photons: {res.unreferenced_photons} "
                 f"({', '.join(f'{k} {v}' for k, v in res.unreferenced_by_reason.items() if v) or 'none'})"]
        if res.decay.t0_ps is not None:
            lines.append(f"decay: t0 {res.decay.t0_ps / 1e3:.3f} ns ({'estimated' if res.decay.t0_estimated else 'given'}), "
                         f"background {100 * res.decay.background_fraction:.2f} % of referenced photons")
        if g is not None:
            g0 = "n/a" if g.g2_zero is None else f"{g.g2_zero:.4f} +- {g.g2_zero_err:.4f}"
            lines.append(f"g2: window +-{g.window_ps} ps, bin {g.bin_ps} ps, {int(g.counts.sum())} pairs, g2(0) = {g0}")
        if res.g2_on is not None:
            g = res.g2_on
            g0 = "n/a" if g.g2_zero is None else f"{g.g2_zero:.4f} +- {g.g2_zero_err:.4f}"
            lines.append(f"g2 ON state: {int(g.counts.sum())} pairs in {g.duration_s:.2f} s ON, g2(0) = {g0}")
        lines.append(f"trace: {tr.counts.size} bins of {tr.bin_ms:g} ms, ON threshold {tr.on_threshold:g} "
                     f"({tr.on_threshold_method}), ON fraction {100 * tr.on_fraction:.1f} %")
        for r in res.regimes if res.laser_period_ps else ():   # no period: no lifetimes (a warning says so)
            fit_n = int(r.fitted_counts.sum())
            fit_part = f" (fits use {fit_n} split-half cross-selected photons)" if fit_n != r.n_photons else ""
            lines.append(f"regime {r.regime.label} ns: {r.n_bins} bins, {r.n_photons} photons{fit_part}")
        lev = res.levels
        if lev is not None:
            lines.append(f"levels (confidence {lev.confidence:g}): {lev.n_levels} levels, {lev.grouping.n_states} states")
            for i, lt, o in zip(lev.grouping.state_intensity_cps, lev.state_lifetime_ns, lev.state_occupancy):
                lines.append(f"  state {i:.0f} cps, lifetime {lt:.2f} ns, occupancy {100 * o:.1f} %")
        if res.blinking is not None or res.intensity_correlation is not None:
            from tagstream.blinking.analysis import summary_lines

            lines += summary_lines(res)
        lines.append(f"setup: {self.setup_source}")
        lines.append(f"memory: {res.memory_mode}" + (" (selection fixed up front, no per-photon store)"
                                                     if res.memory_mode == "bounded" else ""))
        lines += [f"setup note: {n}" for n in (self.resolved.notes if self.resolved is not None else ())]
        lines += list(self.notes)
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def summary_row(self) -> dict:
        """One row of the batch summary table: rates (Hz), g2(0), ON state, per regime
        <regime.column>_* (fraction of ON, photons, average lifetime, the regime_fits numbers), the
        global fit, spectral peaks, warnings."""
        from tagstream.analysis.regimes import global_fit_fields, regime_fields

        res = self.results
        tr = res.trace
        T = res.duration_s
        rate = lambda n: float(n / T) if T > 0 else None  # noqa: E731
        n_on = int(tr.on.sum())
        ok = tr.on & np.isfinite(tr.lifetime_ns)
        w = tr.n_referenced[ok].astype(np.float64)
        g = res.g2
        n_ph = res.counts.get("spad_a", 0) + res.counts.get("spad_b", 0)
        row = {
            "format": self.format, "duration_s": float(T), "n_records": int(res.n_records),
            "rate_a_hz": rate(res.counts.get("spad_a", 0)), "rate_b_hz": rate(res.counts.get("spad_b", 0)),
            "rate_photons_hz": rate(n_ph),
            "rate_sync_hz": rate(res.counts.get("sync", 0)) if "sync" in res.counts else None,
            "laser_period_ps": _num(res.laser_period_ps),
            "unreferenced_fraction": res.unreferenced_photons / max(1, n_ph),
            "g2_zero": None if g is None else _num(g.g2_zero), "g2_zero_err": None if g is None else _num(g.g2_zero_err),
            "on_threshold": float(tr.on_threshold), "on_fraction": float(tr.on_fraction),
            # average lifetime of all ON photons = photon-weighted mean of the ON bins' average lifetimes
            "on_lifetime_ns": float(np.sum(w * tr.lifetime_ns[ok]) / w.sum()) if w.sum() > 0 else None,
        }
        for i, r in enumerate(res.regimes):
            k = r.regime.column
            wr = tr.n_referenced[r.bins].astype(np.float64)
            row[f"{k}_fraction_of_on"] = float(r.n_bins / n_on) if n_on else None
            row[f"{k}_n_photons"] = int(r.n_photons)
            row[f"{k}_lifetime_ns"] = float(np.sum(wr * tr.lifetime_ns[r.bins]) / wr.sum()) if wr.sum() > 0 else None
            for name, v in regime_fields(self.fits, self.spectra, i).items():
                if name not in ("fit_mode",):
                    row[f"{k}_{name}"] = "; ".join(map(str, v)) or None if isinstance(v, (list, tuple)) else v
        gf = global_fit_fields(self.fits)
        row["fit_mode"] = None if gf is None else gf["mode"]
        for name, v in ((gf or {}).get("global") or {}).items():
            row[f"fit_{name}"] = "; ".join(map(str, v)) or None if isinstance(v, (list, tuple)) else v
        if self.spectra is not None:
            row.update({f"on_{k}": v for k, v in _peak_fields(self.spectra.on).items()})
            t = self.spectra.trap
            ok = t is not None and t.peak is not None and t.peak.success
            row["trap_peak_ev"] = _num(t.peak.peak_ev) if ok else None
            row["trap_fwhm_mev"] = _num(1e3 * t.peak.fwhm_ev) if ok else None
        row["spectra_file"] = self.spectra_file
        row["spectra_error"] = self.spectra_error
        row["warnings"] = "; ".join(self.warnings) or None
        return row


def _num(x) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def _peak_fields(rs) -> dict:
    ok = rs is not None and rs.peak is not None and rs.peak.success
    return {"peak_ev": _num(rs.peak.peak_ev) if ok else None, "peak_err_ev": _num(rs.peak.peak_err_ev) if ok else None,
            "fwhm_mev": _num(1e3 * rs.peak.fwhm_ev) if ok else None,
            "spectrum_frames": 0 if rs is None else int(rs.n_frames)}


def analyze_recording(recording, options: AnalysisOptions | None = None, *, progress: bool = False,
                      title: str | None = None, strict_spectra: bool = False) -> Analysis:
    """Analyse a recording (path; or a Results of a live pipeline, then nothing is read) completely:
    Results, regime fits (options.fit), spectra per regime and trap spectrum, levels (options.config),
    notes and warnings. Raises TagstreamError for an unreadable recording or setup; spectra that
    cannot be used are a warning (spectra_error), not an error, unless strict_spectra: then a given
    spectra file raises, before the recording is analysed if it cannot be read (no minutes lost), after
    it if it does not fit the recording (frame triggers)."""
    from tagstream.analysis.regimes import fit_results, spectra_results

    options = options or AnalysisOptions()
    warn: list[str] = []
    notes: list[str] = []
    path = Path(recording) if isinstance(recording, (str, os.PathLike)) else None
    spectra, spectra_source = options.resolve_spectra(path)
    spectra_file = spectra_error = series = None

    def spectra_problem(exc) -> str:
        return f"{'sidecar ' if spectra_source == 'sidecar' else ''}spectra {spectra_file or ''}: {exc}"

    if spectra is not None:   # read first: an unreadable spectra file is known before the long analysis
        from tagstream.spectra import SpectralSeries, read_spectra

        spectra_file = None if isinstance(spectra, SpectralSeries) else str(spectra)
        if spectra_source == "sidecar":
            notes.append(f"spectra: using the sidecar {spectra} (--spectra FILE for another, --no-spectra to skip)")
        try:
            series = spectra if isinstance(spectra, SpectralSeries) else read_spectra(spectra)
        except TagstreamError as exc:
            spectra_error = spectra_problem(exc)
            if strict_spectra and spectra_source == "given":
                raise TagstreamError(spectra_error) from None
            warn.append(spectra_error + " (no spectra used)")
    from tagstream import plausibility as P
    from tagstream.results import Results

    resolved = None
    if isinstance(recording, Results):
        res = recording
        fmt = None
        raw_setup = getattr(res._raw, "setup", None)
        if raw_setup is not None:
            setup, setup_source = raw_setup, "live"
        else:
            resolved = options.resolve_setup(None)
            setup, setup_source = resolved.setup, resolved.describe()
        source = title or "live"
    else:
        import dataclasses

        from tagstream.io import detect_format
        from tagstream.pipeline import analyze_file

        header, probe = _probe(path)
        resolved = options.resolve_setup(path, header)
        setup, setup_source = resolved.setup, resolved.describe()
        config = options.config
        if resolved.laser_period_ps is not None:
            config = dataclasses.replace(config, laser_period_ps=resolved.laser_period_ps)
        if options.workers > 1 or options.scheduler is not None:
            from tagstream.slices import analyze_file_sliced

            res = analyze_file_sliced(path, setup, config, workers=options.workers, scheduler=options.scheduler,
                                      warnings=warn, skip_missing_channels=options.skip_missing_channels)
        else:
            res = analyze_file(path, setup, config, progress=progress, warnings=warn,
                               skip_missing_channels=options.skip_missing_channels)
        fmt = detect_format(path)
        warn += P.channel_warnings(setup, probe["present"])
        warn += P.sync_warnings(probe["sync"], setup.sync_filtered, setup.sync_divider)
        warn += P.microtime_warnings(probe["max_microtime_ps"], resolved.laser_period_ps, probe["hw_sync_divider"])
        source = title or str(recording)
    warn += P.result_warnings(res)
    warn += list(res.blinking.warnings) if res.blinking is not None else []
    fits = sp = None
    if options.fit and res.regimes:
        fits = fit_results(res, options.fit, options=options.fit_options, setup=setup,
                           config=getattr(res._raw, "config", None) or options.config)
        res = res.with_regime_fits(list(fits.fits))
        notes += fits.lines
        warn += [f"regime {r.regime.label} ns: {m}" for r, m in zip(res.regimes, fits.messages) if m]
        warn += [f"regime {r.regime.label} ns: fit NOT CONVERGED ({f.message})"
                 for r, f in zip(res.regimes, fits.fits) if f is not None and not f.success]
        if fits.global_fit is not None and not fits.global_fit.success:
            warn.append("global fit NOT CONVERGED")
    if series is not None:
        try:
            with _CATCH_LOCK, _warnings.catch_warnings(record=True) as caught:   # frame-timing warnings
                _warnings.simplefilter("always")
                sp = spectra_results(res, series, fits)
            warn += [str(w.message) for w in caught]
        except TagstreamError as exc:
            spectra_error = spectra_problem(exc)
            if strict_spectra and spectra_source == "given":   # read, but not usable with this recording
                raise TagstreamError(spectra_error) from None
            warn.append(spectra_error + " (no spectra used)")
            series = None
        else:
            notes += sp.lines
            if fits is not None and sp.trap is None:
                warn.append(f"trap spectrum not reconstructed: {sp.trap_message}")
    return Analysis(source, options, setup, setup_source, res, fits, sp, series, spectra_file, spectra_source,
                    spectra_error, fmt, tuple(notes), tuple(dict.fromkeys(warn)), resolved)
