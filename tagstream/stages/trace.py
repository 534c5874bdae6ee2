"""Trace stage: per-bin sufficient statistics of the intensity and lifetime traces.

Kept per trace bin (bin k covers [origin + k*bin, origin + (k+1)*bin), origin = first tag's time):
counts of detector A and B, the number of referenced photons and their microtime sum (ps), plus an
append-only store with each referenced photon's decay-bin index (uint16). Final values (average
lifetime, ON flag, FLID, regime decays) are derived from these at snapshot time
(tagstream.results), so the decay's time zero, the background, the ON threshold and the lifetime
regimes can all change afterwards without re-reading.

Memory: 4 int64 per trace bin (32 B; 11.5 MB per hour at 10 ms bins) plus 2 B per referenced photon
(72 MB per hour at 10 kcounts/s, 720 MB at 100 kcounts/s). Everything else in the pipeline is
bounded; this store is what makes re-selection exact.

No "non-reselectable" mode (yet): dropping the store is only exact when a bin's regime is final the
moment the bin closes, i.e. with on_threshold, t0_ps and regimes fixed AND subtract_background=False
(the background rate comes from the whole recording's decay) and without lifetime_mle / levels
(both read the store); the regime decays could then be summed bin by bin, keeping only the open
bin's photons. With t0 alone fixed it cannot be exact, so it is not offered.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from tagstream.kernels.trace import accumulate_bins, nice_bin_ps, sum_selected_decays
from tagstream.chunk import PhotonBatch

MAX_DECAY_BINS = 2048


def _grow(a: np.ndarray, need: int) -> np.ndarray:
    if need <= a.shape[0]:
        return a
    out = np.zeros(max(need, 2 * a.shape[0], 16), a.dtype)
    out[: a.shape[0]] = a
    return out


class DecaySums:
    """Memo of the regime decays of the last snapshot, so the next one sums only the bins that joined or
    left a regime (live: a few new bins), not every photon again. Exact (integer counts): a closed bin's
    slice of the append-only store never changes, and the memo is not used if the offsets of the bins it
    summed changed. Thread-safe; pickles as an empty memo."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._memo: dict = {}    # key -> (selected-bin mask, offsets it was summed with, decay counts)

    def __reduce__(self):
        return (DecaySums, ())

    def selected(self, key, store: np.ndarray, offsets: np.ndarray, bins: np.ndarray, n_decay: int) -> np.ndarray:
        """Decay counts (n_decay, int64) of the photons of trace bins `bins` (closed bins only)."""
        nb = offsets.shape[0] - 1
        mask = np.zeros(nb, bool)
        mask[bins] = True
        with self._lock:
            old = self._memo.get(key)
        dec = np.zeros(n_decay, np.int64)
        done = False
        # valid while the slices of the bins it summed are unchanged (offsets up to its last selected bin's end)
        end = 0 if old is None or not old[0].any() else int(np.flatnonzero(old[0])[-1]) + 2
        if old is not None and old[2].shape[0] == n_decay and old[0].shape[0] <= nb \
                and np.array_equal(old[1][:end], offsets[:end]):
            was = np.zeros(nb, bool)
            was[: old[0].shape[0]] = old[0]
            added, removed = np.flatnonzero(mask & ~was), np.flatnonzero(was & ~mask)
            n_ref = np.diff(offsets)
            if n_ref[added].sum() + n_ref[removed].sum() < n_ref[bins].sum():
                gone = np.zeros(n_decay, np.int64)
                sum_selected_decays(store, offsets, added, n_decay, dec)
                sum_selected_decays(store, offsets, removed, n_decay, gone)
                dec += old[2] - gone
                done = True
        if not done:
            sum_selected_decays(store, offsets, bins, n_decay, dec)
        with self._lock:
            self._memo[key] = (mask, offsets.copy(), dec.copy())
        return dec


@dataclass(frozen=True)
class TraceStats:
    """The trace stage's sufficient statistics: per trace bin (origin_ps + i * bin_ps) the photons of
    A and B, the referenced photons and their microtime sum (ps); the total decay histogram
    (decay_bin_ps, n_decay bins over one period); store: every referenced photon's decay bin, in
    photon order (per-regime decays and MLE lifetimes are summed from it)."""

    bin_ps: int
    origin_ps: int | None
    n_bins: int
    counts_a: np.ndarray
    counts_b: np.ndarray
    n_ref: np.ndarray
    sum_micro_ps: np.ndarray
    decay_bin_ps: int | None
    n_decay: int
    total_decay: np.ndarray
    store: np.ndarray
    sums: DecaySums | None = None      # the stage's memo of regime decays (None: sum every photon)


class TraceStage:
    def __init__(self, bin_ps: int, decay_bin_ps: int | None = None) -> None:
        if bin_ps <= 0:
            raise ValueError("trace bin must be > 0 ps")
        self.bin_ps = int(bin_ps)
        self.requested_decay_bin_ps = decay_bin_ps
        self.decay_bin_ps: int | None = None
        self.n_decay = 0
        self.origin_ps: int | None = None
        self.n_bins = 0  # bins up to and including the one holding the last tag
        self.counts_a = np.zeros(0, np.int64)
        self.counts_b = np.zeros(0, np.int64)
        self.n_ref = np.zeros(0, np.int64)
        self.sum_micro = np.zeros(0, np.int64)
        self.store = np.zeros(0, np.uint16)
        self.n_store = 0
        self.total_decay = np.zeros(0, np.int64)
        self.sums = DecaySums()

    def set_decay_binning(self, first_period_ps: float) -> None:
        """Fix the decay resolution from the period when it first became known (deterministic)."""
        if self.decay_bin_ps is not None:
            return
        b = self.requested_decay_bin_ps or nice_bin_ps(first_period_ps / MAX_DECAY_BINS)
        n = int(np.ceil(first_period_ps * 1.002 / b))
        if n > 65535:
            raise ValueError(f"decay bin {b} ps gives {n} bins per period (max 65535)")
        self.decay_bin_ps, self.n_decay = int(b), n
        self.total_decay = np.zeros(n, np.int64)

    def update(self, batch: PhotonBatch) -> None:
        if batch.last_time_ps is None:
            return
        if self.origin_ps is None:
            self.origin_ps = int(batch.first_time_ps)   # the trace starts at the stream's first record
        if batch.period_ps is not None:
            self.set_decay_binning(batch.period_ps)
        self.n_bins = max(self.n_bins, (batch.last_time_ps - self.origin_ps) // self.bin_ps + 1)
        for name in ("counts_a", "counts_b", "n_ref", "sum_micro"):
            setattr(self, name, _grow(getattr(self, name), self.n_bins))
        n = batch.t_ps.shape[0]
        if n == 0:
            return
        if self.decay_bin_ps is None and np.any(batch.micro_ps >= 0):
            raise RuntimeError("referenced photons before the decay binning is known")  # cannot happen
        self.store = _grow(self.store, self.n_store + n)
        out = self.store[self.n_store:]
        m = accumulate_bins(batch.t_ps, batch.which, batch.micro_ps, self.origin_ps, self.bin_ps,
                            self.decay_bin_ps or 1, max(self.n_decay, 1), self.counts_a, self.counts_b,
                            self.n_ref, self.sum_micro, out)
        if m:
            self.total_decay += np.bincount(out[:m], minlength=self.n_decay)[: self.n_decay]
        self.n_store += m

    def stats(self) -> TraceStats:
        """Copies of the per-bin arrays and a view of the (append-only, immutable prefix) store."""
        nb = self.n_bins
        return TraceStats(bin_ps=self.bin_ps, origin_ps=self.origin_ps, n_bins=nb,
                          counts_a=self.counts_a[:nb].copy(), counts_b=self.counts_b[:nb].copy(),
                          n_ref=self.n_ref[:nb].copy(), sum_micro_ps=self.sum_micro[:nb].copy(),
                          decay_bin_ps=self.decay_bin_ps, n_decay=self.n_decay,
                          total_decay=self.total_decay.copy(), store=self.store[: self.n_store],
                          sums=self.sums)

    def finalize(self) -> None:
        """Nothing is held back."""
