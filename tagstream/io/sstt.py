"""SSTT ("Simple Small Time Tagged", PHAST/libtimetag) recordings: a text header + one file per channel.

Header (`name.sstt`): first line "Simple Small Time Tagged (V2)"; an EXPERIMENT_HEADER table
(Time_unit_seconds, device_type, experiment_start_timestamp_UTC) and a CHANNEL_HEADER table
(ChannelID, Filename, NumPhotons, NumOverflows, Filesize, sync-divider columns ...), tab separated,
each ended by a blank line. Channel files (layout of rabouwlab/libtimetag sstt_file2.h / sstt_file.h):

V2: 18-byte header starting b"SSTT2\\0", then 6-byte little-endian events: bit 0 overflow flag, bit 1
    reserved (set = CorruptRecordError), bits 2-47 the event time in the header's time unit, or for an
    overflow event the number of 2**46 overflows since the previous event.
V1 (deprecated upstream; no real file available): no file header, 8-byte events: bit 0 overflow,
    bit 1 reserved, bits 2-35 a microtime (not exposed), bits 36-63 the macrotime; an overflow adds
    2**28 to the macrotime. Time unit from the header, else 81 ps (quTAU) as libtimetag assumes.

The channels are merged into one time-ordered stream (streaming k-way merge; equal times keep the
header's channel order). Channel files listed but missing raise MissingChannelFilesError unless
skip_missing_channels=True (then metadata["missing_channel_files"] lists them). Writer: SsttV2Writer.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from tagstream.errors import (BadMagicError, CorruptRecordError, EmptyFileError, HeaderError,
                              MissingChannelFilesError, TimeOrderError, TruncatedFileError)
from tagstream.atomic import atomic_path
from tagstream.io.base import RawBlock, TagReader, map_window

SSTT2_MAGIC = b"SSTT2\x00"
SSTT2_HEADER_BYTES = 18
SSTT2_EVENT_BYTES = 6
SSTT2_TIME_BITS = 46
SSTT2_FIRST_LINE = "Simple Small Time Tagged (V2)"
SYNC_COLUMNS = ("HardwareSyncDivider", "AdditionalSyncDivider", "TotalSyncDivider", "IsPulsesChannel",
                "CorrespondingPulsesChannel")
INT_COLUMNS = ("ChannelID", "NumPhotons", "NumOverflows", "Filesize", "HardwareSyncDivider",
               "AdditionalSyncDivider", "TotalSyncDivider", "IsPulsesChannel", "HasPulsesChannel",
               "CorrespondingPulsesChannel", "HasMicrotimes", "MicroDelayTime")


def sniff_sstt(head: bytes) -> bool:
    return head.startswith(b"Simple Small Time Tagged") or b"\nCHANNEL_HEADER" in head


def parse_sstt_header(path: Path) -> tuple[int, dict, list[dict]]:
    """Return (version guess from the first line or 0, experiment dict, channel rows) of a header."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HeaderError(f"SSTT header is not text ({exc.reason})", path, exc.start) from None
    lines = text.replace("\r\n", "\n").split("\n")
    version = 2 if lines and lines[0].strip().endswith("(V2)") else 0
    experiment: dict = {}
    rows: list[dict] = []
    offsets = np.cumsum([0] + [len(x.encode()) + 1 for x in lines])
    i = 0
    while i < len(lines):
        name = lines[i].strip()
        if name in ("EXPERIMENT_HEADER", "CHANNEL_HEADER"):
            if i + 1 >= len(lines):
                raise HeaderError(f"{name} table has no column line", path, int(offsets[i]))
            cols = [c.strip() for c in lines[i + 1].split("\t") if c.strip()]
            j = i + 2
            while j < len(lines) and lines[j].strip():
                vals = [v.strip() for v in lines[j].split("\t") if v.strip()]
                if len(vals) != len(cols):
                    raise HeaderError(f"{name} row has {len(vals)} values for {len(cols)} columns",
                                      path, int(offsets[j]))
                row = dict(zip(cols, vals))
                if name == "EXPERIMENT_HEADER":
                    experiment.update(row)
                else:
                    rows.append(_typed_row(row, path, int(offsets[j])))
                j += 1
            i = j
        else:
            i += 1
    if not rows:
        raise HeaderError("SSTT header has no CHANNEL_HEADER rows", path, 0)
    seen: dict = {}
    for row in rows:
        for key in ("ChannelID", "Filename"):
            if row[key] in seen.setdefault(key, set()):
                raise HeaderError(f"CHANNEL_HEADER lists {key} {row[key]} twice: the header is damaged "
                                  f"(each channel needs its own row and file)", path)
            seen[key].add(row[key])
    ids = seen["ChannelID"]
    for row in rows:
        ref = row.get("CorrespondingPulsesChannel", 0)
        if row.get("HasPulsesChannel") and ref and ref not in ids:
            raise HeaderError(f"channel {row['ChannelID']} refers to pulses channel {ref}, which the "
                              f"CHANNEL_HEADER does not list: the header is cut or damaged", path)
    return version, experiment, rows


def _typed_row(row: dict, path: Path, offset: int) -> dict:
    if "ChannelID" not in row or "Filename" not in row:
        raise HeaderError("CHANNEL_HEADER lacks a ChannelID or Filename column", path, offset)
    out = {}
    for k, v in row.items():
        if k in INT_COLUMNS:
            try:
                out[k] = int(v)
            except ValueError:
                raise HeaderError(f"column {k} value {v!r} is not an integer", path, offset) from None
        else:
            out[k] = v.strip('"') if k == "Filename" else v
    if not 0 <= out["ChannelID"] <= 65535:
        raise HeaderError(f"channel ID {out['ChannelID']} out of range", path, offset)
    return out


class _ChannelCursor:
    """Decodes one channel file block by block (overflows carried across blocks)."""

    def __init__(self, reader: "SsttReader", channel: int, path: Path, version: int, unit_ps: int) -> None:
        self.reader, self.channel, self.path, self.unit_ps = reader, channel, path, unit_ps
        self.version = version
        size = path.stat().st_size
        if version == 2:
            self.header_bytes, self.event_bytes, self.time_bits = SSTT2_HEADER_BYTES, 6, SSTT2_TIME_BITS
            with open(path, "rb") as f:
                head = f.read(SSTT2_HEADER_BYTES)
            if head[:6] != SSTT2_MAGIC[:len(head[:6])]:
                raise BadMagicError(f"not an SSTT V2 channel file: starts {head[:6]!r}", path, 0)
            if len(head) < SSTT2_HEADER_BYTES:
                raise TruncatedFileError(f"channel file ends inside its {SSTT2_HEADER_BYTES}-byte header",
                                         path, len(head), 0)
        else:
            self.header_bytes, self.event_bytes, self.time_bits = 0, 8, 28
        payload = size - self.header_bytes
        self.n_events = payload // self.event_bytes
        self.tail_bytes = payload % self.event_bytes
        self.size = size
        self.next_event = 0
        self.overflows = 0
        self.n_photons = 0
        self.buf_t = np.empty(0, np.int64)
        self.buf_i = np.empty(0, np.int64)
        self.last_t: int | None = None    # last photon time decoded (the per-channel order check)
        self.last_i = -1

    @property
    def exhausted(self) -> bool:
        return self.next_event >= self.n_events

    def locate_event(self, i: int) -> tuple:
        return self.path, self.header_bytes + int(i) * self.event_bytes, int(i)

    def refill(self, n_max: int) -> None:
        """Decode up to n_max more events; append the photons to the buffer."""
        first = self.next_event
        n = min(n_max, self.n_events - first)
        raw = map_window(self.path, self.header_bytes + first * self.event_bytes, n * self.event_bytes)
        b = raw.reshape(n, self.event_bytes).astype(np.uint64)
        del raw
        e = np.zeros(n, np.uint64)
        for k in range(self.event_bytes):
            e |= b[:, k] << np.uint64(8 * k)
        del b
        reserved = (e & np.uint64(2)) != 0
        if reserved.any():
            i = first + int(np.argmax(reserved))
            raise CorruptRecordError("SSTT event with the reserved bit 1 set (garbage bytes?)",
                                     *self.locate_event(i))
        is_ovf = (e & np.uint64(1)) != 0
        if self.version == 2:
            value = (e >> np.uint64(2)).astype(np.int64)
            macro = value
        else:
            value = ((e >> np.uint64(2)) & np.uint64((1 << 62) - 1)).astype(np.int64)
            macro = (e >> np.uint64(36)).astype(np.int64)
        counts = np.where(is_ovf, value, 0)
        cum = self.overflows + np.cumsum(counts)
        photon = ~is_ovf
        limit = (np.iinfo(np.int64).max // max(self.unit_ps, 1)) >> (self.time_bits + 1)
        too_big = (counts < 0) | (cum > limit) | (cum < 0)
        if too_big.any():
            i = first + int(np.argmax(too_big))
            raise CorruptRecordError("SSTT overflow count too large for int64 picoseconds (garbage "
                                     "bytes?)", *self.locate_event(i))
        times = macro[photon] + (cum[photon] << self.time_bits)
        if n:
            self.overflows = int(cum[-1])
        idx = first + np.flatnonzero(photon)
        times = times * self.unit_ps
        self._check_order(times, idx)
        self.buf_t = np.concatenate((self.buf_t, times))
        self.buf_i = np.concatenate((self.buf_i, idx))
        self.n_photons += int(times.size)
        self.next_event = first + n

    def _check_order(self, times: np.ndarray, idx: np.ndarray) -> None:
        """One channel file is written in time order: a step back of more than the reorder window
        is damage (garbage bytes, a lost overflow), said here whatever the chunking."""
        if times.size == 0:
            return
        prev = np.concatenate(([times[0] if self.last_t is None else self.last_t], times[:-1]))
        back = prev - times
        bad = back > self.reader.reorder_window_ps
        if bad.any():
            j = int(np.argmax(bad))
            before = int(idx[j - 1]) if j else self.last_i
            raise TimeOrderError(
                f"channel {self.channel} goes back in time by {int(back[j])} ps at this event (from "
                f"{int(prev[j])} ps at event {before} to {int(times[j])} ps), more than the reorder window "
                f"of {self.reader.reorder_window_ps} ps: the channel file is damaged", *self.locate_event(int(idx[j])))
        self.last_t, self.last_i = int(times[-1]), int(idx[-1])

    def take_upto(self, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        """Remove and return buffered photons up to the first one whose running max exceeds horizon."""
        if self.buf_t.size == 0:
            return self.buf_t, self.buf_i
        k = int(np.searchsorted(np.maximum.accumulate(self.buf_t), horizon, side="right"))
        t, i = self.buf_t[:k], self.buf_i[:k]
        self.buf_t, self.buf_i = self.buf_t[k:], self.buf_i[k:]
        return t, i


class SsttReader(TagReader):
    """SSTT V1/V2 recording (header file + channel files) as one merged, time-ordered stream."""

    def __init__(self, path, reorder_window_ps=1_000_000, allow_truncated=False,
                 skip_missing_channels=False, version: int | None = None, **_ignored):
        super().__init__(path, reorder_window_ps, allow_truncated)
        if self.path.stat().st_size == 0:
            raise EmptyFileError("SSTT header file is empty", self.path, 0, 0)
        first_line_version, experiment, rows = parse_sstt_header(self.path)
        folder = self.path.parent
        present, missing = [], []
        for row in rows:
            (present if (folder / row["Filename"]).is_file() else missing).append(row)
        if version is None:
            version = first_line_version
            if not version:
                version = 1
                for row in present:
                    with open(folder / row["Filename"], "rb") as f:
                        version = 2 if f.read(6) == SSTT2_MAGIC else 1
                    break
        self.version = version
        self.format = f"sstt-v{version}"
        unit_text = experiment.get("Time_unit_seconds", 1e-12 if version == 2 else 81e-12)
        try:
            unit_s = float(unit_text)
        except ValueError:
            raise HeaderError(f"Time_unit_seconds {unit_text!r} is not a number", self.path) from None
        unit_ps = unit_s * 1e12
        if not (unit_ps > 0 and math.isfinite(unit_ps)) or abs(unit_ps - round(unit_ps)) > 1e-6 * unit_ps:
            raise HeaderError(f"time unit {unit_s} s is not a whole number of picoseconds", self.path)
        self.unit_ps = int(round(unit_ps))
        channels_meta = {}
        for row in rows:
            info = dict(row)
            info["present"] = row in present
            channels_meta[str(row["ChannelID"])] = info
        self.metadata.update({
            "sstt_version": version, "time_unit_s": unit_s, "time_unit_ps": self.unit_ps,
            "device_type": experiment.get("device_type"),
            "experiment_start_timestamp_UTC": experiment.get("experiment_start_timestamp_UTC"),
            "experiment": experiment, "channels": channels_meta,
            "sync_dividers": {str(r["ChannelID"]): {k: r.get(k, 0 if k.startswith(("Is", "Corr")) else 1)
                                                    for k in SYNC_COLUMNS} for r in rows},
            "missing_channel_files": [r["Filename"] for r in missing],
        })
        if missing and not skip_missing_channels:
            files = [folder / r["Filename"] for r in missing]
            raise MissingChannelFilesError(
                f"channel files listed in the header are missing: {', '.join(str(p.name) for p in files)} "
                f"(use skip_missing_channels=True / --skip-missing-channels to read the others)",
                self.path, missing=files)
        if missing:
            self._warn(f"channel files missing, not read: {', '.join(r['Filename'] for r in missing)}")
        listed = {r["Filename"] for r in rows}
        unlisted = sorted(p.name for p in folder.glob(self.path.name + ".c*")
                          if p.name not in listed and p.name[len(self.path.name) + 2:].isdigit())
        if unlisted:
            self._warn(f"channel files {', '.join(unlisted)} are next to the header but not in its CHANNEL_HEADER "
                       f"(header cut or edited?): they are not read")
        self._rows = present
        for row in present:   # check magic / sizes now so that open_tags fails early
            self._check_channel(row, _ChannelCursor(self, row["ChannelID"], folder / row["Filename"],
                                                    version, self.unit_ps))

    def header_setup(self) -> dict:
        """Sync = the IsPulsesChannel channel (divider TotalSyncDivider); SPADs = the channels whose
        CorrespondingPulsesChannel is it (present files first); no pulses channel: no sync."""
        info = self.metadata.get("channels", {})
        pulses = [int(k) for k, v in info.items() if v.get("IsPulsesChannel")]
        out: dict = {"notes": []}
        if not pulses:
            if any("IsPulsesChannel" in v for v in info.values()):
                out["sync"] = None
                out["notes"].append("SSTT: no channel has IsPulsesChannel set: no laser sync")
            return out
        sync = pulses[0]
        out["sync"] = sync
        out["sync_divider"] = max(1, int(info[str(sync)].get("TotalSyncDivider", 1) or 1))
        det = [int(k) for k, v in info.items() if int(v.get("CorrespondingPulsesChannel", 0)) == sync]
        present = [c for c in det if info[str(c)].get("present", True)]
        absent = [c for c in det if c not in present]
        if present:
            out["spad_a"] = present[0]
            out["spad_b"] = present[1] if len(present) > 1 else None
        if absent:
            out["notes"].append(f"SSTT: detector channel(s) {absent} listed in the header but their files are "
                                f"missing")
        return out

    def _check_channel(self, row: dict, cur: _ChannelCursor) -> None:
        """Compare a channel file with the header's Filesize (0 = never finalised by the writer)."""
        declared = row.get("Filesize", 0)
        name = row["Filename"]
        finished = declared == cur.size
        if declared > cur.size:
            self._end_error = self._end_error or TruncatedFileError(
                f"channel file {name} is shorter than the header says ({cur.size} of {declared} bytes): "
                f"it was cut", cur.path, cur.size, cur.n_events)
        elif not finished and (declared or cur.n_events or cur.tail_bytes):
            self._warn(f"unfinished recording: header Filesize of {name} is {declared}, the file has "
                       f"{cur.size} bytes (writer not closed); read to the last whole event")
        if cur.tail_bytes:
            err = TruncatedFileError(f"channel file {name} ends inside an event ({cur.tail_bytes} of "
                                     f"{cur.event_bytes} bytes)", cur.path,
                                     cur.header_bytes + cur.n_events * cur.event_bytes, cur.n_events)
            if finished:
                self._end_error = self._end_error or err
            elif declared <= cur.size:
                self._warn(str(err))

    def _blocks(self, chunk_records):
        folder = self.path.parent
        cursors = [_ChannelCursor(self, r["ChannelID"], folder / r["Filename"], self.version, self.unit_ps)
                   for r in self._rows]
        per_channel = max(1, chunk_records // max(1, len(cursors)))
        while True:
            for cur in cursors:
                while cur.buf_t.size == 0 and not cur.exhausted:
                    cur.refill(per_channel)
            live = [c for c in cursors if c.buf_t.size]
            if not live:
                break
            pending = [c for c in cursors if not c.exhausted]
            horizon = min((int(c.buf_t.max()) for c in pending), default=None)
            ts, chs, srcs, idxs = [], [], [], []
            for k, cur in enumerate(cursors):
                if horizon is None:
                    t, i = cur.buf_t, cur.buf_i
                    cur.buf_t, cur.buf_i = np.empty(0, np.int64), np.empty(0, np.int64)
                else:
                    t, i = cur.take_upto(horizon)
                if t.size:
                    ts.append(t)
                    chs.append(np.full(t.size, cur.channel, np.uint16))
                    srcs.append(np.full(t.size, k, np.int64))
                    idxs.append(i)
            t = np.concatenate(ts)
            order = np.argsort(t, kind="stable")
            src, idx = np.concatenate(srcs)[order], np.concatenate(idxs)[order]

            def locate(j, src=src, idx=idx):
                return cursors[int(src[j])].locate_event(int(idx[j]))

            yield RawBlock(t[order], np.concatenate(chs)[order], locate)
        self._counts = {str(c.channel): c.n_photons for c in cursors}
        self._overflows = {str(c.channel): c.overflows for c in cursors}

    def _finished(self) -> None:
        counts = getattr(self, "_counts", {})
        self.metadata["photons_read"] = counts
        self.n_records = sum(counts.values())
        overflows = getattr(self, "_overflows", {})
        for r in self._rows:
            ch = str(r["ChannelID"])
            finished = r.get("Filesize", 0) and r["Filesize"] == (self.path.parent / r["Filename"]).stat().st_size
            for key, got in (("NumPhotons", counts.get(ch)), ("NumOverflows", overflows.get(ch))):
                want = r.get(key)
                if want is None or got is None or want == got or not r.get("Filesize", 0):
                    continue
                text = (f"channel {ch}: header {key} {want}, the channel file holds {got}: "
                        f"{'the finished file is damaged (bytes changed?)' if finished else 'file size differs'}")
                if finished and self._end_error is None and not self.allow_truncated:
                    self._end_error = CorruptRecordError(text, self.path.parent / r["Filename"])
                else:
                    self._warn(text)


# ------------------------------------------------------------------------------------------
# writer

def _atomic_write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, newline="\n")


class SsttV2Writer:
    """Streaming SSTT V2 writer: header file + one `<header>.c<ID>` file per channel.

    with SsttV2Writer("run.sstt", channels=[1, 2, 5]) as w: w.write(chunk)
    channels: IDs to create files for up front (others are created when they first appear).
    channel_info: {ID: {"AdditionalSyncDivider": 1000, "IsPulsesChannel": 1, ...}} extra columns.
    Events are appended whole. The header (rewritten atomically at open, flush and close) says
    Filesize 0 until close(), so a killed writer leaves an "unfinished" recording that readers read
    to its last whole event. Timestamps must be >= 0 and whole multiples of the time unit, and
    non-decreasing per channel. Refuses existing files unless overwrite=True (FileExistsError).
    """

    def __init__(self, header_path, channels=(), overwrite: bool = False, time_unit_s: float = 1e-12,
                 device_type: str = "tagstream", experiment_start_utc: str | None = None,
                 channel_info: dict | None = None) -> None:
        self.path = Path(header_path)
        self.overwrite = overwrite
        self.time_unit_s = float(time_unit_s)
        self.unit_ps = int(round(self.time_unit_s * 1e12))
        if self.unit_ps < 1 or abs(self.unit_ps - self.time_unit_s * 1e12) > 1e-6 * self.unit_ps:
            raise ValueError("time_unit_s must be a whole number of picoseconds")
        self.device_type = device_type
        self.start_utc = experiment_start_utc or "1970-01-01T00:00:00Z"
        self.channel_info = {int(k): dict(v) for k, v in (channel_info or {}).items()}
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"{self.path} exists (pass overwrite=True to replace it)")
        self._files: dict[int, object] = {}
        self._photons: dict[int, int] = {}
        self._overflows: dict[int, int] = {}
        self._last: dict[int, int] = {}
        self.closed = False
        for ch in channels:
            self._open_channel(int(ch))
        self._write_header(final=False)

    def channel_path(self, channel: int) -> Path:
        return self.path.with_name(f"{self.path.name}.c{channel}")

    def _open_channel(self, ch: int) -> None:
        if not 0 <= ch <= 65535:
            raise ValueError(f"channel {ch} out of range")
        p = self.channel_path(ch)
        f = open(p, "wb" if self.overwrite else "xb")
        f.write(SSTT2_MAGIC + b"\xff" * (SSTT2_HEADER_BYTES - len(SSTT2_MAGIC)))
        self._files[ch] = f
        self._photons[ch] = 0
        self._overflows[ch] = 0
        self._last[ch] = -1

    def write(self, chunk_or_timestamps, channels=None) -> None:
        """Append a TagChunk (or timestamps_ps, channels arrays)."""
        if channels is None:
            t, c = chunk_or_timestamps.timestamps_ps, chunk_or_timestamps.channels
        else:
            t, c = chunk_or_timestamps, channels
        t = np.asarray(t, np.int64)
        c = np.asarray(c)
        if t.size == 0:
            return
        if int(t.min()) < 0:
            raise ValueError("SSTT timestamps must be >= 0")
        if self.unit_ps != 1 and np.any(t % self.unit_ps):
            raise ValueError(f"timestamps are not multiples of the time unit {self.unit_ps} ps")
        units = t // self.unit_ps
        for ch in np.unique(c).tolist():
            if ch not in self._files:
                self._open_channel(int(ch))
            u = units[c == ch]
            if np.any(np.diff(u) < 0) or int(u[0]) < self._last[ch]:
                raise ValueError(f"channel {ch}: timestamps must be non-decreasing per channel")
            self._files[ch].write(self._encode(ch, u))
            self._last[ch] = int(u[-1])
            self._photons[ch] += int(u.size)

    def _encode(self, ch: int, u: np.ndarray) -> bytes:
        hi = u >> SSTT2_TIME_BITS
        prev_hi = np.concatenate(([self._overflows[ch]], hi[:-1]))
        jump = hi - prev_hi
        n_ovf = int(np.count_nonzero(jump))
        words = np.empty(u.size + n_ovf, np.uint64)
        # each event k goes to slot k + (number of overflow events up to and including k)
        pos = np.arange(u.size) + np.cumsum(jump != 0)
        words[pos] = (u & ((1 << SSTT2_TIME_BITS) - 1)).astype(np.uint64) << np.uint64(2)
        where = np.flatnonzero(jump)
        words[pos[where] - 1] = (jump[where].astype(np.uint64) << np.uint64(2)) | np.uint64(1)
        self._overflows[ch] = int(hi[-1])
        return words.astype("<u8").view(np.uint8).reshape(-1, 8)[:, :6].tobytes()

    def _write_header(self, final: bool) -> None:
        cols = ["ChannelID", "Filename", "NumPhotons", "NumOverflows", "Filesize", "HardwareSyncDivider",
                "AdditionalSyncDivider", "TotalSyncDivider", "IsPulsesChannel", "HasPulsesChannel",
                "CorrespondingPulsesChannel"]
        lines = [SSTT2_FIRST_LINE, "# This file was written by tagstream.", "", "EXPERIMENT_HEADER",
                 "Time_unit_seconds\tdevice_type\texperiment_start_timestamp_UTC",
                 f"{self.time_unit_s:.15e}\t{self.device_type}\t{self.start_utc}", "", "CHANNEL_HEADER",
                 "\t".join(cols)]
        for ch in sorted(set(self._files) | set(self.channel_info)):
            info = self.channel_info.get(ch, {})
            hw, add = int(info.get("HardwareSyncDivider", 1)), int(info.get("AdditionalSyncDivider", 1))
            size = self._files[ch].tell() if (final and ch in self._files) else 0
            row = [ch, f'"{self.channel_path(ch).name}"', self._photons.get(ch, 0),
                   self._overflows.get(ch, 0), size, hw, add, int(info.get("TotalSyncDivider", hw * add)),
                   int(info.get("IsPulsesChannel", 0)), int(info.get("HasPulsesChannel", 0)),
                   int(info.get("CorrespondingPulsesChannel", 0))]
            lines.append("\t".join(str(x) for x in row) + "\t")
        lines += ["", ""]
        _atomic_write_text(self.path, "\n".join(lines))

    def flush(self, fsync: bool = False) -> None:
        for f in self._files.values():
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        self._write_header(final=False)

    def close(self) -> None:
        if self.closed:
            return
        for f in self._files.values():
            f.flush()
        self._write_header(final=True)
        for f in self._files.values():
            f.close()
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def write_sstt_v2(path, chunks, overwrite: bool = False, **writer_options) -> int:
    """Write a TagChunk, an iterable of TagChunks or a reader as SSTT V2; returns the tags written."""
    from tagstream.io.qutag import _iter_chunks

    with SsttV2Writer(path, overwrite=overwrite, **writer_options) as w:
        for ch in _iter_chunks(chunks):
            w.write(ch)
        return sum(w._photons.values())
