"""PacedSource: any ordered stream of TagChunks released in real time (by wall clock × speed),
or as fast as possible (speed=None); pausable. The simulated and replay sources are this."""

from __future__ import annotations

import threading
import time
from typing import Callable, Iterable, Iterator

import numpy as np

from tagstream.chunk import TagChunk
from tagstream.sources.base import Source


class PausableClock:
    """Wall-clock seconds since start(), not counting pauses. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wall0 = time.monotonic()
        self._paused_at: float | None = None
        self._paused_total = 0.0

    def start(self) -> None:
        with self._lock:
            self._wall0 = time.monotonic()
            self._paused_at, self._paused_total = None, 0.0

    def pause(self) -> None:
        with self._lock:
            if self._paused_at is None:
                self._paused_at = time.monotonic()

    def resume(self) -> None:
        with self._lock:
            if self._paused_at is not None:
                self._paused_total += time.monotonic() - self._paused_at
                self._paused_at = None

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    def elapsed_s(self) -> float:
        with self._lock:
            now = self._paused_at if self._paused_at is not None else time.monotonic()
            return now - self._wall0 - self._paused_total


class Pausable:
    """pause()/resume()/paused of a source paced by its `_clock` (a PausableClock); any thread."""

    _clock: PausableClock

    def pause(self) -> None:
        self._clock.pause()

    def resume(self) -> None:
        self._clock.resume()

    @property
    def paused(self) -> bool:
        return self._clock.paused


class PacedSource(Pausable, Source):
    """Releases the tags of `chunks` when they are due: a tag at time t (ps) is due once
    (wall seconds since start, pauses excluded) × speed × 1e12 >= t - t_first.

    chunks: an iterable of TagChunks (or a zero-argument callable returning one, so that the
    stream opens at start()); speed: tag-time seconds per wall second, None = no pacing;
    poll_interval_s: at most one chunk per interval while paced (limits per-chunk overhead);
    max_chunk_tags: cap on tags per returned chunk.
    """

    kind = "paced"

    def __init__(self, chunks: Iterable[TagChunk] | Callable[[], Iterable[TagChunk]], speed: float | None = 1.0,
                 poll_interval_s: float = 0.02, max_chunk_tags: int = 1 << 20, time_unit_ps: float = 1.0,
                 sync_divider: int = 1) -> None:
        super().__init__(time_unit_ps=time_unit_ps, sync_divider=sync_divider)
        if speed is not None and not speed > 0:
            raise ValueError(f"speed must be > 0 or None (as fast as possible), got {speed}")
        self.speed = speed
        self.poll_interval_s = float(poll_interval_s)
        self.max_chunk_tags = int(max_chunk_tags)
        self._chunks_arg = chunks
        self._it: Iterator[TagChunk] | None = None
        self._cur: TagChunk | None = None  # current input chunk
        self._deferred: BaseException | None = None  # input error raised after the tags before it went out
        self._pos = 0  # next tag in _cur
        self._t_first_ps: int | None = None
        self._clock = PausableClock()
        self._last_emit = 0.0

    def _stream_elapsed_s(self) -> float:
        return self._clock.elapsed_s()

    # -- Source ---------------------------------------------------------------------------------
    def _start(self) -> None:
        if self._it is None:
            arg = self._chunks_arg
            self._it = iter(arg() if callable(arg) else arg)
            self._clock.start()
            self._last_emit = 0.0
        else:  # restart after stop(): continue where we were, without a jump
            self.resume()

    def _stop(self) -> None:
        self.pause()

    def _next_input(self) -> bool:
        """Make _cur a chunk with tags left; False when the input is exhausted."""
        if self._deferred is not None and (self._cur is None or self._pos >= len(self._cur)):
            exc, self._deferred = self._deferred, None
            raise exc
        while self._cur is None or self._pos >= len(self._cur):
            try:
                self._cur = next(self._it)
            except StopIteration:
                self._cur = None
                self.finished = True
                return False
            self._pos = 0
            if self._t_first_ps is None and len(self._cur):
                self._t_first_ps = int(self._cur.timestamps_ps[0])
        return True

    def _next_input_keeping(self, parts: list) -> bool:
        """_next_input, but an input error (a truncated file's end) waits until the tags taken so far
        are emitted: a replay keeps the valid prefix."""
        try:
            return self._next_input()
        except Exception as exc:
            if not parts:
                raise
            self._deferred = exc
            return False

    def _take(self, due_ps: int | None) -> tuple[list, list, list | None]:
        """Tags with timestamp <= due_ps (all if None), up to max_chunk_tags; the third list holds the
        chunks' microtimes (recorded T3 / nanotimes) or is None when the input has none."""
        ts_parts, ch_parts, mt_parts, n = [], [], [], 0
        while n < self.max_chunk_tags and self._next_input_keeping(ts_parts):
            ts = self._cur.timestamps_ps
            stop = len(ts) if due_ps is None else int(np.searchsorted(ts, due_ps, side="right"))
            stop = min(stop, self._pos + self.max_chunk_tags - n)
            if stop <= self._pos:
                break
            ts_parts.append(ts[self._pos:stop])
            ch_parts.append(self._cur.channels[self._pos:stop])
            mt = self._cur.microtimes_ps
            mt_parts.append(None if mt is None else mt[self._pos:stop])
            n += stop - self._pos
            self._pos = stop
            if stop < len(ts):
                break
        if any(m is None for m in mt_parts):
            mt_parts = None
        return ts_parts, ch_parts, mt_parts

    def _read(self, timeout_s: float) -> TagChunk | None:
        deadline = time.monotonic() + timeout_s
        if self.speed is None:
            if self.paused:
                time.sleep(timeout_s)
                return None
            return self._emit_parts(*self._take(None))
        while True:
            now = time.monotonic()
            wait = self._last_emit + self.poll_interval_s - now
            if wait > 0:
                time.sleep(min(wait, max(0.0, deadline - now)))
                if time.monotonic() < self._last_emit + self.poll_interval_s:
                    return None  # timeout came first
            if not self.paused and self._next_input():
                due = self._t_first_ps + int(self._stream_elapsed_s() * self.speed * 1e12)
                chunk = self._emit_parts(*self._take(due))
                self._last_emit = time.monotonic()
                if chunk is not None or self.finished:
                    return chunk
            elif self.finished:
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            time.sleep(min(self.poll_interval_s, remaining))

    def _emit_parts(self, ts_parts: list, ch_parts: list, mt_parts: list | None = None) -> TagChunk | None:
        if not ts_parts:
            return None
        if len(ts_parts) == 1:
            return self._emit(ts_parts[0], ch_parts[0], None if mt_parts is None else mt_parts[0])
        return self._emit(np.concatenate(ts_parts), np.concatenate(ch_parts),
                          None if mt_parts is None else np.concatenate(mt_parts))

    @property
    def stream_time_s(self) -> float:
        """Tag time (s since the first tag) that playback has reached."""
        if self._t_first_ps is None:
            return 0.0
        if self.speed is None:
            return 0.0 if self._last_tag_ps is None else (self._last_tag_ps - self._t_first_ps) * 1e-12
        return self._stream_elapsed_s() * self.speed
