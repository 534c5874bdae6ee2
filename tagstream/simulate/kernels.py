"""Numba kernels of the simulator: a small explicit-state RNG, the per-pulse emission kernel and the
per-SPAD detector kernel (dark counts, dead time, afterpulsing).

Every kernel is ``@njit(nogil=True, cache=True)``, takes its state arrays in, updates them in place and
can stop at any point and resume, so the generated stream does not depend on where the caller cuts it
into chunks. Random numbers come from xoshiro256** (state: uint64[4]); each random process has its
own stream, and each stream is consumed strictly in the time order of its own events.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

INT64_MAX = np.iinfo(np.int64).max
NEVER_PS = -(1 << 62)  # "no previous detection"

_U53 = 1.0 / 9007199254740992.0  # 2**-53


def seed_state(seed: int, stream: int) -> np.ndarray:
    """uint64[4] xoshiro256** state for random stream `stream` of simulation seed `seed`."""
    ss = np.random.SeedSequence(int(seed), spawn_key=(int(stream),))
    state = ss.generate_state(4, dtype=np.uint64)
    if not state.any():  # the all-zero state is the one forbidden state
        state[0] = 1
    return state


@njit(nogil=True, cache=True)
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit(nogil=True, cache=True)
def next_u64(s):
    """xoshiro256** step: returns a uint64, advances state s (uint64[4]) in place."""
    result = _rotl(s[1] * np.uint64(5), 7) * np.uint64(9)
    t = s[1] << np.uint64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], 45)
    return result


@njit(nogil=True, cache=True)
def uniform(s):
    """Uniform double in [0, 1)."""
    return float(next_u64(s) >> np.uint64(11)) * _U53


@njit(nogil=True, cache=True)
def exponential(s):
    """Unit-mean exponential (at most ~36.7, since 1 - u >= 2**-53)."""
    return -math.log(1.0 - uniform(s))


@njit(nogil=True, cache=True)
def normal(s):
    """Standard normal (Box-Muller, one value per two uniforms)."""
    u1 = 1.0 - uniform(s)
    u2 = uniform(s)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


@njit(nogil=True, cache=True)
def fill_uniform(s, out):
    """Fill `out` with uniforms (used by tests of the generator)."""
    for i in range(out.shape[0]):
        out[i] = uniform(s)


# indices into the float parameter vector of emit_pulses (built by simulation._emit_params)
P_LOG1MPEXC, P_Q2, P_TAU_XX, P_QY_XX, P_COLL, P_HBT, P_SPAD_EFF, P_SPEC_EFF, P_OFFSET_PS, P_SIGMA_PS = range(10)
N_EMIT_PARAMS = 10


@njit(nogil=True, cache=True)
def emit_pulses(rng, st, pulse_stop, ip, fp, tau_be_s, tau_tr_s, y_be_s, y_tr_s,
                blink_start_ps, blink_code, ptrap_start_ps, ptrap_level,
                spec_center_ev, spec_sigma_ev, pixel_edges_nm,
                out_t, out_spad, acc, frame_base):
    """Generate the photons of the excited laser pulses with index < pulse_stop.

    Algorithm: geometric skipping from one excited pulse to the next (P(excited) = 1 - exp(-<n>)),
    then per excited pulse: biexciton (prob. q2 = P(N>=2 | N>=1)) with radiative yield qy_xx and
    lifetime tau_xx, followed by one exciton that is trapped with probability P_trap(t) (lifetime and
    yield of the trap emission in the current blinking state) or not (band edge). Each photon is
    collected, then sent to the HBT (SPAD A/B 50/50, detection efficiency, Gaussian jitter) or to the
    spectrograph (efficiency, Gaussian photon energy, pixel through the wavelength calibration,
    counted into `acc` if it falls inside a frame's exposure).

    rng:  uint64[4] photon stream state.
    st:   int64[3] = (next excited pulse index, blink segment pointer, ptrap segment pointer).
    ip:   int64[3] = (laser period, frame cycle, exposure) in ps.
    fp:   float64[N_EMIT_PARAMS] (see P_* indices); *_s arrays: per blinking state (0 on, 1 grey, 2 off).
    out_t, out_spad: HBT detections (ps, 0 = A / 1 = B), filled from 0; stops early when fewer than
          two slots remain. acc: float64[rows, n_pixels] electrons of frames frame_base + row.
    Returns (number of detections written, True if pulse_stop was reached).
    Cost: O(number of excited pulses).
    """
    period = ip[0]
    cycle = ip[1]
    exposure = ip[2]
    log1mp = fp[P_LOG1MPEXC]
    n = 0
    cap = out_t.shape[0]
    n_rows = acc.shape[0]
    n_pix = acc.shape[1]
    t_list = np.empty(2, np.float64)
    kind_list = np.empty(2, np.int64)
    while st[0] < pulse_stop:
        if n + 2 > cap:
            return n, False
        k = st[0]
        tp = k * period
        while st[1] + 1 < blink_start_ps.shape[0] and blink_start_ps[st[1] + 1] <= tp:
            st[1] += 1
        while st[2] + 1 < ptrap_start_ps.shape[0] and ptrap_start_ps[st[2] + 1] <= tp:
            st[2] += 1
        state = blink_code[st[1]]
        ptrap = ptrap_level[st[2]]
        n_ph = 0
        t_x0 = 0.0
        if uniform(rng) < fp[P_Q2]:  # biexciton (N >= 2: higher multiexcitons Auger-relax to XX)
            t_x0 = fp[P_TAU_XX] * exponential(rng)
            if uniform(rng) < fp[P_QY_XX]:
                t_list[n_ph] = t_x0
                kind_list[n_ph] = 2
                n_ph += 1
        if uniform(rng) < ptrap:
            tau = tau_tr_s[state]
            y = y_tr_s[state]
            kind = 1
        else:
            tau = tau_be_s[state]
            y = y_be_s[state]
            kind = 0
        if uniform(rng) < y:
            t_list[n_ph] = t_x0 + tau * exponential(rng)
            kind_list[n_ph] = kind
            n_ph += 1
        for i in range(n_ph):
            if uniform(rng) >= fp[P_COLL]:
                continue
            d_ps = fp[P_OFFSET_PS] + t_list[i] * 1000.0  # delay after the pulse (before jitter)
            if uniform(rng) < fp[P_HBT]:
                spad = 0 if uniform(rng) < 0.5 else 1
                if uniform(rng) < fp[P_SPAD_EFF]:
                    jit = fp[P_SIGMA_PS] * normal(rng)
                    lim = fp[P_OFFSET_PS]
                    if jit > lim:
                        jit = lim
                    elif jit < -lim:
                        jit = -lim
                    out_t[n] = tp + np.int64(math.floor(d_ps + jit + 0.5))
                    out_spad[n] = spad
                    n += 1
            elif uniform(rng) < fp[P_SPEC_EFF]:
                kk = kind_list[i]
                c = spec_center_ev[1] if kk == 1 else spec_center_ev[0]
                sg = spec_sigma_ev[1] if kk == 1 else spec_sigma_ev[0]
                e_ev = c + sg * normal(rng)
                if e_ev <= 0.0:
                    continue
                lam = 1239.841984 / e_ev
                px = np.searchsorted(pixel_edges_nm, lam) - 1
                if px < 0 or px >= n_pix:
                    continue
                t_int = tp + np.int64(math.floor(d_ps + 0.5))
                f = t_int // cycle
                if t_int - f * cycle >= exposure:
                    continue  # in the readout gap between exposures
                row = f - frame_base
                if 0 <= row < n_rows:
                    acc[row, px] += 1.0
        # next excited pulse: geometric skip
        if log1mp < 0.0:
            skip = np.int64(math.floor(math.log(1.0 - uniform(rng)) / log1mp))
        else:
            skip = np.int64(0)
        st[0] = k + 1 + skip
    return n, True


@njit(nogil=True, cache=True)
def detect_spad(photons, t_stop, dead_ps, dark_mean_ps, ap_prob, ap_tau_ps,
                st, ap_pending, rng_dark, rng_ap, out):
    """One SPAD: merge arriving photons (sorted), dark counts and afterpulses in time order and keep
    those not within `dead_ps` of the previous registered detection (non-paralyzable dead time).

    photons: sorted int64 arrival times (may extend beyond t_stop; those stay unconsumed).
    st: int64[3] = (last registered time, next dark-count time, number of pending afterpulses).
    ap_pending: int64[cap] pending afterpulse times (first st[2] used, unsorted).
    Processes events with time < t_stop, writing registered times into `out` until it is full.
    Returns (n_written, n_photons_consumed, done) where done = all events < t_stop processed.
    """
    n = 0
    i = 0
    n_ph = photons.shape[0]
    cap = out.shape[0]
    while True:
        t_ph = photons[i] if i < n_ph else INT64_MAX
        t_dk = st[1]
        j_ap = -1
        t_ap = INT64_MAX
        for j in range(st[2]):
            if ap_pending[j] < t_ap:
                t_ap = ap_pending[j]
                j_ap = j
        t = t_ph
        src = 0
        if t_dk < t:
            t = t_dk
            src = 1
        if t_ap < t:
            t = t_ap
            src = 2
        if t >= t_stop:
            return n, i, True
        if n >= cap:
            return n, i, False
        if src == 0:
            i += 1
        elif src == 1:
            dt = dark_mean_ps * exponential(rng_dark)
            st[1] = INT64_MAX if dt > 1e18 else t + np.int64(math.floor(dt + 0.5))
        else:
            st[2] -= 1
            ap_pending[j_ap] = ap_pending[st[2]]
        if t - st[0] >= dead_ps:
            out[n] = t
            n += 1
            st[0] = t
            if ap_prob > 0.0 and uniform(rng_ap) < ap_prob:
                t_new = t + dead_ps + np.int64(math.floor(ap_tau_ps * exponential(rng_ap) + 0.5))
                if st[2] < ap_pending.shape[0]:
                    ap_pending[st[2]] = t_new
                    st[2] += 1
