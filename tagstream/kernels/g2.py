"""Numba kernels: cross-correlation histogram of photon pairs between two detectors.

g2_pairs counts every opposite-detector pair once, at tau = t(B) - t(A), into
hist[(tau - lo) // bin_ps] if lo <= tau < hi. A pair is counted when its later photon (in stream
order) is processed, so feeding the stream in any chunking with a look-back tail of the photons
within reach of the last one gives the same histogram. Complexity O(n * rate * reach).

No division per pair, and no branch that depends on the data in the common case: every photon gets
a key on a power-of-two grid, key(x) = (x // bin_ps) << shift | x % bin_ps with 2**shift >= bin_ps
(x = t - base for B, t - base + lo for A; the quotient by one float multiplication, exact without
correction below 2**50 ps: see _floor_div), so that floor((tB - tA - lo) / bin_ps) =
(key_B - key_A) >> shift exactly (the remainders differ by less than 2**shift). One pass per photon:
its key, then the last K photons of the other detector tested with predicated (branch-free) tests and
histogram increments (out-of-window ones go to K spare bins); only when all K may still be in the
window does it scan further back. Keys live only in the two per-detector lists (no key array pass).
"""

from __future__ import annotations

import numpy as np
from numba import njit


_K = 4                   # other-detector photons tested branch-free per photon
_SENTINEL = -(1 << 62)   # key of the K photons "before" each list: outside any window
_EXACT_SPAN_PS = 1 << 50  # below it the float quotient is exact (_floor_div)


@njit(nogil=True, cache=True, inline="always")
def _floor_div(x, bin_ps, inv, exact):
    """floor(x / bin_ps) for 0 <= x, by one float multiplication when not exact (x < 2**50): with
    inv = fl(1 / bin_ps), y = fl((x + 0.5) * inv) is within (x + 0.5) / bin_ps * 2**-52 (1 + 2**-54) of
    z = (x + 0.5) / bin_ps, less than 0.5 / bin_ps for x < 2**50, and z lies at least 0.5 / bin_ps
    from any integer (its fraction is (x % bin_ps + 0.5) / bin_ps), so floor(y) = floor(z) = x // bin_ps.
    exact: the integer division (spans >= 2**50 ps, ~19 min, within one call: practically never)."""
    if exact:
        return x // bin_ps
    return np.int64((x + 0.5) * inv)


@njit(nogil=True, cache=True, inline="always")
def _photon(t, wi, base, lo, bin_ps, inv, shift, exact):
    """The signed key of one photon: key(x) for B (> 0), -key(x) for A (< 0); x < 0 flags bad input."""
    x = t - base + (0 if wi else lo)
    q = _floor_div(x, bin_ps, inv, exact)
    k = (q << shift) + (x - q * bin_ps)
    return (k if wi else -k), x


def _b_list_at(n: int) -> int:
    """Start of the B list in the lists scratch: after A's n + 2K slots, offset by half a 4 KiB page
    from the A list (A stores and B loads would otherwise alias in the CPU's store buffer)."""
    return -(-(n + 2 * _K) // 512) * 512 + 256 + _K


@njit(nogil=True, cache=True)
def _pairs_fused(tail_t, tail_w, t, which, i0, base, lo, bin_ps, shift, exact, nbins, hist, lists, b0):
    """Add the pairs whose later photon is t[i] with i >= i0 (an index into t) to hist (nbins + _K
    bins, the last _K spare); the tail's photons only serve as earlier partners. Pair (A, B) is in bin
    e >> shift, e = v_B + v_A = key_B - key_A, when 0 <= e < nbins << shift. Each detector's signed
    keys v are kept in arrival order in its own list (lists: scratch; A at [_K, _K + na), B at
    [b0, b0 + nb), _K sentinels before each). Returns False if a key was below its base (times not
    non-decreasing)."""
    spanm = nbins << shift
    uspan = np.uint64(spanm)
    for s in range(_K):
        lists[s] = _SENTINEL
        lists[b0 - _K + s] = _SENTINEL
    inv = 1.0 / bin_ps
    bad = False
    na = 0
    nb = 0
    for i in range(tail_t.shape[0]):
        wi = tail_w[i] != 0
        vi, x = _photon(tail_t[i], wi, base, lo, bin_ps, inv, shift, exact)
        bad |= x < 0
        lists[np.uint64((b0 + nb) if wi else (_K + na))] = vi
        nb += np.int64(wi)
        na += np.int64(not wi)
    spare = np.uint64(nbins)
    for i in range(t.shape[0]):
        wi = which[i] != 0
        vi, x = _photon(t[i], wi, base, lo, bin_ps, inv, shift, exact)
        bad |= x < 0
        other = _K if wi else b0           # the other detector's list ...
        n_other = na if wi else nb         # ... and its length
        p = np.uint64(other + n_other - 1)  # its latest photon; the sentinels make p - 3 valid
        if i >= i0:
            e0 = vi + lists[p]
            e1 = vi + lists[p - np.uint64(1)]
            e2 = vi + lists[p - np.uint64(2)]
            e3 = vi + lists[p - np.uint64(3)]
            hist[np.uint64(e0 >> shift) if np.uint64(e0) < uspan else spare] += 1
            hist[np.uint64(e1 >> shift) if np.uint64(e1) < uspan else spare + np.uint64(1)] += 1
            hist[np.uint64(e2 >> shift) if np.uint64(e2) < uspan else spare + np.uint64(2)] += 1
            hist[np.uint64(e3 >> shift) if np.uint64(e3) < uspan else spare + np.uint64(3)] += 1
            # earlier photons of the other list move e away from the window's far edge: B later, e
            # grows (stop at >= spanm); A later, e falls (stop at < 0). Scan on if the 4th is not past.
            far = e3 if wi else spanm - 1 - e3
            if far < spanm:
                j = n_other - 1 - _K
                while j >= 0:
                    e = vi + lists[other + j]
                    if wi:
                        if e >= spanm:
                            break
                    elif e < 0:
                        break
                    if np.uint64(e) < uspan:
                        hist[e >> shift] += 1
                    j -= 1
        lists[np.uint64((b0 + nb) if wi else (_K + na))] = vi
        nb += np.int64(wi)
        na += np.int64(not wi)
    return not bad


def g2_work_size(n: int) -> int:
    """Length of the int64 scratch the pair count needs for n photons (tail + new)."""
    return _b_list_at(n) + n


def g2_pairs_after(tail_t, tail_w, t, which, t_from, lo, hi, bin_ps, hist, work=None):
    """Add to hist the pairs whose later photon is one of (t, which) with time >= t_from; tail_t,
    tail_w: the earlier photons they may pair with. hist: int64, (hi - lo) // bin_ps bins (hi - lo
    a multiple of bin_ps). Times: int64 ps, non-decreasing through tail and new; which: 0 = A,
    1 = B. work: int64 scratch of >= g2_work_size(n) (reused by a stream; allocated when None).
    Returns the number of pairs added."""
    n1, n2 = tail_t.shape[0], t.shape[0]
    n = n1 + n2
    nbins = hist.shape[0]
    if hi - lo != nbins * bin_ps:
        raise ValueError(f"g2 window [{lo}, {hi}) ps is not {nbins} bins of {bin_ps} ps")
    i0 = int(np.searchsorted(t, t_from, side="left"))
    if i0 >= n2:
        return 0
    shift = int(bin_ps - 1).bit_length()
    if work is None or work.shape[0] < g2_work_size(n):
        work = np.empty(g2_work_size(n), np.int64)
    t0 = int(tail_t[0]) if n1 else int(t[0])
    base, lo, bin_ps = t0 + min(int(lo), 0) - int(bin_ps), int(lo), int(bin_ps)
    exact = int(t[-1]) - base + abs(lo) >= _EXACT_SPAN_PS
    h = np.zeros(nbins + _K, np.int64)
    if not _pairs_fused(tail_t, tail_w, t, which, i0, base, lo, bin_ps, shift, exact, nbins, h, work,
                        _b_list_at(n)):
        raise ValueError("g2 photon times are not non-decreasing (a key below its base)")
    hist += h[:nbins]
    return int(h[:nbins].sum())


def g2_pairs(t, which, start, t_from, lo, hi, bin_ps, hist, work=None):
    """g2_pairs_after with the earlier photons t[:start] and the new ones t[start:]."""
    return g2_pairs_after(t[:start], which[:start], t[start:], which[start:], t_from, lo, hi, bin_ps,
                          hist, work)


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
