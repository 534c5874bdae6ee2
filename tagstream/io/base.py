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
    def chunks(self, chunk_records: int = DEFAULT_CHUNK_RECORDS) -> Iterator[TagChunk]:
        """Yield the recording as TagChunks of at most chunk_records tags, in time order (ps)."""
        chunk_records = int(chunk_records)
        if chunk_records < 1:
            raise ValueError("chunk_records must be >= 1")
        reorder = Reorderer(self.reorder_window_ps)
        self._reorder = reorder          # readers may decode into its buffers (RawBlock.opened)
        emitted = 0
        for block in self._blocks(chunk_records):
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
        self.disorder = reorder.stats()
        self.metadata["disorder"] = dict(self.disorder)
        self._finished()
        if self._end_error is not None:
            if self.allow_truncated:
                self._warn(str(self._end_error))
            else:
                raise self._end_error

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
    """Reads byte windows of a file into one reused buffer (bounded memory like a memory map, but
    read() copies from the page cache instead of faulting every page of a fresh map in).
    The returned array is only valid until the next call."""

    def __init__(self, path: Path) -> None:
        self._f = open(path, "rb", buffering=0)
        self._buf = np.empty(0, np.uint8)

    def read(self, offset: int, nbytes: int) -> np.ndarray:
        if nbytes > self._buf.size:
            self._buf = np.empty(nbytes, np.uint8)
        view = self._buf[:nbytes]
        self._f.seek(offset)
        got = 0
        mv = memoryview(view)
        while got < nbytes:
            k = self._f.readinto(mv[got:])
            if not k:
                break
            got += k
        return view[:got]

    def close(self) -> None:
        self._f.close()


def map_window(path: Path, offset: int, nbytes: int) -> np.ndarray:
    """Memory-map nbytes of a file from offset as uint8 (a fresh small map per chunk keeps RSS flat)."""
    if nbytes <= 0:
        return np.empty(0, np.uint8)
    return np.memmap(path, dtype=np.uint8, mode="r", offset=offset, shape=(nbytes,))
