"""g2(0) against time (per window of N seconds) and per grouped blinking state, from the g2 stage's per-pair
store (AnalysisConfig.g2_per_state; tagstream.stages.g2): a window or a state is a selection of trace bins and
its g2 the exact sum over the pairs whose both photons lie in selected bins (tagstream.results.derive_g2_in_state).

A value is given only where the side peaks hold at least MIN_SIDE_PAIRS pairs (g2(0) = centre / mean side area;
with fewer pairs its Poisson error is not meaningful); elsewhere None, and the count of such windows is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .dwells import CATEGORIES, Dwells

MIN_SIDE_PAIRS = 50


def category_bin_masks(dwells: Dwells, bin_start_ps, bin_ps: int) -> dict:
    """Per category present: bool per trace bin, True when [start, start + bin) lies inside one dwell of it."""
    b = np.asarray(bin_start_ps, np.int64)
    out = {}
    for ci, name in enumerate(CATEGORIES):
        sel = dwells.category == ci
        if not sel.any():
            continue
        s, e = dwells.start_ps[sel], dwells.end_ps[sel]
        k = np.searchsorted(s, b, side="right") - 1
        ok = k >= 0
        kk = np.where(ok, k, 0)
        out[name] = ok & (b + bin_ps <= e[kk])
    return out


@dataclass(frozen=True)
class G2Value:
    g2_zero: float | None
    g2_zero_err: float | None
    side_pairs: int
    duration_s: float

    def to_json_dict(self) -> dict:
        return {"g2_zero": self.g2_zero, "g2_zero_err": self.g2_zero_err, "side_pairs": self.side_pairs,
                "duration_s": self.duration_s}


def _value(g) -> G2Value:
    K = g.peak_areas.size // 2
    side = int(g.peak_areas.sum() - (g.peak_areas[K] if g.peak_areas.size else 0))
    if side < MIN_SIDE_PAIRS or g.g2_zero is None:
        return G2Value(None, None, side, g.duration_s)
    return G2Value(float(g.g2_zero), float(g.g2_zero_err), side, g.duration_s)


@dataclass(frozen=True)
class G2Time:
    window_s: float
    t_start_s: np.ndarray        # window starts (from the trace origin)
    values: tuple                # G2Value per window
    by_state: dict               # category name -> G2Value (empty without levels)

    def to_json_dict(self) -> dict:
        return {"window_s": self.window_s, "t_start_s": self.t_start_s.tolist(),
                "g2_zero": [v.g2_zero for v in self.values], "g2_zero_err": [v.g2_zero_err for v in self.values],
                "side_pairs": [v.side_pairs for v in self.values],
                "n_windows_too_few_pairs": sum(v.g2_zero is None for v in self.values),
                "min_side_pairs": MIN_SIDE_PAIRS, "by_state": {k: v.to_json_dict() for k, v in self.by_state.items()}}

    def table(self):
        import polars as pl

        return pl.DataFrame({"t_start_s": self.t_start_s, "window_s": np.full(self.t_start_s.size, self.window_s),
                             "g2_zero": [v.g2_zero for v in self.values],
                             "g2_zero_err": [v.g2_zero_err for v in self.values],
                             "side_pairs": [v.side_pairs for v in self.values]},
                            schema={"t_start_s": pl.Float64, "window_s": pl.Float64, "g2_zero": pl.Float64,
                                    "g2_zero_err": pl.Float64, "side_pairs": pl.Int64})


def g2_vs_time(raw_g2, tr, closed: np.ndarray, cfg, rise_ps, period_ps, window_s: float,
               dwells: Dwells | None = None) -> G2Time:
    """g2(0) per window of window_s (whole trace bins; closed bins only) and per blinking category."""
    from tagstream.results import derive_g2_in_state

    nb = closed.shape[0]
    bin_ps = int(tr.bin_ps)
    w = max(1, int(round(window_s * 1e12 / bin_ps)))
    idx = np.arange(nb)
    vals = []
    for j in range(0, max(nb, 1), w):
        m = closed & (idx >= j) & (idx < j + w)
        vals.append(_value(derive_g2_in_state(raw_g2, m, tr, cfg, rise_ps, period_ps)))
    by_state = {}
    if dwells is not None and len(dwells):
        starts = (tr.origin_ps or 0) + idx.astype(np.int64) * bin_ps
        for name, m in category_bin_masks(dwells, starts, bin_ps).items():
            by_state[name] = _value(derive_g2_in_state(raw_g2, m & closed, tr, cfg, rise_ps, period_ps))
    t0 = np.arange(0, max(nb, 1), w) * bin_ps / 1e12
    return G2Time(w * bin_ps / 1e12, t0[: len(vals)], tuple(vals), by_state)
