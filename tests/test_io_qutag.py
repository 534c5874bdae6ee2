"""quTAG readers/writers: real file, round trips, formats, detection, crash safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tagstream.chunk import TagChunk
from tagstream.errors import BadMagicError, EmptyFileError, HeaderError, UnknownFormatError
from tagstream.io import QutagBinaryWriter, detect_format, open_tags, write_qutag_binary
from tagstream.io.ascii import encode_ascii_records
from tagstream.io.qutag import encode_binary_records, encode_compressed_records, qutag_header

REAL_QUTAG = "eta_qutag_80MHz_hbt_syncfiltered.qutag"


def _reference_sort(t, c):
    order = np.argsort(t, kind="stable")
    return t[order], c[order]


def _read(path, chunk_records=1 << 20, **kw):
    r = open_tags(path, **kw)
    parts = list(r.chunks(chunk_records))
    t = np.concatenate([p.timestamps_ps for p in parts]) if parts else np.empty(0, np.int64)
    c = np.concatenate([p.channels for p in parts]) if parts else np.empty(0, np.uint16)
    return r, t, c


def test_real_qutag_file(real_dir):
    path = real_dir / REAL_QUTAG
    raw = np.fromfile(path, dtype=[("t", "<i8"), ("c", "<u2")], offset=40)
    assert detect_format(path) == "qutag-binary"
    r, t, c = _read(path, chunk_records=10_000)
    assert r.n_records == 267_801 == t.size
    assert r.metadata["header_size_field"] == path.stat().st_size
    assert dict(zip(*np.unique(c, return_counts=True))) == {1: 79_314, 2: 94_287, 5: 94_200}
    assert np.all(np.diff(t) >= 0)
    rt, rc = _reference_sort(raw["t"].astype(np.int64), raw["c"].astype(np.uint16))
    np.testing.assert_array_equal(t, rt)
    np.testing.assert_array_equal(c, rc)
    d = raw["t"].astype(np.int64)
    assert r.disorder["n_decreases"] == int(np.count_nonzero(np.diff(d) < 0)) == 173
    assert r.disorder["max_decrease_ps"] == int(np.max(np.maximum.accumulate(d) - d))
    assert 80_000 < r.disorder["max_decrease_ps"] < 90_000
    assert r.warnings == []


def _tags(draw_n, rng, span=10**12):
    t = np.sort(rng.integers(0, span, draw_n)).astype(np.int64)
    c = rng.choice(np.array([1, 2, 3, 5, 100], np.uint16), draw_n)
    return t, c


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(0, 300), n_chunks=st.integers(1, 5), chunk_records=st.integers(1, 400),
       seed=st.integers(0, 2**32 - 1))
def test_binary_round_trip(tmp_path_factory, n, n_chunks, chunk_records, seed):
    rng = np.random.default_rng(seed)
    t, c = _tags(n, rng)
    path = tmp_path_factory.mktemp("rt") / "x.qutag"
    with QutagBinaryWriter(path) as w:
        for part_t, part_c in zip(np.array_split(t, n_chunks), np.array_split(c, n_chunks)):
            w.write(TagChunk.from_arrays(part_t, part_c))
    assert path.stat().st_size == 40 + 10 * n
    r, rt, rc = _read(path, chunk_records)
    assert r.metadata["header_size_field"] == 40 + 10 * n and r.warnings == []
    np.testing.assert_array_equal(rt, t)
    np.testing.assert_array_equal(rc, c)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 200), chunk_records=st.integers(1, 300), seed=st.integers(0, 2**32 - 1))
def test_raw_compressed_ascii_match_binary(tmp_path_factory, n, chunk_records, seed):
    rng = np.random.default_rng(seed)
    # 37-bit compressed time wraps every 2**37 ps: span several wraps, gaps far below 2**36
    t = np.cumsum(rng.integers(0, 2**34, n)).astype(np.int64)
    c = rng.integers(0, 8, n).astype(np.uint16)
    d = tmp_path_factory.mktemp("fmt")
    (d / "x.raw").write_bytes(encode_binary_records(t, c))
    (d / "x.qtc").write_bytes(qutag_header(40 + 5 * n) + encode_compressed_records(t, c))
    (d / "x.txt").write_bytes(encode_ascii_records(t, c))
    for name, fmt in (("x.raw", "qutag-raw"), ("x.qtc", "qutag-compressed"), ("x.txt", "qutag-ascii")):
        assert detect_format(d / name) == fmt
        r, rt, rc = _read(d / name, chunk_records)
        assert r.format == fmt
        np.testing.assert_array_equal(rt, t - (t[0] // 2**37) * 2**37 if fmt == "qutag-compressed" else t)
        np.testing.assert_array_equal(rc, c)


def test_ascii_comments_crlf_and_spaces(tmp_path):
    p = tmp_path / "a.txt"
    p.write_bytes(b"# quTAG\r\n\r\n 10 , 1\r\n5,2\n  \n30,\t5\n")
    r, t, c = _read(p)
    assert t.tolist() == [5, 10, 30] and c.tolist() == [2, 1, 5]
    assert r.n_records == 3


def test_detection_and_bad_headers(tmp_path):
    p = tmp_path / "x.dat"
    p.write_bytes(qutag_header(50) + encode_binary_records([7], [1]))
    assert detect_format(p) == "qutag-binary"                      # magic wins over extension
    q = tmp_path / "y.unknownext"
    q.write_bytes(b"\x01\x02\x03garbage")
    with pytest.raises(UnknownFormatError, match="unknown time-tag format"):
        open_tags(q)
    e = tmp_path / "e.qutag"
    e.write_bytes(b"")
    with pytest.raises(EmptyFileError):
        open_tags(e)
    m = tmp_path / "m.qutag"
    m.write_bytes(b"\x00" * 40 + encode_binary_records([1], [1]))
    with pytest.raises(BadMagicError, match="magic") as ei:
        open_tags(m)
    assert ei.value.byte_offset == 0
    h = tmp_path / "h.qutag"
    h.write_bytes(qutag_header(12) + encode_binary_records([1], [1]))
    with pytest.raises(HeaderError, match="size field"):
        open_tags(h)


def test_writer_refuses_overwrite(tmp_path):
    p = tmp_path / "o.qutag"
    write_qutag_binary(p, TagChunk.from_arrays([1, 2], [1, 2]))
    with pytest.raises(FileExistsError):
        write_qutag_binary(p, TagChunk.from_arrays([3], [1]))
    assert open_tags(p).read_all().timestamps_ps.tolist() == [1, 2]
    write_qutag_binary(p, TagChunk.from_arrays([3], [1]), overwrite=True)
    assert open_tags(p).read_all().timestamps_ps.tolist() == [3]
    with pytest.raises(ValueError, match="channel"):
        write_qutag_binary(tmp_path / "bad.qutag", TagChunk.from_arrays([1], [999]))


_KILL_SCRIPT = """
import sys, numpy as np
from tagstream.io import {writer}
from tagstream.chunk import TagChunk
w = {writer}(sys.argv[1]{args})
i = 0
print("ready", flush=True)
while True:
    t = np.arange(i * 1000, (i + 1) * 1000, dtype=np.int64) * 1000
    w.write(TagChunk.from_arrays(t, np.where(t % 3000 == 0, 5, 1)))
    i += 1
    if i % 10 == 0:
        w.flush()
"""


@pytest.mark.parametrize("writer,name,args", [("QutagBinaryWriter", "k.qutag", ""),
                                              ("SsttV2Writer", "k.sstt", ", channels=[1, 5]")])
def test_killed_writer_leaves_readable_file(tmp_path, writer, name, args):
    path = tmp_path / name
    proc = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT.format(writer=writer, args=args), str(path)],
                            stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"ready"
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    r = open_tags(path)
    chunk = r.read_all()
    t = chunk.timestamps_ps
    assert t.size > 0
    assert any("unfinished recording" in w for w in r.warnings)
    # every tag read is one that was written, in order, with no gaps: a whole prefix per channel
    np.testing.assert_array_equal(np.diff(t[chunk.channels == 1]) % 1000, 0)
    assert t[0] == 0 and np.all(np.diff(t) > 0)
    assert np.all(chunk.channels[t % 3000 == 0] == 5) and np.all(chunk.channels[t % 3000 != 0] == 1)
