"""Bad input: truncation at every byte, garbage bytes, impossible channels -> TagFileError subclasses."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tagstream.chunk import TagChunk
from tagstream.errors import CorruptRecordError, EmptyFileError, TagFileError, TruncatedFileError
from tagstream.io import open_tags, write_sstt_v2
from tagstream.io.ascii import encode_ascii_records
from tagstream.io.qutag import encode_binary_records, encode_compressed_records, qutag_header

T = np.array([10, 2_000, 1_500, 30_000, 123_456_789, 10**12], np.int64)   # one small step back
C = np.array([1, 2, 5, 1, 2, 5], np.uint16)
SORTED_T = np.sort(T, kind="stable")


def _collect(path, fmt, **kw):
    """Read with tiny chunks; return (timestamps got before any error, error or None)."""
    got = []
    try:
        for ch in open_tags(path, format=fmt, **kw).chunks(2):
            got.extend(ch.timestamps_ps.tolist())
    except TagFileError as exc:
        return got, exc
    return got, None


def _whole_prefix(n):
    return np.sort(T[:n], kind="stable").tolist()


FORMATS = {
    "qutag-binary": (lambda: qutag_header(40 + 60) + encode_binary_records(T, C), 40, 10),
    "qutag-compressed": (lambda: qutag_header(40 + 30) + encode_compressed_records(T, C), 40, 5),
    "qutag-raw": (lambda: encode_binary_records(T, C), 0, 10),
}


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_truncation_at_every_byte_fixed_records(tmp_path, fmt):
    make, header, rec = FORMATS[fmt]
    data = make()
    for cut in range(len(data)):
        p = tmp_path / f"cut{cut}"
        p.write_bytes(data[:cut])
        got, err = _collect(p, fmt)
        if cut == 0:
            assert isinstance(err, EmptyFileError)
            continue
        n_whole = max(cut - header, 0) // rec
        assert got == _whole_prefix(n_whole), cut
        if fmt == "qutag-raw" and cut % rec == 0:
            assert err is None                       # no header: a cut on a record boundary is invisible
            continue
        assert isinstance(err, TruncatedFileError), (cut, err)
        assert err.path == p and err.byte_offset is not None and err.record is not None
        assert str(p) in str(err) and "byte offset" in str(err)
        if cut >= header:
            assert err.record == n_whole


def test_truncation_allowed_goes_to_warnings(tmp_path):
    data = FORMATS["qutag-binary"][0]()
    p = tmp_path / "t.qutag"
    p.write_bytes(data[:40 + 25])
    r = open_tags(p, allow_truncated=True)
    assert r.read_all().timestamps_ps.tolist() == _whole_prefix(2)
    assert any("shorter than its header" in w for w in r.warnings)


def test_truncation_at_every_byte_ascii(tmp_path):
    data = encode_ascii_records(T, C)
    ends = [i + 1 for i, b in enumerate(data) if b == ord("\n")]
    for cut in range(1, len(data)):
        p = tmp_path / f"cut{cut}.txt"
        p.write_bytes(data[:cut])
        got, err = _collect(p, "qutag-ascii")
        n_whole = sum(e <= cut for e in ends)
        assert got == _whole_prefix(n_whole), cut
        if cut in ends:
            assert err is None
        else:
            assert isinstance(err, TruncatedFileError) and err.record == n_whole
            assert err.byte_offset == (ends[n_whole - 1] if n_whole else 0)


def test_truncation_at_every_byte_sstt_channel(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    t = np.sort(T)
    write_sstt_v2(src / "s.sstt", TagChunk.from_arrays(t, np.ones(6, np.uint16)))
    data = (src / "s.sstt.c1").read_bytes()
    header = (src / "s.sstt").read_text()
    for cut in range(len(data)):
        d = tmp_path / f"c{cut}"
        d.mkdir()
        (d / "s.sstt").write_text(header)
        (d / "s.sstt.c1").write_bytes(data[:cut])
        got, err = _collect(d / "s.sstt", "sstt-v2")
        n_whole = max(cut - 18, 0) // 6
        assert got == t[:n_whole].tolist(), cut
        assert isinstance(err, TruncatedFileError), cut
        assert err.path is not None and err.byte_offset is not None


def test_unknown_channel_is_corrupt(tmp_path):
    rec = bytearray(encode_binary_records(T, C))
    rec[3 * 10 + 8: 3 * 10 + 10] = (999).to_bytes(2, "little")
    p = tmp_path / "g.qutag"
    p.write_bytes(qutag_header(40 + len(rec)) + bytes(rec))
    with pytest.raises(CorruptRecordError, match="channel number 999") as ei:
        open_tags(p).read_all()
    assert ei.value.record == 3 and ei.value.byte_offset == 40 + 30


def test_bad_ascii_line_is_corrupt(tmp_path):
    p = tmp_path / "b.txt"
    p.write_bytes(b"1,1\n2,2\n3;x\n")
    with pytest.raises(CorruptRecordError, match="expected ','") as ei:
        open_tags(p).read_all()
    assert ei.value.record == 2 and ei.value.byte_offset == 8


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.binary(min_size=0, max_size=400), prefix=st.sampled_from([b"", b"\x87\xb3\x91\xfa", b"SSTT2\x00"]),
       fmt=st.sampled_from(["qutag-binary", "qutag-raw", "qutag-compressed", "qutag-ascii", None]),
       ext=st.sampled_from([".qutag", ".raw", ".txt", ".qtc", ".bin", ".xyz"]))
def test_garbage_never_another_exception(tmp_path_factory, blob, prefix, fmt, ext):
    p = tmp_path_factory.mktemp("g") / f"g{ext}"
    p.write_bytes(prefix + blob)
    try:
        r = open_tags(p, format=fmt)
        for ch in r.chunks(7):
            assert np.all(np.diff(ch.timestamps_ps) >= 0)
    except TagFileError:
        pass


@settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.binary(min_size=0, max_size=300), header=st.text(max_size=200))
def test_garbage_sstt_never_another_exception(tmp_path_factory, blob, header):
    d = tmp_path_factory.mktemp("gs")
    (d / "g.sstt").write_text("Simple Small Time Tagged (V2)\nCHANNEL_HEADER\nChannelID\tFilename\n"
                              "1\t\"g.sstt.c1\"\n" + header, encoding="utf-8")
    (d / "g.sstt.c1").write_bytes(b"SSTT2\x00" + blob)
    try:
        list(open_tags(d / "g.sstt").chunks(5))
    except TagFileError:
        pass
