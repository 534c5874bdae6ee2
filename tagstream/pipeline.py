"""The analysis pipeline: TagChunks in, Results out (live snapshots or the final result).

    from tagstream.pipeline import AnalysisConfig, Pipeline, analyze_file
    pipe = Pipeline(setup, AnalysisConfig(trace_bin_ms=100, on_threshold=400))
    for chunk in reader.chunks():
        pipe.feed(chunk)            # analysis thread
        res = pipe.snapshot()       # any thread (GUI timer): copies, under a lock
    res = pipe.finalize()
    res2 = res.reselect(on_threshold=300, regimes_ns=[(40, 50), (50, 60)])   # no re-reading

Stages (tagstream.stages): microtime (every record, one numba pass) -> photons -> trace
(per-bin sufficient statistics + per-photon decay index store), g2 (look-back tail), frames.
Results (tagstream.results) are derived from copies of the stages' statistics, so every
quantity is identical whatever the chunking, and selections can change afterwards.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tagstream.chunk import TagChunk
from tagstream.errors import SetupError
from tagstream.kernels.trace import nice_bin_ps
from tagstream.regime import parse_regimes
from tagstream.results import RawStats, Results, Selection, derive
from tagstream.stages.frames import FrameStage
from tagstream.stages.g2 import G2Stage
from tagstream.stages.levels import LevelsStage
from tagstream.stages.microtime import MicrotimeStage, PhotonBatch
from tagstream.stages.trace import TraceStage
from tagstream.validate import G2_MAX_BINS, check_limit

_PENDING_G2_MAX = 1 << 20
NO_SYNC_G2_WINDOW_PS = 50_000   # g2 of a stream without laser period (CW / HBT): +-50 ns ...
NO_SYNC_G2_BIN_PS = 100         # ... in 100 ps bins


@dataclass(frozen=True)
class AnalysisConfig:
    """Analysis parameters (units in names). None = chosen from the data, as documented per field.

    trace_bin_ms: intensity/lifetime trace bin (the seed used 100 ms).
    laser_period_ps: nominal laser period; required for a sync-filtered stream, otherwise
        measured from the sync intervals (interval / divider).
    microtime_offset_ps: fixed delay subtracted from every microtime before wrapping into [0, P).
    max_extrapolation_periods: photons further than this from their reference sync are
        unreferenced (default: divider + 0.5 for a plain/divided sync, 1e5 for a filtered sync).
    period_memory_pulses: forgetting scale of the running period estimate (pulses).
    decay_bin_ps: decay histogram resolution (default: 1-2-5 value >= period / 2048).
    g2: compute the g2 histogram at all.
    g2_window_ps: half-width W of the g2 histogram (default 3.5 laser periods).
    g2_bin_ps: g2 bin width (default: accumulate at the 1-2-5 value >= period / 1024, display
        re-binned to about the 10-90 % rise time of the total decay, the IRF proxy).
    on_threshold: ON if counts per trace bin > this (default: Otsu's threshold on the counts histogram).
    regimes_ns: average-lifetime ranges [lo, hi) for the per-regime decays.
    t0_ps: decay time zero (default: half maximum of the total decay's rising edge).
    subtract_background: remove the uniform background (pre-pulse region) from average lifetimes.
    lifetime_mle: also compute a per-bin maximum-likelihood single-exponential lifetime.
    flid_count_edges, flid_lifetime_edges_ns: FLID histogram edges.
    g2_per_state: also keep every g2 pair with its trace bin, so Results.g2_on (the g2 of the pairs
        whose BOTH photons lie in ON trace bins) is exact for any ON threshold, also after
        reselect(). Costs 2 B per counted pair (tagstream.stages.g2); needs the g2 reach (window +
        channel delay difference) shorter than the trace bin.
    levels_confidence: change-point levels of the summed SPADs at this confidence (0.69, 0.90, 0.95,
        0.99; tagstream.stages.levels); None = no levels.
    on_from_levels: ON = trace bins entirely inside levels of the brightest grouped state (needs levels).
    level_states: group the levels into this many states (None = the BIC's choice on the EM-refined
        Poisson mixture, Watkins & Yang; 3 = force ON/grey/OFF when a state's rate drifts and the BIC
        resolves it into two).
    """

    trace_bin_ms: float = 10.0
    laser_period_ps: float | None = None
    microtime_offset_ps: int = 0
    max_extrapolation_periods: float | None = None
    period_memory_pulses: float = 1e6
    decay_bin_ps: int | None = None
    g2: bool = True
    g2_window_ps: int | None = None
    g2_bin_ps: int | None = None
    on_threshold: float | None = None
    regimes_ns: tuple[tuple[float, float], ...] = ((40.0, 50.0), (50.0, 60.0), (60.0, 70.0))
    t0_ps: float | None = None
    subtract_background: bool = True
    lifetime_mle: bool = False
    flid_count_edges: tuple[float, ...] | None = None
    flid_lifetime_edges_ns: tuple[float, ...] | None = None
    g2_per_state: bool = False
    levels_confidence: float | None = None
    on_from_levels: bool = False
    level_states: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "regimes_ns", parse_regimes(self.regimes_ns))
        check_limit("trace bin", self.trace_bin_ms, "trace_bin_ms", hint="e.g. --bin-ms 10")
        bin_ps = self.trace_bin_ms * 1e9
        if abs(bin_ps - round(bin_ps)) > 1e-6 * bin_ps:
            raise SetupError(f"trace bin {self.trace_bin_ms} ms is not a whole number of ps")
        ints = ("microtime_offset_ps", "g2_window_ps", "g2_bin_ps", "decay_bin_ps", "level_states")
        for name in ("laser_period_ps", "microtime_offset_ps", "max_extrapolation_periods", "period_memory_pulses",
                     "decay_bin_ps", "g2_window_ps", "g2_bin_ps", "on_threshold", "t0_ps", "level_states"):
            v = getattr(self, name)
            if v is not None:
                object.__setattr__(self, name, check_limit(name, v, integer=name in ints))
        if self.laser_period_ps is not None:
            object.__setattr__(self, "laser_period_ps", float(self.laser_period_ps))
        if self.g2_window_ps is not None and self.g2_bin_ps is not None:
            if self.g2_bin_ps > self.g2_window_ps:
                raise SetupError(f"g2 bin ({self.g2_bin_ps} ps) is wider than the g2 half-window "
                                 f"({self.g2_window_ps} ps): give a bin <= the window (--g2-bin-ps, --g2-window-ps)")
            if 2 * -(-self.g2_window_ps // self.g2_bin_ps) > G2_MAX_BINS:
                raise SetupError(f"g2 window +-{self.g2_window_ps} ps in bins of {self.g2_bin_ps} ps is more than "
                                 f"{G2_MAX_BINS} bins: use a wider --g2-bin-ps or a shorter --g2-window-ps")
        if self.levels_confidence is not None and self.levels_confidence not in (0.69, 0.90, 0.95, 0.99):
            raise SetupError(f"levels confidence must be 0.69, 0.90, 0.95 or 0.99, got {self.levels_confidence}")
        if self.on_from_levels and self.levels_confidence is None:
            raise SetupError("ON from levels needs levels (levels_confidence / --levels)")
        if self.level_states is not None and self.levels_confidence is None:
            raise SetupError(f"{self.level_states} level states asked for without levels: add --levels "
                             f"(or --on-from-levels)")
        if self.on_from_levels and self.on_threshold is not None:
            raise SetupError(f"ON from levels and an ON threshold ({self.on_threshold:g}) contradict each other: "
                             f"give --on-from-levels or --on-threshold, not both")

    @property
    def trace_bin_ps(self) -> int:
        return int(round(self.trace_bin_ms * 1e9))

    def selection(self) -> Selection:
        return Selection(self.on_threshold, self.regimes_ns, self.t0_ps, self.subtract_background,
                         self.flid_count_edges, self.flid_lifetime_edges_ns, self.on_from_levels,
                         self.level_states)


class Pipeline:
    """Feed TagChunks in time order; take snapshots from any thread; finalize once at the end."""

    def __init__(self, setup, config: AnalysisConfig | None = None) -> None:
        self.setup = setup
        self.config = config or AnalysisConfig()
        c = self.config
        self._lock = threading.Lock()
        self._micro = MicrotimeStage(setup, c.laser_period_ps, c.microtime_offset_ps,
                                     c.max_extrapolation_periods, c.period_memory_pulses)
        self._trace = TraceStage(c.trace_bin_ps, c.decay_bin_ps)
        self._frames = FrameStage() if setup.frame is not None else None
        self._g2: G2Stage | None = None
        self._levels = None if c.levels_confidence is None else LevelsStage(c.levels_confidence)
        self._pending_t: list[np.ndarray] = []
        self._pending_w: list[np.ndarray] = []
        self._n_records = 0
        self._first_time: int | None = None
        self._last_time: int | None = None
        self._selection = c.selection()
        self._final: Results | None = None
        d = {int(k): int(v) for k, v in dict(setup.delays_ps).items()}
        self._g2_delta = d.get(setup.spad_b, 0) - d.get(setup.spad_a, 0)
        if c.g2_per_state and not c.g2:
            raise SetupError("g2_per_state needs g2=True")
        if c.g2_per_state and c.g2_window_ps is not None and c.g2_window_ps + abs(self._g2_delta) >= c.trace_bin_ps:
            raise SetupError(f"per-state g2 needs a g2 window ({c.g2_window_ps} ps) shorter than the trace bin")
        # the g2 stage is made at the first chunk (the per-state pair store needs the trace origin)

    def _make_g2(self, period_ps: float | None, t_from: float) -> None:
        c = self.config
        window = c.g2_window_ps or int(np.ceil(3.5 * period_ps))
        base = c.g2_bin_ps or nice_bin_ps(period_ps / 1024)
        per_bin = dict(trace_origin_ps=self._trace.origin_ps, trace_bin_ps=c.trace_bin_ps) if c.g2_per_state else {}
        try:
            self._g2 = G2Stage(window, base, self._g2_delta, t_from, **per_bin)
        except ValueError as exc:
            raise SetupError(str(exc)) from None

    # --- feeding -----------------------------------------------------------------------------
    def feed(self, chunk: TagChunk) -> None:
        """Analyse one chunk (time-ordered, continuing the previous one). Not for two threads at once."""
        if self._final is not None:
            raise RuntimeError("Pipeline.feed after finalize()")
        if len(chunk) == 0:
            return
        with self._lock:
            if self._first_time is None:
                self._first_time = int(chunk.timestamps_ps[0])
                self._trace.start(self._first_time)
                c = self.config
                if self._g2_on and c.g2_window_ps is not None and c.g2_bin_ps is not None:
                    self._make_g2(None, -np.inf)
                elif self._g2_on and c.laser_period_ps is not None:
                    self._make_g2(float(c.laser_period_ps), -np.inf)
                elif self._g2_on and self.setup.sync is None:   # no period will ever be known
                    self.config = dataclasses.replace(c, g2_window_ps=c.g2_window_ps or NO_SYNC_G2_WINDOW_PS,
                                                      g2_bin_ps=c.g2_bin_ps or NO_SYNC_G2_BIN_PS)
                    self._make_g2(None, -np.inf)
            batch = self._micro.update(chunk)
            self._n_records += len(chunk)
            self._last_time = batch.last_time_ps
            self._trace.update(batch, self._micro.first_period_ps)
            if self._frames is not None:
                self._frames.update(batch)
            self._update_g2(batch)
            if self._levels is not None:
                self._levels.update(batch)

    @property
    def _g2_on(self) -> bool:
        return self.config.g2 and self.setup.spad_b is not None   # one detector: no g2

    def _update_g2(self, batch: PhotonBatch) -> None:
        if not self._g2_on:
            return
        if self._g2 is None:
            self._pending_t.append(batch.t_ps)
            self._pending_w.append(batch.which)
            if self._micro.first_period_ps is None:
                t = np.concatenate(self._pending_t)[-_PENDING_G2_MAX:]
                w = np.concatenate(self._pending_w)[-_PENDING_G2_MAX:]
                self._pending_t, self._pending_w = [t], [w]
                return
            self._make_g2(self._micro.first_period_ps, self._micro.first_period_time_ps)
            batch = PhotonBatch(np.concatenate(self._pending_t), np.concatenate(self._pending_w),
                                np.zeros(0, np.int64), np.zeros(0, np.int64), batch.last_time_ps)
            self._pending_t, self._pending_w = [], []
        self._g2.update(batch)

    # --- results -----------------------------------------------------------------------------
    def _raw(self, final: bool) -> RawStats:
        si_counts = self._micro.ch_counts
        nz = np.flatnonzero(si_counts)
        if final and self._levels is not None:
            self._levels.finalize()
        return RawStats(
            final=final, config=self.config, setup=self.setup, first_time_ps=self._first_time,
            last_time_ps=self._last_time, n_records=self._n_records, period_ps=self._micro.period_ps,
            ch_counts={int(c): int(si_counts[c]) for c in nz}, unreferenced=self._micro.unreferenced,
            trace=self._trace.stats_copy(), g2=None if self._g2 is None else self._g2.stats_copy(),
            frames=None if self._frames is None else self._frames.stats_copy(),
            levels=None if self._levels is None else self._levels.stats_copy())

    def snapshot(self, **selection) -> Results:
        """Results so far (copies; safe from another thread). Keyword args override the selection
        for this snapshot only (on_threshold, regimes_ns, t0_ps, subtract_background, ...)."""
        if self._final is not None and not selection:
            return self._final
        with self._lock:
            raw = self._raw(self._final is not None)
            sel = self._selection
        if selection:
            if selection.get("regimes_ns") is not None:
                selection["regimes_ns"] = parse_regimes(selection["regimes_ns"])
            sel = dataclasses.replace(sel, **selection)
        return derive(raw, sel)

    def with_selection(self, **selection) -> Results:
        """Results with another selection, from the statistics kept (no re-reading)."""
        return self.snapshot(**selection)

    def set_selection(self, **selection) -> None:
        """Change the default selection of later snapshots (e.g. the live user drags a threshold)."""
        if selection.get("regimes_ns") is not None:
            selection["regimes_ns"] = parse_regimes(selection["regimes_ns"])
        with self._lock:
            self._selection = dataclasses.replace(self._selection, **selection)
            if self._final is not None:     # finalized: the final results follow the new selection
                self._final = derive(self._raw(True), self._selection)

    def finalize(self) -> Results:
        """The final Results (the last, partial trace bin is never ON). Idempotent."""
        if self._final is None:
            with self._lock:
                raw = self._raw(True)
            self._final = derive(raw, self._selection)
        return self._final

    @property
    def present_channels(self) -> list[int]:
        return [int(c) for c in np.flatnonzero(self._micro.ch_counts)]


def analyze_file(path, setup, config: AnalysisConfig | None = None, progress: bool = False,
                 chunk_records: int = 1 << 20, skip_missing_channels: bool = False,
                 warnings: list | None = None) -> Results:
    """Analyse a recording with tagstream.io.open_tags; raises SetupError if a channel the setup
    names never occurs (listing the channels present). Without a laser period in `config`, a file
    that records microtimes (T3, nanotimes) or a sync-filtered setup uses the period the file states.
    The reader's warnings (unfinished file, missing SSTT channel files, ...) are appended to
    `warnings` if given."""
    from tagstream.io import open_tags

    reader = open_tags(path, skip_missing_channels=skip_missing_channels)
    config = config or AnalysisConfig()
    if config.laser_period_ps is None and (reader.has_microtimes or setup.sync_filtered):
        from tagstream.io.propose import propose_setup   # the period the file states (T3, nanotimes, filter)

        period = propose_setup(reader)[0].get("laser_period_ps")
        if period is not None:
            config = dataclasses.replace(config, laser_period_ps=float(period))
    pipe = Pipeline(setup, config)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=reader.n_records, unit="tags", unit_scale=True, desc=Path(path).name, leave=False)
    try:
        for chunk in reader.chunks(chunk_records=chunk_records):
            pipe.feed(chunk)
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
        if warnings is not None:
            warnings.extend(w for w in reader.warnings if w not in warnings)
    setup.check_channels(pipe.present_channels, source=str(path))
    return pipe.finalize()
