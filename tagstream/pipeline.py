"""The analysis pipeline: TagChunks in, Results out (live snapshots or the final result).

    from tagstream.pipeline import AnalysisConfig, Pipeline, analyze_file
    pipe = Pipeline(setup, AnalysisConfig(trace_bin_ms=100, on_threshold=400))
    for chunk in reader.chunks():
        pipe.feed(chunk)            # analysis thread
        res = pipe.snapshot()       # any thread (GUI timer): copies, under a lock
    res = pipe.finalize()
    res2 = res.reselect(on_threshold=300, regimes_ns=[(40, 50), (50, 60)])   # no re-reading

Stages (tagstream.stages): microtime (every record, one numba pass) -> PhotonBatch -> the stages of
STAGES: trace (per-bin sufficient statistics + per-photon decay index store), frames, g2 (look-back
tail; waits for the laser period), levels. Each follows tagstream.stages.Stage and owns its buffers.
Results (tagstream.results) are derived from copies of the stages' statistics, so every
quantity is identical whatever the chunking, and selections can change afterwards.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import numpy as np

from tagstream.chunk import PhotonBatch, TagChunk
from tagstream.errors import SetupError, TimeOrderError
from tagstream.config import AnalysisConfig  # noqa: F401 - re-exported (tagstream.pipeline.AnalysisConfig)
from tagstream.regime import parse_regimes
from tagstream.results import RawStats, Results, derive
from tagstream.stages import Stage
from tagstream.stages.correlation import CorrelationStage
from tagstream.stages.frames import FrameStage
from tagstream.stages.g2 import G2WhenPeriodKnown
from tagstream.stages.levels import LevelsStage
from tagstream.stages.microtime import MicrotimeStage
from tagstream.stages.trace import FixedSelection, TraceStage


def _g2_delta_ps(setup) -> int:
    d = {int(k): int(v) for k, v in dict(setup.delays_ps).items()}
    return d.get(setup.spad_b, 0) - d.get(setup.spad_a, 0)


NO_SYNC_G2_WINDOW_PS = 50_000   # g2 of a stream without laser period (CW / HBT): +-50 ns ...
NO_SYNC_G2_BIN_PS = 100         # ... in 100 ps bins


def _g2_stage(setup, c) -> G2WhenPeriodKnown | None:
    """The g2 stage: none with one detector; a fixed +-50 ns window without sync and laser period."""
    if not c.g2 or setup.spad_b is None:
        return None
    window, bin_ps = c.g2_window_ps, c.g2_bin_ps
    if setup.sync is None and c.laser_period_ps is None:   # no period will ever be known
        window, bin_ps = window or NO_SYNC_G2_WINDOW_PS, bin_ps or NO_SYNC_G2_BIN_PS
    return G2WhenPeriodKnown(window, bin_ps, c.laser_period_ps, _g2_delta_ps(setup),
                             c.trace_bin_ps if c.g2_per_state else None)


# The stages after the microtime stage, in feeding order: name -> factory(setup, config) -> Stage or
# None (not needed for this run). A new stage is its module (tagstream.stages) plus one line here.
STAGES = {
    "trace": lambda s, c: TraceStage(c.trace_bin_ps, c.decay_bin_ps, FixedSelection(
        float(c.on_threshold), float(c.t0_ps), tuple(c.regimes_ns)) if c.bounded_memory else None),
    "frames": lambda s, c: FrameStage() if s.frame is not None else None,
    "g2": lambda s, c: _g2_stage(s, c),
    "levels": lambda s, c: LevelsStage(c.levels_confidence) if c.levels_confidence is not None else None,
    "correlation": lambda s, c: CorrelationStage() if c.intensity_correlation and s.spad_b is not None else None,
}


def microtime_stage(setup, c: AnalysisConfig) -> MicrotimeStage:
    return MicrotimeStage(setup, c.laser_period_ps, c.microtime_offset_ps, c.max_extrapolation_periods,
                          c.period_memory_pulses)


class Pipeline:
    """Feed TagChunks in time order; take snapshots from any thread; finalize once at the end."""

    def __init__(self, setup, config: AnalysisConfig | None = None) -> None:
        self.setup = setup
        self.config = config or AnalysisConfig()
        c = self.config
        if c.g2_per_state and not c.g2:
            raise SetupError("g2_per_state needs g2=True")
        if c.g2_per_state and c.g2_window_ps is not None and \
                c.g2_window_ps + abs(_g2_delta_ps(setup)) >= c.trace_bin_ps:
            raise SetupError(f"per-state g2 needs a g2 window ({c.g2_window_ps} ps) shorter than the trace bin")
        self._lock = threading.Lock()
        self._micro = microtime_stage(setup, c)
        self._stages: dict[str, Stage] = {n: st for n, make in STAGES.items() if (st := make(setup, c)) is not None}
        self._n_records = 0
        self._first_time: int | None = None
        self._last_time: int | None = None
        self._selection = c.selection()
        self._final: Results | None = None
        self._replay: dict[str, list] | None = None   # time slice: photons of the stages run after the merge

    # --- feeding -----------------------------------------------------------------------------
    def feed(self, chunk: TagChunk) -> None:
        """Analyse one chunk (time-ordered, continuing the previous one). Not for two threads at once."""
        if self._final is not None:
            raise RuntimeError("Pipeline.feed after finalize()")
        if len(chunk) == 0:
            return
        with self._lock:
            self._feed_batch(self._micro.update(chunk), len(chunk))

    def _feed_batch(self, batch: PhotonBatch, n_records: int) -> None:
        """The stages after the microtime stage (under the lock)."""
        if self._first_time is None:
            self._first_time = batch.first_time_ps
        self._n_records += n_records
        self._last_time = batch.last_time_ps
        for st in self._stages.values():
            st.update(batch)
        if self._replay is not None:
            for parts in self._replay.values():
                parts.append((batch.t_ps, batch.which, batch.micro_ps))

    def feed_ordered(self, windows, n_records: int, valid_channels: np.ndarray, window_ps: int,
                     progress=None) -> tuple | None:
        """One pass per record over a file read in windows of records straight from its bytes
        (TagReader.ordered_windows: (first record, times, channels) views, nothing decoded or
        checked): the microtime kernel itself checks the time order, and the channel counts it keeps
        show any impossible channel. The common case (a time-ordered file) is so touched once per
        record. A window's photons reach the stages only once the next window proves its records
        final: in order and ending more than the reorder window `window_ps` after it (no later record
        can be reordered before them). Where a window is not (disorder, an impossible channel or a
        negative time, a window shorter than the reorder window, a file that shrank), the kernel goes
        back to its state before the unproved window and this returns where the reader's general path
        (chunks(start=...): decode, reorder, errors) resumes: (file record, time of the record before
        it); None: all n_records were fed (the caller ends the file with finish_ordered)."""
        m = self._micro
        v = valid_channels
        saved = [m.save_state(v), m.save_state(v)]   # [before the pending window, before the current one]
        pending = None        # (batch, n, first record, time of the record before it, its last time)
        total = 0

        def back(first_record: int, before: tuple):
            """Undo the unproved windows: where the general path resumes."""
            if pending is None:   # nothing proved yet
                m.restore_state(before, v)
                return first_record, None
            m.restore_state(saved[0], v)
            return pending[2], pending[3]

        def commit() -> None:
            with self._lock:
                self._feed_batch(pending[0], pending[1])
            if progress is not None:
                progress(pending[1])

        for first, ts, ch in windows:
            n = ts.shape[0]
            with self._lock:   # per window: snapshots from another thread get in between
                before = m.save_state(v, saved[1])
                n_valid = int(before[2].sum())
                try:
                    batch = m.update(TagChunk(ts, ch, first))
                    ok = (int(ts[0]) >= 0 and int(m.ch_counts[v].sum()) - n_valid == n
                          and (pending is None or int(ts[-1]) - pending[4] > window_ps))
                except TimeOrderError:
                    ok = False
                if not ok:
                    return back(first, before)
            if pending is not None:
                commit()
            pending = (batch, n, first, pending[4] if pending is not None else None, int(ts[-1]))
            saved.reverse()           # the state before this window is now the one before the pending
            total += n
        if total < n_records:   # the file shrank: the general path reports it
            with self._lock:
                return back(0, saved[1])
        if pending is not None:
            commit()
        return None

    # --- one time slice of a longer recording (tagstream.slices) -----------------------------------
    def start_slice(self, origin_ps: int | None = None, count_from_ps: int | None = None,
                    micro_state=None, replay=()) -> None:
        """Analyse one time slice: bins from the recording's first record at origin_ps, counting from
        count_from_ps, the microtime kernel continuing from micro_state (MicrotimeStage.slice_state);
        all None for the first slice. Stages without start_slice, or named in `replay`, keep their
        photons for slice_part() (the master runs them over all slices)."""
        self._replay = {}
        for name, st in list(self._stages.items()):
            if not hasattr(st, "start_slice") or name in replay:
                self._replay[name] = []
                del self._stages[name]
            elif origin_ps is not None:
                st.start_slice(origin_ps, count_from_ps)
        if micro_state is not None:
            self._micro.start_slice(micro_state)

    def lookback_ps(self, period_ps: float | None = None) -> int:
        """How far before the slice's start the stages need partner photons (feed_history), with the
        first period `period_ps` (default: the microtime stage's)."""
        period = period_ps or self._micro.first_period_ps
        return max([int(st.lookback_ps(period)) for st in self._stages.values() if hasattr(st, "lookback_ps")],
                   default=0)

    def feed_history(self, t_ps: np.ndarray, which: np.ndarray) -> None:
        """Photons before the slice's start (time-ordered): partners for the stages that look back."""
        if t_ps.shape[0] == 0:
            return
        batch = PhotonBatch(t_ps, which, np.full(t_ps.shape[0], -1, np.int64), np.zeros(0, np.int64), int(t_ps[-1]),
                            None, self._micro.first_period_ps, self._micro.first_period_time_ps)
        for st in self._stages.values():
            if hasattr(st, "lookback_ps"):
                st.update(batch)

    def lookahead_ps(self) -> int:
        """How far after the slice's end the stages need target photons (feed_ahead); 0: none."""
        return max([int(st.lookahead_ps()) for st in self._stages.values() if hasattr(st, "lookahead_ps")],
                   default=0)

    def feed_ahead(self, t_a_ps: np.ndarray, t_b_ps: np.ndarray, from_ps: int) -> None:
        """The photons of A and B (each sorted) from the slice's end from_ps to lookahead_ps() after it,
        after the slice's last chunk: partners for the stages that look ahead (they count nothing else)."""
        for st in self._stages.values():
            if hasattr(st, "lookahead_ps"):
                st.add_targets(t_a_ps, t_b_ps, from_ps)

    @property
    def microtime(self) -> MicrotimeStage:
        return self._micro

    def slice_part(self, t_stop_ps: int | None = None):
        """What this slice (ending at t_stop_ps; None: the recording's end) contributes to the merge
        (tagstream.slices.SlicePart)."""
        from tagstream.slices import SlicePart

        m = self._micro
        if t_stop_ps is not None:
            for st in self._stages.values():
                if hasattr(st, "end_slice"):
                    st.end_slice(t_stop_ps, m.period_ps)
        replay = {n: tuple(np.concatenate([p[i] for p in parts]) if parts else np.zeros(0, dt)
                           for i, dt in enumerate((np.int64, np.uint8, np.int64)))
                  for n, parts in (self._replay or {}).items()}
        return SlicePart(self._n_records, m.ch_counts.copy(), m.unreferenced, self._first_time, self._last_time,
                         m.period_ps, {n: st.stats() for n, st in self._stages.items()}, replay,
                         end_state=m.slice_state())

    # --- results -----------------------------------------------------------------------------
    def _raw(self, final: bool) -> RawStats:
        si_counts = self._micro.ch_counts
        nz = np.flatnonzero(si_counts)
        if final:
            for st in self._stages.values():
                st.finalize()
        return RawStats(
            final=final, config=self.config, setup=self.setup, first_time_ps=self._first_time,
            last_time_ps=self._last_time, n_records=self._n_records, period_ps=self._micro.period_ps,
            ch_counts={int(c): int(si_counts[c]) for c in nz}, unreferenced=self._micro.unreferenced,
            stages={n: st.stats() for n, st in self._stages.items()})

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


def file_config(reader, setup, config: AnalysisConfig) -> AnalysisConfig:
    """`config`, with the period the file states when none is given and the file records microtimes
    (T3, nanotimes) or the setup is sync-filtered."""
    if config.laser_period_ps is None and (reader.has_microtimes or setup.sync_filtered):
        from tagstream.io.propose import propose_setup   # the period the file states (T3, nanotimes, filter)

        period = propose_setup(reader)[0].get("laser_period_ps")
        if period is not None:
            config = dataclasses.replace(config, laser_period_ps=float(period))
    return config


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
    config = file_config(reader, setup, config or AnalysisConfig())
    pipe = Pipeline(setup, config)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=reader.n_records, unit="tags", unit_scale=True, desc=Path(path).name, leave=False)
    try:
        start = None
        if getattr(reader, "ordered_windows", None) is not None:   # one pass per record (Pipeline.feed_ordered)
            start = pipe.feed_ordered(reader.ordered_windows(chunk_records), reader.n_records, reader.valid_channels,
                                      reader.reorder_window_ps, None if bar is None else bar.update)
            if start is None:
                reader.finish_ordered()
        if start is not None or getattr(reader, "ordered_windows", None) is None:
            resume = {} if start is None else {"start": start}
            for chunk in reader.chunks(chunk_records=chunk_records, **resume):
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
