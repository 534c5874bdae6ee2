"""Numba kernel: cross-correlation histogram of photon pairs between two detectors.

For every photon i >= start (the new ones), walk back over earlier photons j while
t[i] - t[j] <= reach and count each opposite-detector pair once, at tau = t(B) - t(A), into
hist[(tau - lo) // bin_ps] if lo <= tau < hi. A pair is counted when its later photon (in stream
order) is processed, so feeding the stream in any chunking with a look-back tail of the photons
within `reach` of the last one gives the same histogram. Complexity O(n * rate * reach).

No division per pair: the bin index is floor(x * (1/bin)) in floating point, corrected by +-1 with
an exact integer test (x < 2**53, so the float quotient is off by at most one).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(nogil=True, cache=True, inline="always")
def _bin_index(x, bin_ps, inv_bin):
    """floor(x / bin_ps) for 0 <= x < 2**53 by one multiplication and an exact +-1 correction."""
    q = np.int64(x * inv_bin)
    if q * bin_ps > x:
        q -= 1
    elif (q + 1) * bin_ps <= x:
        q += 1
    return q


@njit(nogil=True, cache=True)
def g2_pairs(t, which, start, t_from, lo, hi, bin_ps, hist):
    """Add the pairs whose later photon has index >= start and time >= t_from to hist (int64).

    t: int64 photon times (ps, non-decreasing); which: 0 = detector A, 1 = detector B.
    Returns the number of pairs added.
    The pass splits the stream into its A and B times (one buffer: A from the front, B from the
    back, in stream order), so each photon scans only the other detector's earlier photons.
    """
    reach = hi if hi > -lo else -lo
    n = t.shape[0]
    inv_bin = 1.0 / bin_ps
    span = hi - lo
    own = np.empty(n, np.int64)
    na = 0
    nb = 0
    added = 0
    for i in range(n):
        ti = t[i]
        if which[i] == 0:
            if i >= start and ti >= t_from:
                k = n - nb            # the latest B; earlier ones at k + 1, k + 2, ...
                while k < n:
                    dt = ti - own[k]
                    if dt > reach:
                        break
                    x = -dt - lo      # tau = tB - tA = -dt
                    if x >= 0 and x < span:
                        hist[_bin_index(x, bin_ps, inv_bin)] += 1
                        added += 1
                    k += 1
            own[na] = ti
            na += 1
        else:
            if i >= start and ti >= t_from:
                k = na - 1
                while k >= 0:
                    dt = ti - own[k]
                    if dt > reach:
                        break
                    x = dt - lo       # tau = dt
                    if x >= 0 and x < span:
                        hist[_bin_index(x, bin_ps, inv_bin)] += 1
                        added += 1
                    k -= 1
            nb += 1
            own[n - nb] = ti
    return added


@njit(nogil=True, cache=True)
def g2_pairs_binned(t, which, start, t_from, lo, hi, bin_ps, hist, origin_ps, trace_bin_ps,
                    cross_flag, store, m, pairs_per_bin):
    """g2_pairs that also records every counted pair for the per-state (ON-only) g2.

    Each pair is appended to store (from index m) as its g2 base-bin index, OR cross_flag when the
    earlier photon lies in the trace bin before the later photon's one (the reach must be shorter
    than a trace bin, so a pair spans at most two bins); pairs_per_bin[b] counts the pairs whose
    later photon is in trace bin b = (t - origin) // trace_bin_ps. Pairs come in stream order, so
    bin b's pairs are the slice [cumsum(pairs_per_bin)[b-1], cumsum(pairs_per_bin)[b]) of the store.

    Stops before a photon whose pairs do not fit in the store: returns (next photon index, m);
    the caller grows the store and calls again from there. hist is only updated for whole photons.
    """
    reach = hi if hi > -lo else -lo
    n = t.shape[0]
    cap = store.shape[0]
    inv_bin = 1.0 / bin_ps
    for i in range(start, n):
        ti = t[i]
        if ti < t_from:
            continue
        wi = which[i]
        bi = (ti - origin_ps) // trace_bin_ps          # one division per photon, none per pair
        bin_start = origin_ps + bi * trace_bin_ps      # earlier photons before it: previous trace bin
        m0 = m
        j = i - 1
        full = False
        while j >= 0:
            dt = ti - t[j]
            if dt > reach:
                break
            if which[j] != wi:
                tau = dt if wi == 1 else -dt
                if tau >= lo and tau < hi:
                    if m >= cap:
                        full = True
                        break
                    code = _bin_index(tau - lo, bin_ps, inv_bin)
                    if t[j] < bin_start:
                        code |= cross_flag
                    store[m] = code
                    m += 1
            j -= 1
        if full:
            return i, m0
        mask = cross_flag - 1
        for p in range(m0, m):
            hist[store[p] & mask] += 1
        pairs_per_bin[bi] += m - m0
    return n, m


@njit(nogil=True, cache=True)
def sum_pairs_in_state(store, offsets, state, cross_flag, hist):
    """hist[k] += pairs with base-bin index k whose photons both lie in bins with state[b] true:
    a pair of bin b (its later photon's) counts if state[b], and for a cross pair also state[b-1]."""
    mask = cross_flag - 1
    for b in range(offsets.shape[0] - 1):
        if not state[b]:
            continue
        prev_ok = b > 0 and state[b - 1]
        for p in range(offsets[b], offsets[b + 1]):
            code = store[p]
            if (code & cross_flag) == 0 or prev_ok:
                hist[code & mask] += 1
