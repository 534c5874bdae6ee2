"""Numba kernel: reference each photon to its laser pulse (microtime) in one pass over the records.

The kernel walks the time-ordered records once, carrying the sync reference and the laser-period
estimate in explicit state arrays, so that a chunk boundary changes nothing (the same sequence of
floating-point operations happens whatever the chunking).

Period estimate without a division per sync, local in time: the trusted sync intervals are summed in
integers, I (ps) and n (pulses), per time bucket of B = round(memory_pulses x the first period) ps on
the absolute clock (bucket j = [j B, (j+1) B), by the interval's end), and the estimate is refreshed
once per block of pulses from the previous and the current bucket,
    P = (I_prev + I_cur) / (n_prev + n_cur)        (W = n_prev + n_cur pulses)
(no trusted pulses in either bucket, e.g. a sync-filtered stream without photons: the first measured
or the nominal period, not the last estimate, which would depend on everything before)
so it averages over the last 1-2 memories of pulses (tracks slow drift) and, above all, depends only on
the syncs of a bounded look-back: a time slice that starts with a fresh state two buckets before its
start reaches the same state exactly, unless a trust decision below differs during that bootstrap
(tagstream.slices checks the states agree, and re-runs a slice from the exact state otherwise). Until
the first memory is full P is the exact ratio total trusted time / total pulses. A block ends when the
pulses since the last refresh reach max(divider, min(4096, W/256, memory/256)), counted from the bucket
start (a bucket change refreshes): early on the estimate is refreshed often (it lags at most 1/256 of
its pulses), later one division per ~4000 pulses. The refresh also precomputes 1/P, the window of a
usual interval and the gap limit, so the per-record work is multiplications and compares. All of it is
in the state arrays, so chunking changes nothing.

Algorithm (per record, O(1)):
  sync tag   -> interval I to the previous sync. Usual case |I - divider*P| < P/4: n = divider.
                Otherwise n = floor(I/P + 1/2) (by multiplication with 1/P); the interval is trusted
                if 1 <= n <= max(64*divider, E/8) and |I - n*P| < P/4, with E the pulses the estimate's
                buckets span (from the previous bucket's start, or the current's, and not before the
                first sync or the period being known; a function of time, not of earlier trust
                decisions). Trusted: I_cur += I, n_cur += n. A sync past the current bucket first
                rotates the buckets (and refreshes).
                Without a period yet (no nominal period) the first interval gives P = I / divider.
  photon     -> x = t - s_last + shift (shift = per-channel delay difference - microtime offset);
                k = floor(x / P) (by multiplication, corrected by +-1 exactly); microtime
                = x - round(k*P) in [0, P) (integer ps).
                Unreferenced (microtime = -1, counted by reason): no sync yet, no period yet, or
                (t - s_last) > limit*P where limit = min(max_periods, max(divider + 0.5, W/8)):
                a photon further from its reference sync than that is after a gap (lost syncs,
                laser off) or would be extrapolated with an inaccurate period.
  frame tag  -> copied to the frame output.
Any record earlier than its predecessor stops the kernel and reports its index (time-order error).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tagstream.kernels.bits import ctz, popcount

# state_i layout
SI_HAS_SYNC = 0
SI_LAST_SYNC = 1
SI_LAST_T = 2
SI_HAS_T = 3
SI_UNREF_NOSYNC = 4
SI_UNREF_NOPERIOD = 5
SI_UNREF_GAP = 6
SI_N_SYNC = 7
SI_PERIOD_KNOWN = 8
SI_SUM_I = 9       # trusted interval time in the current bucket (ps)
SI_SUM_N = 10      # trusted pulses in the current bucket
SI_BLOCK_N = 11    # pulses since the last refresh
SI_LO = 12         # the float limits below as exact integer bounds (integer compares per record):
SI_HI = 13         # I > lo <=> I > floor(lo); I < hi <=> I < ceil(hi); d > gap <=> d > floor(gap);
SI_GAP = 14        # n >= block <=> n >= ceil(block)
SI_BLOCK = 15
SI_PREV_I = 16     # the previous bucket's sums
SI_PREV_N = 17
SI_BUCKET_END = 18  # end of the current bucket (ps); a sync at or after it starts a new bucket
SI_BUCKET_PS = 19   # bucket width B (ps); 0 until the period is first known
SI_SPAN_START = 20  # start of the time the estimate spans (the previous bucket's start, or the current's)
SI_SIZE = 21
# state_f layout
SF_PERIOD = 0      # the estimate at the last refresh (used for referencing)
SF_WEIGHT = 1      # its weight W = w0 + S_n (pulses)
SF_FIRST_PERIOD = 2  # the period when it first became known (fixes decay binning)
SF_FIRST_TIME = 3  # the time it first became known (g2 starts there unless the period was given)
SF_P0 = 4          # the period to start from (nominal, or the first interval / divider)
SF_EST_START = 5   # the first sync's time (the estimate spans nothing before it)
SF_INV = 6         # 1 / P
SF_LO = 7          # usual interval: (divider - 1/4) P < I < (divider + 1/4) P
SF_HI = 8
SF_GAP = 9         # photons further than this (ps) from their sync are unreferenced
SF_NMAX = 10       # most pulses an interval may span to be trusted
SF_BLOCK = 11      # pulses per block until the next refresh
SF_SIZE = 12

BLOCK_MAX_PULSES = 4096.0


def bucket_ps(memory_pulses: float, period_ps: float) -> int:
    """The period estimate's time bucket (see the module doc)."""
    return max(1, int(np.floor(float(memory_pulses) * float(period_ps) + 0.5)))


def new_state(nominal_period_ps: float | None, memory_pulses: float = 1e6) -> tuple[np.ndarray, np.ndarray]:
    """Fresh kernel state; a nominal period (weight 0) is only used to count pulses in an interval."""
    si = np.zeros(SI_SIZE, np.int64)
    sf = np.zeros(SF_SIZE, np.float64)
    si[SI_BUCKET_END] = np.iinfo(np.int64).min   # the first sync starts a bucket
    sf[SF_EST_START] = np.nan
    if nominal_period_ps is not None:
        si[SI_BUCKET_PS] = bucket_ps(memory_pulses, nominal_period_ps)
        si[SI_PERIOD_KNOWN] = 1
        sf[SF_PERIOD] = float(nominal_period_ps)
        sf[SF_P0] = float(nominal_period_ps)
        sf[SF_FIRST_PERIOD] = float(nominal_period_ps)
        sf[SF_FIRST_TIME] = -np.inf
        sf[SF_INV] = np.nan   # derived values are set by the kernel's first refresh
    return si, sf


def current_period(si: np.ndarray, sf: np.ndarray) -> float | None:
    """The period estimate including the pulses since the last refresh (what a refresh now would give)."""
    if not si[SI_PERIOD_KNOWN]:
        return None
    w = si[SI_PREV_N] + si[SI_SUM_N]
    if w <= 0:
        return float(sf[SF_PERIOD])
    return float(float(si[SI_PREV_I] + si[SI_SUM_I]) / float(w))


@njit(nogil=True, cache=True)
def _refresh(si, sf, fdiv, max_periods, memory_pulses, t):
    """Recompute P from the two buckets' sums (one division) and the derived limits, at sync time t."""
    wi = si[SI_PREV_N] + si[SI_SUM_N]
    w = float(wi)
    if wi > 0:
        P = float(si[SI_PREV_I] + si[SI_SUM_I]) / w
    elif sf[SF_FIRST_PERIOD] > 0:   # no trusted pulses in the two buckets: the first (or nominal) period
        P = sf[SF_FIRST_PERIOD]
    else:
        P = sf[SF_P0]
    sf[SF_PERIOD] = P
    sf[SF_WEIGHT] = w
    sf[SF_INV] = 1.0 / P
    sf[SF_LO] = (fdiv - 0.25) * P
    sf[SF_HI] = (fdiv + 0.25) * P
    sf[SF_GAP] = min(max_periods, max(fdiv + 0.5, w / 8.0)) * P
    # pulses the estimate's buckets span up to t (from its start, or since the period is known): how far an
    # interval may be counted by round(I / P); a function of time only, not of which intervals were trusted
    span = 0.0
    if sf[SF_EST_START] == sf[SF_EST_START]:   # a sync was seen (t is a sync time)
        span = max(0.0, (float(t) - max(float(si[SI_SPAN_START]), sf[SF_FIRST_TIME], sf[SF_EST_START])) / P)
    sf[SF_NMAX] = max(64.0 * fdiv, span / 8.0)
    sf[SF_BLOCK] = max(fdiv, min(BLOCK_MAX_PULSES, w / 256.0, memory_pulses / 256.0))
    si[SI_BLOCK_N] = 0
    si[SI_LO] = np.int64(np.floor(sf[SF_LO]))
    si[SI_HI] = np.int64(np.ceil(sf[SF_HI]))
    si[SI_GAP] = np.int64(np.floor(sf[SF_GAP])) if sf[SF_GAP] < 9.0e18 else np.int64(9_000_000_000_000_000_000)
    si[SI_BLOCK] = np.int64(np.ceil(sf[SF_BLOCK]))


@njit(nogil=True, cache=True)
def _new_bucket(si, t):
    """A sync at t >= the current bucket's end: the bucket holding t becomes current; the one before it
    is the previous (empty if buckets were skipped). One division, once per bucket."""
    B = si[SI_BUCKET_PS]
    j = t // B
    if si[SI_BUCKET_END] == j * B:   # the next bucket
        si[SI_PREV_I] = si[SI_SUM_I]
        si[SI_PREV_N] = si[SI_SUM_N]
        si[SI_SPAN_START] = (j - 1) * B
    else:
        si[SI_PREV_I] = 0
        si[SI_PREV_N] = 0
        si[SI_SPAN_START] = j * B
    si[SI_SUM_I] = 0
    si[SI_SUM_N] = 0
    si[SI_BUCKET_END] = (j + 1) * B


@njit(nogil=True, cache=True, inline="always")
def _period_registers(si, sf):
    """The period state the record loop keeps in locals (P, 1/P, usual-interval bounds, gap limit, largest
    pulse count, block length): loaded at the start and again after every _refresh."""
    return sf[SF_PERIOD], sf[SF_INV], si[SI_LO], si[SI_HI], si[SI_GAP], sf[SF_NMAX], si[SI_BLOCK]


@njit(nogil=True, cache=True, inline="always")
def _wrap(x, P, inv):
    """x (ps after the reference sync, shifted) modulo the period P: floor(x / P) by multiplication with
    inv = 1 / P, corrected by +-1 exactly; the microtime x - round(k P) in [0, P)."""
    k = np.floor(x * inv)
    micro = x - np.int64(np.floor(k * P + 0.5))
    if micro < 0:
        micro = x - np.int64(np.floor((k - 1.0) * P + 0.5))
    else:
        nxt = x - np.int64(np.floor((k + 1.0) * P + 0.5))
        if nxt >= 0:
            micro = nxt
    return micro


_RUN = 64   # records per vectorised block of the usual run


@njit(nogil=True, cache=True)
def _usual_run(ts, ch, i, n, last_t, last_sync, bucket_end, lo_i, hi_i, max_syncs, sync_ch, a_ch, b_ch,
               P, inv, gap, shift_a, shift_b, out_t, out_which, out_micro, n_ph):
    """The common case, few live values: records from i on while each is a sync with the usual interval
    (before the bucket's end, at most max_syncs of them: no refresh due) or a photon within the gap
    limit, in time order. Returns (the first record it did not take, last_t, last_sync, syncs taken,
    n_ph, photons of B taken); the caller adds the syncs' intervals, which telescope to the change of
    last_sync, and takes the record it stopped at through the full logic.

    Blocks of _RUN records are first tested all at once (a vectorised loop: every record a sync with
    the usual interval or a photon within the gap limit, in order, each record's last sync at most two
    records back); a block that passes is taken as a whole, its photons walked by their bit mask (no
    branch per record). A block that does not, goes record by record (the same tests, one at a time):
    the outputs are the same either way."""
    n_s = np.int64(0)
    n_b = np.int64(0)
    R = _RUN
    sync_span = np.uint64(max(hi_i - lo_i - 1, 0))
    photon_span = np.uint64(gap + 1)
    tb = np.empty(R + 2, np.int64)       # the block's times, after two records of context
    cb = np.empty(R + 2, np.int64)       # ... and channels
    while i < n:
        if i + R <= n and n_s + R <= max_syncs and ts[i] >= last_t and ts[i + R - 1] < bucket_end:
            tb[0] = last_sync             # context: the last sync before the block, as if the record before
            cb[0] = -1
            tb[1] = last_sync
            cb[1] = sync_ch
            for k in range(R):
                tb[k + 2] = ts[i + k]
                cb[k + 2] = ch[i + k]
            bad = np.int64(0)
            phm = np.uint64(0)
            for k in range(R):           # vectorised: no branch on the data
                t = tb[k + 2]
                c = cb[k + 2]
                s1 = cb[k + 1] == sync_ch
                ref = tb[k + 1] if s1 else tb[k]
                d = t - ref
                is_s = c == sync_ch
                is_p = (c == a_ch) | (c == b_ch)
                # a sync: lo < d < hi; a photon: 0 <= d <= gap; anything else: never (one unsigned compare)
                off = lo_i + 1 if is_s else np.int64(0)
                span = sync_span if is_s else (photon_span if is_p else np.uint64(0))
                ok_k = (s1 | (cb[k] == sync_ch)) & (t >= tb[k + 1]) & (np.uint64(d - off) < span)
                bad |= np.int64(not ok_k)
                phm |= np.uint64(is_p) << np.uint64(k)
            ok = bad == 0 and (cb[R + 1] == sync_ch or cb[R] == sync_ch)
            if ok:
                n_s += R - np.int64(popcount(phm))   # every other record is a sync
                while phm:
                    k = ctz(phm)
                    t = tb[k + np.uint64(2)]
                    which = np.int64(cb[k + np.uint64(2)] == b_ch)
                    ref = tb[k + np.uint64(1)] if cb[k + np.uint64(1)] == sync_ch else tb[k]
                    out_t[n_ph] = t
                    out_which[n_ph] = which
                    out_micro[n_ph] = _wrap(t - ref + (shift_a if which == 0 else shift_b), P, inv)
                    n_ph += 1
                    n_b += which
                    phm &= phm - np.uint64(1)
                last_sync = tb[R + 1] if cb[R + 1] == sync_ch else tb[R]
                last_t = tb[R + 1]
                i += R
                continue
        end = min(n, i + R)
        while i < end:                   # record by record
            t = ts[i]
            if t < last_t:
                return i, last_t, last_sync, n_s, n_ph, n_b
            c = ch[i]
            if c == sync_ch:
                interval = t - last_sync
                if t >= bucket_end or n_s >= max_syncs or not (interval > lo_i and interval < hi_i):
                    return i, last_t, last_sync, n_s, n_ph, n_b
                n_s += 1
                last_sync = t
            elif c == a_ch or c == b_ch:
                d = t - last_sync
                if d > gap:
                    return i, last_t, last_sync, n_s, n_ph, n_b
                which = 0 if c == a_ch else 1
                out_t[n_ph] = t
                out_which[n_ph] = which
                out_micro[n_ph] = _wrap(d + (shift_a if which == 0 else shift_b), P, inv)
                n_ph += 1
                n_b += which
            else:
                return i, last_t, last_sync, n_s, n_ph, n_b
            last_t = t
            i += 1
    return i, last_t, last_sync, n_s, n_ph, n_b


@njit(nogil=True, cache=True)
def reference_photons(ts, ch, sync_ch, a_ch, b_ch, frame_ch, divider, shift_a, shift_b,
                      max_periods, memory_pulses, si, sf, ch_counts,
                      out_t, out_which, out_micro, out_frames):
    """One pass over a chunk. Photons (A: which=0, B: which=1) go to out_t/out_which/out_micro
    (microtime ps, -1 = unreferenced); frame tags to out_frames. ch_counts[c] += tags of channel c.

    Returns (n_photons, n_frames, bad_index) where bad_index >= 0 is the first record that goes
    back in time (the kernel stops there; state is left as before that record).
    Complexity O(n), no allocation, no division per record.
    """
    n = ts.shape[0]
    n_ph = 0
    n_fr = 0
    has_sync = si[SI_HAS_SYNC]
    last_sync = si[SI_LAST_SYNC]
    last_t = si[SI_LAST_T]
    has_t = si[SI_HAS_T]
    period_known = si[SI_PERIOD_KNOWN]
    fdiv = float(divider)
    idiv = np.int64(divider)
    if period_known == 1 and not (sf[SF_INV] == sf[SF_INV]):   # nominal period, not refreshed yet
        _refresh(si, sf, fdiv, max_periods, memory_pulses, np.iinfo(np.int64).min)
    sum_i = si[SI_SUM_I]
    sum_n = si[SI_SUM_N]
    blk = si[SI_BLOCK_N]
    P, inv, lo_i, hi_i, gap, nmax, block = _period_registers(si, sf)
    bucket_end = si[SI_BUCKET_END]
    n_sync = np.int64(0)   # per-channel counts of sync/A/B in registers (no store-to-load chain per record)
    n_a = np.int64(0)
    n_b = np.int64(0)
    bad = -1
    i = -1
    while i + 1 < n:
        i += 1
        if has_sync == 1 and period_known == 1 and has_t == 1 and blk < block:
            max_syncs = (block - 1 - blk) // idiv
            i0 = i
            i, last_t, ls, n_s, n_ph0, nb = _usual_run(ts, ch, i, n, last_t, last_sync, bucket_end, lo_i, hi_i,
                                                      max_syncs, sync_ch, a_ch, b_ch, P, inv, gap, shift_a, shift_b,
                                                      out_t, out_which, out_micro, n_ph)
            if i > i0:
                sum_i += ls - last_sync
                last_sync = ls
                sum_n += n_s * idiv
                blk += n_s * idiv
                n_sync += n_s
                n_b += nb
                n_a += n_ph0 - n_ph - nb
                n_ph = n_ph0
            if i >= n:
                break
        t = ts[i]
        c = ch[i]
        if has_t == 1 and t < last_t:
            bad = i
            break
        last_t = t
        has_t = 1
        if c == sync_ch:
            n_sync += 1
            if has_sync == 0 and not (sf[SF_EST_START] == sf[SF_EST_START]):   # (preset for a bootstrap)
                sf[SF_EST_START] = t
            if t >= bucket_end and si[SI_BUCKET_PS] > 0:   # a new bucket: rotate the sums, refresh
                si[SI_SUM_I] = sum_i
                si[SI_SUM_N] = sum_n
                _new_bucket(si, t)
                bucket_end = si[SI_BUCKET_END]
                if period_known == 1:
                    _refresh(si, sf, fdiv, max_periods, memory_pulses, t)
                    P, inv, lo_i, hi_i, gap, nmax, block = _period_registers(si, sf)
                sum_i = np.int64(0)
                sum_n = np.int64(0)
                blk = np.int64(0)
            if has_sync == 1:
                interval = t - last_sync
                npulse = np.int64(0)
                if period_known == 0:
                    if interval > 0:
                        period_known = 1
                        if sf[SF_FIRST_PERIOD] == 0.0:   # (preset for a time slice's bootstrap)
                            sf[SF_FIRST_PERIOD] = interval / fdiv
                            sf[SF_FIRST_TIME] = t
                        sf[SF_P0] = interval / fdiv
                        npulse = idiv
                        if si[SI_BUCKET_PS] == 0:   # the bucket width follows the first period
                            si[SI_BUCKET_PS] = max(np.int64(1), np.int64(np.floor(memory_pulses * (interval / fdiv)
                                                                                   + 0.5)))
                            si[SI_SUM_I] = sum_i
                            si[SI_SUM_N] = sum_n
                            _new_bucket(si, t)
                            bucket_end = si[SI_BUCKET_END]
                            sum_i = np.int64(0)
                            sum_n = np.int64(0)
                elif interval > lo_i and interval < hi_i:
                    npulse = idiv            # the usual case: round(I/P) = divider
                elif interval > 0:
                    npf = np.floor(interval * inv + 0.5)
                    if npf >= 1.0 and npf <= nmax and abs(interval - npf * P) < 0.25 * P:
                        npulse = np.int64(npf)
                if npulse > 0:
                    sum_i += interval
                    sum_n += npulse
                    blk += npulse
                    if blk >= block:
                        si[SI_SUM_I] = sum_i
                        si[SI_SUM_N] = sum_n
                        _refresh(si, sf, fdiv, max_periods, memory_pulses, t)
                        sum_i = si[SI_SUM_I]
                        sum_n = si[SI_SUM_N]
                        blk = 0
                        P, inv, lo_i, hi_i, gap, nmax, block = _period_registers(si, sf)
            last_sync = t
            has_sync = 1
        elif c == a_ch or c == b_ch:
            which = 0 if c == a_ch else 1
            if which == 0:
                n_a += 1
            else:
                n_b += 1
            micro = -1
            if has_sync == 0:
                si[SI_UNREF_NOSYNC] += 1
            elif period_known == 0:
                si[SI_UNREF_NOPERIOD] += 1
            else:
                d = t - last_sync
                if d > gap:
                    si[SI_UNREF_GAP] += 1
                else:
                    micro = _wrap(d + (shift_a if which == 0 else shift_b), P, inv)
            out_t[n_ph] = t
            out_which[n_ph] = which
            out_micro[n_ph] = micro
            n_ph += 1
        else:
            ch_counts[c] += 1
            if c == frame_ch:
                out_frames[n_fr] = t
                n_fr += 1
    if sync_ch >= 0:
        ch_counts[sync_ch] += n_sync
    ch_counts[a_ch] += n_a
    ch_counts[b_ch] += n_b
    si[SI_N_SYNC] += n_sync
    si[SI_HAS_SYNC] = has_sync
    si[SI_LAST_SYNC] = last_sync
    si[SI_LAST_T] = last_t
    si[SI_HAS_T] = has_t
    si[SI_PERIOD_KNOWN] = period_known
    si[SI_SUM_I] = sum_i
    si[SI_SUM_N] = sum_n
    si[SI_BLOCK_N] = blk
    return n_ph, n_fr, bad
