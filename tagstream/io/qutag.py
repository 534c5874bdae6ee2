"""quTAG files written by TDC_writeTimestamps: BINARY, RAW and COMPRESSED (time unit 1 ps).

BINARY:     40-byte header (magic 87 B3 91 FA, u32 file size at offset 4, 32 more bytes kept as
            metadata), then 10-byte records: <i8 timestamp, <u2 channel.
RAW:        the same records without a header.
COMPRESSED: 40-byte header, then 5-byte records: a little-endian 40-bit word, bits 0-36 the
            timestamp modulo 2**37, bits 37-39 the channel (stop channels only). The 37-bit time is
            unwrapped here: a step of more than 2**36 down (up) between consecutive records is one wrap
            forward (back). The channel field is read with the same numbering as BINARY (as the ETA
            reader does); no real compressed file was available to check this.

Channels: stop channels 0-20 (1-based in the files we have: SPADs 1/2, sync 5), markers 100-104 and
200-203 (vendor header tdcbase.h). Any other channel value, or a negative timestamp, is garbage:
CorruptRecordError.

Header size field (offset 4): our writer stores 0 while recording and the file size at close, like
the vendor's finished files. field == file size: finished. field > file size: the file was cut:
TruncatedFileError after the whole records. field == 0 or smaller than the file: an unfinished
recording, read to its last whole record with a warning in reader.warnings.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
from numba import njit

from tagstream.chunk import TagChunk
from tagstream.errors import (BadMagicError, CorruptRecordError, EmptyFileError, HeaderError,
                              TruncatedFileError)
from tagstream.io.base import RawBlock, TagReader, WindowReader, fixed_locator
from tagstream.io.reorder import scan_range

QUTAG_MAGIC = b"\x87\xb3\x91\xfa"
HEADER_BYTES = 40
BINARY_RECORD = np.dtype([("t", "<i8"), ("c", "<u2")])   # itemsize 10, packed
COMPRESSED_RECORD_BYTES = 5
COMPRESSED_TIME_BITS = 37
COMPRESSED_WRAP = 1 << COMPRESSED_TIME_BITS
COMPRESSED_LONG_GAP = 1 << 33   # 8.6 ms: a longer step between records gets a warning (see the kernel)

VALID_CHANNEL = np.zeros(1 << 16, dtype=bool)
VALID_CHANNEL[0:21] = True
VALID_CHANNEL[100:105] = True
VALID_CHANNEL[200:204] = True


def check_channels(channels: np.ndarray, locate, what: str = "quTAG") -> None:
    """Raise CorruptRecordError at the first channel number a quTAG cannot produce."""
    bad = ~VALID_CHANNEL[channels]
    if bad.any():
        i = int(np.argmax(bad))
        path, off, rec = locate(i)
        raise CorruptRecordError(f"impossible {what} channel number {int(channels[i])} (garbage bytes?)",
                                 path, off, rec)


def check_timestamps(ts: np.ndarray, locate) -> None:
    neg = ts < 0
    if neg.any():
        i = int(np.argmax(neg))
        path, off, rec = locate(i)
        raise CorruptRecordError(f"negative timestamp {int(ts[i])} (garbage bytes?)", path, off, rec)


BINARY_RECORD = np.dtype([("t", "<i8"), ("c", "<u2")])   # packed, 10 bytes


@njit(nogil=True, cache=True)
def decode_binary_kernel(rec, n, valid, out_t, out_c):
    """10-byte records (a BINARY_RECORD view of the bytes: <i8 time, <u2 channel) -> out_t, out_c.
    Returns (first record with a negative time, first with an impossible channel), -1 = none.
    One branch-free pass (whole-field loads); the records are searched again only if one is bad."""
    return decode_binary_range(rec, 0, n, valid, out_t, out_c)


@njit(nogil=True, cache=True)
def decode_binary_range(rec, a, b, valid, out_t, out_c):
    """decode_binary_kernel of records [a, b) (indices into rec and out; results relative to a)."""
    tmin = np.int64(0)
    bad = False
    for i in range(a, b):
        t = rec[i].t
        ch = rec[i].c
        out_t[i] = t
        out_c[i] = ch
        tmin = min(tmin, t)
        bad |= not valid[ch]
    neg = -1
    badc = -1
    if tmin < 0 or bad:
        for i in range(a, b):
            if out_t[i] < 0 and neg < 0:
                neg = i - a
            if not valid[out_c[i]] and badc < 0:
                badc = i - a
    return neg, badc


def record_views(raw: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(times <i8, channels <u2) of n 10-byte records in raw bytes, as strided views (no copy)."""
    return (np.ndarray((n,), "<i8", raw, 0, (10,)), np.ndarray((n,), "<u2", raw, 8, (10,)))


_SCAN_BLOCK = 1 << 13   # records decoded, then order-scanned while still in L1/L2


@njit(nogil=True, cache=True)
def decode_binary_ordered(rec, n, valid, out_t, out_c, prev, has_prev, rmax, has_rmax, window):
    """decode_binary_kernel and io.reorder.scan_order in one pass over the records (cache-sized
    blocks): (neg, badc) as decode_binary_kernel, then scan_order's five results for out_t[:n]."""
    neg = -1
    badc = -1
    n_dec = 0
    worst = 0
    bad = -1
    bad_max = 0
    for a in range(0, n, _SCAN_BLOCK):
        b = min(n, a + _SCAN_BLOCK)
        ng, bc = decode_binary_range(rec, a, b, valid, out_t, out_c)
        if ng >= 0 and neg < 0:
            neg = a + ng
        if bc >= 0 and badc < 0:
            badc = a + bc
        d, wst, bd, bmax, rmax = scan_range(out_t, a, b, prev, has_prev, rmax, has_rmax, window)
        n_dec += d
        worst = max(worst, wst)
        if bd >= 0 and bad < 0:
            bad = a + bd
            bad_max = bmax
        prev = out_t[b - 1]
        has_prev = True
        has_rmax = True
    return neg, badc, n_dec, worst, bad, bad_max, rmax


@njit(nogil=True, cache=True)
def channel_times_kernel(rec, n, channel, out_t):
    """The times of the 10-byte records of one channel (file order) -> out_t; returns (how many, whether
    they are in time order): the pass tagstream.slices makes over the syncs only."""
    m = 0
    ordered = True
    prev = np.int64(-9_000_000_000_000_000_000)
    for i in range(n):
        if rec[i].c == channel:
            t = rec[i].t
            ordered &= t >= prev
            prev = t
            out_t[m] = t
            m += 1
    return m, ordered


@njit(nogil=True, cache=True)
def decode_compressed_kernel(raw, n, prev_abs, back_ps, out_t, out_c):
    """5-byte COMPRESSED records -> out_t, out_c. The 37-bit time is unwrapped against the previous
    record's absolute time prev_abs: the step modulo 2**37 is forward, unless it is within back_ps
    of a whole wrap (then it is a small step back, as the reorder window allows). Returns (prev_abs,
    number of forward steps of COMPRESSED_LONG_GAP or more, the first of them or -1): a pause of more
    than a wrap (~137 ms) looks like its remainder modulo the wrap, so any long step is suspect."""
    mask = np.int64(COMPRESSED_WRAP - 1)
    long_gap = np.int64(COMPRESSED_LONG_GAP)
    n_long = 0
    first_long = -1
    for i in range(n):
        o = 5 * i
        w = np.int64(0)
        for k in range(4, -1, -1):
            w = (w << 8) | np.int64(raw[o + k])
        d = ((w & mask) - (prev_abs & mask)) & mask
        if d > COMPRESSED_WRAP - back_ps:
            d -= COMPRESSED_WRAP
        elif d >= long_gap:
            n_long += 1
            if first_long < 0:
                first_long = i
        prev_abs += d
        out_t[i] = prev_abs
        out_c[i] = np.uint16(w >> COMPRESSED_TIME_BITS)
    return prev_abs, n_long, first_long


class _FixedRecordReader(TagReader):
    """Shared logic: header check, whole-record count, truncated tail, chunked memmap windows."""

    record_bytes = 10
    has_header = True

    def __init__(self, path, reorder_window_ps=1_000_000, allow_truncated=False, **_ignored):
        super().__init__(path, reorder_window_ps, allow_truncated)
        size = self.path.stat().st_size
        self.file_size = size
        if size == 0:
            raise EmptyFileError("file is empty", self.path, 0, 0)
        data_offset = 0
        if self.has_header:
            data_offset = HEADER_BYTES
            with open(self.path, "rb") as f:
                header = f.read(HEADER_BYTES)
            self._check_header(header, size)
        self.data_offset = data_offset
        payload = max(size - data_offset, 0)
        self.n_records = payload // self.record_bytes
        tail = payload % self.record_bytes
        self.metadata.update({"file_size": size, "record_bytes": self.record_bytes,
                              "time_unit_ps": 1, "n_records": self.n_records})
        if tail and self._end_error is None:
            err = TruncatedFileError(
                f"file ends inside a record ({tail} of {self.record_bytes} bytes); the "
                f"{self.n_records} whole records before it were read", self.path,
                data_offset + self.n_records * self.record_bytes, self.n_records)
            if self.metadata.get("unfinished"):
                self._warn(str(err))          # a recording killed mid-write: expected, not an error
            else:
                self._end_error = err

    def _check_header(self, header: bytes, size: int) -> None:
        # the compressed format's magic is not documented: only BINARY's is checked
        if self.format == "qutag-binary" and header[:4] != QUTAG_MAGIC[:len(header)]:
            raise BadMagicError(f"not a quTAG binary file: magic {header[:4].hex(' ')} != "
                                f"{QUTAG_MAGIC.hex(' ')}", self.path, 0)
        if len(header) < HEADER_BYTES:
            raise TruncatedFileError(f"file ends inside the {HEADER_BYTES}-byte header "
                                     f"({len(header)} bytes)", self.path, len(header), 0)
        size_field = struct.unpack_from("<I", header, 4)[0]
        self.metadata.update({
            "header_hex": header.hex(),
            "header_magic_hex": header[:4].hex(),
            "header_size_field": size_field,
            "header_u32_fields": list(struct.unpack_from("<8I", header, 8)),
            "unfinished": False,
        })
        if size_field == size % (1 << 32):   # a u32: a finished file over 4 GiB stores its size modulo 2**32
            return
        if size >= 1 << 32:
            self.metadata["unfinished"] = True
            self._warn(f"header size field {size_field} is not this {size}-byte file's size modulo 2**32: "
                       f"the recording was not finished (or was cut); read to the last whole record")
        elif size_field > size:
            self._end_error = TruncatedFileError(
                f"file is shorter than its header says ({size} of {size_field} bytes): it was cut; "
                f"the whole records present were read", self.path, size,
                max(size - HEADER_BYTES, 0) // self.record_bytes)
        elif size_field == 0 or size_field >= HEADER_BYTES:
            self.metadata["unfinished"] = True
            self._warn(f"unfinished recording: header size field is {size_field}, file has {size} "
                       f"bytes (writer not closed); read to the last whole record")
        else:
            raise HeaderError(f"impossible header size field {size_field} (< {HEADER_BYTES})",
                              self.path, 4)

    def _decode(self, raw: np.ndarray, n: int, locate, state: dict):
        """Decode n records from raw bytes -> (timestamps_ps int64, channels uint16), file order."""
        raise NotImplementedError

    def _decode_block(self, raw: np.ndarray, n: int, locate, state: dict) -> RawBlock:
        t, c = self._decode(raw, n, locate, state)
        return RawBlock(t, c, locate)

    def _blocks(self, chunk_records, start_record=0):
        state: dict = {}
        rb = self.record_bytes
        win = WindowReader(self.path)
        try:
            for first in range(start_record, self.n_records, chunk_records):
                n = min(chunk_records, self.n_records - first)
                raw = win.read(self.data_offset + first * rb, n * rb)
                locate = fixed_locator(self.path, self.data_offset, rb, first)
                if raw.size < n * rb:   # the file shrank while reading
                    raise TruncatedFileError("file ended while reading (shrunk?)", *locate(raw.size // rb))
                yield self._decode_block(raw, n, locate, state)
        finally:
            win.close()


class QutagBinaryReader(_FixedRecordReader):
    """quTAG BINARY (40-byte header + 10-byte records)."""

    format = "qutag-binary"

    def _decode_block(self, raw, n, locate, state):
        """Decode and order-check in one pass, straight into the reorder buffer (no copy)."""
        reorder = getattr(self, "_reorder", None)
        if reorder is None or n == 0:
            return super()._decode_block(raw, n, locate, state)
        tt, cc, nt = reorder.open_block(n)
        t, c = tt[nt:], cc[nt:]
        neg, badc, *scan = decode_binary_ordered(raw[: n * 10].view(BINARY_RECORD), n, VALID_CHANNEL, t, c,
                                                 *reorder.scan_state())
        if neg >= 0:
            check_timestamps(t, locate)
        if badc >= 0:
            check_channels(c, locate)
        return RawBlock(t, c, locate, opened=(tt, cc, nt, tuple(scan)))

    def _decode(self, raw, n, locate, state):
        # one reused pair of output buffers (the Reorderer copies): no page faults per block
        if state.get("n_buf", 0) < n:
            state["n_buf"], state["t"], state["c"] = n, np.empty(n, np.int64), np.empty(n, np.uint16)
        t, c = state["t"][:n], state["c"][:n]
        neg, badc = decode_binary_kernel(raw[: n * 10].view(BINARY_RECORD), n, VALID_CHANNEL, t, c)
        if neg >= 0:
            check_timestamps(t, locate)
        if badc >= 0:
            check_channels(c, locate)
        return t, c


    # fixed-size records without decoding state: any record range can be read (tagstream.slices)
    slice_records = True
    valid_channels = np.flatnonzero(VALID_CHANNEL)   # the channel numbers a record may hold

    def ordered_windows(self, chunk_records: int = 1 << 20, start: int = 0, stop: int | None = None):
        """Yield (first file record, times, channels) of consecutive windows of chunk_records records
        (of records [start, stop): default the whole file),
        straight from the file's bytes: strided views of the records (no decoding, no copy; valid
        until the next window). Nothing is checked: for a caller that checks time order, channels and
        signs itself (tagstream.pipeline's one pass) and resumes with chunks(start=...) where they
        fail, then ends with finish_ordered(). Stops early if the file shrank."""
        win = WindowReader(self.path)
        try:
            stop = self.n_records if stop is None else min(int(stop), self.n_records)
            for first in range(int(start), stop, chunk_records):
                n = min(chunk_records, stop - first)
                raw = win.read(self.data_offset + first * 10, n * 10)
                if raw.size < n * 10:
                    return
                yield (first, *record_views(raw, n))
        finally:
            win.close()

    def read_records(self, first: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Records [first, first + n) decoded (times ps, channels), in file order (not reordered). The
        arrays are reused buffers: valid until the next call (copy to keep them)."""
        first, n = max(int(first), 0), max(min(int(n), self.n_records - int(first)), 0)
        if getattr(self, "_range", None) is None:
            self._range = (WindowReader(self.path), {})
        win, state = self._range
        raw = win.read(self.data_offset + first * 10, n * 10)
        locate = fixed_locator(self.path, self.data_offset, 10, first)
        if raw.size < n * 10:
            raise TruncatedFileError("file ended while reading (shrunk?)", *locate(raw.size // 10))
        return self._decode(raw, n, locate, state)

    def close(self) -> None:
        """Close the file read_records keeps open."""
        if getattr(self, "_range", None) is not None:
            self._range[0].close()
            self._range = None

    def channel_times(self, channel: int, block_records: int = 1 << 22):
        """Yield, block by block over the whole file, (times of `channel`'s records in file order, whether
        they are in time order within the block); channels are not checked here (the analysis is)."""
        win = WindowReader(self.path)
        out = np.empty(block_records, np.int64)   # reused: a block's times are valid until the next one
        try:
            for first in range(0, self.n_records, block_records):
                n = min(block_records, self.n_records - first)
                raw = win.read(self.data_offset + first * 10, n * 10)
                n = raw.size // 10
                m, ordered = channel_times_kernel(raw[: n * 10].view(BINARY_RECORD), n, int(channel), out)
                yield out[:m], bool(ordered)
        finally:
            win.close()


class QutagRawReader(QutagBinaryReader):
    """quTAG RAW (10-byte records, no header)."""

    format = "qutag-raw"
    has_header = False


class QutagCompressedReader(_FixedRecordReader):
    """quTAG COMPRESSED (40-byte header + 5-byte records, 37-bit time that wraps)."""

    format = "qutag-compressed"
    record_bytes = COMPRESSED_RECORD_BYTES

    def _decode(self, raw, n, locate, state):
        t = np.empty(n, np.int64)
        c = np.empty(n, np.uint16)
        if n:
            first = (int(raw[0]) | int(raw[1]) << 8 | int(raw[2]) << 16 | int(raw[3]) << 24
                     | int(raw[4]) << 32) & (COMPRESSED_WRAP - 1)
            back = min(max(self.reorder_window_ps, 0), COMPRESSED_WRAP >> 1)
            prev, n_long, first_long = decode_compressed_kernel(raw, n, state.get("prev", first), back, t, c)
            state["prev"] = int(prev)
            if n_long and "long_gap" not in state:
                state["long_gap"] = True
                _, off, rec = locate(int(first_long))
                self._warn(f"a gap of {COMPRESSED_LONG_GAP / 1e9:.1f} ms or more between consecutive records (before "
                           f"record {rec}, byte offset {off}): the COMPRESSED 37-bit time wraps every "
                           f"{COMPRESSED_WRAP / 1e9:.1f} ms, so if the recording paused longer than that the "
                           f"times after the gap are early by whole wraps: check against another clock")
        return t, c


# ------------------------------------------------------------------------------------------
# encoders (used by the writer, conversion, tests and the benchmark)

def encode_binary_records(timestamps_ps, channels) -> bytes:
    """10-byte quTAG records (<i8 time, <u2 channel) for the given tags."""
    t = np.asarray(timestamps_ps, dtype=np.int64)
    c = np.asarray(channels)
    if t.shape != c.shape:
        raise ValueError("timestamps and channels differ in length")
    if t.size and int(t.min()) < 0:
        raise ValueError("quTAG timestamps must be >= 0 ps")
    if c.size and (c.min() < 0 or c.max() > 65535 or not VALID_CHANNEL[c.astype(np.int64)].all()):
        raise ValueError("channel numbers must be 0-20, 100-104 or 200-203 for a quTAG file")
    rec = np.empty(t.size, BINARY_RECORD)
    rec["t"] = t
    rec["c"] = c
    return rec.tobytes()


def encode_compressed_records(timestamps_ps, channels) -> bytes:
    """5-byte quTAG COMPRESSED records (time modulo 2**37, channel 0-7)."""
    t = np.asarray(timestamps_ps, dtype=np.int64)
    c = np.asarray(channels, dtype=np.int64)
    if c.size and (c.min() < 0 or c.max() > 7):
        raise ValueError("compressed quTAG records hold channels 0-7 only")
    word = (t.astype(np.uint64) & np.uint64(COMPRESSED_WRAP - 1)) | (c.astype(np.uint64) << np.uint64(37))
    return word.astype("<u8").view(np.uint8).reshape(-1, 8)[:, :5].tobytes()


def qutag_header(size_field: int = 0, extra: bytes | None = None) -> bytes:
    """40-byte header: magic, u32 size field, 32 bytes (zeros unless given, e.g. copied on convert)."""
    extra = bytes(32) if extra is None else bytes(extra)
    if len(extra) != 32:
        raise ValueError("extra header bytes must be 32 bytes long")
    return QUTAG_MAGIC + struct.pack("<I", size_field & 0xFFFFFFFF) + extra


# ------------------------------------------------------------------------------------------
# writer

class QutagBinaryWriter:
    """Streaming quTAG BINARY writer.

    with QutagBinaryWriter(path) as w: w.write(chunk); w.flush()
    Records are appended whole; the header's size field stays 0 until close(), so a writer killed
    mid-recording leaves a file that readers open as "unfinished" and read to the last whole record.
    Refuses to replace an existing file unless overwrite=True (FileExistsError).
    """

    def __init__(self, path, overwrite: bool = False, header_extra: bytes | None = None) -> None:
        self.path = Path(path)
        self._f = open(self.path, "wb" if overwrite else "xb")
        self._f.write(qutag_header(0, header_extra))
        self.n_records = 0
        self.closed = False

    def write(self, chunk_or_timestamps, channels=None) -> None:
        """Append a TagChunk (or timestamps_ps, channels arrays)."""
        if channels is None:
            t, c = chunk_or_timestamps.timestamps_ps, chunk_or_timestamps.channels
        else:
            t, c = chunk_or_timestamps, channels
        data = encode_binary_records(t, c)
        self._f.write(data)
        self.n_records += len(data) // BINARY_RECORD.itemsize

    def flush(self, fsync: bool = False) -> None:
        """Hand written records to the OS (and to the disk with fsync=True)."""
        self._f.flush()
        if fsync:
            os.fsync(self._f.fileno())

    def close(self) -> None:
        """Store the final file size in the header and close."""
        if self.closed:
            return
        self._f.flush()
        size = self._f.tell()
        self._f.seek(4)
        self._f.write(struct.pack("<I", size & 0xFFFFFFFF))
        self._f.close()
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _iter_chunks(chunks):
    if isinstance(chunks, TagChunk):
        yield chunks
    elif hasattr(chunks, "chunks"):
        yield from chunks.chunks()
    else:
        yield from chunks


def write_qutag_binary(path, chunks, overwrite: bool = False, header_extra: bytes | None = None) -> int:
    """Write a TagChunk, an iterable of TagChunks or a reader to a quTAG BINARY file; returns records."""
    with QutagBinaryWriter(path, overwrite=overwrite, header_extra=header_extra) as w:
        for ch in _iter_chunks(chunks):
            w.write(ch)
        return w.n_records
