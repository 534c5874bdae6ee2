"""Microtime stage: each photon's delay after its laser pulse, in integer ps.

How the pulse reference works (see tagstream.kernels.microtime for the exact algorithm):

* Plain sync (divider 1) and divided sync (the seed lab records the sync divided by 1000): a photon
  is referenced from the *previous* sync tag plus a whole number of laser periods, with the period
  P measured from the sync intervals (interval / number of pulses over the last one to two time
  buckets of ``memory_pulses`` pulses, so it follows slow drift and depends on a bounded look-back
  only: tagstream.slices starts a time slice from it). We chose this over holding
  photons until the next sync: no pending state, nothing depends on where a chunk ends. Photons
  before the first sync, or (without a given period) before the second one, are unreferenced.
* Sync-filtered stream (quTAG sync filter, only syncs next to photons are kept): the same, but the
  interval between two stored syncs spans an unknown number of pulses, counted as round(I / P):
  this needs a nominal period to start (``laser_period_ps``); intervals longer than the current
  estimate can count without ambiguity are not used to update P.
* A photon further than ``limit`` periods from its reference sync is unreferenced ("gap"): for a
  plain/divided sync limit = divider + 0.5 (the next sync should have come); for a filtered sync
  limit = min(max_extrapolation_periods, w / 8) with w the pulses averaged so far, which keeps the
  extrapolation error k * dP well under the IRF.
* A fixed delay offset (``microtime_offset_ps``) and the setup's per-channel delays are applied
  before wrapping into [0, P).
* Chunks that carry microtimes already (PicoQuant T3, Photon-HDF5) are used as given, minus the
  offset, wrapped into [0, P) with P the given laser period (the reader's: PtuReader.sync_period_ps,
  Photon-HDF5 laser_repetition_rate; see io/propose.py). A T3 dtime of a divided sync spans several
  laser periods: wrapping folds them into one. Without a period such a chunk is a SetupError.

Unreferenced photons are counted by reason and keep microtime -1: they still count for intensity,
g2 and FLID counts, never for lifetimes or decays.
"""

from __future__ import annotations

import numpy as np

from tagstream.chunk import PhotonBatch, TagChunk  # noqa: F401 - PhotonBatch re-exported
from tagstream.errors import TimeOrderError, SetupError
from tagstream.kernels import microtime as K


class MicrotimeStage:
    """Walks every record once: photons get a microtime, frame tags are collected, channels counted."""

    def __init__(self, setup, laser_period_ps: float | None = None, microtime_offset_ps: int = 0,
                 max_extrapolation_periods: float | None = None, memory_pulses: float = 1e6) -> None:
        if setup.sync_filtered and laser_period_ps is None:
            raise SetupError("a sync-filtered stream needs the nominal laser period: give laser_period_ps "
                             "(CLI: --laser-period-ps or --laser-mhz)")
        self.setup = setup
        self.nominal_period_ps = None if laser_period_ps is None else float(laser_period_ps)
        self.offset_ps = int(microtime_offset_ps)
        if max_extrapolation_periods is None:
            max_extrapolation_periods = 1e5 if setup.sync_filtered else setup.sync_divider + 0.5
        self.max_periods = float(max_extrapolation_periods)
        self.memory_pulses = float(memory_pulses)
        self.si, self.sf = K.new_state(self.nominal_period_ps, self.memory_pulses)
        self.ch_counts = np.zeros(1 << 16, np.int64)
        d = {int(k): int(v) for k, v in dict(setup.delays_ps).items()}
        d_sync = d.get(setup.sync, 0) if setup.sync is not None else 0
        self.shift_a = d.get(setup.spad_a, 0) - d_sync - self.offset_ps
        self.shift_b = d.get(setup.spad_b, 0) - d_sync - self.offset_ps
        self._direct_last_t = None
        self._scratch_n = 0   # reusable kernel outputs (sized to the largest chunk): no page faults per chunk
        self._scratch = None

    # --- state read-outs -------------------------------------------------------------------------
    @property
    def period_ps(self) -> float | None:
        return K.current_period(self.si, self.sf)

    @property
    def first_period_ps(self) -> float | None:
        return float(self.sf[K.SF_FIRST_PERIOD]) if self.si[K.SI_PERIOD_KNOWN] else None

    @property
    def first_period_time_ps(self) -> float:
        return float(self.sf[K.SF_FIRST_TIME])

    @property
    def unreferenced(self) -> dict[str, int]:
        return {"before_first_sync": int(self.si[K.SI_UNREF_NOSYNC]),
                "before_period_known": int(self.si[K.SI_UNREF_NOPERIOD]),
                "after_gap": int(self.si[K.SI_UNREF_GAP])}

    def state_copy(self):
        return self.si.copy(), self.sf.copy(), self.ch_counts.copy()

    def save_state(self, channels: np.ndarray, into: tuple | None = None) -> tuple:
        """The kernel state with the counts of `channels` only (into the arrays of an earlier save: no
        allocation), for restore_state(): a one-pass reader that finds its window cannot be used goes back."""
        if into is None:
            return self.si.copy(), self.sf.copy(), self.ch_counts[channels]
        np.copyto(into[0], self.si)
        np.copyto(into[1], self.sf)
        np.take(self.ch_counts, channels, out=into[2])
        return into

    def restore_state(self, state: tuple, channels: np.ndarray) -> None:
        """Back to save_state(channels); other channels' counts stay (the reader raises on them anyway)."""
        np.copyto(self.si, state[0])
        np.copyto(self.sf, state[1])
        self.ch_counts[channels] = state[2]

    # --- time slices (tagstream.slices) ----------------------------------------------------------
    def advance_syncs(self, sync_times_ps: np.ndarray) -> None:
        """Carry the pulse reference over a stretch of the recording given by its sync times alone
        (time-ordered): photons do not change the period estimate, so this is the kernel's state at
        the stretch's end (a time slice's bootstrap). The same kernel, no photon channel."""
        s = self.setup
        n = sync_times_ps.shape[0]
        if n == 0 or s.sync is None:
            return
        none_i = np.empty(0, np.int64)
        K.reference_photons(np.ascontiguousarray(sync_times_ps, np.int64), np.full(n, s.sync, np.uint16), s.sync,
                            -1, -1, -1, s.sync_divider, self.shift_a, self.shift_b, self.max_periods,
                            self.memory_pulses, self.si, self.sf, self.ch_counts, none_i, np.empty(0, np.uint8),
                            none_i, none_i)

    @property
    def bucket_ps(self) -> int:
        return int(self.si[K.SI_BUCKET_PS])

    def slice_state(self) -> tuple[np.ndarray, np.ndarray]:
        """The kernel state a time slice starting now begins with (counters zero)."""
        si, sf = self.si.copy(), self.sf.copy()
        si[[K.SI_UNREF_NOSYNC, K.SI_UNREF_NOPERIOD, K.SI_UNREF_GAP, K.SI_N_SYNC, K.SI_HAS_T, K.SI_LAST_T]] = 0
        return si, sf

    def start_bootstrap(self, first: tuple) -> None:
        """A fresh state for a time slice that bootstraps the period estimate from the syncs of the
        buckets before its start (advance_syncs), with the recording's bucket width, first period, the
        time it became known and the first sync's time (`first`: estimate_origin() of the whole run)."""
        self.si, self.sf = K.new_state(self.nominal_period_ps, self.memory_pulses)
        self.si[K.SI_BUCKET_PS] = int(first[0])
        self.sf[K.SF_FIRST_PERIOD], self.sf[K.SF_FIRST_TIME], self.sf[K.SF_EST_START] = first[1:]

    def estimate_origin(self) -> tuple:
        """(bucket width, first period, the time it became known, first sync time): what a bootstrap needs."""
        return (int(self.si[K.SI_BUCKET_PS]), float(self.sf[K.SF_FIRST_PERIOD]), float(self.sf[K.SF_FIRST_TIME]),
                float(self.sf[K.SF_EST_START]))

    def start_slice(self, state: tuple[np.ndarray, np.ndarray]) -> None:
        """Continue from `state` (slice_state() of a stage that advanced to this slice's start)."""
        self.si, self.sf = state[0].copy(), state[1].copy()
        self.ch_counts[:] = 0

    # --- update ----------------------------------------------------------------------------------
    def update(self, chunk: TagChunk) -> PhotonBatch:
        n = len(chunk)
        s = self.setup
        if chunk.microtimes_ps is not None:
            return self._update_direct(chunk)
        if n > self._scratch_n:
            self._scratch_n = n
            self._scratch = (np.empty(n, np.int64), np.empty(n, np.uint8), np.empty(n, np.int64),
                             np.empty(n, np.int64))
        out_t, out_w, out_m, out_f = self._scratch
        n_ph, n_fr, bad = K.reference_photons(
            chunk.timestamps_ps, chunk.channels, -1 if s.sync is None else s.sync, s.spad_a,
            -1 if s.spad_b is None else s.spad_b,
            -1 if s.frame is None else s.frame, s.sync_divider, self.shift_a, self.shift_b,
            self.max_periods, self.memory_pulses, self.si, self.sf, self.ch_counts, out_t, out_w, out_m, out_f)
        if bad >= 0:
            raise TimeOrderError(
                f"time tags go backwards ({int(chunk.timestamps_ps[bad])} ps after "
                f"{int(self.si[K.SI_LAST_T])} ps); open the file through tagstream.io (it reorders "
                f"within a window) or sort the tags", record=chunk.first_record + bad)
        last = int(chunk.timestamps_ps[-1]) if n else None
        return PhotonBatch(out_t[:n_ph].copy(), out_w[:n_ph].copy(), out_m[:n_ph].copy(), out_f[:n_fr].copy(), last,
                           *self._times(chunk))

    def _times(self, chunk: TagChunk) -> tuple:
        """(first record time, first period, its start, the estimate now) for the PhotonBatch."""
        first = int(chunk.timestamps_ps[0]) if len(chunk) else None
        return first, self.first_period_ps, self.first_period_time_ps, self.period_ps

    def _update_direct(self, chunk: TagChunk) -> PhotonBatch:
        s = self.setup
        if self.nominal_period_ps is None:
            raise SetupError("this recording carries microtimes (PicoQuant T3 / Photon-HDF5 nanotimes) but no laser "
                             "period was given: give --laser-period-ps or --laser-mhz")
        ts, ch = chunk.timestamps_ps, chunk.channels
        if len(ts):
            prev = self.si[K.SI_LAST_T] if self.si[K.SI_HAS_T] else ts[0]
            if ts[0] < prev or np.any(np.diff(ts) < 0):
                bad = 0 if ts[0] < prev else int(np.flatnonzero(np.diff(ts) < 0)[0]) + 1
                raise TimeOrderError("time tags go backwards", record=chunk.first_record + bad)
            self.si[K.SI_LAST_T] = ts[-1]
            self.si[K.SI_HAS_T] = 1
        np.add.at(self.ch_counts, ch.astype(np.int64), 1)
        b = -1 if s.spad_b is None else s.spad_b
        is_ph = (ch == s.spad_a) | (ch == b)
        which = (ch[is_ph] == b).astype(np.uint8)
        micro = chunk.microtimes_ps[is_ph] + np.where(which == 0, self.shift_a, self.shift_b)
        micro = np.where(chunk.microtimes_ps[is_ph] >= 0, np.mod(micro, int(round(self.nominal_period_ps))), -1)
        micro = micro.astype(np.int64)
        frames = ts[ch == s.frame] if s.frame is not None else ts[:0]
        return PhotonBatch(ts[is_ph], which, micro, frames, int(ts[-1]) if len(ts) else None, *self._times(chunk))
