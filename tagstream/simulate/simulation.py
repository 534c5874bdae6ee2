"""Simulation: the streaming generator. Call it by time span; get TagChunks and finished camera frames.

    sim = Simulation(SimulationParams(), seed=1)
    for chunk in sim.chunks(chunk_s=1.0, duration_s=30):   # TagChunk: time-ordered, all channels
        ...
        frames = sim.pop_frames()                           # Frames finished so far
    truth = sim.truth()                                     # polars segments up to the end

The output does not depend on the span lengths: ``advance_to`` may be called with any increasing
times (a live source calls it with wall-clock spans). Memory is bounded by one span of tags.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import polars as pl

from tagstream.chunk import TagChunk
from tagstream.simulate import kernels as K
from tagstream.simulate.params import SimulationParams
from tagstream.simulate.truth import SlowProcesses, excitation_probabilities, state_constants, truth_table

_FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))
_AP_CAPACITY = 256


@dataclass(frozen=True)
class Frames:
    """Finished EMCCD frames: start times (= their frame-trigger tags), ADU and true electrons."""

    frame_start_ps: np.ndarray   # int64 (n,)
    frames_adu: np.ndarray       # float32 (n, n_pixels)
    electrons: np.ndarray        # int32 (n, n_pixels): photoelectrons before EM gain (ground truth)

    def __len__(self) -> int:
        return int(self.frame_start_ps.shape[0])

    @staticmethod
    def concat(parts: list["Frames"], n_pixels: int) -> "Frames":
        if not parts:
            return Frames(np.zeros(0, np.int64), np.zeros((0, n_pixels), np.float32), np.zeros((0, n_pixels), np.int32))
        return Frames(np.concatenate([f.frame_start_ps for f in parts]),
                      np.concatenate([f.frames_adu for f in parts]),
                      np.concatenate([f.electrons for f in parts]))


def pixel_wavelengths_nm(coeffs, pixels) -> np.ndarray:
    """lambda_nm(p) = sum_i c_i p^i for (possibly fractional) 0-based pixel positions."""
    return np.polynomial.polynomial.polyval(np.asarray(pixels, np.float64), np.asarray(coeffs, np.float64))


def emccd_readout(electrons: np.ndarray, p: SimulationParams, rng: np.random.Generator) -> np.ndarray:
    """EMCCD signal chain: gamma-distributed EM multiplication of n photoelectrons (shape n, scale
    em_gain), times adu_per_electron, plus Gaussian read noise and the baseline. Returns float32 ADU.
    Mean = baseline + n * em_gain * adu_per_electron; excess-noise factor ~ sqrt(2)."""
    e = electrons.astype(np.float64)
    amplified = np.zeros_like(e)
    hit = e > 0
    amplified[hit] = rng.gamma(e[hit], p.em_gain)
    adu = p.baseline_adu + amplified * p.adu_per_electron
    if p.read_noise_adu > 0:
        adu += rng.normal(0.0, p.read_noise_adu, size=e.shape)
    return adu.astype(np.float32)


class Simulation:
    """Streaming single-QD photon-stream generator (model: see ``tagstream.simulate``)."""

    def __init__(self, params: SimulationParams | None = None, seed: int = 0) -> None:
        self.params = p = params if params is not None else SimulationParams()
        self.seed = int(seed)
        self.slow = SlowProcesses(p, self.seed)
        self._rng_photon = K.seed_state(self.seed, 1)
        self._rng_dark = [K.seed_state(self.seed, 2), K.seed_state(self.seed, 3)]
        self._rng_ap = [K.seed_state(self.seed, 4), K.seed_state(self.seed, 5)]
        self._emit_state = np.zeros(3, np.int64)
        p1, p2 = excitation_probabilities(p)
        self._emit_state[0] = 0 if p1 >= 1 else int(math.floor(math.log1p(-_u01(self._rng_photon)) / math.log1p(-p1)))
        self._ip = np.array([p.period_ps, p.cycle_ps, p.exposure_ps], np.int64)
        fp = np.zeros(K.N_EMIT_PARAMS)
        fp[K.P_LOG1MPEXC] = math.log1p(-p1) if p1 < 1 else 0.0
        fp[K.P_Q2] = p2 / p1
        fp[K.P_TAU_XX] = p.tau_xx_ns
        fp[K.P_QY_XX] = p.qy_xx
        fp[K.P_COLL] = p.collection_efficiency
        fp[K.P_HBT] = p.hbt_fraction
        fp[K.P_SPAD_EFF] = p.spad_efficiency
        fp[K.P_SPEC_EFF] = p.spectrometer_efficiency if p.spectrometer else 0.0
        fp[K.P_OFFSET_PS] = p.irf_offset_ns * 1000.0
        fp[K.P_SIGMA_PS] = p.irf_sigma_ps
        self._fp = fp
        self._state_consts = tuple(np.ascontiguousarray(a, np.float64) for a in state_constants(p))
        self._spec_center = np.array([p.be_center_ev, p.trap_center_ev])
        self._spec_sigma = np.array([p.be_fwhm_ev, p.trap_fwhm_ev]) * _FWHM_TO_SIGMA
        self._pixel_edges = pixel_wavelengths_nm(p.wavelength_coeffs_nm, np.arange(p.n_pixels + 1) - 0.5)
        # photons that arrived at a SPAD but are not yet processed by the detector kernel
        self._pending = [np.zeros(0, np.int64), np.zeros(0, np.int64)]
        self._det_state = [np.array([K.NEVER_PS, self._first_dark(s), 0], np.int64) for s in (0, 1)]
        self._ap_pending = [np.zeros(_AP_CAPACITY, np.int64) for _ in (0, 1)]
        # camera: electrons of frames frame_base .. frame_base + rows - 1
        self._frame_base = 0
        self._acc = np.zeros((0, p.n_pixels), np.float64)
        self._frames_done: list[Frames] = []
        self._next_trigger = 0  # index of the next frame whose trigger tag is not yet made
        # tags made but not yet handed out (sync-filter decisions pending), sorted
        self._held_t = np.zeros(0, np.int64)
        self._held_ch = np.zeros(0, np.uint16)
        self._last_sync_j = -1
        self.t_ps = 0            # everything with time < t_ps is generated
        self.emitted_ps = 0      # every tag with time < emitted_ps has been handed out
        self.n_records = 0
        self.finished = False
        self._max_delay_ps = int(p.irf_offset_ns * 2000 + 40 * 1000 * (p.tau_xx_ns + max(p.tau_be_ns, p.tau_trap_ns))) + 1

    def _first_dark(self, spad: int) -> int:
        rate = self.params.dark_count_rate_hz
        if rate <= 0:
            return K.INT64_MAX
        dt = (1e12 / rate) * -math.log1p(-_u01(self._rng_dark[spad]))
        return K.INT64_MAX if dt > 1e18 else int(math.floor(dt + 0.5))

    # ------------------------------------------------------------------ public API
    def chunks(self, chunk_s: float = 1.0, duration_s: float | None = None) -> Iterator[TagChunk]:
        """TagChunks of `chunk_s` seconds of simulated time each (the last one ends the recording
        at `duration_s`; None: endless). Chunks may be empty (e.g. an OFF period without syncs)."""
        if chunk_s <= 0:
            raise ValueError("chunk_s must be > 0")
        step = max(1, int(round(chunk_s * 1e12)))
        end = None if duration_s is None else int(round(duration_s * 1e12))
        while True:
            t1 = self.t_ps + step
            if end is not None and t1 >= end:
                yield self.finish(end)
                return
            yield self.advance_to(t1)

    def advance(self, span_s: float) -> TagChunk:
        """Generate the next `span_s` seconds; return the tags that are now final."""
        return self.advance_to(self.t_ps + max(1, int(round(span_s * 1e12))))

    def advance_to(self, t_end_ps: int) -> TagChunk:
        """Generate everything before t_end_ps; return the tags that are now final (time-ordered).
        With the sync filter, tags after the last sync before t_end_ps are held back until the
        next call (their sync's fate depends on photons still to come)."""
        if self.finished:
            raise RuntimeError("simulation already finished")
        t1 = int(t_end_ps)
        if t1 <= self.t_ps:
            return TagChunk.from_arrays(np.zeros(0, np.int64), np.zeros(0, np.uint16), self.n_records)
        new_t, new_ch = self._generate(t1)
        sp = self.params.sync_period_ps
        sd = self.params.sync_delay_ps
        emit_to = ((t1 - sd) // sp) * sp + sd if self.params.sync_filtered else t1
        return self._release(new_t, new_ch, max(emit_to, self.emitted_ps))

    def finish(self, t_end_ps: int | None = None) -> TagChunk:
        """End the recording at t_end_ps (default: where generation stands): hand out every tag before
        it, close the frame being exposed (cut short) and stop. Returns the last chunk."""
        if self.finished:
            raise RuntimeError("simulation already finished")
        t1 = self.t_ps if t_end_ps is None else int(t_end_ps)
        if t1 < self.t_ps:
            raise ValueError(f"cannot finish at {t1} ps: already generated up to {self.t_ps} ps")
        new_t, new_ch = self._generate(t1) if t1 > self.t_ps else (np.zeros(0, np.int64), np.zeros(0, np.uint16))
        chunk = self._release(new_t, new_ch, t1)
        if self.params.spectrometer:
            n_open = self._next_trigger - self._frame_base  # frames triggered but not finished
            if n_open > 0:
                self._finish_frames(n_open)
        self.finished = True
        return chunk

    def pop_frames(self) -> Frames:
        """Frames finished since the last call."""
        out = Frames.concat(self._frames_done, self.params.n_pixels)
        self._frames_done = []
        return out

    def truth(self, end_ps: int | None = None) -> pl.DataFrame:
        """Ground-truth segments over [0, end_ps) (default: up to where generation stands)."""
        return truth_table(self.params, self.slow, self.t_ps if end_ps is None else int(end_ps))

    # ------------------------------------------------------------------ internals
    def _generate(self, t1: int) -> tuple[np.ndarray, np.ndarray]:
        """Run the kernels for times [self.t_ps, t1); return the new (unsorted) tags."""
        p = self.params
        t0 = self.t_ps
        period = p.period_ps
        self.slow.extend_to(t1 + period)
        bs, bc, ps, pv = self.slow.arrays()
        pulse_stop = -(-t1 // period)  # pulses with time < t1
        # camera accumulator rows must reach every frame a photon of these pulses can land in
        if p.spectrometer:
            last_frame = (t1 + self._max_delay_ps) // p.cycle_ps
            need_rows = last_frame - self._frame_base + 1
            if need_rows > self._acc.shape[0]:
                grow = np.zeros((need_rows - self._acc.shape[0], p.n_pixels), np.float64)
                self._acc = np.concatenate([self._acc, grow])
        acc = self._acc if p.spectrometer else np.zeros((1, p.n_pixels), np.float64)
        # 1) emission: photons arriving at the SPADs
        exp_hits = int((pulse_stop - self._emit_state[0]) * 0.02) + 1024
        parts_t, parts_s = [], []
        tau_be_s, tau_tr_s, y_be_s, y_tr_s = self._state_consts
        while True:
            out_t = np.empty(exp_hits, np.int64)
            out_s = np.empty(exp_hits, np.int8)
            n, done = K.emit_pulses(self._rng_photon, self._emit_state, pulse_stop, self._ip, self._fp,
                                    tau_be_s, tau_tr_s, y_be_s, y_tr_s, bs, bc, ps, pv,
                                    self._spec_center, self._spec_sigma, self._pixel_edges,
                                    out_t, out_s, acc, self._frame_base)
            parts_t.append(out_t[:n])
            parts_s.append(out_s[:n])
            if done:
                break
            exp_hits *= 2
        hit_t = np.concatenate(parts_t)
        hit_s = np.concatenate(parts_s)
        # 2) detectors: dark counts, dead time, afterpulses, per SPAD
        out_t_list, out_ch_list = [], []
        dead_ps = int(round(p.dead_time_ns * 1000))
        dark_mean = 1e12 / p.dark_count_rate_hz if p.dark_count_rate_hz > 0 else np.inf
        for s, ch in ((0, p.ch_spad_a), (1, p.ch_spad_b)):
            arr = np.concatenate([self._pending[s], np.sort(hit_t[hit_s == s], kind="stable")])
            if self._pending[s].size:
                arr.sort(kind="stable")
            cap = int(np.searchsorted(arr, t1)) + int((t1 - t0) * p.dark_count_rate_hz * 2e-12) + 64
            regs = []
            i0 = 0
            while True:
                out = np.empty(cap, np.int64)
                n, used, done = K.detect_spad(arr[i0:], t1, dead_ps, dark_mean, p.afterpulse_prob,
                                              p.afterpulse_tau_ns * 1000.0, self._det_state[s],
                                              self._ap_pending[s], self._rng_dark[s], self._rng_ap[s], out)
                regs.append(out[:n])
                i0 += used
                if done:
                    break
                cap *= 2
            self._pending[s] = arr[i0:].copy()
            reg = np.concatenate(regs)
            out_t_list.append(reg)
            out_ch_list.append(np.full(reg.size, ch, np.uint16))
        spad_t = np.concatenate(out_t_list)
        # 3) sync tags
        sp, sd = p.sync_period_ps, p.sync_delay_ps  # sync j is recorded at j * sp + sd
        if p.sync_filtered:
            j = np.unique((spad_t - sd) // sp)
            j = j[j > self._last_sync_j]
            if j.size:
                self._last_sync_j = int(j[-1])
            sync_t = j * sp + sd
        else:
            j0 = -(-(t0 - sd) // sp)
            sync_t = np.arange(j0, -(-(t1 - sd) // sp), dtype=np.int64) * sp + sd
        out_t_list.append(sync_t.astype(np.int64))
        out_ch_list.append(np.full(sync_t.size, p.ch_sync, np.uint16))
        # 4) frame triggers and finished frames
        if p.spectrometer:
            f_stop = -(-t1 // p.cycle_ps)  # frames starting before t1
            trig = np.arange(self._next_trigger, f_stop, dtype=np.int64) * p.cycle_ps
            self._next_trigger = max(self._next_trigger, f_stop)
            out_t_list.append(trig)
            out_ch_list.append(np.full(trig.size, p.ch_frame, np.uint16))
            n_done = (t1 - p.exposure_ps) // p.cycle_ps + 1 - self._frame_base  # exposure ended by t1
            if n_done > 0:
                self._finish_frames(int(n_done))
        self.t_ps = t1
        return np.concatenate(out_t_list), np.concatenate(out_ch_list)

    def _finish_frames(self, n: int) -> None:
        p = self.params
        rows = self._acc[:n]
        if rows.shape[0] < n:
            rows = np.concatenate([rows, np.zeros((n - rows.shape[0], p.n_pixels))])
        electrons = rows.astype(np.int32)
        adu = np.empty((n, p.n_pixels), np.float32)
        for r in range(n):
            f = self._frame_base + r
            rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(20, f)))
            adu[r] = emccd_readout(electrons[r], p, rng)
        starts = (self._frame_base + np.arange(n, dtype=np.int64)) * p.cycle_ps
        self._frames_done.append(Frames(starts, adu, electrons))
        self._acc = self._acc[n:]
        self._frame_base += n

    def _release(self, new_t: np.ndarray, new_ch: np.ndarray, emit_to: int) -> TagChunk:
        t = np.concatenate([self._held_t, new_t])
        ch = np.concatenate([self._held_ch, new_ch])
        order = np.lexsort((ch, t))
        t, ch = t[order], ch[order]
        cut = int(np.searchsorted(t, emit_to))
        self._held_t, self._held_ch = t[cut:], ch[cut:]
        chunk = TagChunk.from_arrays(t[:cut], ch[:cut], self.n_records)
        self.n_records += cut
        self.emitted_ps = emit_to
        return chunk


def _u01(state: np.ndarray) -> float:
    return float(K.uniform(state))
