"""Blinking statistics of a recording: per category (ON, grey, OFF) the dwell list, its log-binned histogram
and the power-law fit (tagstream.blinking.powerlaw) of the uncensored dwells.

    res = blinking_from_levels(results.levels)      # a tagstream.levels.result.LevelsResult
    res.to_json_dict()   # {"on": {"alpha", "alpha_err", "t_min_s", "n_dwells", "cutoff_s", ...}, "off": ..., "warnings"}
    res.tables()         # {"dwells.parquet", "dwell_histograms.parquet"}: polars frames
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .dwells import CATEGORIES, Dwells, dwells_from_levels, log_edges, log_histogram
from .powerlaw import N_BOOT, PowerLawFit, fit_power_law

MIN_DWELLS_FOR_FIT = 20     # fewer uncensored dwells: no fit, a warning
FEW_DWELLS = 100            # fewer: the fit is reported with a warning (alpha's error is large, KS t_min unstable)
PER_DECADE = 5


@dataclass(frozen=True)
class StateBlinking:
    name: str
    dwells_s: np.ndarray        # uncensored dwell times (s), time order
    n_censored: int
    edges_s: np.ndarray         # log-binned histogram of dwells_s
    counts: np.ndarray
    density_per_s: np.ndarray   # counts / (n_dwells * width)
    density_err_per_s: np.ndarray
    fit: PowerLawFit | None

    @property
    def n_dwells(self) -> int:
        return int(self.dwells_s.size)

    def to_json_dict(self) -> dict:
        d = {"n_dwells": self.n_dwells, "n_censored": self.n_censored,
             "mean_dwell_s": float(self.dwells_s.mean()) if self.n_dwells else None,
             "alpha": None, "alpha_err": None, "t_min_s": None, "cutoff_s": None}
        if self.fit is not None:
            d.update(self.fit.to_json_dict())
        return d


@dataclass(frozen=True)
class BlinkingResult:
    dwells: Dwells
    states: dict                # name -> StateBlinking (on, off, and grey when grouped)
    warnings: list = field(default_factory=list)

    def to_json_dict(self) -> dict:
        return {**{k: v.to_json_dict() for k, v in self.states.items()}, "n_dwells_total": len(self.dwells),
                "warnings": list(self.warnings)}

    def tables(self) -> dict:
        """Parquet tables: every dwell (incl. censored) and the per-state histograms with the fitted pdf."""
        import polars as pl

        dw = self.dwells
        out = {"dwells.parquet": pl.DataFrame({
            "start_ps": dw.start_ps, "end_ps": dw.end_ps, "duration_s": dw.duration_s,
            "state": [CATEGORIES[c] for c in dw.category], "censored": dw.censored})}
        rows = []
        for name, st in self.states.items():
            e = st.edges_s
            if e.size < 2:
                continue
            mid = np.sqrt(e[:-1] * e[1:])
            fit = np.full(mid.size, np.nan)
            if st.fit is not None:
                ok = mid >= st.fit.t_min_s
                fit[ok] = st.fit.pdf(mid[ok])
            rows.append(pl.DataFrame({"state": [name] * mid.size, "lo_s": e[:-1], "hi_s": e[1:], "count": st.counts,
                                      "density_per_s": st.density_per_s, "density_err_per_s": st.density_err_per_s,
                                      "fit_density_per_s": fit}))
        out["dwell_histograms.parquet"] = pl.concat(rows) if rows else pl.DataFrame(
            schema={"state": pl.Utf8, "lo_s": pl.Float64, "hi_s": pl.Float64, "count": pl.Int64,
                    "density_per_s": pl.Float64, "density_err_per_s": pl.Float64, "fit_density_per_s": pl.Float64})
        return out


def blinking_from_dwells(dwells: Dwells, t_min_s: float | None = None, final: bool = True) -> BlinkingResult:
    """Histograms and fits per category present (ON and OFF always listed, grey when some level is grey).
    final False (live snapshots): no cut-off fit (~50 ms per state) and alpha's nominal error, not the
    bootstrap (N_BOOT KS scans, ~50 ms per 150 dwells)."""
    warnings = []
    names = [n for i, n in enumerate(CATEGORIES) if n != "grey" or np.any(dwells.category == i)]
    all_d = dwells.duration_s[~dwells.censored]
    edges = log_edges(all_d, PER_DECADE) if all_d.size else np.zeros(0)
    states = {}
    for name in names:
        d = dwells.of(name)
        nc = int(np.count_nonzero(dwells.censored & (dwells.category == CATEGORIES.index(name))))
        e, c, dens, derr = log_histogram(d, edges=edges) if edges.size else (edges, np.zeros(0, np.int64),
                                                                             np.zeros(0), np.zeros(0))
        fit = None
        if d.size >= MIN_DWELLS_FOR_FIT:
            fit = fit_power_law(d, t_min_s=t_min_s, cutoff=final, n_boot=N_BOOT if final else 0)
        if fit is None:
            warnings.append(f"blinking: {d.size} uncensored {name.upper()} dwells, too few for a power-law fit "
                            f"(need {MIN_DWELLS_FOR_FIT})")
        else:
            if d.size < FEW_DWELLS:
                warnings.append(f"blinking: only {d.size} uncensored {name.upper()} dwells: alpha = "
                                f"{fit.alpha:.2f} +- {fit.alpha_err:.2f} is uncertain")
            if fit.n_tail < MIN_DWELLS_FOR_FIT:
                warnings.append(f"blinking: the {name.upper()} power law rests on {fit.n_tail} dwells above "
                                f"t_min = {fit.t_min_s:.3g} s")
        states[name] = StateBlinking(name, d, nc, e, c, dens, derr, fit)
    return BlinkingResult(dwells, states, warnings)


def blinking_from_levels(levels, t_min_s: float | None = None, final: bool = True) -> BlinkingResult:
    """BlinkingResult from a LevelsResult (or anything with .levels.start_ps/end_ps and .grouping)."""
    lv, g = levels.levels, levels.grouping
    res = blinking_from_dwells(dwells_from_levels(lv.start_ps, lv.end_ps, g.labels, g.n_states), t_min_s, final)
    if g.n_states < 2:
        res.warnings.insert(0, "blinking: the levels group into a single state: no ON/OFF blinking resolved")
    return res


def dwell_curves(res) -> dict:
    """For drawing: name -> (mid_s, density, fit_t_s, fit_density, label) of the log-binned dwell histograms
    (empty bins dropped: log axes) and the fitted pdf between t_min and the longest dwell; {} without blinking."""
    b = getattr(res, "blinking", None)
    if b is None:
        return {}
    out = {}
    for name, st in b.states.items():
        e = st.edges_s
        if e.size < 2:
            continue
        mid = np.sqrt(e[:-1] * e[1:])
        ok = st.counts > 0
        ft, fd, label = np.zeros(0), np.zeros(0), f"{name.upper()} {st.n_dwells} dwells"
        if st.fit is not None and st.n_dwells:
            ft = np.geomspace(st.fit.t_min_s, max(float(st.dwells_s.max()), st.fit.t_min_s * 1.01), 60)
            fd = st.fit.pdf(ft)
            label += f", α = {st.fit.alpha:.2f} ± {st.fit.alpha_err:.2f}" + ("" if st.fit.n_boot else " (nominal)")
            if st.fit.cutoff is not None and st.fit.cutoff.preferred:
                label += f" (cut-off {st.fit.cutoff.cutoff_s:.2g} s)"
        out[name] = (mid[ok], st.density_per_s[ok], ft, fd, label)
    return out


def summary_lines(res) -> list[str]:
    """Text summary: the dwell-time power laws, the intensity correlation and g2(0) per blinking state."""
    out = []
    b = getattr(res, "blinking", None)
    if b is not None:
        for name, st in b.states.items():
            f = st.fit
            if f is None:
                out.append(f"blinking {name.upper()}: {st.n_dwells} dwells, no fit")
                continue
            c = f" with cut-off {f.cutoff.cutoff_s:.3g} s (p = {f.cutoff.p_value:.2g})" if (
                f.cutoff is not None and f.cutoff.preferred) else ""
            how = f"bootstrap error, {f.n_boot} resamples" if f.n_boot else "nominal error"
            out.append(f"blinking {name.upper()}: {st.n_dwells} dwells, alpha = {f.alpha:.3f} +- {f.alpha_err:.3f} "
                       f"({how}) above t_min {f.t_min_s:.3g} s ({f.n_tail} dwells){c}")
    ic = getattr(res, "intensity_correlation", None)
    if ic is not None and ic.g2.size:
        pick = [k for k in (1e-5, 1e-3, 1e-1, 1.0) if k <= ic.lag_s[-1]]
        vals = ", ".join(f"{ic.g2[np.argmin(abs(ic.lag_s - k))]:.3f} at {k:g} s" for k in pick)
        out.append(f"intensity correlation {ic.lag_edges_s[0]:g} - {ic.lag_edges_s[-1]:g} s: g2 = {vals}")
    gt = getattr(res, "g2_time", None)
    if gt is not None:
        for name, v in gt.by_state.items():
            g0 = "too few pairs" if v.g2_zero is None else f"{v.g2_zero:.4f} +- {v.g2_zero_err:.4f}"
            out.append(f"g2(0) in {name.upper()} levels ({v.duration_s:.1f} s): {g0}")
    return out
