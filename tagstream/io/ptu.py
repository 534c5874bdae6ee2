"""PicoQuant PTU reader (T2 and T3 records of PicoHarp 300, HydraHarp v1/v2, TimeHarp 260 N/P, MultiHarp).

Layout (PicoQuant's PTU demo reader, PicoQuant/PicoQuant-Time-Tagged-File-Format-Demos Read_PTU.py):
8-byte magic "PQTTTR", 8-byte version, then tags of 32-byte name + int32 index + uint32 type + 8-byte
value (strings, wide strings, float arrays and blobs: the value is a byte count and the data follow)
up to the tag "Header_End"; then little-endian 32-bit records:
- PicoHarp T2 (0x00010203): channel 4 bits | time 28 bits; channel 15 = special: marker bits in the low
  4 bits, 0 = overflow (+210698240).
- PicoHarp T3 (0x00010303): channel 4 | dtime 12 | nsync 16; channel 15: dtime 0 = overflow (+65536),
  otherwise marker bits = dtime & 15.
- HydraHarp / TimeHarp 260 / MultiHarp T2: special 1 | channel 6 | time 25; special + channel 63 =
  overflow (v1: +33552000; v2: + 33554432 * max(time, 1)), special + channel 1..15 = markers, special +
  channel 0 = sync.
- ... T3: special 1 | channel 6 | dtime 15 | nsync 10; special + channel 63 = overflow (+1024, v2:
  1024 * max(nsync, 1)), special + channel 1..15 = markers.
Version 1 overflow rules apply to rtHydraHarpT2/T3 (0x00010204 / 0x00010304); HydraHarp2, TimeHarp 260
N/P (0x...05/06) and MultiHarp (0x...07, e.g. 66311 = 0x00010307 = MultiHarp T3) use version 2.

tagstream channels: photon inputs 1-based (HydraHarp-type input i -> i + 1; PicoHarp T2 input 0 (the
sync input) -> SYNC_CHANNEL, input 1..4 -> 1..4; PicoHarp T3 routing channel 1..4 -> 1..4), sync records
of T2 files -> SYNC_CHANNEL (99), markers -> 100 + marker bits (101..115). T3 records: timestamps_ps =
nsync * sync period + dtime * resolution, microtimes_ps = dtime * resolution (markers: -1, no microtime).
"""

from __future__ import annotations

import os
import struct
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import numpy as np
from numba import njit

from tagstream.chunk import TagChunk
from tagstream.errors import (BadMagicError, CorruptRecordError, EmptyFileError, HeaderError, TimeOrderError,
                              TruncatedFileError)
from tagstream.io.base import DEFAULT_CHUNK_RECORDS, DEFAULT_REORDER_WINDOW_PS, TagReader, map_window

PTU_MAGIC = b"PQTTTR\x00\x00"
SYNC_CHANNEL = 99
MARKER_BASE = 100
NO_MICROTIME = -1

TY_EMPTY8, TY_BOOL8, TY_INT8, TY_BITSET64, TY_COLOR8 = 0xFFFF0008, 0x00000008, 0x10000008, 0x11000008, 0x12000008
TY_FLOAT8, TY_DATETIME, TY_FLOAT8ARRAY = 0x20000008, 0x21000008, 0x2001FFFF
TY_ANSISTRING, TY_WIDESTRING, TY_BINARYBLOB = 0x4001FFFF, 0x4002FFFF, 0xFFFFFFFF

# record type -> (name, kind, is_t3); kind: 0 PicoHarp T2, 1 PicoHarp T3, 2/3 HH-type T2 v1/v2, 4/5 T3 v1/v2
RECORD_TYPES = {
    0x00010203: ("PicoHarpT2", 0, False), 0x00010303: ("PicoHarpT3", 1, True),
    0x00010204: ("HydraHarpT2", 2, False), 0x00010304: ("HydraHarpT3", 4, True),
    0x01010204: ("HydraHarp2T2", 3, False), 0x01010304: ("HydraHarp2T3", 5, True),
    0x00010205: ("TimeHarp260NT2", 3, False), 0x00010305: ("TimeHarp260NT3", 5, True),
    0x00010206: ("TimeHarp260PT2", 3, False), 0x00010306: ("TimeHarp260PT3", 5, True),
    0x00010207: ("MultiHarpT2", 3, False), 0x00010307: ("MultiHarpT3", 5, True),
}
TAG_HEAD = struct.Struct("<32siI")
HEADER_LIMIT = 64 << 20          # a PTU header larger than this is treated as corrupt


def sniff_ptu(head: bytes) -> bool:
    return head.startswith(PTU_MAGIC)


@njit(nogil=True, cache=True)
def decode_records(words, kind, ofl, ticks, dtimes, chans):
    """Decode 32-bit records. Returns (n_out, ofl, bad): bad = index of the first invalid record or -1.

    ofl: overflow correction in time units (T2) or syncs (T3), carried between calls. Outputs: ticks
    (T2: time units; T3: nsync), dtimes (T3 only; markers -1), chans (tagstream channels).
    """
    n_out = 0
    for i in range(words.shape[0]):
        w = np.int64(words[i])
        if kind == 0:                                   # PicoHarp T2
            ch = (w >> 28) & 0xF
            tm = w & 0x0FFFFFFF
            if ch == 0xF:
                mk = tm & 0xF
                if mk == 0:
                    ofl += 210698240
                    continue
                ticks[n_out] = ofl + tm
                dtimes[n_out] = -1
                chans[n_out] = MARKER_BASE + mk
            elif ch > 4:
                return n_out, ofl, i
            else:
                ticks[n_out] = ofl + tm
                dtimes[n_out] = -1
                chans[n_out] = SYNC_CHANNEL if ch == 0 else ch
            n_out += 1
        elif kind == 1:                                 # PicoHarp T3
            ch = (w >> 28) & 0xF
            dt = (w >> 16) & 0xFFF
            ns = w & 0xFFFF
            if ch == 0xF:
                if dt == 0:
                    ofl += 65536
                    continue
                ticks[n_out] = ofl + ns
                dtimes[n_out] = -1
                chans[n_out] = MARKER_BASE + (dt & 0xF)
            elif ch == 0 or ch > 4:
                return n_out, ofl, i
            else:
                ticks[n_out] = ofl + ns
                dtimes[n_out] = dt
                chans[n_out] = ch
            n_out += 1
        elif kind == 2 or kind == 3:                    # HydraHarp-type T2
            sp = (w >> 31) & 1
            ch = (w >> 25) & 0x3F
            tm = w & 0x1FFFFFF
            if sp == 1:
                if ch == 0x3F:
                    if kind == 2:
                        ofl += 33552000
                    else:
                        ofl += 33554432 * (tm if tm > 0 else 1)
                    continue
                if ch == 0:
                    chans[n_out] = SYNC_CHANNEL
                elif ch <= 15:
                    chans[n_out] = MARKER_BASE + ch
                else:
                    return n_out, ofl, i
            else:
                chans[n_out] = ch + 1
            ticks[n_out] = ofl + tm
            dtimes[n_out] = -1
            n_out += 1
        else:                                           # HydraHarp-type T3
            sp = (w >> 31) & 1
            ch = (w >> 25) & 0x3F
            dt = (w >> 10) & 0x7FFF
            ns = w & 0x3FF
            if sp == 1:
                if ch == 0x3F:
                    if kind == 4:
                        ofl += 1024
                    else:
                        ofl += 1024 * (ns if ns > 0 else 1)
                    continue
                if 1 <= ch <= 15:
                    ticks[n_out] = ofl + ns
                    dtimes[n_out] = -1
                    chans[n_out] = MARKER_BASE + ch
                else:
                    return n_out, ofl, i
            else:
                ticks[n_out] = ofl + ns
                dtimes[n_out] = dt
                chans[n_out] = ch + 1
            n_out += 1
    return n_out, ofl, -1


def _tdatetime_iso(days: float) -> str:
    try:
        return (datetime(1899, 12, 30, tzinfo=timezone.utc) + timedelta(days=float(days))).isoformat()
    except (OverflowError, ValueError):
        return repr(days)


def read_ptu_header(path) -> tuple[dict, int, str]:
    """Parse the tag header: returns (tags {name or name(idx): value}, data_offset, version string)."""
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise EmptyFileError("file is empty", path, 0, 0)
    with open(path, "rb") as f:
        head = f.read(16)
        if len(head) < 8 or head[:8] != PTU_MAGIC:
            if PTU_MAGIC.startswith(head[:8]) and len(head) < 8:
                raise TruncatedFileError("file ends inside the PTU magic", path, len(head))
            raise BadMagicError(f"not a PicoQuant PTU file (magic {head[:8]!r}, expected {PTU_MAGIC!r})", path, 0)
        if len(head) < 16:
            raise TruncatedFileError("file ends inside the PTU version field", path, len(head))
        version = head[8:16].rstrip(b"\x00").decode("latin-1")
        tags: dict = {}
        offset = 16
        while True:
            raw = f.read(48)
            if len(raw) < 48:
                raise TruncatedFileError("file ends inside the PTU tag header (no Header_End)", path, offset)
            ident_b, idx, typ = TAG_HEAD.unpack_from(raw)
            ident = ident_b.split(b"\x00", 1)[0].decode("latin-1")
            value8 = raw[40:48]
            name = f"{ident}({idx})" if idx > -1 else ident
            if not ident or not ident.isprintable():
                raise HeaderError(f"invalid PTU tag name {ident_b!r}", path, offset)
            if typ in (TY_ANSISTRING, TY_WIDESTRING, TY_FLOAT8ARRAY, TY_BINARYBLOB):
                (length,) = struct.unpack("<q", value8)
                if length < 0 or offset + 48 + length > min(size, HEADER_LIMIT):
                    if length >= 0 and offset + 48 + length > size and length <= HEADER_LIMIT:
                        raise TruncatedFileError(f"file ends inside the data of tag {name}", path, offset + 48)
                    raise HeaderError(f"tag {name} has an impossible length {length}", path, offset + 40)
                data = f.read(length)
                if typ == TY_ANSISTRING:
                    value = data.split(b"\x00", 1)[0].decode("utf-8", errors="replace")
                elif typ == TY_WIDESTRING:
                    value = data.decode("utf-16-le", errors="replace").split("\x00", 1)[0]
                elif typ == TY_FLOAT8ARRAY:
                    value = f"<float array, {length // 8} values>"
                else:
                    value = f"<binary blob, {length} bytes>"
                offset += 48 + length
            else:
                if typ == TY_EMPTY8:
                    value = None
                elif typ == TY_BOOL8:
                    value = struct.unpack("<q", value8)[0] != 0
                elif typ in (TY_INT8, TY_BITSET64, TY_COLOR8):
                    value = struct.unpack("<q", value8)[0]
                elif typ == TY_FLOAT8:
                    value = struct.unpack("<d", value8)[0]
                elif typ == TY_DATETIME:
                    value = _tdatetime_iso(struct.unpack("<d", value8)[0])
                else:
                    raise HeaderError(f"unknown PTU tag type 0x{typ:08X} of tag {name}", path, offset + 36)
                offset += 48
            tags[name] = value
            if ident == "Header_End":
                return tags, offset, version
            if offset > HEADER_LIMIT:
                raise HeaderError("PTU header larger than 64 MiB without Header_End", path, offset)


class MicrotimeReorderer:
    """Stable streaming sort of (time, channel, microtime) within a window, like io.reorder.Reorderer
    but carrying microtimes: a tag more than window_ps earlier than an earlier tag raises TimeOrderError."""

    def __init__(self, window_ps: int, path=None) -> None:
        self.window_ps = int(window_ps)
        self.path = path
        self._t = np.empty(0, np.int64)
        self._c = np.empty(0, np.uint16)
        self._m = np.empty(0, np.int64)
        self._max = None

    def push(self, t, c, m, first_record=None, locate=None):
        """Add tags in file order (m may be None); returns the final ones (t, c, m) in time order.
        locate(i) -> (path, byte_offset, record) of tag i names the place of a time-order error."""
        if t.size == 0:
            return t, c, m
        rmax = np.maximum.accumulate(t)
        if self._max is not None:
            np.maximum(rmax, self._max, out=rmax)
        back = rmax - t
        if int(back.max()) > self.window_ps:
            i = int(np.argmax(back > self.window_ps))
            where = locate(i) if locate is not None else (self.path, None,
                                                          None if first_record is None else first_record + i)
            raise TimeOrderError(f"tag at {int(t[i])} ps is {int(back[i])} ps earlier than an earlier tag, "
                                 f"more than the reorder window of {self.window_ps} ps", *where)
        self._max = int(rmax[-1])
        all_t = np.concatenate([self._t, t])
        order = np.argsort(all_t, kind="stable")
        all_t = all_t[order]
        all_c = np.concatenate([self._c, c])[order]
        all_m = np.concatenate([self._m, m if m is not None else np.zeros(t.size, np.int64)])[order]
        cut = int(np.searchsorted(all_t, self._max - self.window_ps, side="left"))
        self._t, self._c, self._m = all_t[cut:], all_c[cut:], all_m[cut:]
        return all_t[:cut], all_c[:cut], (all_m[:cut] if m is not None else None)

    def finish(self, with_micro: bool):
        t, c, m = self._t, self._c, self._m
        self._t, self._c, self._m = np.empty(0, np.int64), np.empty(0, np.uint16), np.empty(0, np.int64)
        return t, c, (m if with_micro else None)


def emit_chunks(t, c, m, chunk_records: int, first: int):
    """Split arrays into TagChunks of at most chunk_records; yields (chunk, next_first)."""
    for a in range(0, t.size, chunk_records):
        b = min(a + chunk_records, t.size)
        yield TagChunk(t[a:b], c[a:b], first + a, None if m is None else m[a:b])


class PtuReader(TagReader):
    """Streaming reader for PicoQuant .ptu files (see module docstring for channels and units)."""

    format = "ptu"

    def __init__(self, path, reorder_window_ps: int = DEFAULT_REORDER_WINDOW_PS, allow_truncated: bool = False,
                 **_ignored) -> None:
        super().__init__(path, reorder_window_ps, allow_truncated)
        tags, self._data_offset, version = read_ptu_header(self.path)
        p = self.path

        def need(name, kinds):
            if name not in tags or not isinstance(tags[name], kinds) or isinstance(tags[name], bool):
                raise HeaderError(f"PTU header lacks a valid {name}", p, 0)
            return tags[name]

        rec_type = need("TTResultFormat_TTTRRecType", int) & 0xFFFFFFFF
        if rec_type not in RECORD_TYPES:
            known = ", ".join(f"0x{k:08X} {v[0]}" for k, v in RECORD_TYPES.items())
            raise HeaderError(f"unsupported PTU record type 0x{rec_type:08X} ({rec_type}); known: {known}", p, 0)
        self.record_type, self._kind, self.is_t3 = RECORD_TYPES[rec_type]
        glob_res = float(need("MeasDesc_GlobalResolution", (int, float)))
        if not (np.isfinite(glob_res) and 1e-15 < glob_res < 1.0):
            raise HeaderError(f"impossible MeasDesc_GlobalResolution {glob_res} s", p, 0)
        if self.is_t3:
            res = float(need("MeasDesc_Resolution", (int, float)))
            if not (np.isfinite(res) and 1e-15 < res < 1.0):
                raise HeaderError(f"impossible MeasDesc_Resolution {res} s", p, 0)
            self.sync_period_ps = glob_res * 1e12
            self.resolution_ps = res * 1e12
            self._unit_ps = self.sync_period_ps
        else:
            self.sync_period_ps = None
            self.resolution_ps = glob_res * 1e12
            self._unit_ps = self.resolution_ps
        size = os.path.getsize(p)
        data_bytes = size - self._data_offset
        whole = data_bytes // 4
        header_n = tags.get("TTResult_NumberOfRecords")
        header_n = int(header_n) if isinstance(header_n, int) and not isinstance(header_n, bool) else None
        self._n_file_records = whole
        if header_n is not None and header_n < 0:
            self._warn(f"header TTResult_NumberOfRecords {header_n} is impossible; reading the {whole} whole "
                       f"records present")
            header_n = None
        if header_n is None or header_n == 0:
            if whole:
                self._warn(f"header gives no number of records; reading the {whole} whole records present")
        elif header_n < whole:
            self._warn(f"header says {header_n} records, the file holds {whole}: reading {header_n}")
            self._n_file_records = header_n
        elif header_n > whole:
            self._end_error = TruncatedFileError(
                f"file holds {whole} whole records but the header says {header_n} (cut off)", p,
                self._data_offset + whole * 4, whole)
        if data_bytes % 4 and self._end_error is None and self._n_file_records == whole:
            self._end_error = TruncatedFileError("file ends inside a 4-byte record", p,
                                                 self._data_offset + whole * 4, whole)
        self.n_records = self._n_file_records       # file records (overflows included)
        ms = [v for v in (tags.get("MeasDesc_AcquisitionTime"), tags.get("TTResult_StopAfter"))
              if isinstance(v, int) and not isinstance(v, bool) and 0 < v < 10**12]
        # no tag can be later than the measurement lasted: a damaged overflow record shifts all later ones
        self._max_time_ps = int(max(ms) * 1e9 * 1.001 + 1e9) if ms else None
        self.metadata = {
            "format": "ptu", "ptu_version": version, "record_type": self.record_type,
            "record_type_code": rec_type, "t3": self.is_t3, "resolution_ps": self.resolution_ps,
            "sync_period_ps": self.sync_period_ps, "sync_channel": SYNC_CHANNEL,
            "marker_channels": "100 + marker bits", "microtime_missing": NO_MICROTIME,
            "records_in_file": self._n_file_records,
            "tags": {k: v for k, v in tags.items() if isinstance(v, (int, float, str, bool)) or v is None},
        }
        if self.warnings:
            self.metadata["warnings"] = list(self.warnings)

    def _to_ps(self, ticks: np.ndarray, dtimes: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        if not self.is_t3:
            return np.rint(ticks * self._unit_ps).astype(np.int64), None
        micro = np.where(dtimes >= 0, np.rint(dtimes * self.resolution_ps), NO_MICROTIME).astype(np.int64)
        t = np.rint(ticks * self.sync_period_ps).astype(np.int64) + np.maximum(micro, 0)
        return t, micro

    def chunks(self, chunk_records: int = DEFAULT_CHUNK_RECORDS) -> Iterator[TagChunk]:
        """Yield TagChunks in time order (T3: with microtimes_ps); overflow state carried across chunks."""
        chunk_records = int(chunk_records)
        if chunk_records < 1:
            raise ValueError("chunk_records must be >= 1")
        window = self.reorder_window_ps + (int(2 * self.sync_period_ps) + int(32768 * self.resolution_ps)
                                           if self.is_t3 else 0)
        reorder = MicrotimeReorderer(window, self.path)
        emitted = 0
        ofl = 0
        rec0 = 0
        block = max(chunk_records, 4096)
        while rec0 < self._n_file_records:
            n = min(block, self._n_file_records - rec0)
            words = map_window(self.path, self._data_offset + rec0 * 4, n * 4).view("<u4")
            ticks = np.empty(n, np.int64)
            dts = np.empty(n, np.int64)
            chs = np.empty(n, np.uint16)
            ofl_before = ofl
            n_out, ofl, bad = decode_records(words, self._kind, ofl, ticks, dts, chs)
            if bad >= 0:
                rec = rec0 + bad
                raise CorruptRecordError(f"invalid {self.record_type} record 0x{int(words[bad]):08X}",
                                         self.path, self._data_offset + rec * 4, rec)
            t, m = self._to_ps(ticks[:n_out], dts[:n_out])
            if self._max_time_ps is not None and t.size and int(t.max()) > self._max_time_ps:
                i = int(np.argmax(t > self._max_time_ps))
                raise CorruptRecordError(
                    f"tag at {int(t[i]) / 1e12:.6f} s is later than the measurement lasted (header "
                    f"MeasDesc_AcquisitionTime / TTResult_StopAfter: {self._max_time_ps / 1e12:.3f} s with margin): "
                    f"a damaged record (overflow?)", *self._event_locator(words, ofl_before, rec0)(i))
            t, c, m = reorder.push(t, chs[:n_out], m, locate=self._event_locator(words, ofl_before, rec0))
            del words
            for chunk in emit_chunks(t, c, m, chunk_records, emitted):
                yield chunk
            emitted += t.size
            rec0 += n
        t, c, m = reorder.finish(self.is_t3)
        for chunk in emit_chunks(t, c, m, chunk_records, emitted):
            yield chunk
        emitted += t.size
        self.metadata["tags_read"] = emitted
        if self._end_error is not None:
            if self.allow_truncated:
                self._warn(str(self._end_error))
            else:
                raise self._end_error

    def _event_locator(self, words, ofl, rec0: int):
        """locate(i) of the i-th decoded event of a block (overflow records are not events): found by
        bisection on how many events a prefix decodes to (only run for an error message)."""
        def locate(i: int) -> tuple:
            lo, hi = 0, words.shape[0]
            scratch = [np.empty(words.shape[0], t) for t in (np.int64, np.int64, np.uint16)]
            while lo < hi:   # the smallest prefix that holds i + 1 events
                mid = (lo + hi) // 2
                if decode_records(words[:mid + 1], self._kind, ofl, *scratch)[0] >= i + 1:
                    hi = mid
                else:
                    lo = mid + 1
            rec = rec0 + lo
            return self.path, self._data_offset + 4 * rec, rec
        return locate

    @property
    def has_microtimes(self) -> bool:
        return bool(self.is_t3)

    def header_setup(self) -> dict:
        """Inputs from HW_InpChannels (input i -> channel i + 1), HWSync_Divider; T3: the sync is
        implicit (no sync channel), the laser period is MeasDesc_GlobalResolution and the recorded
        dtimes are folded into it (with a divider they span several laser periods); T2: sync channel
        99 when TTResult_SyncRate > 0, else no sync."""
        tags = self.metadata["tags"]
        n_in = tags.get("HW_InpChannels")
        div = tags.get("HWSync_Divider")
        div = int(div) if isinstance(div, int) and not isinstance(div, bool) and div >= 1 else 1
        self.hw_sync_divider = div if self.is_t3 else 1
        out: dict = {"spad_a": 1, "notes": []}
        if isinstance(n_in, int) and not isinstance(n_in, bool):
            out["spad_b"] = 2 if n_in >= 2 else None
            if n_in < 2:
                out["notes"].append(f"PTU: {n_in} input channel: one detector, no g2")
        if self.is_t3:
            out.update(sync=None, laser_period_ps=self.sync_period_ps, sync_divider=1)
            out["notes"].append(f"PTU T3: sync implicit, laser period {self.sync_period_ps:.3f} ps "
                                f"(MeasDesc_GlobalResolution), dtime resolution {self.resolution_ps:g} ps")
            if div > 1:
                out["notes"].append(f"PTU T3 with HWSync_Divider {div}: the dtimes span several laser periods "
                                    f"and are folded into one")
        else:
            rate = tags.get("TTResult_SyncRate")
            has_sync = isinstance(rate, (int, float)) and not isinstance(rate, bool) and rate > 0
            out.update(sync=SYNC_CHANNEL if has_sync else None, sync_divider=div)
            if not has_sync:
                out["notes"].append("PTU T2: TTResult_SyncRate is 0: no laser sync recorded")
        return out
