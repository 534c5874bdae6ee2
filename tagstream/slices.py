"""One long recording over many cores: time slices analysed in parallel and merged exactly.

    res = analyze_file_sliced(path, setup, config, workers=2)              # local process pool
    res = analyze_file_sliced(path, setup, config, scheduler="tcp://host:8786")   # Dask cluster

The result equals tagstream.pipeline.analyze_file's bit for bit (tests/test_slices.py: random slice
boundaries, every stage on). How:

* Slices are time ranges [T_k, T_k+1), T_k the time of the record at k/N of the file: a file whose
  records have a fixed size and no decoding state (quTAG BINARY / RAW: ``reader.slice_records``) can
  be read from any record. Other formats are analysed on one core (a warning says so). A worker reads
  the records around its range (back to a record more than the reorder window before its look-back,
  forward to one a window after its end: the reorder guarantee, no record more than the window below
  an earlier one, puts every record of the range inside), restores time order with the same
  Reorderer and keeps the records of its range.
* Microtime: the laser-period estimate is local in time (tagstream.kernels.microtime: integer sums
  over two buckets of `period_memory_pulses` pulses on the absolute clock): a slice starts from a fresh
  state three buckets before its last sync (the recording's bucket width and first period from the master's
  look at its first syncs) and runs the kernel over those syncs only, which reaches the state the one-core
  pass has there. The merge checks it: each slice's bootstrapped start state must equal the previous
  slice's end state; where it does not (a trust decision differed during the bootstrap: not seen on
  our data) that slice is analysed again from the exact state (a warning counts them). Boundaries before
  the period is known are dropped (the g2 window waits for it).
* Stages with start_slice (trace, frames, g2; tagstream.stages): bins are absolute from the
  recording's first record, photons before a slice's start only serve as g2 partners (look-back),
  and the statistics of consecutive slices merge by type (TraceStats.merge, G2Stats.merge,
  FrameStats.merge). Stages without it (levels: change points over all photons) run once in the master
  over the photons of all slices, in order.
* Correlation (lags up to 10 s): each slice counts the pairs of its own start photons, its worker reading
  the photons of the 10 s after the slice's end as targets (Pipeline.feed_ahead); the counts add
  (CorrelationStats.merge). The normalisation's head and end counts come from the first and last slice,
  so that needs the first slice to hold every photon within 10 s of the first one and the last slice every
  one within 10 s of the last; otherwise the correlation runs in the master too.
* Counts (records, channels, unreferenced photons) add; the final period is the last slice's.
* Bounded-memory trace (AnalysisConfig.bounded_memory): slices end on trace-bin edges, so each slice
  folds whole bins only.
"""

from __future__ import annotations

import dataclasses
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from tagstream.chunk import PhotonBatch, TagChunk
from tagstream.io.reorder import Reorderer
from tagstream.kernels import microtime as K

MIN_SLICE_RECORDS = 1 << 20   # smaller slices are not worth a worker
SEARCH_RECORDS = 1 << 16      # first step of the search for a slice's first / last file record


@dataclass(frozen=True)
class SlicePart:
    """What one slice contributes: its records and channel counts, unreferenced photons by reason, first
    and last record time, the period estimate at its end, the statistics of the stages with
    start_slice, and for the others (replay) the photons (t_ps, which, micro_ps) they run on."""

    n_records: int
    ch_counts: np.ndarray
    unreferenced: dict
    first_time_ps: int | None
    last_time_ps: int | None
    period_ps: float | None
    stats: dict
    replay: dict
    end_state: tuple | None = None     # the microtime kernel's state at the slice's end
    start_state: tuple | None = None   # bootstrapped: its state at the slice's start (checked at the merge)
    cpu_s: float = 0.0                 # CPU time the worker spent on it


@dataclass(frozen=True)
class SliceJob:
    """One slice to analyse: records with time in [t_start_ps, t_stop_ps) (None: from the start / to
    the end), near file records rec_start / rec_stop; origin_ps: the recording's first record time;
    micro_state: the microtime kernel's state at t_start_ps, exact (None for the first slice, or to
    bootstrap it from the syncs of the two period buckets before t_start_ps: first_period =
    (bucket_ps, first period, the time it became known))."""

    path: str
    setup: Any
    config: Any
    t_start_ps: int | None
    t_stop_ps: int | None
    rec_start: int
    rec_stop: int
    origin_ps: int
    micro_state: tuple | None
    chunk_records: int = 1 << 20
    skip_missing_channels: bool = False
    first_period: tuple | None = None
    replay: tuple = ()                 # stages the master runs over all slices (Pipeline.start_slice)


def _open(path, skip_missing_channels=False):
    from tagstream.io import open_tags

    return open_tags(path, skip_missing_channels=skip_missing_channels)


def _start_record(reader, k: int, t_lim: int) -> int:
    """A file record index a <= k such that every record before a is earlier than t_lim + window: record a
    is earlier than t_lim (then, by the reorder guarantee, all before it are earlier than t_lim + window)."""
    step, end = SEARCH_RECORDS, k
    while end > 0:
        a = max(0, end - step)
        t, _ = reader.read_records(a, end - a)
        below = np.flatnonzero(t < t_lim)
        if below.size:
            return a + int(below[-1])
        end, step = a, 2 * step
    return 0


def _stop_record(reader, k: int, t_lim: int) -> int:
    """A file record index b >= k such that every record from b on is at least t_lim - window: record
    b - 1 is at t_lim or later."""
    step, a = SEARCH_RECORDS, k
    while a < reader.n_records:
        b = min(reader.n_records, a + step)
        t, _ = reader.read_records(a, b - a)
        above = np.flatnonzero(t >= t_lim)
        if above.size:
            return a + int(above[0]) + 1
        a, step = b, 2 * step
    return reader.n_records


def _last_sync_before(reader, k: int, t: int, sync: int) -> int | None:
    """The latest sync time before t among the file records before k (and a few after): the state at t
    is the state after that sync (the bootstrap reaches back three period buckets from its bucket)."""
    step, end = SEARCH_RECORDS, min(reader.n_records, k + 4096)
    while end > 0:
        a = max(0, end - step)
        ts, cs = reader.read_records(a, end - a)
        m = (cs == sync) & (ts < t)
        if m.any():
            return int(ts[m].max())
        end, step = a, 2 * step
    return None


class _NotOrdered(Exception):
    """The one-pass slice found records out of time order: the slice is analysed again by the general path."""


def _first_at(reader, t_ps: int) -> int:
    """The first file record at or after t_ps, by bisection as if the file were time-ordered (checked after)."""
    lo, hi = 0, reader.n_records
    while lo < hi:
        mid = (lo + hi) >> 1
        if int(reader.read_records(mid, 1)[0][0]) < t_ps:
            lo = mid + 1
        else:
            hi = mid
    return lo


def analyze_slice(job: SliceJob) -> SlicePart:
    """Analyse one slice (runs in a worker process or a Dask worker): a time-ordered range of a file
    that can be read in record views (ordered_windows) in one pass per record, else (or where it
    turns out not ordered) by decoding and reordering every record."""
    import time

    cpu0 = time.process_time()
    reader = _open(job.path, job.skip_missing_channels)
    try:
        if getattr(reader, "ordered_windows", None) is not None:
            try:
                return _analyze_slice(job, reader, cpu0, ordered=True)
            except _NotOrdered:
                pass
        return _analyze_slice(job, reader, cpu0, ordered=False)
    finally:
        reader.close()


def _analyze_slice(job: SliceJob, reader, cpu0: float, ordered: bool) -> SlicePart:
    """analyze_slice; ordered: the records of the slice's range [k0, k1) in one pass (Pipeline.feed_ordered),
    those before and after it (look-back, look-ahead) through route(), each checked to continue in time
    order (else _NotOrdered)."""
    import dataclasses
    import time

    from tagstream.io.base import fixed_locator
    from tagstream.pipeline import Pipeline

    s = job.setup
    pipe = Pipeline(s, job.config)
    first = job.t_start_ps is None
    boot = not first and job.micro_state is None and s.sync is not None
    pipe.start_slice(None if first else job.origin_ps, job.t_start_ps, job.micro_state, job.replay)
    micro = pipe.microtime
    window = reader.reorder_window_ps
    lo = boot_from = None
    if not first:
        lo = job.t_start_ps - pipe.lookback_ps(job.first_period[1] if job.first_period else None)
    if boot:   # the period estimate is local: a fresh state three buckets before the start reaches its state there
        B = int(job.first_period[0])
        micro.start_bootstrap(job.first_period)
        last = _last_sync_before(reader, job.rec_start, job.t_start_ps, s.sync)
        boot_from = ((job.t_start_ps if last is None else last) // B - 3) * B
        lo = min(lo, boot_from)
    a = 0 if first else _start_record(reader, job.rec_start, lo - window)
    b_ch = -1 if s.spad_b is None else s.spad_b
    reorder = Reorderer(window)
    emitted = [0]
    start_state = [None]
    ahead = pipe.lookahead_ps() if job.t_stop_ps is not None else 0
    ahead_ph: list = []   # (times, is B) of the photons in [t_stop, t_stop + ahead): targets for the stages

    def keep_ahead(t: np.ndarray, c: np.ndarray) -> None:
        m = ((c == s.spad_a) | (c == b_ch)) & (t >= job.t_stop_ps) & (t < job.t_stop_ps + ahead)
        if m.any():
            ahead_ph.append((t[m].copy(), c[m] == b_ch))

    def start_main() -> None:   # the slice's own records begin: the bootstrapped state is its start state
        if boot and start_state[0] is None:
            start_state[0] = micro.slice_state()
            micro.start_slice(start_state[0])

    def route(t: np.ndarray, c: np.ndarray) -> None:
        i0 = 0 if first else int(np.searchsorted(t, job.t_start_ps, side="left"))
        i1 = t.shape[0] if job.t_stop_ps is None else int(np.searchsorted(t, job.t_stop_ps, side="left"))
        if i0 > 0:   # look-back: syncs that bootstrap the period estimate, photons that only serve as partners
            if boot:
                k0 = int(np.searchsorted(t, boot_from, side="left"))
                micro.advance_syncs(t[k0:i0][c[k0:i0] == s.sync])
            j0 = int(np.searchsorted(t, lo, side="left"))
            ph = (c[j0:i0] == s.spad_a) | (c[j0:i0] == b_ch)
            pipe.feed_history(t[j0:i0][ph], (c[j0:i0][ph] == b_ch).astype(np.uint8))
        if i1 > i0:
            start_main()
            pipe.feed(TagChunk(t[i0:i1], c[i0:i1], emitted[0]))
            emitted[0] += i1 - i0
        if ahead and i1 < t.shape[0]:
            keep_ahead(t[i1:], c[i1:])

    if ordered:
        _ordered_ranges(job, reader, pipe, route, a, ahead, window, start_main,
                        lambda t, isb: ahead_ph.append((t.copy(), isb.copy())))
    else:
        b = reader.n_records if job.t_stop_ps is None else _stop_record(reader, job.rec_stop, job.t_stop_ps + window)
        for x in range(a, b, job.chunk_records):
            t, c = reader.read_records(x, min(job.chunk_records, b - x))
            route(*reorder.push(t, c, fixed_locator(reader.path, reader.data_offset, reader.record_bytes, x)))
        route(*reorder.finish())
        if ahead:   # the records after the slice, up to one a window past t_stop + ahead (the reorder guarantee)
            x = b
            while x < reader.n_records:
                t, c = reader.read_records(x, min(job.chunk_records, reader.n_records - x))
                keep_ahead(t, c)
                x += t.shape[0]
                if t.shape[0] == 0 or int(t.max()) >= job.t_stop_ps + ahead + window:
                    break
    if ahead:
        tt = np.concatenate([p[0] for p in ahead_ph]) if ahead_ph else np.zeros(0, np.int64)
        isb = np.concatenate([p[1] for p in ahead_ph]) if ahead_ph else np.zeros(0, bool)
        pipe.feed_ahead(np.sort(tt[~isb]), np.sort(tt[isb]), job.t_stop_ps)
    if boot and start_state[0] is None:   # a slice without records
        start_state[0] = micro.slice_state()
        micro.start_slice(start_state[0])
    return dataclasses.replace(pipe.slice_part(job.t_stop_ps), start_state=start_state[0],
                               cpu_s=time.process_time() - cpu0)


def _ordered_ranges(job: SliceJob, reader, pipe, route, a: int, ahead: int, window: int, start_main,
                    add_ahead) -> None:
    """The records of a slice as one time-ordered run: [a, k0) (before t_start) through route(), [k0, k1) in one
    pass, from k1 (t_stop on, up to a record a window past t_stop + ahead) scanned for the photons before
    t_stop + ahead (add_ahead(times, is B)); raises _NotOrdered unless each
    part is in order and continues the one before (then every record of the range is in [k0, k1), as the
    reorder guarantee puts every later record at least a window below one already seen)."""
    k0 = 0 if job.t_start_ps is None else _first_at(reader, job.t_start_ps)
    k1 = reader.n_records if job.t_stop_ps is None else _first_at(reader, job.t_stop_ps)
    prev = [None]

    def checked(x: int, n: int):
        t, c = reader.read_records(x, n)
        if t.shape[0] and ((prev[0] is not None and int(t[0]) < prev[0]) or bool(np.any(t[1:] < t[:-1]))):
            raise _NotOrdered
        if t.shape[0]:
            prev[0] = int(t[-1])
        return t, c

    for x in range(min(a, k0), k0, job.chunk_records):
        route(*checked(x, min(job.chunk_records, k0 - x)))
    if k1 > k0:
        first_t = int(reader.read_records(k0, 1)[0][0])
        if prev[0] is not None and first_t < prev[0]:
            raise _NotOrdered
        start_main()
        if pipe.feed_ordered(reader.ordered_windows(job.chunk_records, k0, k1), k1 - k0, reader.valid_channels,
                             reader.reorder_window_ps) is not None:
            raise _NotOrdered
        prev[0] = int(reader.read_records(k1 - 1, 1)[0][0])
    if job.t_stop_ps is not None and k1 < reader.n_records:   # after the slice: order, and its look-ahead photons
        s = job.setup
        last = prev[0] if prev[0] is not None else int(reader.read_records(k1, 1)[0][0])
        wins = reader.ordered_windows(job.chunk_records if ahead else SEARCH_RECORDS, k1)
        try:
            for _, ts, ch in wins:
                out_t, out_b = np.empty(ts.shape[0], np.int64), np.empty(ts.shape[0], np.bool_)
                m, ordered, last = photons_between(ts, ch, s.spad_a, -1 if s.spad_b is None else s.spad_b,
                                                   job.t_stop_ps, job.t_stop_ps + ahead, last, out_t, out_b)
                if not ordered:
                    raise _NotOrdered
                if m:
                    add_ahead(out_t[:m], out_b[:m])
                if last >= job.t_stop_ps + ahead + window:
                    break
        finally:
            wins.close()


@njit(nogil=True, cache=True)
def photons_between(ts, ch, a_ch, b_ch, t_lo, t_hi, prev, out_t, out_b):
    """The photons (A, B) with time in [t_lo, t_hi) of records in file order -> out_t, out_b (is B); returns
    (how many, whether the records are in time order from prev on, the last record's time)."""
    m = 0
    ordered = True
    for i in range(ts.shape[0]):
        t = ts[i]
        c = ch[i]
        ordered &= t >= prev
        prev = t
        if (c == a_ch or c == b_ch) and t >= t_lo and t < t_hi:
            out_t[m] = t
            out_b[m] = c == b_ch
            m += 1
    return m, ordered, prev


def same_state(a: tuple, b: tuple) -> bool:
    """Two microtime kernel states (slice_state) lead to the same results (the start period P0 aside)."""
    keep = np.ones(K.SF_SIZE, bool)
    keep[[K.SF_P0, K.SF_EST_START]] = False
    return bool(np.array_equal(a[0], b[0]) and np.array_equal(a[1][keep], b[1][keep], equal_nan=True))


def merge_parts(parts: list[SlicePart], setup, config):
    """RawStats of the whole recording from its slices' parts (in time order); final."""
    from tagstream.pipeline import STAGES
    from tagstream.results import RawStats
    from tagstream.stages import merge_stats

    stages = {}
    for name, make in STAGES.items():
        if any(name in p.stats for p in parts):
            stages[name] = merge_stats([p.stats.get(name) for p in parts])
        elif any(name in p.replay for p in parts):
            st = make(setup, config)
            for p in parts:
                t, w, m = p.replay[name]
                for i in range(0, t.shape[0], 1 << 20):
                    j = min(t.shape[0], i + (1 << 20))
                    st.update(PhotonBatch(t[i:j], w[i:j], m[i:j], np.zeros(0, np.int64), int(t[j - 1]), int(t[i])))
            st.finalize()
            stages[name] = st.stats()
    ch = np.sum([p.ch_counts for p in parts], axis=0)
    nz = np.flatnonzero(ch)
    unref = {k: sum(p.unreferenced[k] for p in parts) for k in parts[0].unreferenced}
    with_records = [p for p in parts if p.n_records]
    return RawStats(final=True, config=config, setup=setup,
                    first_time_ps=with_records[0].first_time_ps if with_records else None,
                    last_time_ps=with_records[-1].last_time_ps if with_records else None,
                    n_records=sum(p.n_records for p in parts),
                    period_ps=(with_records[-1] if with_records else parts[-1]).period_ps,
                    ch_counts={int(c): int(ch[c]) for c in nz}, unreferenced=unref, stages=stages)


def _origin(reader) -> int:
    """The recording's first record time (the smallest; within the reorder window of the first ones)."""
    n = min(reader.n_records, SEARCH_RECORDS)
    while True:
        t, _ = reader.read_records(0, n)
        if n >= reader.n_records or int(t.min()) <= int(t.max()) - reader.reorder_window_ps:
            return int(t.min())
        n *= 4


def plan_boundaries(reader, n_slices: int, min_slice_records: int = MIN_SLICE_RECORDS,
                    at_records=None, extra_records: int = 0) -> list[tuple[int, int]]:
    """(file record, its time) of the slice starts after the first: at k/n_slices of the file (or at the
    file records at_records), strictly increasing in time, at least min_slice_records apart. Slices
    after the first also read extra_records before their start (their bootstrap): they get as many
    fewer records, so that every slice has the same work."""
    n = reader.n_records
    k_max = max(1, min(int(n_slices), n // max(1, int(min_slice_records))))
    extra = min(int(extra_records), n // (2 * k_max))
    each = (n + (k_max - 1) * extra) / k_max
    ks = [int(each + (i - 1) * (each - extra)) for i in range(1, k_max)] if at_records is None else sorted(
        {int(k) for k in at_records if 0 < int(k) < n})
    out: list[tuple[int, int]] = []
    for k in ks:
        t = int(reader.read_records(k, 1)[0][0])
        if not out or t > out[-1][1]:
            out.append((k, t))
    return out


def first_period(reader, micro) -> tuple | None:
    """MicrotimeStage.estimate_origin() of the recording (bucket width, first period, the time it became
    known, first sync time), from its first syncs (the stage is advanced over them); None if the period
    never becomes known or there is no sync."""
    if micro.setup.sync is None:
        return None
    for st, _ in reader.channel_times(micro.setup.sync, block_records=1 << 16):
        for i in range(0, st.shape[0], 1 << 12):
            micro.advance_syncs(np.sort(st[i:i + (1 << 12)]))
            if micro.si[K.SI_PERIOD_KNOWN] and micro.si[K.SI_HAS_SYNC]:
                return micro.estimate_origin()
    return None


def _photon_near(reader, setup, from_end: bool, limit_records: int = 1 << 22) -> int | None:
    """A photon's time among the first (from_end: last) records of the file, None if none within limit_records:
    an upper bound of the first photon's time (a lower bound of the last one's)."""
    b_ch = -1 if setup.spad_b is None else setup.spad_b
    step = SEARCH_RECORDS
    for k in range(0, min(limit_records, reader.n_records), step):
        a = max(0, reader.n_records - k - step) if from_end else k
        t, c = reader.read_records(a, min(step, reader.n_records - a))
        ph = (c == setup.spad_a) | (c == b_ch)
        if ph.any():
            return int(t[ph][-1] if from_end else t[ph][0])
    return None


def _replayed(reader, setup, config, bounds) -> tuple:
    """The stages the master runs over all slices' photons: levels (no start_slice) aside, the correlation
    unless the first slice holds every photon within its largest lag of the first photon and the last slice
    every one within it of the last (then each slice counts its own starts, CorrelationStats.merge)."""
    from tagstream.pipeline import STAGES

    corr = STAGES["correlation"](setup, config)
    if corr is None:
        return ()
    lag = corr.lag_max_ps
    first, last = _photon_near(reader, setup, False), _photon_near(reader, setup, True)
    if first is None or last is None or bounds[0][1] < first + lag or bounds[-1][1] > last - lag:
        return ("correlation",)
    return ()


def analyze_file_sliced(path, setup, config=None, workers: int = 2, scheduler=None, chunk_records: int = 1 << 20,
                        skip_missing_channels: bool = False, warnings: list | None = None,
                        n_slices: int | None = None, min_slice_records: int = MIN_SLICE_RECORDS,
                        at_records=None, submit=None):
    """tagstream.pipeline.analyze_file over `workers` local processes (or a Dask cluster at `scheduler`):
    the same Results. Falls back to one core (a warning in `warnings`) for formats that cannot be split.
    n_slices: how many slices (default: one per worker; at least min_slice_records records each);
    at_records: slice starts at these file records instead (tests); submit: an executor's
    submit(fn, arg) -> future to use (e.g. a pool kept warm), instead of a new one."""
    from tagstream.export.executors import slice_executor
    from tagstream.pipeline import AnalysisConfig, analyze_file, file_config, microtime_stage
    from tagstream.results import derive

    reader = _open(path, skip_missing_channels)
    config = file_config(reader, setup, config or AnalysisConfig())
    if warnings is not None:
        warnings.extend(w for w in reader.warnings if w not in warnings)
    one_core = dict(chunk_records=chunk_records, skip_missing_channels=skip_missing_channels, warnings=warnings)
    if not getattr(reader, "slice_records", False) or getattr(reader, "_end_error", None) is not None:
        if warnings is not None:
            warnings.append(f"{reader.format} recordings cannot be split into time slices: analysed on one core")
        return analyze_file(path, setup, config, **one_core)
    if not reader.n_records:
        return analyze_file(path, setup, config, **one_core)
    origin = _origin(reader)
    micro = microtime_stage(setup, config)
    fp = first_period(reader, micro)
    extra = 0
    if fp is not None:   # the records of the three period buckets a slice bootstraps from
        span = int(reader.read_records(reader.n_records - 1, 1)[0][0]) - origin
        extra = int(reader.n_records * min(1.0, 3 * fp[0] / max(span, 1)))
    bounds = plan_boundaries(reader, n_slices or max(1, int(workers)), min_slice_records, at_records, extra)
    if not bounds:
        return analyze_file(path, setup, config, **one_core)
    if config.bounded_memory:   # bounded trace: slices end on trace-bin edges (no bin is split)
        b = config.trace_bin_ps
        bounds = [(k, origin + -(-(t - origin) // b) * b) for k, t in bounds]
        bounds = [x for i, x in enumerate(bounds) if i == 0 or x[1] > bounds[i - 1][1]]
    base = dict(path=str(path), setup=setup, config=config, origin_ps=origin, chunk_records=chunk_records,
                skip_missing_channels=skip_missing_channels)
    t_known = float("-inf") if setup.sync is None else float("inf") if fp is None else fp[2]
    bounds = [(k, t) for k, t in bounds if t > t_known]   # the g2 window waits for the period: no slice before it
    if not bounds:
        return analyze_file(path, setup, config, **one_core)
    replay = _replayed(reader, setup, config, bounds)
    fresh = microtime_stage(setup, config).slice_state() if setup.sync is None else None   # no sync: never changes
    starts, stops = [(0, None)] + bounds, bounds + [(reader.n_records, None)]
    jobs = [SliceJob(rec_start=ka, t_start_ps=ta, rec_stop=kb, t_stop_ps=tb, first_period=fp,
                     micro_state=None if ta is None else fresh, replay=replay, **base) for (ka, ta), (kb, tb) in zip(starts, stops)]
    reader.close()
    with slice_executor(workers, scheduler) if submit is None else nullcontext(submit) as run:
        parts = [f.result() for f in [run(analyze_slice, j) for j in jobs]]
    reruns = 0
    for k in range(1, len(parts)):   # a bootstrapped start state must be the previous slice's end state
        if parts[k].start_state is not None and not same_state(parts[k - 1].end_state, parts[k].start_state):
            parts[k] = analyze_slice(dataclasses.replace(jobs[k], micro_state=parts[k - 1].end_state))
            reruns += 1
    if warnings is not None and reruns:
        warnings.append(f"time slices: {reruns} of {len(parts)} re-analysed from the exact period state "
                        f"(the bootstrapped estimate differed)")
    raw = merge_parts(parts, setup, config)
    setup.check_channels(sorted(raw.ch_counts), source=str(path))
    return derive(raw, config.selection())
