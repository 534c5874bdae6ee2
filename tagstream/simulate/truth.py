"""The hidden slow processes of the simulated QD (blinking state, P_trap) and the ground truth they imply.

``SlowProcesses`` draws the change points of the blinking state and of P_trap lazily, each from its
own numpy random stream, so the same seed gives the same history however far ahead it is drawn.
``segment_expectations`` turns (state, P_trap) into expected rates, yields and delays;
``truth_table`` lists the merged segments with those expectations; ``truth_per_bin`` integrates them
over analysis bins, the figure tests of the analysis compare against.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from tagstream.simulate.params import STATE_NAMES, SimulationParams

ON, GREY, OFF = 0, 1, 2


class SlowProcesses:
    """Blinking-state and P_trap change points, drawn lazily up to a requested time."""

    def __init__(self, params: SimulationParams, seed: int) -> None:
        self.p = params
        self._rng_blink = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(10,)))
        self._rng_ptrap = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(11,)))
        self.blink_start_ps = [0]
        self.blink_code = [ON]
        self.ptrap_start_ps = [0]
        self.ptrap_level = [self._draw_level()]
        self._blink_next_ps = self._draw_dwell_ps(ON) if params.blinking else None
        self._ptrap_next_ps = self._draw_ptrap_dwell_ps()

    def _draw_level(self) -> float:
        p = self.p
        if p.ptrap_max == p.ptrap_min:
            return float(p.ptrap_min)
        return float(self._rng_ptrap.uniform(p.ptrap_min, p.ptrap_max))

    def _draw_ptrap_dwell_ps(self) -> int | None:
        if self.p.ptrap_max == self.p.ptrap_min:
            return None
        return max(1, int(round(self._rng_ptrap.exponential(self.p.ptrap_dwell_s) * 1e12)))

    def _draw_dwell_ps(self, state: int) -> int:
        """Truncated power law t^-alpha on [dwell_min_s, dwell_max_s] by inverse CDF; with an exponential
        cut-off (``*_cutoff_s`` > 0) a draw is kept with probability exp(-(t - dwell_min_s) / cutoff)."""
        p = self.p
        alpha = (p.on_alpha, p.grey_alpha, p.off_alpha)[state]
        cutoff = (p.on_cutoff_s, p.grey_cutoff_s, p.off_cutoff_s)[state]
        a = p.dwell_min_s ** (1.0 - alpha)
        b = p.dwell_max_s ** (1.0 - alpha)
        while True:
            u = self._rng_blink.random()
            t_s = (a - u * (a - b)) ** (1.0 / (1.0 - alpha))
            if cutoff <= 0 or self._rng_blink.random() < np.exp(-(t_s - p.dwell_min_s) / cutoff):
                return max(1, int(round(t_s * 1e12)))

    def _next_state(self, state: int) -> int:
        p = self.p
        u = self._rng_blink.random()
        if state == ON:
            return GREY if u < p.on_to_grey_prob else OFF
        if state == GREY:
            return ON if u < p.grey_to_on_prob else OFF
        return ON if u < p.off_to_on_prob else GREY

    def extend_to(self, t_ps: int) -> None:
        """Draw change points until both processes are known beyond t_ps."""
        if self._blink_next_ps is not None:
            while self.blink_start_ps[-1] <= t_ps:
                t = self._blink_next_ps
                state = self._next_state(self.blink_code[-1])
                self.blink_start_ps.append(t)
                self.blink_code.append(state)
                self._blink_next_ps = t + self._draw_dwell_ps(state)
        if self._ptrap_next_ps is not None:
            while self.ptrap_start_ps[-1] <= t_ps:
                t = self._ptrap_next_ps
                self.ptrap_start_ps.append(t)
                self.ptrap_level.append(self._draw_level())
                self._ptrap_next_ps = t + self._draw_ptrap_dwell_ps()

    def dwell_table(self, end_ps: int) -> pl.DataFrame:
        """Ground-truth blinking dwells over [0, end_ps): start_ps, end_ps, duration_s, state, state_code,
        censored (the last dwell is cut by the end of the recording)."""
        self.extend_to(end_ps)
        bs = np.asarray(self.blink_start_ps, np.int64)
        code = np.asarray(self.blink_code, np.int64)
        keep = bs < end_ps
        starts, code = bs[keep], code[keep]
        ends = np.append(starts[1:], np.int64(end_ps))
        censored = np.zeros(starts.size, bool)
        censored[-1] = starts.size == bs.size or bs[starts.size] > end_ps  # its true end lies beyond end_ps
        return pl.DataFrame({"start_ps": starts, "end_ps": ends, "duration_s": (ends - starts) / 1e12,
                             "state": [STATE_NAMES[c] for c in code], "state_code": code.astype(np.int8),
                             "censored": censored})

    def arrays(self):
        """(blink_start_ps int64, blink_code int64, ptrap_start_ps int64, ptrap_level float64)."""
        return (np.asarray(self.blink_start_ps, np.int64), np.asarray(self.blink_code, np.int64),
                np.asarray(self.ptrap_start_ps, np.int64), np.asarray(self.ptrap_level, np.float64))


def state_constants(p: SimulationParams):
    """Per blinking state (on, grey, off): lifetimes (ns) and photon yields of band-edge and trap
    emission. Grey/OFF add a non-radiative rate k = 1/tau_state - 1/tau_be to both channels."""
    tau_be_s = np.array([p.tau_be_ns, p.grey_tau_be_ns, p.off_tau_be_ns])
    k_extra = 1.0 / tau_be_s - 1.0 / p.tau_be_ns
    tau_tr_s = 1.0 / (1.0 / p.tau_trap_ns + k_extra)
    y_be_s = p.qy_be * tau_be_s / p.tau_be_ns
    y_tr_s = p.qy_trap * tau_tr_s / p.tau_trap_ns
    return tau_be_s, tau_tr_s, y_be_s, y_tr_s


def excitation_probabilities(p: SimulationParams) -> tuple[float, float]:
    """(P(N >= 1), P(N >= 2)) per pulse for Poisson(<n>) excitations."""
    n = p.mean_excitations
    p1 = -math.expm1(-n)
    p2 = p1 - n * math.exp(-n)
    return p1, p2


def segment_expectations(p: SimulationParams, state, p_trap) -> dict[str, np.ndarray]:
    """Expected emission and detection figures for blinking state codes and P_trap values (arrays).

    Returns arrays: tau_be_ns, tau_trap_ns (effective, in that state), emitted_rate_hz,
    rate_a_hz / rate_b_hz (per SPAD, before dead time, incl. dark counts), trap_photon_fraction
    (of emitted photons), mean_delay_ns (emitted photons, after the excitation, no instrument offset),
    mean_microtime_ns (detected SPAD events, after their laser pulse: irf_offset + delay for photons,
    period/2 for dark counts; assumes period >> lifetimes), spec_electron_rate_hz (into the camera,
    while exposing, ignoring the few photons outside the pixel range).
    """
    state = np.asarray(state, np.int64)
    P = np.asarray(p_trap, np.float64)
    tau_be_s, tau_tr_s, y_be_s, y_tr_s = state_constants(p)
    p1, p2 = excitation_probabilities(p)
    tb, tt, yb, yt = tau_be_s[state], tau_tr_s[state], y_be_s[state], y_tr_s[state]
    y_x = (1 - P) * yb + P * yt                      # X photons per excitation
    ph_x = p1 * y_x                                  # X photons per pulse
    ph_xx = p2 * p.qy_xx                             # XX photons per pulse
    ph = ph_x + ph_xx
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_x = np.where(y_x > 0, ((1 - P) * yb * tb + P * yt * tt) / np.where(y_x > 0, y_x, 1), 0.0)
        mean_x = mean_x + (p2 / p1) * p.tau_xx_ns     # X after a biexciton starts after it
        mean_delay = np.where(ph > 0, (ph_x * mean_x + ph_xx * p.tau_xx_ns) / np.where(ph > 0, ph, 1), 0.0)
        trap_frac = np.where(ph > 0, p1 * P * yt / np.where(ph > 0, ph, 1), 0.0)
    rep = 1e12 / p.period_ps
    emitted = ph * rep
    spad_ph = emitted * p.collection_efficiency * p.hbt_fraction * 0.5 * p.spad_efficiency
    rate_spad = spad_ph + p.dark_count_rate_hz
    dark = p.dark_count_rate_hz
    period_ns = p.period_ps / 1000.0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_mt = np.where(rate_spad > 0, (spad_ph * (p.irf_offset_ns + mean_delay) + dark * period_ns / 2)
                           / np.where(rate_spad > 0, rate_spad, 1), 0.0)
    spec = emitted * p.collection_efficiency * (1 - p.hbt_fraction) * p.spectrometer_efficiency
    return {
        "tau_be_ns": tb, "tau_trap_ns": tt, "emitted_rate_hz": emitted,
        "rate_a_hz": rate_spad, "rate_b_hz": rate_spad.copy(), "trap_photon_fraction": trap_frac,
        "mean_delay_ns": mean_delay, "mean_microtime_ns": mean_mt, "spec_electron_rate_hz": spec,
    }


def truth_table(p: SimulationParams, slow: SlowProcesses, end_ps: int) -> pl.DataFrame:
    """Segments of constant (state, P_trap) covering [0, end_ps), with their expectations.

    Columns: start_ps, end_ps (int64), state (str: on/grey/off), state_code (0/1/2), p_trap, and the
    columns of segment_expectations.
    """
    slow.extend_to(end_ps)
    bs, bc, ps, pv = slow.arrays()
    starts = np.union1d(bs[bs < end_ps], ps[ps < end_ps])
    ends = np.append(starts[1:], end_ps)
    code = bc[np.searchsorted(bs, starts, side="right") - 1]
    ptrap = pv[np.searchsorted(ps, starts, side="right") - 1]
    exp = segment_expectations(p, code, ptrap)
    data = {"start_ps": starts.astype(np.int64), "end_ps": ends.astype(np.int64),
            "state": [STATE_NAMES[c] for c in code], "state_code": code.astype(np.int8), "p_trap": ptrap}
    data.update(exp)
    return pl.DataFrame(data)


def truth_per_bin(truth: pl.DataFrame, bin_ps: int, end_ps: int | None = None) -> pl.DataFrame:
    """Ground truth integrated over analysis bins [k*bin_ps, (k+1)*bin_ps) (exact, piecewise constant).

    Columns: bin_start_ps, bin_end_ps, on_fraction, grey_fraction, off_fraction (of the bin's time),
    mean_p_trap (time average), expected_counts_a / _b / expected_counts (SPAD events before dead
    time, incl. dark counts), expected_mean_microtime_ns (count-weighted: what the mean photon
    delay after the laser pulse of the bin's detected events should be), expected_mean_delay_ns
    (emitted-photon weighted, no instrument offset), trap_photon_fraction (emitted-photon weighted),
    expected_spec_electrons (into the camera while exposing). A last partial bin is included.
    """
    bin_ps = int(bin_ps)
    if bin_ps <= 0:
        raise ValueError("bin_ps must be > 0")
    starts = truth["start_ps"].to_numpy()
    ends = truth["end_ps"].to_numpy()
    end = int(ends[-1]) if end_ps is None else int(end_ps)
    edges = np.arange(0, end, bin_ps, dtype=np.int64)
    edges = np.append(edges, end)
    # pieces between every bin edge and segment boundary: each lies in one bin and one segment
    points = np.union1d(edges, starts[(starts > 0) & (starts < end)])
    piece_dur_s = np.diff(points) / 1e12
    piece_seg = np.searchsorted(starts, points[:-1], side="right") - 1
    piece_bin = np.searchsorted(edges, points[:-1], side="right") - 1
    n_bins = edges.size - 1

    def integral(values) -> np.ndarray:
        """Integral over each bin of the piecewise-constant `values` (per second of the segment)."""
        v = np.asarray(values, np.float64)[piece_seg]
        return np.bincount(piece_bin, weights=v * piece_dur_s, minlength=n_bins)

    code = truth["state_code"].to_numpy()
    t_bin = integral(np.ones(starts.size))
    ra = truth["rate_a_hz"].to_numpy()
    rb = truth["rate_b_hz"].to_numpy()
    em = truth["emitted_rate_hz"].to_numpy()
    ca, cb = integral(ra), integral(rb)
    n_em = integral(em)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {
            "bin_start_ps": edges[:-1], "bin_end_ps": edges[1:],
            "on_fraction": integral(code == ON) / t_bin,
            "grey_fraction": integral(code == GREY) / t_bin,
            "off_fraction": integral(code == OFF) / t_bin,
            "mean_p_trap": integral(truth["p_trap"].to_numpy()) / t_bin,
            "expected_counts_a": ca, "expected_counts_b": cb, "expected_counts": ca + cb,
            "expected_mean_microtime_ns": integral((ra + rb) * truth["mean_microtime_ns"].to_numpy()) / (ca + cb),
            "expected_mean_delay_ns": integral(em * truth["mean_delay_ns"].to_numpy()) / n_em,
            "trap_photon_fraction": integral(em * truth["trap_photon_fraction"].to_numpy()) / n_em,
            "expected_spec_electrons": integral(truth["spec_electron_rate_hz"].to_numpy()),
        }
    return pl.DataFrame(out)
