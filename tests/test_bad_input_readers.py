"""The reader cases of issue 13, one by one: damage that used to be hidden is now an error or a warning."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest

import fuzzkit as F
from tagstream.chunk import TagChunk
from tagstream.errors import (CorruptRecordError, HeaderError, SetupError, TagFileError, TimeOrderError,
                              TruncatedFileError)
from tagstream.io import open_tags


def _read(path, chunk=1 << 20, **kw):
    return F.read_tags(path, None, chunk, allow_truncated=kw.pop("allow_truncated", False))


def _sstt(tmp_path, tags=None):
    return F.make_recording("sstt-v2", tmp_path, tags)


def _patch_event(path, event: int, value: int) -> None:
    """Overwrite SSTT V2 channel event `event` with a photon at time unit `value`."""
    raw = bytearray(path.read_bytes())
    word = struct.pack("<Q", value << 2)[:6]
    raw[18 + 6 * event:18 + 6 * event + 6] = word
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 1 << 20])
def test_sstt_step_back_in_one_channel_is_an_error_whatever_the_chunking(tmp_path, chunk):
    p = _sstt(tmp_path)
    c1 = p.with_name(p.name + ".c1")
    t1 = F.sample_tags().timestamps_ps[F.sample_tags().channels == 1]
    _patch_event(c1, 10, int(t1[8]) - 5_000_000)    # 5 us before an earlier event of the same channel
    with pytest.raises(TimeOrderError, match="channel 1 goes back in time") as e:
        _read(p, chunk)
    assert e.value.byte_offset == 18 + 6 * 10 and e.value.record == 10


def test_sstt_ten_second_jump_of_one_sync_event(tmp_path):
    p = _sstt(tmp_path)
    c5 = p.with_name(p.name + ".c5")
    t5 = F.sample_tags().timestamps_ps[F.sample_tags().channels == 5]
    _patch_event(c5, 20, int(t5[20]) + 10 * 10**12)
    with pytest.raises(TimeOrderError, match="channel 5"):
        _read(p)


def test_sstt_overflow_count_differs_from_header(tmp_path):
    tags = F.sample_tags()
    big = TagChunk(tags.timestamps_ps + (1 << 47), tags.channels)      # two overflows before the data
    p = _sstt(tmp_path, big)
    c1 = p.with_name(p.name + ".c1")
    raw = bytearray(c1.read_bytes())
    assert raw[18] & 1                                                  # the first event is the overflow
    raw[18] = (raw[18] & 3) | (3 << 2)                                  # 3 overflows instead of 2
    c1.write_bytes(bytes(raw))
    with pytest.raises(CorruptRecordError, match="NumOverflows"):
        _read(p)
    *_, warnings = _read(p, allow_truncated=True)
    assert any("NumOverflows" in w for w in warnings)


def test_sstt_header_cut_at_a_row_end_is_said(tmp_path):
    p = _sstt(tmp_path)
    lines = p.read_text().split("\n")
    last_row = max(i for i, ln in enumerate(lines) if ln.split("\t")[0].isdigit())
    p.write_text("\n".join(lines[:last_row]) + "\n")                     # drops channel 5's row
    r = open_tags(p)
    assert any("not in its CHANNEL_HEADER" in w and ".c5" in w for w in r.warnings)


def test_sstt_duplicate_channel_ids_and_bad_unit(tmp_path):
    p = _sstt(tmp_path)
    text = p.read_text()
    row = next(ln for ln in text.split("\n") if ln.startswith("2\t"))
    p.write_text(text.replace(row, row + "\n" + row.replace(".c2", ".c9"), 1))
    with pytest.raises(HeaderError, match="ChannelID 2 twice"):
        open_tags(p)
    p.write_text(text.replace("1.000000000000000e-12", "abc", 1))
    with pytest.raises(HeaderError, match="Time_unit_seconds 'abc' is not a number"):
        open_tags(p)


def _compressed(tmp_path, t):
    tags = TagChunk(np.asarray(t, np.int64), np.array([1, 2] * (len(t) // 2), np.uint16))
    return F.make_recording("qutag-compressed", tmp_path, tags), tags


@pytest.mark.parametrize("gap_ms", [1, 70, 100, 136])
def test_qutag_compressed_gaps_under_a_wrap_are_exact(tmp_path, gap_ms):
    t = [5, 1000, 1000 + gap_ms * 10**9, 1000 + gap_ms * 10**9 + 7]
    p, tags = _compressed(tmp_path, t)
    got, _, warnings = _read(p)
    np.testing.assert_array_equal(got, tags.timestamps_ps)
    assert bool(warnings) == (gap_ms > 8)


def test_qutag_compressed_gap_over_a_wrap_is_warned(tmp_path):
    p, tags = _compressed(tmp_path, [5, 1000, 1000 + 200 * 10**9, 1000 + 200 * 10**9 + 7])
    _, _, warnings = _read(p)
    assert warnings and "wraps every 137.4 ms" in warnings[0] and "record 2" in warnings[0]


def test_finished_qutag_file_over_4gib(tmp_path):
    size = (1 << 32) + 4                        # size mod 2**32 = 4 < 40 header bytes
    p = tmp_path / "big.qutag"
    with open(p, "wb") as f:
        f.write(b"\x87\xb3\x91\xfa" + struct.pack("<I", size % (1 << 32)) + b"\0" * 32)
        f.truncate(size)                          # sparse: zero records (time 0, channel 0)
    r = open_tags(p)
    assert not r.warnings and r.n_records == (size - 40) // 10


def _h5(tmp_path, values, dtype, unit=1e-12, group=False):
    import h5py

    p = F.make_recording("photon-hdf5", tmp_path)
    with h5py.File(p, "r+") as h:
        del h["photon_data/timestamps"], h["photon_data/detectors"]
        if group:
            h.create_group("photon_data/timestamps")
        else:
            h["photon_data/timestamps"] = np.array(values, dtype=dtype)
        h["photon_data/detectors"] = np.zeros(len(values), np.uint8)
        h["photon_data/timestamps_specs/timestamps_unit"][()] = unit
    return p


@pytest.mark.parametrize("values,dtype,unit,match", [
    ([1, 2, 2**63 + 5], "<u8", 1e-12, "too large"),
    ([1, 2, 2**62], "<i8", 1e-9, "too large"),
    ([5, -3, 7], "<i8", 1e-12, "negative"),
])
def test_photon_hdf5_out_of_range_times(tmp_path, values, dtype, unit, match):
    p = _h5(tmp_path, values, dtype, unit)
    with pytest.raises(CorruptRecordError, match=match) as e:
        _read(p)
    assert e.value.record == next(i for i, v in enumerate(values) if v < 0 or v * unit * 1e12 > 2**62)


def test_photon_hdf5_timestamps_group(tmp_path):
    with pytest.raises(HeaderError, match="not a dataset"):
        open_tags(_h5(tmp_path, [1, 2], "<i8", group=True))


def test_ptu_negative_record_count_reads_the_records_present(tmp_path):
    p = F.make_recording("ptu", tmp_path)
    raw = bytearray(p.read_bytes())
    at = raw.index(b"TTResult_NumberOfRecords") + 40
    raw[at:at + 8] = struct.pack("<q", -5)
    p.write_bytes(bytes(raw))
    t, _, warnings = _read(p)
    assert t.size == 240 and any("-5 is impossible" in w for w in warnings)


def test_ptu_time_order_error_names_the_offset(tmp_path):
    tags = F.sample_tags()
    t = tags.timestamps_ps.copy()
    wrap = 33554432
    i = next(k for k in range(100, t.size) if t[k] % wrap > 3_000_000 and t[k - 1] // wrap == t[k] // wrap)
    t[i] -= 2_000_000                           # 2 us back: more than the 1 us window, same overflow period
    p = F.make_recording("ptu", tmp_path, TagChunk(t, tags.channels))
    n_words = i + int(t[i - 1] // wrap)         # events + overflow records before it
    n_total = t.size + int(t.max() // wrap)
    data_offset = p.stat().st_size - 4 * n_total
    with pytest.raises(TimeOrderError) as e:
        _read(p, 16)
    assert e.value.record == n_words and e.value.byte_offset == data_offset + 4 * n_words


def test_ptu_damaged_overflow_record_is_caught_by_the_acquisition_time(tmp_path):
    p = F.make_recording("ptu", tmp_path)
    raw = bytearray(p.read_bytes())
    at = len(raw) - 4 * 100                     # an event record near the end becomes 1000 overflows
    raw[at:at + 4] = struct.pack("<I", (1 << 31) | (0x3F << 25) | 1000)
    p.write_bytes(bytes(raw))
    with pytest.raises(CorruptRecordError, match="later than the measurement lasted") as e:
        _read(p)
    assert e.value.byte_offset == at + 4       # the first tag after the damaged record


def test_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "f.qutag")
    with F.time_limit(10), pytest.raises(TagFileError, match="not a regular file"):
        open_tags(tmp_path / "f.qutag")


def test_corrupt_meta_sidecar_is_an_error(tmp_path):
    from tagstream.setup import setup_for_recording

    p = F.make_recording("qutag-binary", tmp_path)
    side = p.with_name(p.name + ".meta.json")
    for text in ('{"setup_toml": ', "[1, 2]", '{"setup_toml": 5}', '{"setup_toml": "[sync]\\ndivider = 0"}'):
        side.write_text(text)
        with pytest.raises(SetupError, match="meta.json"):
            setup_for_recording(p)


def test_replay_of_a_truncated_file_keeps_its_prefix(tmp_path):
    from tagstream.sources.replay import ReplaySource

    p = F.make_recording("qutag-binary", tmp_path)
    p.write_bytes(p.read_bytes()[:40 + 10 * 150 + 3])
    s = ReplaySource(p, speed=None, chunk_records=1 << 20)
    s.start()
    got, err = 0, None
    for _ in range(50):
        try:
            c = s.read(0.05)
        except TruncatedFileError as exc:
            err = exc
            break
        got += 0 if c is None else len(c)
    assert got == 150 and err is not None
