"""TagReader: the one streaming interface every format reader implements.

A format module only decodes records: it implements ``_blocks(chunk_records)``, yielding RawBlocks of
decoded tags in *file* order. The base class restores time order (Reorderer), re-chunks, numbers the
records and reports a cut-off end of file.

Truncation design (one rule for every format): ``chunks()`` yields every whole record, then raises
TruncatedFileError if the file ends inside a record or is shorter than its header says. With
``allow_truncated=True`` the same finding goes to ``reader.warnings`` (and metadata["warnings"])
instead. A recording that was never finished (a writer killed before close: header size field 0 or
smaller than the file) is not an error: it is read to its last whole record with a warning.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from tagstream.chunk import TagChunk
from tagstream.errors import TagFileError
from tagstream.io.reorder import Reorderer

DEFAULT_CHUNK_RECORDS = 1 << 20
DEFAULT_REORDER_WINDOW_PS = 1_000_000


@dataclass
class RawBlock:
    """Decoded tags in file order. locate(i) -> (path, byte_offset, record_index) for error messages.
    opened: set by a reader that decoded straight into the reorder buffer (Reorderer.open_block,
    self._reorder): (t, c, n_tail, scan_order result); timestamps_ps/channels are then its new part."""

    timestamps_ps: np.ndarray
    channels: np.ndarray
    locate: Callable[[int], tuple]
    opened: tuple | None = None


class TagReader:
    """Base reader. Subclasses set format/metadata/n_records in __init__ and implement _blocks()."""

    format: str = "?"

    def __init__(self, path, reorder_window_ps: int = DEFAULT_REORDER_WINDOW_PS,
                 allow_truncated: bool = False) -> None:
        self.path = Path(path)
        self.reorder_window_ps = int(reorder_window_ps)
        self.allow_truncated = bool(allow_truncated)
        self.metadata: dict = {}
        self.warnings: list[str] = []
        self.n_records: int | None = None
        self.disorder: dict | None = None   # filled after a full pass of chunks()
        self._end_error: TagFileError | None = None   # set by subclasses: cut-off end of file

    # --- for subclasses -------------------------------------------------------------------
    def _blocks(self, chunk_records: int) -> Iterator[RawBlock]:
        raise NotImplementedError

    def _warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)
            self.metadata.setdefault("warnings", []).append(text)

    def _finished(self) -> None:
        """Hook called after the last block (e.g. to compare counts with the header)."""

    # --- public ---------------------------------------------------------------------------
    def chunks(self, chunk_records: int = DEFAULT_CHUNK_RECORDS, start: tuple | None = None) -> Iterator[TagChunk]:
        """Yield the recording as TagChunks of at most chunk_records tags, in time order (ps).
        start: (file record, time of the record before it) resumes after records [0, record) that the
        caller took in time order itself (ordered_windows of a fixed-record reader); they are final."""
        chunk_records = int(chunk_records)
        if chunk_records < 1:
            raise ValueError("chunk_records must be >= 1")
        reorder = Reorderer(self.reorder_window_ps)
        self._reorder = reorder          # readers may decode into its buffers (RawBlock.opened)
        emitted = 0
        blocks = self._blocks(chunk_records)
        if start is not None and start[0] > 0:
            emitted = int(start[0])
            reorder.resume_after(int(start[1]))
            blocks = self._blocks(chunk_records, emitted)
        for block in blocks:
            if block.opened is not None:
                t, c = reorder.close_block(*block.opened, block.locate, max_out=chunk_records)
            else:
                t, c = reorder.push(block.timestamps_ps, block.channels, block.locate, max_out=chunk_records)
            for a in range(0, t.size, chunk_records):
                yield TagChunk(t[a:a + chunk_records], c[a:a + chunk_records], emitted)
                emitted += min(chunk_records, t.size - a)
        t, c = reorder.finish()
        for a in range(0, t.size, chunk_records):
            yield TagChunk(t[a:a + chunk_records], c[a:a + chunk_records], emitted)
            emitted += min(chunk_records, t.size - a)
        self._end_of_stream(reorder.stats())

    def _end_of_stream(self, disorder: dict) -> None:
        """After the last record: the disorder found, the format's end checks, a cut-off end raised (or a warning)."""
        self.disorder = disorder
        self.metadata["disorder"] = dict(self.disorder)
        self._finished()
        if self._end_error is not None:
            if self.allow_truncated:
                self._warn(str(self._end_error))
            else:
                raise self._end_error

    def finish_ordered(self) -> None:
        """End of a stream the caller took in time order through ordered_windows (no disorder found)."""
        self._end_of_stream(Reorderer(self.reorder_window_ps).stats())

    has_microtimes = False   # readers of formats that record microtimes (PicoQuant T3, ...) set it

    def header_setup(self) -> dict:
        """The setup parts the file's header states (tagstream.setup.PARTS keys, plus "notes": a list
        of short explanations). Formats without such a header return {} (see io/propose.py)."""
        return {}

    def read_all(self) -> TagChunk:
        """The whole recording as one TagChunk (convenience for small files)."""
        return TagChunk.concatenate(self.chunks(), with_microtimes=self.has_microtimes)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.format} {str(self.path)!r} n_records={self.n_records}>"


def fixed_locator(path: Path, data_offset: int, record_bytes: int, first_record: int):
    """Locator for fixed-size records: record i of a block starting at file record first_record."""
    def locate(i: int) -> tuple:
        rec = first_record + int(i)
        return path, data_offset + rec * record_bytes, rec
    return locate


class WindowReader:
    """Reads byte windows of a file into reused buffers (bounded memory like a memory map, but
    read() copies from the page cache instead of faulting every page of a fresh map in).
    The returned array is only valid until the next call.

    Read-ahead: after each read, the window that follows it (same size) is read in a background
    thread into the other of two buffers (os.preadv releases the GIL), so the file is read while
    the caller decodes and analyses the current window; a read of that window just waits for it."""

    def __init__(self, path: Path, read_ahead: bool = True) -> None:
        self._f = open(path, "rb", buffering=0)
        self._fd = self._f.fileno()
        self._bufs = [np.empty(0, np.uint8), np.empty(0, np.uint8)]
        self._next = 0                  # the buffer the next read fills
        self._read_ahead = read_ahead
        self._pool = None
        self._ahead = None              # (offset, nbytes, buffer index, future of the bytes read)

    def _fill(self, i: int, offset: int, nbytes: int) -> int:
        if nbytes > self._bufs[i].size:
            self._bufs[i] = np.empty(nbytes, np.uint8)
        mv = memoryview(self._bufs[i])
        got = 0
        while got < nbytes:
            k = os.preadv(self._fd, [mv[got:nbytes]], offset + got)
            if not k:
                break
            got += k
        return got

    def _settle(self):
        """Wait for the read-ahead in flight; return (offset, nbytes, buffer, bytes read) or None."""
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            return None
        offset, nbytes, i, fut = ahead
        return offset, nbytes, i, fut.result()

    def read(self, offset: int, nbytes: int) -> np.ndarray:
        done = self._settle()
        if done is not None and done[:2] == (offset, nbytes):
            i, got = done[2], done[3]
        else:
            i = self._next if done is None else done[2]
            got = self._fill(i, offset, nbytes)
        self._next = 1 - i
        if self._read_ahead and got == nbytes:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="tagstream-read-ahead")
            j, nxt = self._next, offset + nbytes
            self._ahead = (nxt, nbytes, j, self._pool.submit(self._fill, j, nxt, nbytes))
        return self._bufs[i][:got]

    def close(self) -> None:
        try:
            self._settle()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
            self._f.close()


def map_window(path: Path, offset: int, nbytes: int) -> np.ndarray:
    """Memory-map nbytes of a file from offset as uint8 (a fresh small map per chunk keeps RSS flat)."""
    if nbytes <= 0:
        return np.empty(0, np.uint8)
    return np.memmap(path, dtype=np.uint8, mode="r", offset=offset, shape=(nbytes,))
