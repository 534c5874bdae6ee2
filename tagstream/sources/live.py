"""LiveSession: source → recorder + analysis, on two threads, with a status a GUI timer can read.

    session = LiveSession(source, pipeline=Pipeline(setup, config), record_to="run.qutag")
    session.start()
    ...  # GUI timer: session.status(), session.snapshot()
    session.stop()          # stops the source, finishes the recording and the analysis backlog

Threads (no Qt here; nothing ever waits on the GUI):
- acquisition: source.read() → recorder.write(chunk) (every tag, flushed per chunk) → analysis
  feed. It never blocks on the analysis.
- analysis: feed → pipeline.feed(chunk) (or on_chunk(chunk)).
The analysis feed is a queue bounded in *tags* (max_backlog_tags). While the analysis keeps up it
is near empty; when it falls behind, the lag shows in status() (tags, tag-time seconds, wall
delay). If the backlog would pass the bound, the analysis is stopped loudly
(status().analysis_overrun, an error message) instead of dropping tags silently or stalling the
acquisition: the recording stays complete and can be analysed offline.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from tagstream.chunk import TagChunk
from tagstream.sources.base import Source
from tagstream.sources.recorder import Recorder


@dataclass(frozen=True)
class LiveStatus:
    """A consistent copy of the session's state (cheap: read it on every GUI tick)."""

    state: str                          # "idle" | "running" | "stopping" | "stopped" | "error"
    source: dict                        # source.describe()
    elapsed_s: float                    # wall seconds since start
    tags_acquired: int
    rate_hz: dict                       # channel (1-based) -> tags/s over the last rate_window_s
    data_lost: bool                     # the device reported data loss (latched for the run)
    data_loss_events: int               # all events (device data loss, buffer overflow, time order)
    overflow_count: int                 # driver ring-buffer overflows
    tags_analyzed: int
    analysis_lag_tags: int              # acquired but not yet analysed
    analysis_lag_s: float               # tag time between the last acquired and last analysed tag
    analysis_delay_s: float             # wall age of the oldest chunk waiting for the analysis
    analysis_latency_s: float           # last chunk: acquired → included in the analysis (wall)
    analysis_overrun: bool              # the backlog passed max_backlog_tags: analysis stopped
    analysis_stopped: bool              # overrun or the analysis raised (see errors); recording goes on
    recording_path: str | None
    recording_bytes: int
    recording_tags: int                 # tags handed to the OS (they survive a crash of this process)
    recording_error: str | None
    source_finished: bool               # a finite source (replay, finite simulation) is done
    errors: tuple = field(default_factory=tuple)


DONE = object()


class _Feed:
    """Queue of chunks, bounded in tags; put() never blocks."""

    def __init__(self, max_tags: int) -> None:
        self.max_tags = int(max_tags)
        self._q: collections.deque = collections.deque()
        self._cv = threading.Condition()
        self.tags = 0
        self.closed = False

    def put(self, chunk: TagChunk, t_wall: float) -> bool:
        with self._cv:
            if self.tags + len(chunk) > self.max_tags:
                return False
            self._q.append((chunk, t_wall))
            self.tags += len(chunk)
            self._cv.notify()
            return True

    def get(self, timeout_s: float):
        """(chunk, t_wall); None if nothing came within timeout_s; DONE once closed and empty."""
        with self._cv:
            if not self._q and not self.closed:
                self._cv.wait(timeout_s)
            if not self._q:
                return DONE if self.closed else None
            chunk, t = self._q.popleft()
            self.tags -= len(chunk)
            return chunk, t

    def oldest_wall(self) -> float | None:
        with self._cv:
            return self._q[0][1] if self._q else None

    def close(self) -> None:
        with self._cv:
            self.closed = True
            self._cv.notify_all()

    def clear(self) -> None:
        with self._cv:
            self._q.clear()
            self.tags = 0


class LiveSession:
    """Runs a source with recording and analysis. Thread-safe: status(), snapshot() and stop()
    may be called from any thread (e.g. a GUI timer).

    pipeline: object with feed(chunk) and snapshot() (tagstream.pipeline.Pipeline); on_chunk:
    alternative or additional callback on the analysis thread; record_to: recording path (None:
    no recording); record_format: "qutag-binary" | "sstt-v2"; setup: written to the metadata;
    on_error(message): called at once from the thread that met the error (recording failure,
    source failure, analysis failure, overrun) — keep it short and thread-safe.
    """

    def __init__(self, source: Source, pipeline=None, on_chunk: Callable[[TagChunk], None] | None = None,
                 record_to: str | Path | None = None, record_format: str = "qutag-binary",
                 overwrite: bool = False, setup=None, max_backlog_tags: int = 50_000_000,
                 rate_window_s: float = 1.0, read_timeout_s: float = 0.05,
                 on_error: Callable[[str], None] | None = None) -> None:
        self.source = source
        self.pipeline = pipeline
        self.on_chunk = on_chunk
        self.record_to = None if record_to is None else Path(record_to)
        self.record_format = record_format
        self.overwrite = overwrite
        self.setup = setup
        self.rate_window_s = float(rate_window_s)
        self.read_timeout_s = float(read_timeout_s)
        self.on_error = on_error
        self.recorder: Recorder | None = None
        self._feed = _Feed(max_backlog_tags)
        self._lock = threading.Lock()
        self._stop_evt = threading.Event()
        self._state = "idle"
        self._errors: list[str] = []
        self._t0 = 0.0
        self._acquired = 0
        self._last_acq_ps: int | None = None
        self._analyzed = 0
        self._last_ana_ps: int | None = None
        self._latency_s = 0.0
        self._overrun = False
        self._analysis_stopped = False
        self._busy_wall: float | None = None  # acquisition time of the chunk being analysed
        self._first_acq_ps: int | None = None
        self._rates: collections.deque = collections.deque()  # (t_wall, counts per channel)
        self._n_events_seen = 0
        self._threads: list[threading.Thread] = []

    # -- control --------------------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            if self._state != "idle":
                raise RuntimeError(f"session already {self._state}")
            self._state = "running"
        self._t0 = time.monotonic()
        try:
            self.source.start()
        except Exception as exc:
            self._error(f"source failed to start: {exc}")
            with self._lock:
                self._state = "error"
            raise
        if self.record_to is not None:
            meta = {"source": self.source.describe()}
            if self.setup is not None:
                meta["setup_toml"] = self.setup.to_toml()
            chans = getattr(self.source, "channels", None)
            self.recorder = Recorder(self.record_to, self.record_format, overwrite=self.overwrite, channels=chans,
                                     metadata=meta, on_error=self._error)
        self._threads = [threading.Thread(target=self._acquire, name="tagstream-acquisition", daemon=True),
                         threading.Thread(target=self._analyse, name="tagstream-analysis", daemon=True)]
        for t in self._threads:
            t.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop acquiring, finish the recording, let the analysis finish its backlog; join threads.
        Raises RuntimeError if a thread did not end within timeout_s."""
        with self._lock:
            if self._state == "idle":
                self._state = "stopped"
                return
            if self._state in ("running",):
                self._state = "stopping"
        self._stop_evt.set()
        deadline = time.monotonic() + timeout_s
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            raise RuntimeError(f"live session threads did not end within {timeout_s} s: {alive}")
        with self._lock:
            if self._state == "stopping":
                self._state = "stopped"

    def close(self) -> None:
        """stop() and close the source."""
        try:
            self.stop()
        finally:
            self.source.close()

    def wait_finished(self, timeout_s: float | None = None) -> bool:
        """For finite sources: wait until acquisition and analysis have processed everything."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for t in self._threads:
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    @property
    def threads(self) -> list[threading.Thread]:
        return list(self._threads)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- reading --------------------------------------------------------------------------------
    def snapshot(self):
        """The pipeline's current results (None without a pipeline)."""
        return None if self.pipeline is None else self.pipeline.snapshot()

    def status(self) -> LiveStatus:
        now = time.monotonic()
        counters = self.source.counters()
        oldest = self._busy_wall if self._busy_wall is not None else self._feed.oldest_wall()
        rec = self.recorder
        with self._lock:
            rate = self._rate_locked(now)
            lag_s = 0.0
            if self._last_acq_ps is not None:
                ref = self._last_ana_ps if self._last_ana_ps is not None else self._first_acq_ps
                lag_s = max(0.0, (self._last_acq_ps - ref) * 1e-12)
            return LiveStatus(
                state=self._state, source=self.source.describe(),
                elapsed_s=(now - self._t0) if self._t0 else 0.0,
                tags_acquired=self._acquired, rate_hz=rate,
                data_lost=counters.data_lost, data_loss_events=len(counters.data_loss_events),
                overflow_count=counters.overflow_count,
                tags_analyzed=self._analyzed, analysis_lag_tags=self._acquired - self._analyzed,
                analysis_lag_s=lag_s, analysis_delay_s=0.0 if oldest is None else now - oldest,
                analysis_latency_s=self._latency_s, analysis_overrun=self._overrun,
                analysis_stopped=self._analysis_stopped,
                recording_path=None if rec is None else str(rec.path),
                recording_bytes=0 if rec is None else rec.size_bytes,
                recording_tags=0 if rec is None else rec.n_flushed,
                recording_error=None if rec is None else rec.error,
                source_finished=self.source.finished, errors=tuple(self._errors))

    def _rate_locked(self, now: float) -> dict:
        while self._rates and self._rates[0][0] < now - self.rate_window_s:
            self._rates.popleft()
        if not self._rates:
            return {}
        span = min(self.rate_window_s, max(now - self._t0, 1e-3))
        total = np.zeros(max(len(c) for _, c in self._rates), np.int64)
        for _, c in self._rates:
            total[:len(c)] += c
        return {int(ch): float(total[ch] / span) for ch in np.flatnonzero(total)}

    # -- threads --------------------------------------------------------------------------------
    def _error(self, message: str) -> None:
        with self._lock:
            self._errors.append(message)
        if self.on_error is not None:
            try:
                self.on_error(message)
            except Exception:
                pass

    def _take(self, chunk: TagChunk) -> None:
        """Acquisition thread: record, count, hand to the analysis."""
        now = time.monotonic()
        if self.recorder is not None:
            self.recorder.write(chunk)
        counts = np.bincount(chunk.channels)
        with self._lock:
            if self._acquired == 0:
                self._first_acq_ps = int(chunk.timestamps_ps[0])
            self._acquired += len(chunk)
            self._last_acq_ps = int(chunk.timestamps_ps[-1])
            self._rates.append((now, counts))
        if not self._analysis_stopped and not self._feed.put(chunk, now):
            with self._lock:
                self._overrun = self._analysis_stopped = True
            self._feed.clear()
            self._error(f"analysis fell more than {self._feed.max_tags} tags behind and was stopped at tag "
                        f"{self._analyzed}; the recording goes on and is complete — analyse it offline")
        self._note_events()

    def _note_events(self) -> None:
        events = self.source.events_since(self._n_events_seen)
        self._n_events_seen += len(events)
        if self.recorder is not None:
            for ev in events:
                self.recorder.note_event(ev)

    def _acquire(self) -> None:
        src = self.source
        try:
            while not self._stop_evt.is_set():
                chunk = src.read(self.read_timeout_s)
                if chunk is not None:
                    self._take(chunk)
                elif src.finished:
                    break
                elif self.recorder is not None:
                    self.recorder.flush_if_due()     # idle: nothing written stays unflushed for long
            src.stop()
            last = src.drain()
            if last is not None:
                self._take(last)
        except Exception as exc:
            self._error(f"acquisition stopped: {exc}")
            with self._lock:
                self._state = "error"
        finally:
            self._note_events()
            self._feed.close()
            if self.recorder is not None:
                c = src.counters()
                self.recorder.close(extra={"source_finished": src.finished, "tags_acquired": self._acquired,
                                           "overflow_count": c.overflow_count,
                                           "data_lost": c.data_lost})

    def _analyse(self) -> None:
        while True:
            item = self._feed.get(0.1)
            if item is DONE:
                return
            if item is None:
                continue
            chunk, t_acq = item
            if self._analysis_stopped:
                continue
            self._busy_wall = t_acq
            try:
                if self.pipeline is not None:
                    self.pipeline.feed(chunk)
                if self.on_chunk is not None:
                    self.on_chunk(chunk)
            except Exception as exc:
                with self._lock:
                    self._analysis_stopped = True  # acquisition and recording go on
                self._feed.clear()
                self._busy_wall = None
                self._error(f"analysis stopped: {type(exc).__name__}: {exc}")
                continue
            with self._lock:
                self._analyzed += len(chunk)
                self._last_ana_ps = int(chunk.timestamps_ps[-1])
                self._latency_s = time.monotonic() - t_acq
            self._busy_wall = None
