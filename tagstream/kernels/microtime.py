"""Numba kernel: reference each photon to its laser pulse (microtime) in one pass over the records.

The kernel walks the time-ordered records once, carrying the sync reference and the laser-period
estimate in explicit state arrays, so that a chunk boundary changes nothing (the same sequence of
floating-point operations happens whatever the chunking).

Period estimate without a division per sync: the trusted sync intervals are summed in integers,
S_I (ps) and S_n (pulses), and the estimate is refreshed once per block of pulses,
    P = (w0 * P0 + S_I) / (w0 + S_n)
(with P0, w0 the estimate and its weight at the last rebase; w0 = 0 at the start, so that until the
memory is full P is the exact ratio total trusted time / total pulses). When w0 + S_n exceeds
`memory_pulses` the estimate is rebased (P0 <- P, w0 <- memory_pulses, sums reset): a pulse-weighted
running mean that forgets on that time scale (tracks slow drift). A block ends when the pulses since
the last refresh reach max(divider, min(4096, W/256, memory/256)) with W = w0 + S_n: early on the
estimate is refreshed often (it lags at most 1/256 of its pulses), later one division per ~4000 pulses.
The refresh also precomputes 1/P, the window of a usual interval and the gap limit, so the per-record
work is multiplications and compares. Blocks are counted in the state, so chunking changes nothing.

Algorithm (per record, O(1)):
  sync tag   -> interval I to the previous sync. Usual case |I - divider*P| < P/4: n = divider.
                Otherwise n = floor(I/P + 1/2) (by multiplication with 1/P); the interval is trusted
                if 1 <= n <= max(64*divider, W/8) and |I - n*P| < P/4. Trusted: S_I += I, S_n += n.
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
SI_SUM_I = 9       # trusted interval time since the last rebase (ps)
SI_SUM_N = 10      # trusted pulses since the last rebase
SI_BLOCK_N = 11    # pulses since the last refresh
SI_LO = 12         # the float limits below as exact integer bounds (integer compares per record):
SI_HI = 13         # I > lo <=> I > floor(lo); I < hi <=> I < ceil(hi); d > gap <=> d > floor(gap);
SI_GAP = 14        # n >= block <=> n >= ceil(block)
SI_BLOCK = 15
SI_SIZE = 16
# state_f layout
SF_PERIOD = 0      # the estimate at the last refresh (used for referencing)
SF_WEIGHT = 1      # its weight W = w0 + S_n (pulses)
SF_FIRST_PERIOD = 2  # the period when it first became known (fixes decay binning)
SF_FIRST_TIME = 3  # the time it first became known (g2 starts there unless the period was given)
SF_P0 = 4          # estimate and weight at the last rebase
SF_W0 = 5
SF_INV = 6         # 1 / P
SF_LO = 7          # usual interval: (divider - 1/4) P < I < (divider + 1/4) P
SF_HI = 8
SF_GAP = 9         # photons further than this (ps) from their sync are unreferenced
SF_NMAX = 10       # most pulses an interval may span to be trusted
SF_BLOCK = 11      # pulses per block until the next refresh
SF_SIZE = 12

BLOCK_MAX_PULSES = 4096.0


def new_state(nominal_period_ps: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Fresh kernel state; a nominal period (weight 0) is only used to count pulses in an interval."""
    si = np.zeros(SI_SIZE, np.int64)
    sf = np.zeros(SF_SIZE, np.float64)
    if nominal_period_ps is not None:
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
    w = sf[SF_W0] + float(si[SI_SUM_N])
    if w <= 0:
        return float(sf[SF_PERIOD])
    return float((sf[SF_W0] * sf[SF_P0] + float(si[SI_SUM_I])) / w)


@njit(nogil=True, cache=True)
def _refresh(si, sf, fdiv, max_periods, memory_pulses):
    """Recompute P from the sums (one division), rebase when the memory is full, and the derived limits."""
    w0 = sf[SF_W0]
    w = w0 + float(si[SI_SUM_N])
    if w > 0:
        P = (w0 * sf[SF_P0] + float(si[SI_SUM_I])) / w
    else:
        P = sf[SF_P0]
    if w > memory_pulses:
        sf[SF_P0] = P
        sf[SF_W0] = memory_pulses
        si[SI_SUM_I] = 0
        si[SI_SUM_N] = 0
        w = memory_pulses
    sf[SF_PERIOD] = P
    sf[SF_WEIGHT] = w
    sf[SF_INV] = 1.0 / P
    sf[SF_LO] = (fdiv - 0.25) * P
    sf[SF_HI] = (fdiv + 0.25) * P
    sf[SF_GAP] = min(max_periods, max(fdiv + 0.5, w / 8.0)) * P
    sf[SF_NMAX] = max(64.0 * fdiv, w / 8.0)
    sf[SF_BLOCK] = max(fdiv, min(BLOCK_MAX_PULSES, w / 256.0, memory_pulses / 256.0))
    si[SI_BLOCK_N] = 0
    si[SI_LO] = np.int64(np.floor(sf[SF_LO]))
    si[SI_HI] = np.int64(np.ceil(sf[SF_HI]))
    si[SI_GAP] = np.int64(np.floor(sf[SF_GAP])) if sf[SF_GAP] < 9.0e18 else np.int64(9_000_000_000_000_000_000)
    si[SI_BLOCK] = np.int64(np.ceil(sf[SF_BLOCK]))


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
        _refresh(si, sf, fdiv, max_periods, memory_pulses)
    sum_i = si[SI_SUM_I]
    sum_n = si[SI_SUM_N]
    blk = si[SI_BLOCK_N]
    P = sf[SF_PERIOD]
    inv = sf[SF_INV]
    lo_i = si[SI_LO]
    hi_i = si[SI_HI]
    gap = si[SI_GAP]
    nmax = sf[SF_NMAX]
    block = si[SI_BLOCK]
    n_sync = np.int64(0)   # per-channel counts of sync/A/B in registers (no store-to-load chain per record)
    n_a = np.int64(0)
    n_b = np.int64(0)
    bad = -1
    for i in range(n):
        t = ts[i]
        c = ch[i]
        if has_t == 1 and t < last_t:
            bad = i
            break
        last_t = t
        has_t = 1
        if c == sync_ch:
            n_sync += 1
            if has_sync == 1:
                interval = t - last_sync
                npulse = np.int64(0)
                if period_known == 0:
                    if interval > 0:
                        period_known = 1
                        sf[SF_FIRST_PERIOD] = interval / fdiv
                        sf[SF_FIRST_TIME] = t
                        sf[SF_P0] = interval / fdiv
                        npulse = idiv
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
                        _refresh(si, sf, fdiv, max_periods, memory_pulses)
                        sum_i = si[SI_SUM_I]
                        sum_n = si[SI_SUM_N]
                        blk = 0
                        P = sf[SF_PERIOD]
                        inv = sf[SF_INV]
                        lo_i = si[SI_LO]
                        hi_i = si[SI_HI]
                        gap = si[SI_GAP]
                        nmax = sf[SF_NMAX]
                        block = si[SI_BLOCK]
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
                    x = d + (shift_a if which == 0 else shift_b)
                    k = np.floor(x * inv)
                    micro = x - np.int64(np.floor(k * P + 0.5))
                    if micro < 0:
                        micro = x - np.int64(np.floor((k - 1.0) * P + 0.5))
                    else:
                        nxt = x - np.int64(np.floor((k + 1.0) * P + 0.5))
                        if nxt >= 0:
                            micro = nxt
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
