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

Bounded-memory mode (``fixed``: a FixedSelection, AnalysisConfig.bounded_memory): a bin's regime is
final the moment the bin closes when the ON threshold, t0_ps and the regimes are fixed up front AND
subtract_background=False (the background rate comes from the whole recording's decay) and without
lifetime_mle / levels (both read the store). Each closed bin's photons are then summed into its
regime's decay (and its count of photons before t0's decay bin kept, one number per bin, for the
average lifetime) and dropped: the store holds only the open bin's photons, memory is flat in the
recording length, and the results cannot be re-selected. The regime of a bin is decided with the
period estimate when it closes (the Results use the final one): the two differ by ~1e-6 relative, so
only a bin whose average lifetime lies within ~1e-9 ns of a regime edge could be placed differently.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

import numpy as np

from tagstream.kernels.trace import accumulate_bins, nice_bin_ps, sum_selected_decays, sums_from
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

    def __eq__(self, other) -> bool:    # a memo is not data: statistics with any two memos are equal
        return isinstance(other, DecaySums)

    __hash__ = object.__hash__

    def selected(self, key, store: np.ndarray, offsets: np.ndarray, bins: np.ndarray, n_decay: int,
                 half: int | None = None) -> np.ndarray:
        """Decay counts (n_decay, int64) of the photons of trace bins `bins` (closed bins only); half 0 / 1:
        of only the even / odd photon positions of each bin (tagstream.kernels.split_half.sum_half_decays)."""
        from tagstream.kernels.split_half import sum_half_decays

        def add(sel, out):
            if half is None:
                sum_selected_decays(store, offsets, sel, n_decay, out)
            else:
                sum_half_decays(store, offsets, sel, int(half), n_decay, out)

        nb = offsets.shape[0] - 1
        mask = np.zeros(nb, bool)
        mask[bins] = True
        key = (key, half)
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
                add(added, dec)
                add(removed, gone)
                dec += old[2] - gone
                done = True
        if not done:
            add(np.asarray(bins, np.int64), dec)
        with self._lock:
            self._memo[key] = (mask, offsets.copy(), dec.copy())
        return dec

    def half_index_sums(self, store: np.ndarray, offsets: np.ndarray, cut_bin: int) -> tuple:
        """tagstream.kernels.split_half.half_index_sums, (bins, 2) int64 each: photons, those below the cut
        bin, their decay-index sum per bin half. The bins whose slice of the store is unchanged since the
        last call (same start and end offsets, same cut) are taken from it, only the others summed again
        (live: the last few bins, not every photon). Identical to summing all: each bin's sums are its
        own. One memo (the last cut) is kept."""
        from tagstream.kernels.split_half import half_index_sums

        nb = offsets.shape[0] - 1
        key = "half index sums"
        with self._lock:
            old = self._memo.get(key)
        sums = tuple(np.zeros((nb, 2), np.int64) for _ in range(3))    # photons, below the cut, index sum
        keep = 0
        if old is not None and old[0] == int(cut_bin):
            m = min(old[1].shape[0], offsets.shape[0])
            changed = np.flatnonzero(old[1][:m] != offsets[:m])
            keep = max((m if changed.size == 0 else int(changed[0])) - 1, 0)   # bins [0, keep): same slice
            for a, o in zip(sums, old[2]):
                a[:keep] = o[:keep]
        half_index_sums(store, offsets[keep:], int(cut_bin), *(a[keep:] for a in sums))
        with self._lock:
            self._memo[key] = (int(cut_bin), offsets.copy(), tuple(a.copy() for a in sums))
        return sums

    def half_delays(self, store: np.ndarray, offsets: np.ndarray, cut_bin: int, decay_bin_ps: float,
                    period_ps: float) -> tuple[np.ndarray, np.ndarray]:
        """tagstream.kernels.split_half.half_delay_sums as (bins, 2) photon counts and delay sums, from the
        memoised integer sums (half_index_sums), which do not depend on the period (a live period estimate
        moves with every snapshot)."""
        from tagstream.kernels.split_half import delay_sums_from_index_sums

        n, below, isum = self.half_index_sums(store, offsets, cut_bin)
        return n, delay_sums_from_index_sums(n, below, isum, int(cut_bin), float(decay_bin_ps), float(period_ps))


@dataclass(frozen=True)
class FixedSelection:
    """The selection a bounded-memory trace stage applies as bins close (see the module doc)."""

    on_threshold: float
    t0_ps: float
    regimes_ns: tuple


def time_zero_bin(t0_ps: float, guard_ps: float, decay_bin_ps: int, period_ps: float) -> int:
    """The decay bin where one period of delays starts (the cut just before t0 - guard)."""
    return int(np.floor((t0_ps - guard_ps) / decay_bin_ps)) % int(np.ceil(period_ps / decay_bin_ps))


def average_lifetime_ns(n_ref, sum_micro_ps, n_below, t0_ps: float, period_ps: float, decay_bin_ps: int,
                        cut_bin: int, n_bg, bg_mean_ps: float | None = None) -> np.ndarray:
    """Average lifetime (ns) per trace bin (tagstream.results explains the estimator): n_ref photons with
    microtime sum sum_micro_ps, n_below of them before the cut bin (late photons of the previous pulse),
    n_bg expected background photons with mean delay bg_mean_ps from the cut (None: P / 2, a background
    uniform over the period). NaN without signal."""
    n = n_ref.astype(np.float64)
    S = sum_micro_ps.astype(np.float64)
    P = period_ps
    sig = n - n_bg
    c_ps = cut_bin * float(decay_bin_ps)
    delta = (c_ps - t0_ps + 0.5 * P) % P - 0.5 * P  # c - t0 in (-P/2, P/2]
    S_wrapped = S - n * c_ps + P * n_below + n * delta
    with np.errstate(divide="ignore", invalid="ignore"):
        lt = ((S_wrapped - n_bg * ((P / 2.0 if bg_mean_ps is None else bg_mean_ps) + delta)) / sig) / 1e3
    out = np.full(n.shape[0], np.nan)
    good = (n > 0) & (sig >= 1.0)
    out[good] = lt[good]
    return out


def photons_below(store, n_ref, cut_bin: int, decay_bin_ps: int) -> np.ndarray:
    """Per trace bin, the referenced photons of the store (bins' photons in order) before the cut bin."""
    nb = n_ref.shape[0]
    on_n, on_s = np.zeros(nb, np.int64), np.zeros(nb, np.float64)
    if cut_bin <= 0:
        return np.zeros(nb, np.int64)
    sums_from(store, np.concatenate(([0], np.cumsum(n_ref))).astype(np.int64), cut_bin, float(decay_bin_ps),
              on_n, on_s)
    return n_ref - on_n


@dataclass(frozen=True)
class BoundedTrace:
    """Bounded mode: bins [0, n_folded) are folded (their photons dropped): per bin its photons before
    the cut bin and its regime (-1 none), and the regimes' decays summed."""

    selection: FixedSelection
    cut_bin: int
    n_folded: int
    n_below: np.ndarray
    regime: np.ndarray
    regime_decays: np.ndarray

    def merge(self, later: "BoundedTrace") -> "BoundedTrace":
        """Slices that end on trace-bin edges (tagstream.slices aligns them): the later one's bins follow."""
        from tagstream.stages import add_padded

        n = max(self.n_folded, later.n_folded)
        reg = np.full(n, -1, np.int8)
        for b in (self, later):
            reg[: b.n_folded] = np.where(b.regime[: b.n_folded] >= 0, b.regime[: b.n_folded], reg[: b.n_folded])
        rd = later.regime_decays if self.regime_decays.size == 0 else self.regime_decays if \
            later.regime_decays.size == 0 else self.regime_decays + later.regime_decays
        return BoundedTrace(self.selection, self.cut_bin, n, add_padded(self.n_below, later.n_below)[:n], reg, rd)


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
    bounded: BoundedTrace | None = None   # bounded-memory mode: store = the photons of bins >= n_folded
    sums: DecaySums | None = None      # the stage's memo of regime decays (None: sum every photon)

    def merge(self, later: "TraceStats") -> "TraceStats":
        """These statistics followed by the next time slice's (same origin and bins): per-bin sums add
        (a bin split by the slice boundary included), the stores concatenate in photon order."""
        from tagstream.stages import add_padded

        dec = later if self.decay_bin_ps is None else self
        return TraceStats(bin_ps=self.bin_ps, origin_ps=self.origin_ps, n_bins=max(self.n_bins, later.n_bins),
                          counts_a=add_padded(self.counts_a, later.counts_a),
                          counts_b=add_padded(self.counts_b, later.counts_b),
                          n_ref=add_padded(self.n_ref, later.n_ref),
                          sum_micro_ps=add_padded(self.sum_micro_ps, later.sum_micro_ps),
                          decay_bin_ps=dec.decay_bin_ps, n_decay=dec.n_decay,
                          total_decay=add_padded(self.total_decay, later.total_decay),
                          store=np.concatenate((self.store, later.store)),
                          bounded=None if self.bounded is None else self.bounded.merge(later.bounded),
                          sums=None if self.bounded is not None else DecaySums())


class TraceStage:
    def __init__(self, bin_ps: int, decay_bin_ps: int | None = None, fixed: FixedSelection | None = None) -> None:
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
        self.fixed = fixed
        self.n_folded = 0       # bounded mode: bins [0, n_folded) folded, their photons dropped
        self.cut_bin = -1
        self.n_below = np.zeros(0, np.int64)
        self.regime = np.zeros(0, np.int8)
        self.regime_decays = np.zeros((0, 0), np.int64)
        self._period_now: float | None = None

    def start_slice(self, origin_ps: int, count_from_ps: int) -> None:
        """Analyse a time slice: bins from the recording's first record (only the slice's photons are fed)."""
        self.origin_ps = int(origin_ps)

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
        if self.fixed is not None:
            self.regime_decays = np.zeros((len(self.fixed.regimes_ns), n), np.int64)

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
        if batch.period_now_ps is not None:
            self._period_now = batch.period_now_ps
        n = batch.t_ps.shape[0]
        if n == 0:
            self._fold_closed()
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
        self._fold_closed()

    def _fold_closed(self) -> None:
        """Bounded mode: fold every closed bin (all but the one holding the last record)."""
        if self.fixed is not None and self._period_now is not None:
            self.fold(self.n_bins - 1, self._period_now)

    def end_slice(self, t_stop_ps: int, period_ps: float | None) -> None:
        """A time slice ends at t_stop_ps (a trace-bin edge in bounded mode): its bins are complete."""
        if self.fixed is not None and period_ps is not None and self.origin_ps is not None:
            self.fold((int(t_stop_ps) - self.origin_ps) // self.bin_ps, period_ps)

    def fold(self, up_to_bin: int, period_ps: float) -> None:
        """Bounded mode: sum the bins [n_folded, up_to_bin) (closed) into their regime's decay (ON and
        average lifetime in the regime, with the period estimate `period_ps`) and drop their photons."""
        a, b = self.n_folded, min(int(up_to_bin), self.n_bins)
        if b <= a or self.decay_bin_ps is None:
            return
        f = self.fixed
        self.cut_bin = time_zero_bin(f.t0_ps, 0.0, self.decay_bin_ps, period_ps)
        offsets = np.concatenate(([0], np.cumsum(self.n_ref[a:b]))).astype(np.int64)
        k = int(offsets[-1])
        below = photons_below(self.store[:k], self.n_ref[a:b], self.cut_bin, self.decay_bin_ps)
        lt = average_lifetime_ns(self.n_ref[a:b], self.sum_micro[a:b], below.astype(np.float64), f.t0_ps, period_ps,
                                 self.decay_bin_ps, self.cut_bin, 0.0)
        on = (self.counts_a[a:b] + self.counts_b[a:b]) > float(f.on_threshold)
        reg = np.full(b - a, -1, np.int8)
        for r, (lo, hi) in enumerate(f.regimes_ns):
            sel = np.flatnonzero(on & (lt >= lo) & (lt < hi)).astype(np.int64)
            reg[sel] = r
            if sel.size:
                sum_selected_decays(self.store, offsets, sel, self.n_decay, self.regime_decays[r])
        self.n_below = _grow(self.n_below, b)
        self.regime = _grow(self.regime, b)
        self.n_below[a:b] = below
        self.regime[a:b] = reg
        self.store[: self.n_store - k] = self.store[k: self.n_store]
        self.n_store -= k
        self.n_folded = b

    def stats(self) -> TraceStats:
        """Copies of the per-bin arrays and a view of the (append-only, immutable prefix) store."""
        nb = self.n_bins
        return TraceStats(bin_ps=self.bin_ps, origin_ps=self.origin_ps, n_bins=nb,
                          counts_a=self.counts_a[:nb].copy(), counts_b=self.counts_b[:nb].copy(),
                          n_ref=self.n_ref[:nb].copy(), sum_micro_ps=self.sum_micro[:nb].copy(),
                          decay_bin_ps=self.decay_bin_ps, n_decay=self.n_decay,
                          total_decay=self.total_decay.copy(), store=self.store[: self.n_store].copy()
                          if self.fixed is not None else self.store[: self.n_store],
                          bounded=None if self.fixed is None else BoundedTrace(
                              self.fixed, self.cut_bin, self.n_folded, self.n_below[: self.n_folded].copy(),
                              self.regime[: self.n_folded].copy(), self.regime_decays.copy()),
                          sums=self.sums if self.fixed is None else None)   # bounded: the store is compacted

    def finalize(self) -> None:
        """Nothing is held back."""
