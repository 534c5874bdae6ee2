"""Numba kernels: cross-correlation histogram of photon pairs between two detectors.

g2_pairs counts every opposite-detector pair once, at tau = t(B) - t(A), into
hist[(tau - lo) // bin_ps] if lo <= tau < hi. A pair is counted when its later photon (in stream
order) is processed, so feeding the stream in any chunking with a look-back tail of the photons
within reach of the last one gives the same histogram. Complexity O(n * rate * reach).

No division per pair, and no branch that depends on the data in the common case: every photon gets
a signed key on a power-of-two grid, key(x) = (x // bin_ps) << shift | x % bin_ps with 2**shift >=
bin_ps, +key for B and -key for A (x = t - base for B, t - base + lo for A; the quotient by one float
multiplication, exact without correction below 2**50 ps: see _key), so that for a pair the sum
of the two signed keys e = key_B - key_A gives floor((tB - tA - lo) / bin_ps) = e >> shift exactly (the
remainders differ by less than 2**shift). The base puts every key above the window's key span, so
the sum of two B keys is above the window and that of two A keys below it: each photon is tested
against the previous _L photons of the stream whatever their detector, a fixed, contiguous,
vectorised set of tests (int64 adds, compares and shifts: SIMD on AVX2 and AVX-512 alike), per block
of photons kept in L1. The in-window results are a bit mask per photon; the histogram increments
walk the set bits of 8 photons' masks at a time (one unpredictable loop exit per 8 photons, not per
photon; the pair's bin is recomputed from the two keys). A photon whose _L-th predecessor is still
within reach scans further back (rare at the rates the window is made for; any rate stays exact).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tagstream.kernels.bits import as_float as _as_float, as_int as _as_int, ctz as _ctz


_L = 8                   # previous photons (either detector) tested branch-free per photon
_BLK = 256               # photons per block (a multiple of 8): keys and masks stay in L1
_SENTINEL = -(1 << 62)   # key of the photons "before" the stream: outside any window
_EXACT_SPAN_PS = 1 << 50  # below it the float quotient is exact (_key)
_TWO52_BITS = 0x4330000000000000   # the bits of 2.0**52: (x | them) as a float is 2**52 + x, 0 <= x < 2**52
_TWO52 = 4503599627370496.0
_ROUND = 1.5 * _TWO52               # v + _ROUND rounds v to an integer (|v| < 2**51) ...
_ROUND_BITS = 0x4338000000000000   # ... whose bits are those of _ROUND plus it


@njit(nogil=True, cache=True, inline="always")
def _key(x, bin_ps, bin_f, inv, shift, exact):
    """key(x) = (x // bin_ps) << shift | x % bin_ps for 0 <= x.

    Not exact (x < 2**50): no int64 <-> float conversion and no int64 multiplication (both emulated by
    AVX2 vectors; the loop over a block vectorises on AVX2 and AVX-512 alike): xf = float(x) from the
    bits of 2**52 + x; with inv = fl(1 / bin_ps), y = fl((xf + 0.5) * inv) is within
    (x + 0.5) / bin_ps * 2**-52 (1 + 2**-54) of z = (x + 0.5) / bin_ps, less than 0.5 / bin_ps for
    x < 2**50, and z lies at least 0.5 / bin_ps from any integer (its fraction is
    (x % bin_ps + 0.5) / bin_ps), so y - 0.5 (exact) lies strictly within 0.5 of q = x // bin_ps and
    adding 1.5 * 2**52 rounds it to that plus q; x % bin_ps = xf - q * bin_ps is exact in float64.
    exact: the integer division (spans >= 2**50 ps, ~19 min, within one call: practically never)."""
    if exact:
        q = x // bin_ps
        return (q << shift) + (x - q * bin_ps)
    xf = _as_float(x | _TWO52_BITS) - _TWO52
    qq = ((xf + 0.5) * inv - 0.5) + _ROUND
    q = _as_int(qq) - _ROUND_BITS
    r = _as_int((xf - (qq - _ROUND) * bin_f) + _ROUND) - _ROUND_BITS
    return (q << shift) + r


@njit(nogil=True, cache=True, inline="always")
def _photon(t, wi, base, lo, bin_ps, bin_f, inv, shift, exact):
    """The signed key of one photon: key(x) for B (> 0), -key(x) for A (< 0); x < 0 flags bad input."""
    x = t - base + (0 if wi else lo)
    k = _key(x, bin_ps, bin_f, inv, shift, exact)
    return (k if wi else -k), x


@njit(nogil=True, cache=True)
def _pairs_lagged(tail_t, tail_w, t, which, i0, base, lo, bin_ps, shift, exact, nbins, reach, hist):
    """Add the pairs whose later photon is t[i] with i >= i0 (an index into t) to hist; the tail's
    photons only serve as earlier partners. Returns False if a key was below its base (times not
    non-decreasing)."""
    L, BLK = _L, _BLK
    uL = np.uint64(L)
    ushift = np.uint64(shift)
    uspan = np.uint64(nbins << shift)
    inv = 1.0 / bin_ps
    bin_f = float(bin_ps)
    kbuf = np.empty(L + BLK, np.int64)     # signed keys: the previous L photons, then the block's
    xbuf = np.zeros(L + BLK, np.int64)     # t - base of the same (0 before the stream)
    mk64 = np.empty(BLK, np.uint64)        # bit k: the pair (photon, its (k+1)-th predecessor) is in the window
    okb = np.zeros(BLK, np.uint8)          # the same as bytes (8 photons per uint64 word)
    needb = np.zeros(BLK, np.uint8)        # the L-th predecessor is within reach: scan further
    okw = okb.view(np.uint64)
    needw = needb.view(np.uint64)
    bad = False
    n1 = tail_t.shape[0]
    for s in range(L):                     # the tail's last L photons (sentinels before the stream)
        q = n1 - L + s
        if q >= 0:
            vq, xq = _photon(tail_t[q], tail_w[q] != 0, base, lo, bin_ps, bin_f, inv, shift, exact)
            bad |= xq < 0
            kbuf[s] = vq
            xbuf[s] = tail_t[q] - base
        else:
            kbuf[s] = _SENTINEL
    n = t.shape[0]
    for b0 in range(0, n, BLK):
        m = min(BLK, n - b0)
        um = np.uint64(m)
        ub0 = np.uint64(b0)
        if exact:                          # keys (vectorised: one loop per path)
            for j in range(um):
                ti = t[ub0 + j]
                vi, x = _photon(ti, which[ub0 + j] != 0, base, lo, bin_ps, bin_f, inv, shift, True)
                bad |= x < 0
                kbuf[uL + j] = vi
                xbuf[uL + j] = ti - base
        else:
            for j in range(um):
                ti = t[ub0 + j]
                vi, x = _photon(ti, which[ub0 + j] != 0, base, lo, bin_ps, bin_f, inv, shift, False)
                bad |= x < 0
                kbuf[uL + j] = vi
                xbuf[uL + j] = ti - base
        for j in range(um):                # L tests per photon (vectorised; the mask kept in 64-bit
            vi = kbuf[uL + j]              # lanes: narrowing each test to bytes costs AVX2 packs)
            mk = np.uint64(0)
            for k in range(L):
                e = vi + kbuf[uL + j - np.uint64(k + 1)]
                mk |= np.uint64(np.uint64(e) < uspan) << np.uint64(k)
            mk64[j] = mk
        for j in range(um):                # no per-photon "counted" select (3-4 % on AVX2)
            okb[j] = np.uint8(mk64[j])
            needb[j] = np.uint8(xbuf[uL + j] - xbuf[j] <= reach)
        if b0 < i0:                        # photons before i0 only serve as partners
            for j in range(min(i0 - b0, m)):
                okb[j] = 0
                needb[j] = 0
        for j in range(m, BLK):
            okb[j] = 0
            needb[j] = 0
        for g in range((m + 7) >> 3):      # histogram: the set bits of 8 photons' masks
            w = okw[g]
            while w:
                p = _ctz(w)
                jj = np.uint64(8 * g) + (p >> np.uint64(3))
                e = kbuf[uL + jj] + kbuf[uL + jj - np.uint64(1) - (p & np.uint64(7))]
                hist[np.uint64(e) >> ushift] += 1
                w &= w - np.uint64(1)
        for g in range((m + 7) >> 3):      # photons with more than L predecessors within reach
            if needw[g] == np.uint64(0):
                continue
            for j in range(8 * g, min(8 * g + 8, m)):
                if not needb[j]:
                    continue
                i = b0 + j
                vi = kbuf[L + j]
                ti = t[i]
                q = n1 + i - L - 1             # merged index (tail, then t) of the next partner
                while q >= 0:
                    tq = tail_t[q] if q < n1 else t[q - n1]
                    if ti - tq > reach:
                        break
                    wq = (tail_w[q] if q < n1 else which[q - n1]) != 0
                    vq, xq = _photon(tq, wq, base, lo, bin_ps, bin_f, inv, shift, exact)
                    e = vi + vq
                    if np.uint64(e) < uspan:
                        hist[np.uint64(e) >> ushift] += 1
                    q -= 1
        for s in range(L):                 # the block's last L photons precede the next block
            kbuf[s] = kbuf[m + s]
            xbuf[s] = xbuf[m + s]
    return not bad


def g2_pairs_after(tail_t, tail_w, t, which, t_from, lo, hi, bin_ps, hist):
    """Add to hist the pairs whose later photon is one of (t, which) with time >= t_from; tail_t,
    tail_w: the earlier photons they may pair with. hist: int64, (hi - lo) // bin_ps bins (hi - lo
    a multiple of bin_ps). Times: int64 ps, non-decreasing through tail and new; which: 0 = A,
    1 = B. Returns the number of pairs added."""
    n1 = tail_t.shape[0]
    nbins = hist.shape[0]
    if hi - lo != nbins * bin_ps:
        raise ValueError(f"g2 window [{lo}, {hi}) ps is not {nbins} bins of {bin_ps} ps")
    i0 = int(np.searchsorted(t, t_from, side="left"))
    if i0 >= t.shape[0]:
        return 0
    shift = int(bin_ps - 1).bit_length()
    t0 = int(tail_t[0]) if n1 else int(t[0])
    lo, bin_ps = int(lo), int(bin_ps)
    base = t0 + min(lo, 0) - (nbins << shift) - bin_ps    # every key above the window's key span
    exact = int(t[-1]) - base + abs(lo) >= _EXACT_SPAN_PS
    h = np.zeros(nbins, np.int64)
    if not _pairs_lagged(tail_t, tail_w, t, which, i0, base, lo, bin_ps, shift, exact, nbins,
                         max(int(hi), -lo), h):
        raise ValueError("g2 photon times are not non-decreasing (a key below its base)")
    hist += h
    return int(h.sum())


def g2_pairs(t, which, start, t_from, lo, hi, bin_ps, hist):
    """g2_pairs_after with the earlier photons t[:start] and the new ones t[start:]."""
    return g2_pairs_after(t[:start], which[:start], t[start:], which[start:], t_from, lo, hi, bin_ps, hist)


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
