"""Parquet export of analysis Results (polars): g2, trace, FLID and one decay file per regime.

Files are written atomically (temporary file in the same directory, then os.replace) and never
overwrite an existing file unless overwrite=True.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from tagstream.atomic import atomic_path
from tagstream.errors import TagstreamError


class ExportError(TagstreamError):
    """An export would overwrite files, or cannot be written."""


def regime_name(lo: float, hi: float) -> str:
    f = lambda v: f"{v:g}".replace(".", "p")  # noqa: E731
    return f"{f(lo)}-{f(hi)}ns"


def results_frames(res) -> dict[str, pl.DataFrame]:
    """The tables to export: file name -> DataFrame."""
    out: dict[str, pl.DataFrame] = {}
    if res.g2 is not None:
        out["g2.parquet"] = pl.DataFrame({"tau_ps": res.g2.tau_ps, "count": res.g2.counts,
                                          "g2_normalized": res.g2.normalized})
    tr = res.trace
    names = np.array(["" ] + [regime_name(*r.range_ns) for r in res.regimes], dtype=object)
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
        out[f"decay_{regime_name(*r.range_ns)}.parquet"] = pl.DataFrame({"t_ps": r.t_ps, "count": r.counts})
    return out


def export_results(res, directory, overwrite: bool = False) -> list[Path]:
    """Write the tables to `directory` (created if needed); returns the paths written."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    frames = results_frames(res)
    existing = [n for n in frames if (d / n).exists()]
    if existing and not overwrite:
        raise ExportError(f"{d} already holds {', '.join(existing)}; use --force to overwrite")
    written = []
    for name, df in frames.items():
        with atomic_path(d / name) as tmp:
            df.write_parquet(tmp)
        written.append(d / name)
    return written
