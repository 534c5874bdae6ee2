"""Source: the small interface every live or replayed tag stream offers (after PHAST's device
interface: connect, receive data, data lost?, time unit, sync divider, disconnect).

    with SomeSource(...) as src:          # __exit__ closes (disconnects)
        src.start()
        while not src.finished:
            chunk = src.read(timeout_s=0.1)   # TagChunk or None (nothing new within the timeout)
    src.counters()                         # SourceCounters: tags, overflows, data-loss events

Chunks carry 1-based file channels (markers 100+), timestamps in ps, non-decreasing within and
across chunks, and consecutive `first_record` numbers. read() is called from one thread (the
acquisition thread); counters() may be called from any thread.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from tagstream.chunk import TagChunk


@dataclass(frozen=True)
class DataLossEvent:
    """Tags were (or may have been) lost, or altered, at the source.

    kind: "device-data-lost" (the device latched its data-loss flag: USB or PC too slow),
          "buffer-overflow" (the driver's timestamp ring buffer filled between two reads: the
          oldest tags may have been overwritten), "time-order" (tags arrived later than the
          reorder window; their timestamps were raised to keep the stream ordered).
    elapsed_s: seconds since start() (wall clock); unix_time_s: wall clock time.
    after_record: number of tags delivered before the event; after_tag_ps: last timestamp then.
    n_tags: tags concerned when known (None: unknown, e.g. device data loss).
    """

    kind: str
    elapsed_s: float
    unix_time_s: float
    after_record: int
    after_tag_ps: int | None
    n_tags: int | None = None

    def to_json_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class SourceCounters:
    """What a source has delivered and lost so far (a copy, safe to keep)."""

    n_tags: int
    last_tag_ps: int | None
    overflow_count: int
    data_lost: bool
    data_loss_events: tuple[DataLossEvent, ...] = field(default_factory=tuple)


class Source(ABC):
    """Base of all sources. Subclasses implement _start(), _read(timeout_s) and may override
    _stop() and _close(); they hand tags to _emit(), which numbers records and keeps counters."""

    #: short name for status lines and recording metadata ("qutag", "simulated", "replay")
    kind: str = "source"

    def __init__(self, time_unit_ps: float = 1.0, sync_divider: int = 1) -> None:
        self.time_unit_ps = float(time_unit_ps)
        self.sync_divider = int(sync_divider)
        self._lock = threading.Lock()
        self._n_tags = 0
        self._last_tag_ps: int | None = None
        self._overflows = 0
        self._events: list[DataLossEvent] = []
        self._started = False
        self._closed = False
        self._t0 = time.monotonic()
        self.finished = False  # True when a finite source has delivered everything

    # -- the interface --------------------------------------------------------------------------
    def start(self) -> None:
        """Connect (if needed) and begin acquiring."""
        if self._closed:
            raise RuntimeError(f"{self.kind} source is closed")
        if not self._started:
            self._t0 = time.monotonic()
            self._start()
            self._started = True

    def read(self, timeout_s: float = 0.1) -> TagChunk | None:
        """The next tags, or None if none arrived within timeout_s (or the source is finished)."""
        if not self._started:
            self.start()
        if self.finished:
            return None
        return self._read(float(timeout_s))

    def stop(self) -> None:
        """Stop acquiring (the device stays connected until close())."""
        if self._started:
            self._stop()
            self._started = False

    def drain(self) -> TagChunk | None:
        """After stop(): the tags still held (driver buffer, reorder window), or None."""
        return None

    def close(self) -> None:
        """Stop and disconnect; safe to call twice."""
        if not self._closed:
            try:
                self.stop()
            finally:
                self._closed = True
                self._close()

    def describe(self) -> dict:
        """JSON-serialisable description for status lines and recording metadata."""
        return {"kind": self.kind, "time_unit_ps": self.time_unit_ps, "sync_divider": self.sync_divider}

    def counters(self) -> SourceCounters:
        with self._lock:
            return SourceCounters(self._n_tags, self._last_tag_ps, self._overflows,
                                  bool(self._events and any(e.kind == "device-data-lost" for e in self._events)),
                                  tuple(self._events))

    def events_since(self, index: int) -> list[DataLossEvent]:
        """Data-loss events number `index` on (cheap way to follow new events)."""
        with self._lock:
            return self._events[index:]

    @property
    def data_lost(self) -> bool:
        """True once the device reported lost data (latched for the whole run)."""
        return self.counters().data_lost

    @property
    def overflow_count(self) -> int:
        return self.counters().overflow_count

    def __iter__(self) -> Iterator[TagChunk]:
        """All chunks until the source is finished (live sources never finish: stop from elsewhere)."""
        self.start()
        while not self.finished:
            chunk = self.read(0.1)
            if chunk is not None:
                yield chunk

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- for subclasses -------------------------------------------------------------------------
    @abstractmethod
    def _start(self) -> None: ...

    @abstractmethod
    def _read(self, timeout_s: float) -> TagChunk | None: ...

    def _stop(self) -> None:
        pass

    def _close(self) -> None:
        pass

    def _emit(self, timestamps_ps: np.ndarray, channels: np.ndarray, microtimes_ps=None) -> TagChunk | None:
        """Wrap ordered tags as the next chunk (None if empty) and update the counters. microtimes_ps:
        the recorded microtimes of a replayed T3 / nanotime file (kept), else None."""
        if len(timestamps_ps) == 0:
            return None
        chunk = TagChunk.from_arrays(timestamps_ps, channels, first_record=self._n_tags, microtimes_ps=microtimes_ps)
        with self._lock:
            self._n_tags += len(chunk)
            self._last_tag_ps = int(chunk.timestamps_ps[-1])
        return chunk

    def _event(self, kind: str, n_tags: int | None = None) -> DataLossEvent:
        now = time.monotonic()
        with self._lock:
            if kind == "buffer-overflow":
                self._overflows += 1
            ev = DataLossEvent(kind, now - self._t0, time.time(), self._n_tags, self._last_tag_ps, n_tags)
            self._events.append(ev)
        return ev


class ClampingReorderer:
    """Restores time order of a live stream whose tags may arrive out of order by up to window_ps
    (e.g. the quTAG's per-channel delay compensation). Holds back the last window_ps of tags.

    Tags later than the window are kept but their timestamp is CLAMPED (raised) to the last released
    one (counted in `late`), so that the stream stays ordered and no tag disappears: a live source
    cannot stop. (A file's tagstream.io.reorder.Reorderer instead raises an error naming the record.)
    """

    def __init__(self, window_ps: int = 1_000_000) -> None:
        self.window_ps = int(window_ps)
        self._ts = np.empty(0, np.int64)
        self._ch = np.empty(0, np.uint16)
        self._released_ps: int | None = None
        self.late = 0

    def push(self, ts: np.ndarray, ch: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """Add tags; return (timestamps, channels, n_late) ready for release, in time order."""
        ts = np.concatenate([self._ts, np.asarray(ts, np.int64)])
        ch = np.concatenate([self._ch, np.asarray(ch, np.uint16)])
        if len(ts) and np.any(ts[1:] < ts[:-1]):
            order = np.argsort(ts, kind="stable")
            ts, ch = ts[order], ch[order]
        n_late = 0
        if self._released_ps is not None and len(ts) and ts[0] < self._released_ps:
            late = ts < self._released_ps
            n_late = int(late.sum())
            ts = ts.copy()
            ts[late] = self._released_ps  # late tags sort first, so order is kept
            self.late += n_late
        cut = len(ts) if not len(ts) else int(np.searchsorted(ts, ts[-1] - self.window_ps, side="right"))
        out_ts, out_ch = ts[:cut], ch[:cut]
        self._ts, self._ch = ts[cut:], ch[cut:]
        if cut:
            self._released_ps = int(out_ts[-1])
        return out_ts, out_ch, n_late

    def flush(self) -> tuple[np.ndarray, np.ndarray]:
        """Release everything held back."""
        ts, ch = self._ts, self._ch
        self._ts, self._ch = np.empty(0, np.int64), np.empty(0, np.uint16)
        if len(ts):
            self._released_ps = int(ts[-1])
        return ts, ch
