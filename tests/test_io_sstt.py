"""SSTT V1/V2: real file, missing channels, overflow handling, V2 writer round trip."""

from __future__ import annotations

import shutil
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tagstream.chunk import TagChunk
from tagstream.errors import MissingChannelFilesError
from tagstream.io import SsttV2Writer, open_tags, write_sstt_v2


def _slow_decode_v2(path):
    """Independent pure-Python decoder of one V2 channel file (libtimetag's rules)."""
    data = path.read_bytes()
    assert data[:6] == b"SSTT2\x00"
    out, overflows = [], 0
    for off in range(18, len(data) - 5, 6):
        e = int.from_bytes(data[off:off + 6], "little")
        if e & 1:
            overflows += e >> 2
        else:
            out.append((e >> 2) + (overflows << 46))
    return out


def test_real_sstt_missing_channels(real_dir):
    with pytest.raises(MissingChannelFilesError) as ei:
        open_tags(real_dir / "QD02_r_1.sstt")
    assert sorted(p.name for p in ei.value.missing) == ["QD02_r_1.sstt.c3", "QD02_r_1.sstt.c4"]
    assert "QD02_r_1.sstt.c3" in str(ei.value) and "QD02_r_1.sstt.c4" in str(ei.value)


def test_real_sstt_present_channels(real_dir):
    r = open_tags(real_dir / "QD02_r_1.sstt", skip_missing_channels=True)
    assert r.format == "sstt-v2" and r.metadata["time_unit_ps"] == 1
    assert r.metadata["missing_channel_files"] == ["QD02_r_1.sstt.c3", "QD02_r_1.sstt.c4"]
    sd = r.metadata["sync_dividers"]
    assert sd["2"] == {"HardwareSyncDivider": 1, "AdditionalSyncDivider": 1000, "TotalSyncDivider": 1000,
                       "IsPulsesChannel": 1, "CorrespondingPulsesChannel": 0}
    assert sd["1"]["CorrespondingPulsesChannel"] == 2
    chunks = list(r.chunks(50_000))
    t = np.concatenate([c.timestamps_ps for c in chunks])
    c = np.concatenate([c.channels for c in chunks])
    assert np.all(np.diff(t) >= 0)
    t1, t2 = t[c == 1], t[c == 2]
    assert t1.size == 737 and t2.size == 302_944
    assert r.metadata["photons_read"] == {"1": 737, "2": 302_944, "100": 0}
    for ch in ("1", "2"):   # header NumPhotons agrees with what was read
        assert r.metadata["channels"][ch]["NumPhotons"] == r.metadata["photons_read"][ch]
    assert not any("NumPhotons" in w for w in r.warnings)
    ref1 = _slow_decode_v2(real_dir / "QD02_r_1.sstt.c1")
    np.testing.assert_array_equal(t1, ref1)
    ref2 = _slow_decode_v2(real_dir / "QD02_r_1.sstt.c2")
    np.testing.assert_array_equal(t2, ref2)
    d = np.diff(t2)
    assert abs(np.median(d) - 1e9) < 1e4 and d.min() > 0.99e9 and d.max() < 1.01e9   # ~1 ms apart


def test_missing_channel_error_names_files(tmp_path, real_dir):
    for name in ("QD02_r_1.sstt", "QD02_r_1.sstt.c1", "QD02_r_1.sstt.c2", "QD02_r_1.sstt.c100"):
        shutil.copy(real_dir / name, tmp_path / name)
    (tmp_path / "QD02_r_1.sstt.c1").unlink()
    with pytest.raises(MissingChannelFilesError, match="c1, .*c3, .*c4"):
        open_tags(tmp_path / "QD02_r_1.sstt")


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(0, 300), chunk_records=st.integers(1, 400), n_parts=st.integers(1, 4),
       seed=st.integers(0, 2**32 - 1))
def test_v2_writer_round_trip(tmp_path_factory, n, chunk_records, n_parts, seed):
    rng = np.random.default_rng(seed)
    # spans several 2**46 overflows, with ties inside and across channels
    t = np.sort(rng.integers(0, 5 * 2**46, n) // 7 * 7).astype(np.int64)
    c = rng.choice(np.array([5, 1, 2], np.uint16), n)
    d = tmp_path_factory.mktemp("s2")
    with SsttV2Writer(d / "x.sstt", channels=[1, 2, 5], channel_info={5: {"AdditionalSyncDivider": 8,
                                                                          "IsPulsesChannel": 1}}) as w:
        for pt, pc in zip(np.array_split(t, n_parts), np.array_split(c, n_parts)):
            w.write(TagChunk.from_arrays(pt, pc))
    r = open_tags(d / "x.sstt")
    chunks = list(r.chunks(chunk_records))
    got_t = np.concatenate([x.timestamps_ps for x in chunks]) if chunks else np.empty(0, np.int64)
    got_c = np.concatenate([x.channels for x in chunks]) if chunks else np.empty(0, np.uint16)
    order = np.lexsort((c, t))          # equal times: header (ascending channel) order
    np.testing.assert_array_equal(got_t, t[order])
    np.testing.assert_array_equal(got_c, c[order])
    assert r.warnings == []
    assert r.metadata["sync_dividers"]["5"]["TotalSyncDivider"] == 8
    for ch in (1, 2, 5):
        assert _slow_decode_v2(d / f"x.sstt.c{ch}") == t[c == ch].tolist()


def test_v2_writer_refuses_overwrite_and_unit(tmp_path):
    write_sstt_v2(tmp_path / "a.sstt", TagChunk.from_arrays([81, 162], [1, 2]), time_unit_s=81e-12)
    r = open_tags(tmp_path / "a.sstt")
    assert r.metadata["time_unit_ps"] == 81
    assert r.read_all().timestamps_ps.tolist() == [81, 162]
    with pytest.raises(FileExistsError):
        write_sstt_v2(tmp_path / "a.sstt", TagChunk.from_arrays([1], [1]))
    with pytest.raises(ValueError, match="multiples"):
        write_sstt_v2(tmp_path / "b.sstt", TagChunk.from_arrays([5], [1]), time_unit_s=81e-12)


def test_v1_reader(tmp_path):
    """V1 (no real file available): 8-byte events, macrotime bits 36-63, overflow adds 2**28."""
    (tmp_path / "v1.sstt").write_text("Simple Small Time Tagged\n\nCHANNEL_HEADER\nChannelID\tFilename\t"
                                      "NumPhotons\n1\t\"v1.sstt.c1\"\t3\n2\t\"v1.sstt.c2\"\t1\n\n")
    ev = [(5 << 36) | (123 << 2), 1 | (2 << 2), (7 << 36), (9 << 36)]       # photon, 2 overflows, photons
    (tmp_path / "v1.sstt.c1").write_bytes(b"".join(struct.pack("<Q", e) for e in ev))
    (tmp_path / "v1.sstt.c2").write_bytes(struct.pack("<Q", 6 << 36))
    r = open_tags(tmp_path / "v1.sstt")
    assert r.format == "sstt-v1" and r.metadata["time_unit_ps"] == 81
    a = r.read_all()
    assert a.timestamps_ps.tolist() == [5 * 81, 6 * 81, (7 + 2 * 2**28) * 81, (9 + 2 * 2**28) * 81]
    assert a.channels.tolist() == [1, 2, 1, 1]


def test_overflow_count_beyond_int64_is_corrupt(tmp_path):
    from tagstream.errors import CorruptRecordError

    (tmp_path / "g.sstt").write_text("Simple Small Time Tagged (V2)\nCHANNEL_HEADER\nChannelID\tFilename\n"
                                     "1\t\"g.sstt.c1\"\n\n")
    ev = [5 << 2, 1 | ((2**45) << 2), 7 << 2]
    (tmp_path / "g.sstt.c1").write_bytes(b"SSTT2\x00" + b"\xff" * 12
                                         + b"".join(struct.pack("<Q", e)[:6] for e in ev))
    with pytest.raises(CorruptRecordError, match="overflow count") as ei:
        open_tags(tmp_path / "g.sstt").read_all()
    assert ei.value.record == 1 and ei.value.byte_offset == 18 + 6
