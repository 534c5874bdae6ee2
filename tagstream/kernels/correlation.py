"""Numba kernel of the exact log-binned intensity cross-correlation of two photon streams.

For lag edges e_0 < ... < e_K (ps) the kernel accumulates, over the "start" photons s of one detector,
    S[k] += rank(t_s + e_k) = #(target photons with t < t_s + e_k)          (global target ranks)
so the pairs with lag t_target - t_s in [e_k, e_k+1) are exactly S[k+1] - S[k] (integers, no binning of time).

Starts are taken in blocks spanning the largest lag; each block copies its targets (padded with sentinels) and
indexes them in cells of 2^shift ps (about 1/2 .. 1/4 of the mean target interval): first[c] = targets before
cell c (a histogram and a prefix sum). Then per lag edge, over the block's starts (edge outer: sequential
memory), rank(x) = f + (T[f] < x) + ... + (T[f+3] < x) with f = first[cell(x)]: integer-only, no branch, no pointer
chain. The loop is kept scalar on purpose (an early exit on a bad index stops the vectoriser): vector gathers made
it 3-4x slower on this machine (13 ns against 3 ns per look-up). That is exact wherever a cell holds at most M_FAST = 4 targets;
the few fuller cells (found while indexing) are corrected afterwards: per such cell and edge, the starts
landing in it (two bisections) add their targets beyond the M_FAST-th. Two cells per target keep the table
small enough for the cache (eight made the look-ups memory-bound: 1.4x slower on 20 s at 40 kcounts/s). Cost O(K N_start + N_target); at 6 and
30 kcounts/s 2.6-2.7x libtimetag's pointer per bin edge, 3.0-3.1x pycorrelate (bench/bench_correlation.py, CPU time).
Short lags (edges below e_q, q = n_enum, where a start has ~1 target within e_q) are counted by enumerating those
few pairs from rank(t_s + e_0) and binning each by a table over the lag (no bisection, no division; the first
P_SHORT pairs without a branch): O(N_start (1 + rate e_q)) instead of q look-ups.
Targets may be handed in pieces: `t_base` is the global rank of targets[0]; the piece must hold every target
with t >= (first start) + e_0, and every target < (last start) + e_K must be known (in the piece).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

M_FAST = 4             # targets of a cell compared without a branch
P_SHORT = 2            # short-lag pairs of a start binned without a branch
CELLS_PER_TARGET = 2   # index cells per mean target interval (2 - 4)
_BIG = np.int64(1) << 62  # sentinel targets after a block's last (T - t stays positive)
PAD = M_FAST + P_SHORT
MAX_TABLE = 1 << 20    # entries of the short-lag binning table


@njit(nogil=True, cache=True)
def _index(T, m, t0, shift, n_cells, first, over):
    """first[c] (c = 0 .. n_cells) = targets of T[:m] before t0 + c 2^shift; over[:n_over] = the cells holding
    more than M_FAST targets. Returns n_over."""
    for c in range(n_cells + 1):
        first[c] = 0
    for j in range(m):
        first[((T[j] - t0) >> shift) + 1] += 1
    for c in range(1, n_cells + 1):
        first[c] += first[c - 1]
    n_over = 0
    last = -1
    for j in range(M_FAST, m):
        c = (T[j] - t0) >> shift
        if c == (T[j - M_FAST] - t0) >> shift and c != last:
            over[n_over] = c
            n_over += 1
            last = c
    return n_over


@njit(nogil=True, cache=True)
def _rank(T, first, t0, shift, x):
    """Exact local rank of x (t0 <= x within the index)."""
    j = first[(x - t0) >> shift]
    n = (T[j] < x) + (T[j + 1] < x) + (T[j + 2] < x) + (T[j + 3] < x)
    j += n
    if n == M_FAST:
        while T[j] < x:
            j += 1
    return j


@njit(nogil=True, cache=True)
def _lookups(starts, i0, i1, T, first, t0, shift, e):
    """Sum over starts[i0:i1] of the local rank of start + e, exact for cells of <= M_FAST targets."""
    s = 0
    for i in range(i0, i1):
        x = starts[i] + e
        c = (x - t0) >> shift
        j = first[c] if c >= 0 else -1
        if j < 0:   # never (x >= t0): the exit keeps this loop scalar (vector gathers are 3-4x slower here)
            raise ValueError("correlation look-up before its index")
        s += j + (T[j] < x) + (T[j + 1] < x) + (T[j + 2] < x) + (T[j + 3] < x)
    return s


@njit(nogil=True, cache=True)
def _bisect(a, lo, hi, x):
    """First index in [lo, hi) of sorted a with a[i] >= x (hi if none)."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(nogil=True, cache=True)
def _overfull(starts, i0, i1, T, first, t0, shift, over, n_over, e):
    """What _lookups missed: targets beyond the M_FAST-th of the fuller cells, below start + e."""
    s = 0
    for r in range(n_over):
        c = over[r]
        lo = t0 + (np.int64(c) << shift)
        a = _bisect(starts, i0, i1, lo - e)
        b = _bisect(starts, a, i1, lo + (np.int64(1) << shift) - e)
        f1 = first[c + 1]
        for i in range(a, b):
            x = starts[i] + e
            j = first[c] + M_FAST
            while j < f1 and T[j] < x:
                j += 1
                s += 1
    return s


@njit(nogil=True, cache=True)
def _lag_table(edges_ps, q):
    """Binning of short lags d in [e_0, e_q): bin = tab[(d - e_0) >> bs], plus one if d >= edges[bin + 1]
    (a table cell is narrower than any of the q bins, so it holds at most one edge). Returns (tab, bs, q), q
    lowered where the table would exceed MAX_TABLE entries."""
    if q == 0:
        return np.zeros(1, np.int64), 0, 0
    w = edges_ps[1] - edges_ps[0]
    for k in range(1, q):
        w = min(w, edges_ps[k + 1] - edges_ps[k])
    bs = max(int(math.floor(math.log2(max(w, 1)))), 0)
    while (np.int64(1) << bs) > w and bs > 0:
        bs -= 1
    while q > 0 and (edges_ps[q] - edges_ps[0]) >> bs > MAX_TABLE:
        q -= 1  # longer lags by look-ups
    n = ((edges_ps[q] - edges_ps[0]) >> bs) + 1
    tab = np.empty(n, np.int64)
    k = 0
    for c in range(n):
        v = edges_ps[0] + (np.int64(c) << bs)
        while k + 1 < q and edges_ps[k + 1] <= v:
            k += 1
        tab[c] = k
    return tab, bs, q


@njit(nogil=True, cache=True)
def _short(starts, i0, i1, T, first, t0, shift, edges_ps, q, tab, bs, c_short):
    """Enumerated short lags: returns the sum of the ranks at start + e_0; pairs per bin into c_short[:q].
    The first P_SHORT pairs of a start are binned without a branch (a pair beyond the window adds 0)."""
    e0 = edges_ps[0]
    eq = edges_ps[q]
    s0 = 0
    for i in range(i0, i1):
        t = starts[i]
        j = _rank(T, first, t0, shift, t + e0)
        s0 += j
        y = t + eq
        for p in range(P_SHORT):
            dd = min(T[j + p] - t, eq - 1)
            k = tab[(dd - e0) >> bs]
            k += dd >= edges_ps[k + 1]
            c_short[k] += T[j + p] < y
        j += P_SHORT
        while T[j] < y:
            dd = T[j] - t
            k = tab[(dd - e0) >> bs]
            k += dd >= edges_ps[k + 1]
            c_short[k] += 1
            j += 1
    return s0


@njit(nogil=True, cache=True)
def count_below(starts, targets, t_base, edges_ps, n_enum, S):
    """S[k] += sum over the start photons (sorted int64 ps) of the global rank of t_start + edges_ps[k] among
    the targets (sorted int64 ps, global ranks t_base ..). n_enum: edges below edges_ps[n_enum] by enumeration."""
    n = starts.shape[0]
    K = edges_ps.shape[0]
    if n == 0:
        return
    q = min(max(n_enum, 0), K - 1)
    c_short = np.zeros(max(q, 1), np.int64)
    tab, bs, q = _lag_table(edges_ps, q)
    block_ps = max(edges_ps[K - 1], 1)
    T = np.empty(0, np.int64)
    first = np.empty(0, np.int32)
    over = np.empty(0, np.int64)
    i0 = 0
    while i0 < n:
        i1 = i0 + np.searchsorted(starts[i0:], starts[i0] + block_ps, side="left")
        if i1 <= i0:
            i1 = i0 + 1
        t0 = starts[i0] + edges_ps[0]
        t_end = starts[i1 - 1] + edges_ps[K - 1]
        j_lo = np.searchsorted(targets, t0, side="left")
        j_hi = np.searchsorted(targets, t_end, side="left")
        m = j_hi - j_lo
        if T.shape[0] < m + PAD:
            T = np.empty(2 * m + PAD, np.int64)
            over = np.empty(2 * m + 1, np.int64)
        T[:m] = targets[j_lo:j_hi]
        T[m:m + PAD] = _BIG
        span = t_end - t0 + 1
        shift = max(int(math.log2(max(span // max(m, 1), 1))) - int(math.log2(CELLS_PER_TARGET)), 0)
        n_cells = ((t_end - t0) >> shift) + 1
        if first.shape[0] < n_cells + 1:
            first = np.empty(2 * n_cells + 1, np.int32)
        n_over = _index(T, m, t0, shift, n_cells, first, over)
        base = (i1 - i0) * (j_lo + t_base)
        if q > 0:
            s0 = _short(starts, i0, i1, T, first, t0, shift, edges_ps, q, tab, bs, c_short) + base
            S[0] += s0
            for k in range(1, q):
                s0 += c_short[k - 1]
                S[k] += s0
            c_short[:] = 0
        for k in range(q, K):
            e = edges_ps[k]
            S[k] += base + _lookups(starts, i0, i1, T, first, t0, shift, e) + _overfull(
                starts, i0, i1, T, first, t0, shift, over, n_over, e)
        i0 = i1


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
