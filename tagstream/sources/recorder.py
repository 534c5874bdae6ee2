"""Recorder: every raw tag of a live run to disk (quTAG BINARY or SSTT V2 via tagstream.io),
with a sidecar `<recording>.meta.json` (source, setup, data-loss events, completeness).

    rec = Recorder("run.qutag", format="qutag-binary", metadata={...}, on_error=print)
    rec.write(chunk)          # never raises: a failure (disk full, unwritable folder) is kept in
                              # rec.error and reported once through on_error; later tags are counted
                              # in rec.tags_not_recorded
    rec.note_event(ev)        # a DataLossEvent from the source, kept for the metadata
    rec.close(extra={...})    # flush, close the file, write the final metadata (atomically)

Crash safety: written chunks are flushed to the OS at least every flush_interval_s (default 0.1 s,
0 = after every chunk), so a process killed with SIGKILL leaves a file readable up to its last
whole record (the quTAG writer leaves the header's
size field 0 until close: "unfinished"). The metadata is written at open (complete: false) and
again at close (complete: true), each time via a temporary file and os.replace.
"""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from tagstream.atomic import atomic_path
from tagstream.chunk import TagChunk

FORMATS = ("qutag-binary", "sstt-v2")


def meta_path_for(path: str | os.PathLike) -> Path:
    """`<recording>.meta.json` next to the recording."""
    path = Path(path)
    return path.with_name(path.name + ".meta.json")


def write_json_atomic(path: Path, data: dict) -> None:
    """Write JSON via a temporary file in the same folder and os.replace, fsynced (never a half file)."""
    with atomic_path(path, fsync=True) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=str))


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class Recorder:
    """Streams chunks to a recording file. Used from one thread (the acquisition thread);
    the read-only properties may be read from any thread."""

    def __init__(self, path: str | os.PathLike, format: str = "qutag-binary", overwrite: bool = False,
                 channels: Iterable[int] | None = None, metadata: dict | None = None,
                 on_error: Callable[[str], None] | None = None, meta_path: str | os.PathLike | None = None,
                 flush_interval_s: float = 0.1) -> None:
        if format not in FORMATS:
            raise ValueError(f"recording format must be one of {FORMATS}, got {format!r}")
        self.path = Path(path)
        self.format = format
        self.meta_path = Path(meta_path) if meta_path is not None else meta_path_for(self.path)
        self.channels = None if channels is None else sorted(set(int(c) for c in channels))
        self.metadata = dict(metadata or {})
        self.on_error = on_error
        self.error: str | None = None
        self.n_written = 0  # tags handed to the writer
        self.n_flushed = 0  # tags handed to the OS (survive a killed process)
        self.tags_not_recorded = 0
        self.flush_interval_s = float(flush_interval_s)
        self._last_flush = 0.0
        self.events: list = []
        self.started_iso = _now_iso()
        self._lock = threading.Lock()
        self._writer = None
        self._closed = False
        self._overwrite = overwrite
        try:
            self._writer = self._open_writer()
            self._write_meta(complete=False)
        except Exception as exc:
            self._fail(exc, "cannot start the recording")

    def _open_writer(self):
        if self.format == "qutag-binary":
            from tagstream.io import QutagBinaryWriter
            return QutagBinaryWriter(self.path, overwrite=self._overwrite)
        from tagstream.io import SsttV2Writer
        kwargs = {} if self.channels is None else {"channels": self.channels}
        return SsttV2Writer(self.path, overwrite=self._overwrite, **kwargs)

    def _fail(self, exc: BaseException, what: str) -> None:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        msg = (f"recording to {self.path}: {what}: {reason} ({type(exc).__name__}); the display goes on, "
               f"tags from record {self.n_written} on are NOT recorded")
        with self._lock:
            first = self.error is None
            if first:
                self.error = msg
        if first and self.on_error is not None:
            try:
                self.on_error(msg)
            except Exception:
                pass  # a broken callback must not stop the acquisition

    @property
    def ok(self) -> bool:
        return self.error is None

    def write(self, chunk: TagChunk) -> bool:
        """Append and flush one chunk; False (and error set) if it could not be recorded."""
        if self.error is not None or self._writer is None or self._closed:
            self.tags_not_recorded += len(chunk)
            return False
        try:
            self._writer.write(chunk)
        except Exception as exc:
            self.tags_not_recorded += len(chunk)
            self._fail(exc, "writing failed")
            return False
        self.n_written += len(chunk)
        return self.flush_if_due()

    def flush_if_due(self) -> bool:
        """Hand written tags to the OS if flush_interval_s has passed since the last flush. Called after
        every write and by the acquisition thread when the source is idle, so that tags written just
        before a quiet spell are not left in a buffer (a kill then would lose them)."""
        if self.error is not None or self._writer is None or self._closed or self.n_flushed == self.n_written:
            return self.error is None
        now = time.monotonic()
        if now - self._last_flush >= self.flush_interval_s:
            try:
                self._writer.flush()
            except Exception as exc:      # the tags written since the last flush never reached the disk
                self.tags_not_recorded += self.n_written - self.n_flushed
                self.n_written = self.n_flushed
                self._fail(exc, "writing failed")
                return False
            self._last_flush = now
            self.n_flushed = self.n_written
        return True

    def note_event(self, event) -> None:
        """Keep a data-loss event (DataLossEvent or dict) for the metadata."""
        with self._lock:
            self.events.append(event.to_json_dict() if hasattr(event, "to_json_dict") else dict(event))

    @property
    def size_bytes(self) -> int:
        """Bytes on disk so far (all channel files for SSTT)."""
        try:
            if self.format == "qutag-binary":
                return self.path.stat().st_size
            return sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*")
                       if p != self.meta_path and not p.name.endswith(".tmp"))
        except OSError:
            return 0

    def close(self, extra: dict | None = None) -> None:
        """Close the file and write the final metadata; errors are reported like write errors."""
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            try:
                self._writer.close()
                self.n_flushed = self.n_written
            except Exception as exc:
                self._fail(exc, "closing the file failed")
        try:
            self._write_meta(complete=self.error is None, extra=extra)
        except Exception as exc:
            self._fail(exc, "writing the metadata failed")

    def _write_meta(self, complete: bool, extra: dict | None = None) -> None:
        with self._lock:
            events = list(self.events)
            error = self.error
        data = {
            "tagstream_recording": 1,
            "file": self.path.name,
            "format": self.format,
            "started": self.started_iso,
            "stopped": _now_iso() if self._closed else None,
            "complete": bool(complete and self._closed),
            "n_records": self.n_written,
            "tags_not_recorded": self.tags_not_recorded,
            "recording_error": error,
            "data_loss_events": events,
            "data_lost": any(e.get("kind") == "device-data-lost" for e in events),
            "overflow_count": sum(e.get("kind") == "buffer-overflow" for e in events),
            **self.metadata,
            **(extra or {}),
        }
        write_json_atomic(self.meta_path, data)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_meta(path: str | os.PathLike) -> dict:
    """The sidecar metadata of a recording (path of the recording or of the .meta.json)."""
    path = Path(path)
    mp = path if path.name.endswith(".meta.json") else meta_path_for(path)
    return json.loads(mp.read_text())


__all__ = ["Recorder", "read_meta", "meta_path_for", "write_json_atomic", "FORMATS"]
