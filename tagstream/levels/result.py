"""LevelsResult: levels of a recording derived from the levels stage's boundaries (tagstream.stages.levels).

Per level: start/end (ps), photons, intensity (ML rate, as levels_from_change_points), average lifetime
with the trace's convention (mean microtime - t0, uniform background removed when the selection says so:
n_bg = background rate x level duration) and an MLE single-exponential lifetime (photons after t0 at their
decay-bin centres, truncated at the period; tagstream.estimators.mle_truncated_exp_ns, as the per-bin MLE).
States: AHC + EM + BIC grouping (group_levels; a live snapshot reuses the grouping of its closed levels until
they grew by 2 % and puts newer levels in their most probable states); the ON state is the brightest one.
Level FLID: seconds spent per (intensity, average lifetime) cell, one entry per level weighted by its duration.

ON bins from levels (Selection.on_from_levels): a closed trace bin is ON when it lies entirely inside the
union of ON-state levels. Bins cut by a switch are not ON, so the regimes' decays (trace bins -> photons)
hold only photons emitted inside ON levels; the regimes' intervals are then whole-bin subsets of the ON
levels' time intervals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tagstream.estimators import mle_truncated_exp_ns
from tagstream.kernels.trace import sums_from

from .grouping import Grouping, group_levels_cached, group_levels_live
from .levels import Levels, level_flid, on_state


@dataclass(frozen=True)
class LevelsResult:
    confidence: float
    final: bool                   # False: live snapshot, the last level is provisional
    levels: Levels                # lifetimes in ps (mean_lifetime_ps, mle_lifetime_ps)
    mean_lifetime_ns: np.ndarray
    mle_lifetime_ns: np.ndarray
    grouping: Grouping
    on_levels: np.ndarray         # bool per level (in the brightest state)
    state_lifetime_ns: np.ndarray   # average lifetime of each state (ascending intensity)
    state_occupancy: np.ndarray     # fraction of the levels' time in each state
    flid_intensity_edges_cps: np.ndarray
    flid_lifetime_edges_ns: np.ndarray
    flid_hist_s: np.ndarray       # (n_intensity, n_lifetime) seconds

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def state(self) -> np.ndarray:
        return self.grouping.labels

    def on_intervals_ps(self) -> np.ndarray:
        """(k, 2) [start, stop) of the merged ON-level intervals."""
        lv = self.levels
        on = self.on_levels
        if not on.any():
            return np.zeros((0, 2), np.int64)
        idx = np.flatnonzero(on)
        brk = np.flatnonzero(np.diff(idx) != 1)
        first = np.concatenate(([idx[0]], idx[brk + 1]))
        last = np.concatenate((idx[brk], [idx[-1]]))
        return np.stack([lv.start_ps[first], lv.end_ps[last]], axis=1).astype(np.int64)

    def on_bins(self, bin_start_ps: np.ndarray, bin_ps: int) -> np.ndarray:
        """Bool per trace bin: [start, start + bin) entirely inside one merged ON interval."""
        iv = self.on_intervals_ps()
        b = np.asarray(bin_start_ps, np.int64)
        if iv.shape[0] == 0:
            return np.zeros(b.shape, bool)
        k = np.searchsorted(iv[:, 0], b, side="right") - 1
        ok = k >= 0
        kk = np.where(ok, k, 0)
        return ok & (b >= iv[kk, 0]) & (b + bin_ps <= iv[kk, 1])

    def to_json_dict(self) -> dict:
        g = self.grouping
        return {"confidence": self.confidence, "final": self.final, "n_levels": self.n_levels,
                "n_states": int(g.n_states),
                "states": [{"intensity_cps": float(i), "lifetime_ns": _f(lt), "occupancy": float(o)}
                           for i, lt, o in zip(g.state_intensity_cps, self.state_lifetime_ns, self.state_occupancy)]}


def _f(x):
    return None if not np.isfinite(x) else float(x)


def derive_levels(raw, store: np.ndarray, t0_ps: float | None, period_ps: float | None,
                  decay_bin_ps: int | None, bg_per_ps: float, lifetime_edges_ns: np.ndarray,
                  n_states: int | None = None, max_states: int = 10) -> LevelsResult:
    """LevelsResult from the stage's boundaries (raw: tagstream.stages.levels.LevelsStats).
    bg_per_ps: uniform background of referenced photons per ps
    (0 = no subtraction); store: the trace stage's decay-bin index per referenced photon; n_states: use
    the AHC grouping with this many states instead of the BIC's choice (capped at the number of levels)."""
    first = raw.first_photon
    n = int(raw.n_photons)
    bounds = np.concatenate([first, [n - 1]])
    n_int = np.diff(bounds)
    n_ph = n_int.copy()
    n_ph[-1] += 1
    start = raw.start_ps
    end = np.concatenate([start[1:], [raw.last_ps]]).astype(np.int64)
    dur_ps = np.maximum(end - start, 1).astype(np.float64)
    intensity = n_int / (dur_ps * 1e-12)
    offs = np.concatenate([raw.ref_before, [raw.total_ref]]).astype(np.int64)
    n_ref = np.diff(offs).astype(np.float64)
    s_ps = np.diff(np.concatenate([raw.micro_before_ps, [raw.total_micro_ps]])).astype(np.float64)
    m = first.shape[0]
    n_bg = bg_per_ps * (end - start).astype(np.float64)
    mean_ns = np.full(m, np.nan)
    mle_ns = np.full(m, np.nan)
    if t0_ps is not None and period_ps:
        mean_ns = _avg_lifetime_ns(n_ref, s_ps, n_bg, period_ps, t0_ps)
        if decay_bin_ps and store.shape[0] >= offs[-1]:
            on_n = np.zeros(m, np.int64)
            on_s = np.zeros(m, np.float64)
            sums_from(store, offs, int(np.ceil(t0_ps / decay_bin_ps)), float(decay_bin_ps), on_n, on_s)
            with np.errstate(divide="ignore", invalid="ignore"):
                mle_ns = mle_truncated_exp_ns(on_n, on_s / on_n - t0_ps, period_ps - t0_ps)
    lv = Levels(start.astype(np.int64), end, first.astype(np.int64), n_ph.astype(np.int64), n_int.astype(np.int64),
                intensity, mean_ns * 1e3, mle_ns * 1e3)
    # live snapshots: group the closed levels (regrouped when they grew by > 2 %, tagstream.levels.grouping) and
    # put the newer and the provisional last level in their most probable states; final results group every level
    ni, ds, ms = n_int.clip(min=1).astype(np.float64), dur_ps * 1e-12, max(max_states, n_states or 0)
    if raw.final or m < 3:
        grp = group_levels_cached(ni, ds, ms)
    else:
        grp = group_levels_live(ni, ds, m - 1, ms)
    if n_states is not None:
        grp = grp.with_n_states(n_states)
    _, on = on_state(grp)
    k = grp.n_states
    lab = grp.labels
    st_lt = _avg_lifetime_ns(np.bincount(lab, n_ref, k), np.bincount(lab, s_ps, k), np.bincount(lab, n_bg, k),
                             period_ps, t0_ps) if (t0_ps is not None and period_ps) else np.full(k, np.nan)
    occ = np.bincount(lab, dur_ps, k) / dur_ps.sum()
    iedges = np.linspace(0.0, max(float(intensity.max()), 1.0) * 1.05, 51)
    h, _, _ = level_flid(intensity, mean_ns, dur_ps * 1e-12, iedges, lifetime_edges_ns)
    return LevelsResult(float(raw.confidence), bool(raw.final), lv, mean_ns, mle_ns, grp, on, st_lt, occ,
                        iedges, np.asarray(lifetime_edges_ns, float), h)


def _avg_lifetime_ns(n_ref, s_ps, n_bg, period_ps, t0_ps):
    """(S - n_bg P/2) / (n - n_bg) - t0 in ns, NaN without photons or with < 1 signal photon."""
    sig = n_ref - n_bg
    with np.errstate(divide="ignore", invalid="ignore"):
        lt = ((s_ps - n_bg * period_ps / 2.0) / sig - t0_ps) / 1e3
    return np.where((n_ref > 0) & (sig >= 1.0), lt, np.nan)


def equivalent_threshold(lev: LevelsResult, bin_ps: int) -> float:
    """For display only (ON is decided per bin by the levels): counts per bin halfway between the ON state
    and the next dimmer state (0 with a single state)."""
    i = lev.grouping.state_intensity_cps
    if i.size < 2:
        return 0.0
    return float(0.5 * (i[-1] + i[-2]) * bin_ps * 1e-12)


def level_frames(lev: LevelsResult) -> dict:
    """Export tables: levels.parquet (one row per level) and level_flid.parquet (seconds per cell)."""
    import polars as pl

    lv = lev.levels
    out = {"levels.parquet": pl.DataFrame({
        "start_ps": lv.start_ps, "end_ps": lv.end_ps, "n_photons": lv.n_photons, "intensity_cps": lv.intensity_cps,
        "mean_lifetime_ns": lev.mean_lifetime_ns, "mle_lifetime_ns": lev.mle_lifetime_ns,
        "state": lev.state.astype(np.int16), "on": lev.on_levels})}
    ie, le, h = lev.flid_intensity_edges_cps, lev.flid_lifetime_edges_ns, lev.flid_hist_s
    ii, li = np.meshgrid(np.arange(h.shape[0]), np.arange(h.shape[1]), indexing="ij")
    out["level_flid.parquet"] = pl.DataFrame({
        "intensity_lo_cps": ie[ii.ravel()], "intensity_hi_cps": ie[ii.ravel() + 1],
        "lifetime_lo_ns": le[li.ravel()], "lifetime_hi_ns": le[li.ravel() + 1], "duration_s": h.ravel()})
    return out
