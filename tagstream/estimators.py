"""Estimators of the analysis (pure functions of numpy arrays): decay time zero, rise time, uniform
background, Otsu's ON threshold, the per-bin maximum-likelihood lifetime and the g2 peak areas.
Used by tagstream.results.derive and tagstream.levels.result (which therefore no longer import each
other). The average-lifetime estimator and its biases are described in tagstream.results.
"""

from __future__ import annotations

import numpy as np


def estimate_t0(h: np.ndarray, bin_ps: float, bg: float) -> float | None:
    """Half maximum of the rising edge of the decay h (background level bg subtracted), in ps,
    linearly interpolated between decay-bin centres."""
    if h.size == 0 or h.sum() == 0:
        return None
    x = h.astype(np.float64) - bg
    peak = int(np.argmax(x))
    half = x[peak] / 2.0
    i = peak
    while i > 0 and x[i - 1] > half:
        i -= 1
    if i == 0:
        return 0.5 * bin_ps * (x[0] > half)
    frac = (half - x[i - 1]) / (x[i] - x[i - 1])
    return float((i - 0.5 + frac) * bin_ps)


def rise_10_90(h: np.ndarray, bin_ps: float, bg: float) -> float | None:
    """10-90 % rise time of the decay's leading edge (ps): the IRF width proxy for the g2 bin."""
    if h.size == 0 or h.sum() == 0:
        return None
    x = h.astype(np.float64) - bg
    peak = int(np.argmax(x))
    i10 = i90 = peak
    while i90 > 0 and x[i90 - 1] > 0.9 * x[peak]:
        i90 -= 1
    i10 = i90
    while i10 > 0 and x[i10 - 1] > 0.1 * x[peak]:
        i10 -= 1
    return float(max(i90 - i10, 1) * bin_ps)


def estimate_background(h: np.ndarray, bin_ps: float, t0_ps: float) -> float | None:
    """Mean counts per decay bin over the pre-pulse region: the quarter period just before the
    rise, [t0 - guard - P/4, t0 - guard) taken circularly (it is the end of the previous period),
    guard = max(5 bins, 2 ns) keeps the IRF's leading tail out. Assumes the decay has vanished
    3/4 of a period after t0 (tau << P/4). None if fewer than 3 bins are available."""
    n_dec = h.shape[0]
    guard = max(5 * bin_ps, 2000.0)
    stop = int(np.floor((t0_ps - guard) / bin_ps))
    width = n_dec // 4
    if width < 3:
        return None
    idx = np.arange(stop - width, stop) % n_dec
    return float(h[idx].mean())


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
