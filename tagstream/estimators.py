"""Estimators of the analysis (pure functions of numpy arrays): decay time zero, rise time, uniform
background, Otsu's ON threshold, the per-bin maximum-likelihood lifetime and the g2 peak areas.
Used by tagstream.results.derive and tagstream.levels.result (which therefore no longer import each
other). The average-lifetime estimator and its biases are described in tagstream.results.
"""

from __future__ import annotations

import numpy as np


def estimate_t0(h: np.ndarray, bin_ps: float, bg: float, period_ps: float | None = None) -> float | None:
    """Half maximum of the rising edge of the decay h (background level bg subtracted), in ps,
    linearly interpolated between decay-bin centres. Periodic: h is one laser period, the rise is
    searched backwards from the peak around the circle (a rise just before the sync sits at the end
    of the histogram) and t0 is returned in (-P/2, P/2], P = period_ps (default len(h) * bin_ps)."""
    if h.size == 0 or h.sum() == 0:
        return None
    P = float(period_ps) if period_ps else h.size * float(bin_ps)
    x = h.astype(np.float64) - bg
    n = x.size
    peak = int(np.argmax(x))
    half = x[peak] / 2.0
    i = peak
    for _ in range(n - 1):
        if x[(i - 1) % n] <= half:
            break
        i -= 1
    lo, hi = x[(i - 1) % n], x[i % n]
    frac = (half - lo) / (hi - lo) if hi > lo else 0.5
    t0 = float((i - 0.5 + frac) * bin_ps)
    t0 = (t0 + 0.5 * P) % P - 0.5 * P
    return P / 2 if t0 == -P / 2 else t0


def rise_10_90(h: np.ndarray, bin_ps: float, bg: float) -> float | None:
    """10-90 % rise time of the decay's leading edge (ps): the IRF width proxy for the g2 bin."""
    if h.size == 0 or h.sum() == 0:
        return None
    x = h.astype(np.float64) - bg
    n = x.size
    peak = int(np.argmax(x))
    i90 = peak
    while peak - i90 < n - 1 and x[(i90 - 1) % n] > 0.9 * x[peak]:  # periodic, like estimate_t0
        i90 -= 1
    i10 = i90
    while peak - i10 < n - 1 and x[(i10 - 1) % n] > 0.1 * x[peak]:
        i10 -= 1
    return float(max(i90 - i10, 1) * bin_ps)


def estimate_background(h: np.ndarray, bin_ps: float, t0_ps: float, live: np.ndarray | None = None) -> float | None:
    """Mean counts per decay bin over the pre-pulse region: the quarter period just before the
    rise, [t0 - guard - P/4, t0 - guard) taken circularly (it is the end of the previous period),
    guard = max(5 bins, 2 ns) keeps the IRF's leading tail out. Where that region still decays
    significantly (the periodic tail of earlier pulses, tau ~ P), the level a geometric tail tends to
    is taken instead of the mean. live: only these bins of the region count (the instrument's window,
    live_window). None if fewer than 3 bins are available."""
    n_dec = h.shape[0]
    guard = max(5 * bin_ps, 2000.0)
    stop = int(np.floor((t0_ps - guard) / bin_ps))
    width = n_dec // 4
    if width < 3:
        return None
    idx = np.arange(stop - width, stop) % n_dec
    if live is not None:
        idx = idx[live[idx]]
        if idx.size < 3:
            return None
        width = idx.size
    x = h[idx].astype(np.float64)
    # periodic tail of earlier pulses (high repetition rates): if the region still decays, eliminate a
    # geometric tail b + a r^k from three equal windows, b = (x1 x3 - x2^2) / (x1 + x3 - 2 x2)
    m = width // 3
    x1, x2, x3 = (float(x[i * m:(i + 1) * m].mean()) for i in range(3))
    if x1 - x2 > 3.0 * np.sqrt((x1 + x2) / m) and x2 > x3 and x1 + x3 - 2.0 * x2 > 0:
        return float(min(max((x1 * x3 - x2 * x2) / (x1 + x3 - 2.0 * x2), 0.0), x3))
    return float(x.mean())


def longest_empty_run(h: np.ndarray) -> tuple[int, int]:
    """(first bin, length) of the longest run of empty bins of a periodic histogram, circularly; (0, 0)
    without empty bins, (0, n) if all are empty."""
    n = int(h.shape[0])
    empty = np.asarray(h) == 0
    if not empty.any():
        return 0, 0
    if empty.all():
        return 0, n
    start = int(np.flatnonzero(~empty)[0])   # from an occupied bin on, no empty run wraps around the end
    edges = np.diff(np.concatenate(([0], np.roll(empty, -start).astype(np.int8), [0])))
    run_starts, run_ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    k = int(np.argmax(run_ends - run_starts))
    return (start + int(run_starts[k])) % n, int(run_ends[k] - run_starts[k])


def live_window(h: np.ndarray, bin_ps: float, t0_ps: float, min_expected: float = 20.0,
                min_dead_fraction: float = 0.05) -> tuple[int, int, float] | None:
    """The part of the period the instrument records, if not all of it: (first bin, number of bins,
    background per bin over it), else None. A Becker & Hickl TAC range shorter than the laser period
    leaves a run of empty bins; it is taken as outside the instrument's window when it spans
    min_dead_fraction of the period (not an edge bin or a dead-time notch) and the background measured
    on the live bins of the pre-pulse region (estimate_background) would have put min_expected photons
    in it (Poisson: P(none) = exp(-20)). A clean decay's empty tail has no background and stays live."""
    n = int(h.shape[0])
    first, length = longest_empty_run(h)
    if length < min_dead_fraction * n or length >= n:
        return None
    live = np.ones(n, bool)
    live[(first + np.arange(length)) % n] = False
    b = estimate_background(h, bin_ps, t0_ps, live=live)
    if b is None or b * length < min_expected:
        return None
    return (first + length) % n, n - length, b


def otsu_threshold(counts: np.ndarray) -> float:
    """Otsu's method on the histogram of integer counts per bin: the threshold T (ON = counts > T)
    that maximises the between-class variance of the OFF (<= T) and ON (> T) populations."""
    if counts.size == 0:
        return 0.0
    c = counts.astype(np.int64)
    hist = np.bincount(c - c.min()).astype(np.float64)
    vals = np.arange(hist.size, dtype=np.float64) + c.min()
    w0 = np.cumsum(hist)
    m0 = np.cumsum(hist * vals)
    tot, mtot = w0[-1], m0[-1]
    w1 = tot - w0
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (m0 * tot - mtot * w0) ** 2 / (w0 * w1)
    between[~np.isfinite(between)] = -1.0
    return float(vals[int(np.argmax(between))])


def mle_truncated_exp_ns(n: np.ndarray, mean_ps: np.ndarray, T_ps: float) -> np.ndarray:
    """Solve E[x] = tau - T / (exp(T/tau) - 1) for tau per bin (bisection, vectorised); the mean of a
    single exponential truncated at T is a sufficient statistic, so this is the MLE."""
    out = np.full(n.shape, np.nan)
    ok = (n > 0) & (mean_ps > 0) & (mean_ps < T_ps / 2)
    m = mean_ps[ok]
    lo = np.full(m.shape, 1e-3)
    hi = np.full(m.shape, 1e3 * T_ps)
    for _ in range(100):
        mid = np.sqrt(lo * hi)
        with np.errstate(over="ignore"):
            e = mid - T_ps / np.expm1(T_ps / mid)
        big = e > m
        hi = np.where(big, mid, hi)
        lo = np.where(big, lo, mid)
    out[ok] = np.sqrt(lo * hi) / 1e3
    return out


def g2_peaks(counts: np.ndarray, tau_left_ps: np.ndarray, bin_ps: int, window_ps: int, period_ps: float | None):
    """Areas of the whole peaks k*P +- P/2 inside the window; g2(0) = A_0 / mean(A_k, k != 0) and its
    Poisson error r * sqrt(1/A_0 + 1/sum(A_k))."""
    if not period_ps:
        return np.zeros(0), np.zeros(0, np.int64), None, None
    K = int(np.floor(window_ps / period_ps - 0.5))
    if K < 1:
        return np.zeros(0), np.zeros(0, np.int64), None, None
    centres = tau_left_ps + bin_ps / 2.0
    ks = np.arange(-K, K + 1)
    areas = np.array([counts[(centres >= k * period_ps - period_ps / 2) & (centres < k * period_ps + period_ps / 2)].sum()
                      for k in ks], dtype=np.int64)
    side = areas[ks != 0]
    a0 = float(areas[K])
    s = float(side.sum())
    if s == 0:
        return ks * period_ps, areas, None, None
    r = a0 / side.mean()
    err = r * np.sqrt(1.0 / a0 + 1.0 / s) if a0 > 0 else 1.0 / side.mean()
    return ks * period_ps, areas, float(r), float(err)
