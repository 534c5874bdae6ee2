"""g2 stage: cross-correlation histogram tau = t(B) - t(A) over [lo, hi), streamed with a look-back
tail of the photons within reach of the last one (bounded by rate x window).

The histogram is accumulated at a base bin width; tagstream.results re-bins it for display and
integrates the peaks. The setup's per-channel delays shift tau: tau = (tB + dB) - (tA + dA).

Per-state g2 (optional, ``trace_bin_ps`` given): the ON state is only known per trace bin, and the
threshold can change after the run, so every counted pair is also kept (append-only store, 2 B per
pair: its base-bin index and a flag "earlier photon in the previous trace bin"), grouped by the trace
bin of its later photon. Any selection of bins (e.g. ON) is then summed exactly, at derive time, over
the pairs whose BOTH photons lie in selected bins. Memory: 2 B x pairs ~ 2 B x N x r_other x 2W
(N photons, r_other the other detector's rate, W the half-window): at 5 kcounts/s per detector and
W = 3.5 us that is 0.07 B per photon (a few % of the lifetime store's 2 B), but it grows with the
rate squared: 14 B per photon at 1 Mcounts/s per detector.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tagstream.errors import SetupError
from tagstream.kernels.g2 import g2_pairs_after, g2_pairs_binned
from tagstream.chunk import PhotonBatch
from tagstream.validate import G2_MAX_BINS
from tagstream.stages.trace import _grow


@dataclass(frozen=True)
class G2PairStore:
    """Every counted pair (base-bin index | cross_flag when its earlier photon lies in the previous
    trace bin), grouped by the trace bin of its later photon (pairs_per_bin)."""

    store: np.ndarray
    pairs_per_bin: np.ndarray
    cross_flag: int

    def merge(self, later: "G2PairStore") -> "G2PairStore":
        from tagstream.stages import add_padded

        return G2PairStore(np.concatenate((self.store, later.store)),
                           add_padded(self.pairs_per_bin, later.pairs_per_bin), self.cross_flag)


@dataclass(frozen=True)
class G2Stats:
    """The g2 stage's sufficient statistics: histogram of tau = tB - tA at base_bin_ps over
    [-window_ps, window_ps), photons of A and B counted, first / last photon time (ps) and the time
    pairs are counted from (None: from the start); per_state: the pair store (g2_per_state)."""

    per_state: G2PairStore | None
    base_bin_ps: int
    window_ps: int
    delta_ps: int
    hist: np.ndarray
    n_a: int
    n_b: int
    first_ps: int | None
    last_ps: int | None
    t_from_ps: int | None

    def merge(self, later: "G2Stats") -> "G2Stats":
        """These statistics followed by the next time slice's (which counted the pairs whose later photon
        lies in it, its look-back photons serving as partners)."""
        from tagstream.stages import merge_stats

        last = [x for x in (self.last_ps, later.last_ps) if x is not None]
        return G2Stats(per_state=merge_stats([self.per_state, later.per_state]), base_bin_ps=self.base_bin_ps,
                       window_ps=self.window_ps, delta_ps=self.delta_ps, hist=self.hist + later.hist,
                       n_a=self.n_a + later.n_a, n_b=self.n_b + later.n_b,
                       first_ps=self.first_ps if self.first_ps is not None else later.first_ps,
                       last_ps=max(last) if last else None, t_from_ps=self.t_from_ps)


class G2Stage:
    def __init__(self, window_ps: int, bin_ps: int, delta_ps: int = 0, t_from_ps: float = -np.inf,
                 trace_origin_ps: int | None = None, trace_bin_ps: int | None = None) -> None:
        """window_ps: half-width W, rounded up to a whole number of bins; bin_ps: base bin width;
        delta_ps = dB - dA (per-channel delays); pairs whose later photon is before t_from_ps are
        not counted (used when the window is only known once the laser period is).
        trace_origin_ps/trace_bin_ps: keep the pair store for the per-state g2 (see module doc)."""
        if bin_ps <= 0 or window_ps <= 0:
            raise ValueError("g2 window and bin must be > 0 ps")
        self.bin_ps = int(bin_ps)
        self.half_bins = int(-(-int(window_ps) // self.bin_ps))
        if 2 * self.half_bins > G2_MAX_BINS:
            raise ValueError(f"g2 window +-{int(window_ps)} ps in bins of {self.bin_ps} ps is more than "
                             f"{G2_MAX_BINS} bins: use a wider g2 bin or a shorter window")
        self.window_ps = self.half_bins * self.bin_ps
        self.delta_ps = int(delta_ps)
        self.lo = -self.window_ps - self.delta_ps
        self.hi = self.window_ps - self.delta_ps
        self.reach = max(self.hi, -self.lo)
        self.t_from = int(t_from_ps) if np.isfinite(t_from_ps) else np.iinfo(np.int64).min
        self.hist = np.zeros(2 * self.half_bins, np.int64)
        self.tail_t = np.zeros(0, np.int64)
        self.tail_w = np.zeros(0, np.uint8)
        self.n_a = 0
        self.n_b = 0
        self.first_ps: int | None = None
        self.last_ps: int | None = None
        self.per_bin = trace_bin_ps is not None
        if self.per_bin:
            if trace_origin_ps is None:
                raise ValueError("per-state g2 needs the trace origin")
            if self.reach >= trace_bin_ps:
                raise ValueError(f"per-state g2 needs a g2 reach ({self.reach} ps) shorter than the trace "
                                 f"bin ({trace_bin_ps} ps)")
            wide = 2 * self.half_bins >= (1 << 15)
            self.cross_flag = (1 << 31) if wide else (1 << 15)
            self.store = np.zeros(1 << 12, np.uint32 if wide else np.uint16)
            self.n_store = 0
            self.trace_origin_ps = int(trace_origin_ps)
            self.trace_bin_ps = int(trace_bin_ps)
            self.pairs_per_bin = np.zeros(0, np.int64)

    def update(self, batch: PhotonBatch) -> None:
        n = batch.t_ps.shape[0]
        if n == 0:
            return
        i0 = int(np.searchsorted(batch.t_ps, self.t_from, side="left"))
        nb = int(np.count_nonzero(batch.which[i0:]))
        self.n_b += nb
        self.n_a += n - i0 - nb
        if self.first_ps is None and i0 < n:
            self.first_ps = int(batch.t_ps[i0])
        self.last_ps = int(batch.t_ps[-1])
        if self.per_bin:
            t = np.concatenate((self.tail_t, batch.t_ps))
            w = np.concatenate((self.tail_w, batch.which))
            self._pairs_binned(t, w)
        else:
            g2_pairs_after(self.tail_t, self.tail_w, batch.t_ps, batch.which, self.t_from, self.lo, self.hi,
                           self.bin_ps, self.hist)
            if batch.t_ps[0] >= batch.t_ps[-1] - self.reach:   # the new tail may hold old photons
                t = np.concatenate((self.tail_t, batch.t_ps))
                w = np.concatenate((self.tail_w, batch.which))
            else:
                t, w = batch.t_ps, batch.which
        keep = np.searchsorted(t, t[-1] - self.reach, side="left")
        self.tail_t, self.tail_w = t[keep:].copy(), w[keep:].copy()

    def _pairs_binned(self, t: np.ndarray, w: np.ndarray) -> None:
        nb = int((t[-1] - self.trace_origin_ps) // self.trace_bin_ps) + 1
        self.pairs_per_bin = _grow(self.pairs_per_bin, nb)
        i = self.tail_t.shape[0]
        while i < t.shape[0]:
            if self.store.shape[0] - self.n_store < 1024:
                self.store = _grow(self.store, self.store.shape[0] + 1024)
            i, self.n_store = g2_pairs_binned(
                t, w, i, self.t_from, self.lo, self.hi, self.bin_ps, self.hist, self.trace_origin_ps,
                self.trace_bin_ps, self.cross_flag, self.store, self.n_store, self.pairs_per_bin)
            if i < t.shape[0]:
                self.store = _grow(self.store, 2 * self.store.shape[0])

    def stats(self) -> G2Stats:
        per_state = None
        if self.per_bin:
            per_state = G2PairStore(self.store[: self.n_store], self.pairs_per_bin.copy(), self.cross_flag)
        return G2Stats(per_state=per_state, base_bin_ps=self.bin_ps, window_ps=self.window_ps, delta_ps=self.delta_ps,
                       hist=self.hist.copy(), n_a=self.n_a, n_b=self.n_b,
                       first_ps=self.first_ps, last_ps=self.last_ps,
                       t_from_ps=None if self.t_from == np.iinfo(np.int64).min else self.t_from)

    def finalize(self) -> None:
        """Nothing is held back (the look-back tail only serves later photons)."""


PENDING_MAX = 1 << 20   # photons kept while waiting for the laser period (the most recent ones)


class G2WhenPeriodKnown:
    """The pipeline's g2 stage. Its window (default 3.5 periods) and base bin (period / 1024) follow
    the laser period: given (config), they are fixed at the first batch; else the photons are held
    (the last PENDING_MAX) until the microtime stage has measured the period, and pairs are counted
    from the time it holds. Then every batch goes to a G2Stage."""

    def __init__(self, window_ps: int | None, bin_ps: int | None, nominal_period_ps: float | None,
                 delta_ps: int = 0, trace_bin_ps: int | None = None) -> None:
        self.window_ps, self.bin_ps, self.nominal_period_ps = window_ps, bin_ps, nominal_period_ps
        self.delta_ps, self.trace_bin_ps = delta_ps, trace_bin_ps
        self.stage: G2Stage | None = None
        self._pending_t: list[np.ndarray] = []
        self._pending_w: list[np.ndarray] = []
        self._origin_ps: int | None = None
        self._count_from = -np.inf

    def start_slice(self, origin_ps: int, count_from_ps: int) -> None:
        """Analyse a time slice: pairs whose later photon is before count_from_ps are not counted (the
        look-back photons only serve as partners); per-state bins from the recording's first record."""
        self._origin_ps = int(origin_ps)
        self._count_from = int(count_from_ps)
        self._start()

    def lookback_ps(self, period_ps: float | None) -> int:
        """How far before a slice's start its pairs' earlier photons can lie (>= the stage's reach)."""
        period = period_ps or self.nominal_period_ps or 0.0
        window = self.window_ps or int(np.ceil(3.5 * period))
        return int(window) + int(self.bin_ps or max(window, period / 500)) + abs(int(self.delta_ps)) + 1

    def _start(self) -> None:
        if self.window_ps is not None and self.bin_ps is not None:
            self._make(None, self._count_from)
        elif self.nominal_period_ps is not None:
            self._make(float(self.nominal_period_ps), self._count_from)

    def _make(self, period_ps: float | None, t_from: float) -> None:
        from tagstream.kernels.trace import nice_bin_ps

        window = self.window_ps or int(np.ceil(3.5 * period_ps))
        base = self.bin_ps or nice_bin_ps(period_ps / 1024)
        per_bin = {} if self.trace_bin_ps is None else dict(trace_origin_ps=self._origin_ps,
                                                             trace_bin_ps=self.trace_bin_ps)
        try:
            self.stage = G2Stage(window, base, self.delta_ps, t_from, **per_bin)
        except ValueError as exc:
            raise SetupError(str(exc)) from None

    def update(self, batch: PhotonBatch) -> None:
        if self._origin_ps is None and batch.first_time_ps is not None:
            self._origin_ps = int(batch.first_time_ps)       # the trace origin (per-state pairs)
            self._start()
        if self.stage is None:
            self._pending_t.append(batch.t_ps)
            self._pending_w.append(batch.which)
            if batch.period_ps is None:
                t = np.concatenate(self._pending_t)[-PENDING_MAX:]
                w = np.concatenate(self._pending_w)[-PENDING_MAX:]
                self._pending_t, self._pending_w = [t], [w]
                return
            self._make(batch.period_ps, max(batch.period_from_ps, self._count_from))
            batch = PhotonBatch(np.concatenate(self._pending_t), np.concatenate(self._pending_w),
                                np.zeros(0, np.int64), np.zeros(0, np.int64), batch.last_time_ps)
            self._pending_t, self._pending_w = [], []
        self.stage.update(batch)

    def stats(self) -> G2Stats | None:
        return None if self.stage is None else self.stage.stats()

    def finalize(self) -> None:
        """A run that never measured its period has no g2 (its held photons are dropped)."""
