"""Intensity levels from change points: per-level times, counts, intensity, lifetimes; FLID; ON state.

A change point c (photon index) starts a new level. Level i covers the photons [b_i, b_{i+1}) with
b_0 = 0 and the last level ending with the last photon; its time span is t[b_i] .. t[b_{i+1}] (the last
level ends at the last photon). Its intensity is the maximum-likelihood rate: intervals / duration, where
the intervals of level i are b_{i+1} - b_i (the photons after its first one up to the next level's first).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cpa import find_change_points
from .grouping import Grouping, group_levels


@dataclass(frozen=True)
class Levels:
    """Intensity levels of one recording (arrays of equal length, one entry per level)."""

    start_ps: np.ndarray          # int64, time of the level's first photon
    end_ps: np.ndarray            # int64, time of the next level's first photon (last level: last photon)
    first_photon: np.ndarray      # int64, index of the level's first photon
    n_photons: np.ndarray         # int64, photons assigned to the level: [first_photon, next first_photon)
    n_intervals: np.ndarray       # int64, inter-photon intervals inside the level (for rates)
    intensity_cps: np.ndarray     # float64, n_intervals / duration
    mean_lifetime_ps: np.ndarray | None = None   # mean microtime - t0 (photons inside the window)
    mle_lifetime_ps: np.ndarray | None = None    # MLE of a single exponential truncated to the window

    @property
    def duration_s(self) -> np.ndarray:
        return (self.end_ps - self.start_ps).astype(np.float64) * 1e-12

    def __len__(self) -> int:
        return int(self.start_ps.shape[0])


def levels_from_change_points(times_ps, change_points) -> Levels:
    """Levels between the change points of a photon-time array."""
    t = np.asarray(times_ps, dtype=np.int64)
    if t.size < 2:
        raise ValueError("need at least two photons to define a level")
    cps = np.asarray(change_points, dtype=np.int64)
    if cps.size and (cps[0] <= 0 or cps[-1] >= t.size - 1 or np.any(np.diff(cps) <= 0)):
        raise ValueError("change points must be increasing photon indices inside (0, n_photons - 1)")
    bounds = np.concatenate([[0], cps, [t.size - 1]])
    first = bounds[:-1]
    n_int = np.diff(bounds)
    n_ph = n_int.copy()
    n_ph[-1] += 1                        # the last photon belongs to the last level
    start = t[first]
    end = t[bounds[1:]]
    dur_s = np.maximum(end - start, 1).astype(np.float64) * 1e-12
    return Levels(start, end, first.astype(np.int64), n_ph.astype(np.int64), n_int.astype(np.int64),
                  n_int / dur_s)


def mle_lifetime_ps(microtimes_ps, period_ps: float, t0_ps: float = 0.0) -> float:
    """Single-exponential lifetime by maximum likelihood for delays in the window [t0, period).

    The decay is truncated by the laser period W = period - t0, so the mean delay is
    tau - W / (exp(W / tau) - 1); this is solved for tau by bisection (monotonic in tau). Returns nan
    without photons in the window and inf when the mean delay is >= W / 2 (flat histogram).
    """
    return float(_mle_many([np.asarray(microtimes_ps, dtype=np.float64)], period_ps, t0_ps)[1][0])


def _truncated_mean(tau, w):
    x = w / tau
    with np.errstate(over="ignore"):
        return tau - w / np.expm1(x)


def _mle_many(groups, period_ps: float, t0_ps: float):
    w = float(period_ps) - float(t0_ps)
    if w <= 0:
        raise ValueError("period_ps must be larger than t0_ps")
    means = np.full(len(groups), np.nan)
    for i, g in enumerate(groups):
        d = g - t0_ps
        d = d[(d >= 0) & (d < w)]
        if d.size:
            means[i] = d.mean()
    tau = np.full(len(groups), np.nan)
    ok = np.isfinite(means) & (means > 0) & (means < w / 2)
    tau[np.isfinite(means) & (means >= w / 2)] = np.inf
    tau[np.isfinite(means) & (means <= 0)] = 0.0
    if ok.any():
        m = means[ok]
        lo = np.full(m.shape, 1e-9 * w)
        hi = np.full(m.shape, 1e9 * w)
        for _ in range(200):               # bisection in log space: mean(tau) increases with tau
            mid = np.sqrt(lo * hi)
            f = _truncated_mean(mid, w)
            up = f < m
            lo = np.where(up, mid, lo)
            hi = np.where(up, hi, mid)
        tau[ok] = np.sqrt(lo * hi)
    return means, tau


def level_lifetimes(levels: Levels, microtimes_ps, period_ps: float, t0_ps: float = 0.0) -> Levels:
    """Levels with mean_lifetime_ps and mle_lifetime_ps filled from the photons' microtimes."""
    mt = np.asarray(microtimes_ps, dtype=np.float64)
    total = int(levels.n_photons.sum())
    if mt.shape != (total,):
        raise ValueError(f"need one microtime per photon ({total}), got {mt.shape}")
    groups = [mt[a:a + n] for a, n in zip(levels.first_photon, levels.n_photons)]
    means, tau = _mle_many(groups, period_ps, t0_ps)
    return Levels(levels.start_ps, levels.end_ps, levels.first_photon, levels.n_photons, levels.n_intervals,
                  levels.intensity_cps, means, tau)


def level_flid(intensity_cps, lifetime_ps, duration_s, intensity_edges, lifetime_edges):
    """Level-based FLID: 2-D histogram of (intensity, lifetime) per level, weighted by level duration (s).

    Returns (H, intensity_edges, lifetime_edges) with H[i, j] = seconds spent in intensity bin i and
    lifetime bin j. Levels with a non-finite lifetime are left out.
    """
    i = np.asarray(intensity_cps, dtype=np.float64)
    lt = np.asarray(lifetime_ps, dtype=np.float64)
    d = np.asarray(duration_s, dtype=np.float64)
    ok = np.isfinite(i) & np.isfinite(lt)
    h, ie, le = np.histogram2d(i[ok], lt[ok], bins=[intensity_edges, lifetime_edges], weights=d[ok])
    return h, ie, le


def on_state(grouping: Grouping, threshold_cps: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """ON states and ON levels from grouped states.

    Without a threshold the ON state is the brightest state; with threshold_cps every state at least that
    bright is ON (e.g. the seed paper's 400 counts / 100 ms = 4000 cps). Returns (on_states bool per
    state, on_levels bool per level).
    """
    inten = grouping.state_intensity_cps
    if threshold_cps is None:
        states = np.zeros(inten.size, dtype=bool)
        states[int(np.argmax(inten))] = True
    else:
        states = inten >= float(threshold_cps)
    return states, states[grouping.labels]


@dataclass(frozen=True)
class LevelAnalysis:
    """Everything about levels of one recording: levels, change points, grouping, ON levels."""

    change_points: np.ndarray
    levels: Levels
    grouping: Grouping
    on_levels: np.ndarray


def analyze_levels(times_ps, confidence: float = 0.95, microtimes_ps=None, period_ps: float | None = None,
                   t0_ps: float = 0.0, max_states: int = 10, on_threshold_cps: float | None = None
                   ) -> LevelAnalysis:
    """Change points -> levels (with lifetimes when microtimes and period are given) -> states -> ON."""
    t = np.asarray(times_ps, dtype=np.int64)
    cps = find_change_points(t, confidence)
    lv = levels_from_change_points(t, cps)
    if microtimes_ps is not None:
        if period_ps is None:
            raise ValueError("period_ps is needed to fit lifetimes from microtimes")
        lv = level_lifetimes(lv, microtimes_ps, period_ps, t0_ps)
    grp = group_levels(lv.n_intervals.clip(min=1), np.maximum(lv.duration_s, 1e-12), max_states)
    _, on = on_state(grp, on_threshold_cps)
    return LevelAnalysis(cps, lv, grp, on)
