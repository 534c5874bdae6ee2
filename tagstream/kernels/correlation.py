"""Numba kernel of the exact log-binned intensity cross-correlation of two photon streams.

For lag edges e_0 < ... < e_K (ps) the kernel accumulates, over the "start" photons s of one detector,
    S[k] += rank(t_s + e_k) = #(target photons with t < t_s + e_k)          (global target ranks)
so the pairs with lag t_target - t_s in [e_k, e_k+1) are exactly S[k+1] - S[k] (integers, no binning of time).

rank(x) comes from a cell index over the targets: cells of 2^shift ps (about a quarter of the mean target
interval), first[c] = targets before cell c; rank(x) = first[cell(x)] + the few targets of that cell below x.
Every (start, edge) look-up is independent (no pointer chain to follow), which makes it about twice as fast as
a pointer-per-bin correlator (pycorrelate.pcorrelate's algorithm, Laurence et al. 2006; bench/bench_correlation.py);
cost O(K N_start + N_target). Starts are taken in blocks spanning the largest lag, so a block's cell index
(~4 cells per target of the block's reach) stays small.
Short lags (edges below e_q, q = n_enum, where a start has ~1 target within e_q) are counted by enumerating those
few pairs from rank(t_s + e_0) and binning each by bisection: O(N_start (1 + rate e_q)) instead of q look-ups.
Targets may be handed in pieces: `t_base` is the global rank of targets[0]; the piece must hold every target
with t >= (first start) + e_0, and every target < (last start) + e_K must be known (in the piece).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(nogil=True, cache=True)
def _cell_index(targets, j_lo, j_hi, t0, shift, n_cells, first):
    """first[c] = index of the first target in [j_lo, j_hi) with t >= t0 + c * 2^shift, c = 0 .. n_cells."""
    j = j_lo
    for c in range(n_cells + 1):
        lim = t0 + (np.int64(c) << shift)
        while j < j_hi and targets[j] < lim:
            j += 1
        first[c] = j


@njit(nogil=True, cache=True)
def _count_block(starts, i0, i1, targets, j_lo, j_hi, edges_ps, q, S, c_short, first):
    """Ranks (local, in targets[:j_hi]; every target before j_lo is below every t_start + e_0) of one block."""
    K = edges_ps.shape[0]
    n = i1 - i0
    m = j_hi - j_lo
    if m == 0:
        for k in range(K):
            S[k] += n * j_lo
        return
    t0 = targets[j_lo]
    span = targets[j_hi - 1] - t0 + 1
    shift = max(int(math.log2(max(span // m, 2))) - 2, 0)
    n_cells = ((targets[j_hi - 1] - t0) >> shift) + 1
    _cell_index(targets, j_lo, j_hi, t0, shift, n_cells, first)
    if q > 0:
        e0 = edges_ps[0]
        eq = edges_ps[q]
        s0 = 0
        for i in range(i0, i1):
            t = starts[i]
            x = t + e0
            d = x - t0
            if d <= 0:
                j = j_lo
            else:
                cc = d >> shift
                if cc >= n_cells:
                    j = j_hi
                else:
                    j = first[cc]
                    while j < j_hi and targets[j] < x:
                        j += 1
            s0 += j
            y = t + eq
            while j < j_hi and targets[j] < y:
                dd = targets[j] - t
                lo = 0
                hi = q
                while hi - lo > 1:
                    mid = (lo + hi) >> 1
                    if edges_ps[mid] <= dd:
                        lo = mid
                    else:
                        hi = mid
                c_short[lo] += 1
                j += 1
        S[0] += s0
        acc = 0
        for k in range(1, q):
            acc += c_short[k - 1]
            S[k] += s0 + acc
            c_short[k - 1] = 0
        c_short[q - 1] = 0
    for k in range(q, K):
        e = edges_ps[k]
        s = 0
        for i in range(i0, i1):
            x = starts[i] + e
            d = x - t0
            if d <= 0:
                s += j_lo
                continue
            cc = d >> shift
            if cc >= n_cells:
                s += j_hi
                continue
            j = first[cc]
            while j < j_hi and targets[j] < x:
                j += 1
            s += j
        S[k] += s


@njit(nogil=True, cache=True)
def count_below(starts, targets, t_base, edges_ps, n_enum, S):
    """S[k] += sum over the start photons (sorted int64 ps) of the global rank of t_start + edges_ps[k] among
    the targets (sorted int64 ps, global ranks t_base ..). n_enum: edges below edges_ps[n_enum] by enumeration.
    Starts are taken in blocks spanning the largest lag, so the cell index of a block stays small (in cache)."""
    n = starts.shape[0]
    m = targets.shape[0]
    K = edges_ps.shape[0]
    if n == 0:
        return
    q = min(max(n_enum, 0), K - 1)
    c_short = np.zeros(max(q, 1), np.int64)
    block_ps = max(edges_ps[K - 1], 1)
    first = np.empty(0, np.int64)
    i0 = 0
    while i0 < n:
        i1 = i0 + np.searchsorted(starts[i0:], starts[i0] + block_ps, side="left")
        if i1 <= i0:
            i1 = i0 + 1
        j_lo = np.searchsorted(targets, starts[i0] + edges_ps[0], side="left")
        j_hi = np.searchsorted(targets, starts[i1 - 1] + edges_ps[K - 1], side="left")
        mm = j_hi - j_lo
        if mm > 0:
            span = targets[j_hi - 1] - targets[j_lo] + 1
            shift = max(int(math.log2(max(span // mm, 2))) - 2, 0)
            need = ((targets[j_hi - 1] - targets[j_lo]) >> shift) + 2
            if first.shape[0] < need:
                first = np.empty(need, np.int64)
        _count_block(starts, i0, i1, targets, j_lo, j_hi, edges_ps, q, S, c_short, first)
        for k in range(K):
            S[k] += (i1 - i0) * t_base
        i0 = i1
    return


def enumeration_edges(edges_ps: np.ndarray, rate_hz: float) -> int:
    """Number of short-lag edges to count by enumeration: those below ~1 / rate (about one pair per start)."""
    if not rate_hz > 0:
        return 0
    return int(min(np.searchsorted(edges_ps, 1e12 / rate_hz, side="right"), edges_ps.shape[0] - 1))


def log_lag_edges_ps(lag_min_s: float = 1e-6, lag_max_s: float = 10.0, per_decade: int = 8) -> np.ndarray:
    """Log-spaced lag edges in whole ps, `per_decade` per decade from lag_min_s to (at least) lag_max_s."""
    if not (0 < lag_min_s < lag_max_s) or per_decade < 1:
        raise ValueError("lag edges need 0 < lag_min_s < lag_max_s and per_decade >= 1")
    n = int(np.ceil(np.log10(lag_max_s / lag_min_s) * per_decade - 1e-9))
    e = np.unique(np.round(lag_min_s * 10.0 ** (np.arange(n + 1) / per_decade) * 1e12).astype(np.int64))
    if e[0] < 1:
        raise ValueError("lag edges must be >= 1 ps")
    return e
