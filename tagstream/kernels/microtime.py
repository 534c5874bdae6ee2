"""Numba kernel: reference each photon to its laser pulse (microtime) in one pass over the records.

The kernel walks the time-ordered records once, carrying the sync reference and the laser-period
estimate in explicit state arrays, so that a chunk boundary changes nothing (the same sequence of
floating-point operations happens whatever the chunking).

Algorithm (per record, O(1)):
  sync tag   -> interval I to the previous sync; n = round(I / P) pulses; if the interval is trusted
                (1 <= n <= max(64*divider, w/8), |I - n*P| < P/4) the period estimate is updated
                P <- (w*P + I) / (w + n), w <- min(w + n, memory_pulses): a pulse-weighted running
                mean that forgets on a time scale of `memory_pulses` (tracks slow drift).
                Without a period yet (divided/undivided sync, no nominal period) P <- I / divider.
  photon     -> x = t - s_last + shift (shift = per-channel delay difference - microtime offset);
                k = floor(x / P); microtime = x - round(k*P) in [0, P) (integer ps).
                Unreferenced (microtime = -1, counted by reason): no sync yet, no period yet, or
                (t - s_last) > limit*P where limit = min(max_periods, max(divider + 0.5, w/8)):
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
SI_SIZE = 9
# state_f layout
SF_PERIOD = 0
SF_WEIGHT = 1
SF_FIRST_PERIOD = 2  # the period when it first became known (fixes decay binning)
SF_FIRST_TIME = 3  # the time it first became known (g2 starts there unless the period was given)
SF_SIZE = 4


def new_state(nominal_period_ps: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Fresh kernel state; a nominal period (weight 0) is only used to count pulses in an interval."""
    si = np.zeros(SI_SIZE, np.int64)
    sf = np.zeros(SF_SIZE, np.float64)
    if nominal_period_ps is not None:
        si[SI_PERIOD_KNOWN] = 1
        sf[SF_PERIOD] = float(nominal_period_ps)
        sf[SF_FIRST_PERIOD] = float(nominal_period_ps)
        sf[SF_FIRST_TIME] = -np.inf
    return si, sf


@njit(nogil=True, cache=True)
def reference_photons(ts, ch, sync_ch, a_ch, b_ch, frame_ch, divider, shift_a, shift_b,
                      max_periods, memory_pulses, si, sf, ch_counts,
                      out_t, out_which, out_micro, out_frames):
    """One pass over a chunk. Photons (A: which=0, B: which=1) go to out_t/out_which/out_micro
    (microtime ps, -1 = unreferenced); frame tags to out_frames. ch_counts[c] += tags of channel c.

    Returns (n_photons, n_frames, bad_index) where bad_index >= 0 is the first record that goes
    back in time (the kernel stops there; state is left as before that record).
    Complexity O(n), no allocation.
    """
    n = ts.shape[0]
    n_ph = 0
    n_fr = 0
    has_sync = si[SI_HAS_SYNC]
    last_sync = si[SI_LAST_SYNC]
    last_t = si[SI_LAST_T]
    has_t = si[SI_HAS_T]
    period_known = si[SI_PERIOD_KNOWN]
    P = sf[SF_PERIOD]
    w = sf[SF_WEIGHT]
    bad = -1
    fdiv = float(divider)
    for i in range(n):
        t = ts[i]
        c = ch[i]
        if has_t == 1 and t < last_t:
            bad = i
            break
        last_t = t
        has_t = 1
        ch_counts[c] += 1
        if c == sync_ch:
            if has_sync == 1:
                interval = t - last_sync
                if period_known == 0:
                    if interval > 0:
                        P = interval / divider
                        w = float(divider)
                        period_known = 1
                        sf[SF_FIRST_PERIOD] = P
                        sf[SF_FIRST_TIME] = t
                elif abs(interval - fdiv * P) < 0.25 * P:
                    # the usual case, without the division: |I/P - divider| < 1/4, so
                    # round(I/P) = divider (same result as the general branch below)
                    P = (w * P + interval) / (w + fdiv)
                    w = min(w + fdiv, memory_pulses)
                elif interval > 0:
                    npulse = np.floor(interval / P + 0.5)
                    nmax = max(64.0 * divider, w / 8.0)
                    if npulse >= 1.0 and npulse <= nmax and abs(interval - npulse * P) < 0.25 * P:
                        P = (w * P + interval) / (w + npulse)
                        w = min(w + npulse, memory_pulses)
            last_sync = t
            has_sync = 1
            si[SI_N_SYNC] += 1
        elif c == a_ch or c == b_ch:
            which = 0 if c == a_ch else 1
            micro = -1
            if has_sync == 0:
                si[SI_UNREF_NOSYNC] += 1
            elif period_known == 0:
                si[SI_UNREF_NOPERIOD] += 1
            else:
                d = t - last_sync
                limit = min(max_periods, max(divider + 0.5, w / 8.0))
                if d > limit * P:
                    si[SI_UNREF_GAP] += 1
                else:
                    x = d + (shift_a if which == 0 else shift_b)
                    k = np.floor(x / P)
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
        elif c == frame_ch:
            out_frames[n_fr] = t
            n_fr += 1
    si[SI_HAS_SYNC] = has_sync
    si[SI_LAST_SYNC] = last_sync
    si[SI_LAST_T] = last_t
    si[SI_HAS_T] = has_t
    si[SI_PERIOD_KNOWN] = period_known
    sf[SF_PERIOD] = P
    sf[SF_WEIGHT] = w
    return n_ph, n_fr, bad
