"""quTAG ASCII files: one `timestamp,channel` line per tag (decimal, time in ps).

Blank lines and lines starting with '#' are skipped; spaces/tabs around fields and CRLF line ends are
accepted. The quTAG ends every line with a newline, so a last line without one is a cut-off record:
TruncatedFileError after the whole lines (see base.py). Parsing is a numba kernel over memory-mapped
byte windows, so memory stays bounded.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tagstream.errors import CorruptRecordError, EmptyFileError, TruncatedFileError
from tagstream.io.base import RawBlock, TagReader, map_window
from tagstream.io.qutag import check_channels

MAX_LINE_BYTES = 256
_ERRORS = {1: "expected a decimal timestamp", 2: "expected ',' after the timestamp",
           3: "expected a decimal channel number", 4: "unexpected characters after the channel",
           5: "timestamp too large for int64", 6: "channel number larger than 65535"}


@njit(nogil=True, cache=True)
def parse_lines(buf, start, end, max_records, out_t, out_c, out_off):
    """Parse whole lines of buf[start:end] into out_*; returns (n, next_pos, error_code, error_pos).

    Stops before a line that has no newline inside the window. error_code 0 = no error.
    """
    pos = start
    n = 0
    while pos < end and n < max_records:
        j = pos
        while j < end and buf[j] != 10:
            j += 1
        if j >= end:
            break
        e = j
        if e > pos and buf[e - 1] == 13:
            e -= 1
        k = pos
        while k < e and (buf[k] == 32 or buf[k] == 9):
            k += 1
        if k == e or buf[k] == 35:           # blank or comment line
            pos = j + 1
            continue
        if buf[k] < 48 or buf[k] > 57:
            return n, pos, 1, pos
        t = np.int64(0)
        digits = 0
        while k < e and 48 <= buf[k] <= 57:
            if digits >= 18:
                return n, pos, 5, pos
            t = t * 10 + (buf[k] - 48)
            digits += 1
            k += 1
        while k < e and (buf[k] == 32 or buf[k] == 9):
            k += 1
        if k >= e or buf[k] != 44:
            return n, pos, 2, pos
        k += 1
        while k < e and (buf[k] == 32 or buf[k] == 9):
            k += 1
        if k >= e or buf[k] < 48 or buf[k] > 57:
            return n, pos, 3, pos
        c = 0
        while k < e and 48 <= buf[k] <= 57:
            c = c * 10 + (buf[k] - 48)
            if c > 65535:
                return n, pos, 6, pos
            k += 1
        while k < e and (buf[k] == 32 or buf[k] == 9):
            k += 1
        if k != e:
            return n, pos, 4, pos
        out_t[n] = t
        out_c[n] = c
        out_off[n] = pos
        n += 1
        pos = j + 1
    return n, pos, 0, -1


class QutagAsciiReader(TagReader):
    """quTAG ASCII (`timestamp,channel` lines). n_records is None (unknown without a full scan)."""

    format = "qutag-ascii"

    def __init__(self, path, reorder_window_ps=1_000_000, allow_truncated=False, **_ignored):
        super().__init__(path, reorder_window_ps, allow_truncated)
        self.file_size = self.path.stat().st_size
        if self.file_size == 0:
            raise EmptyFileError("file is empty", self.path, 0, 0)
        self.metadata.update({"file_size": self.file_size, "time_unit_ps": 1})

    def _blocks(self, chunk_records):
        size = self.file_size
        pos = 0
        record = 0
        window = max(chunk_records * 32, 4 * MAX_LINE_BYTES)
        while pos < size:
            nbytes = min(window, size - pos)
            buf = map_window(self.path, pos, nbytes)
            out_t = np.empty(chunk_records, np.int64)
            out_c = np.empty(chunk_records, np.int64)
            out_off = np.empty(chunk_records, np.int64)
            n, nxt, err, err_pos = parse_lines(buf, 0, nbytes, chunk_records, out_t, out_c, out_off)
            del buf
            if err:
                raise CorruptRecordError(f"bad ASCII line: {_ERRORS[err]}", self.path, pos + err_pos,
                                         record + n)
            if n == 0 and nxt == 0:
                if pos + nbytes >= size:     # last line without a newline: cut off
                    self._end_error = TruncatedFileError(
                        f"file ends inside a line ({size - pos} bytes without a newline); the {record} "
                        f"whole lines before it were read", self.path, pos, record)
                    break
                if nbytes >= MAX_LINE_BYTES:
                    raise CorruptRecordError(f"line longer than {MAX_LINE_BYTES} bytes (not a quTAG "
                                             f"ASCII file?)", self.path, pos, record)
            offs = out_off[:n] + pos
            first = record

            def locate(i, offs=offs, first=first):
                return self.path, int(offs[i]), first + int(i)

            c = out_c[:n]
            check_channels(c, locate)
            if n:
                yield RawBlock(out_t[:n].copy(), c.astype(np.uint16), locate)
            record += n
            pos += nxt
        self.n_records = record
        self.metadata["n_records"] = record


def encode_ascii_records(timestamps_ps, channels) -> bytes:
    """`timestamp,channel\\n` lines (for tests, conversion and the benchmark)."""
    t = np.asarray(timestamps_ps, dtype=np.int64)
    c = np.asarray(channels, dtype=np.int64)
    return "".join(f"{a},{b}\n" for a, b in zip(t.tolist(), c.tolist())).encode()
