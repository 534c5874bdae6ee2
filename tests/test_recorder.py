"""Recorder: every tag to disk, errors surfaced at once, metadata sidecar, crash safety (SIGKILL)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from tagstream.chunk import TagChunk
from tagstream.io import open_tags
from tagstream.sources.base import DataLossEvent
from tagstream.sources.recorder import Recorder, meta_path_for, read_meta

sys.path.insert(0, str(Path(__file__).parent / "qutag_stub"))
import stub as qstub  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def make_chunks(n=30_000, seed=1, pieces=7):
    rng = np.random.default_rng(seed)
    ts = np.cumsum(rng.integers(1, 50_000, n)).astype(np.int64)  # no ties: SSTT orders ties by channel
    ch = rng.choice(np.array([1, 2, 3, 5], np.uint16), n)
    cuts = np.sort(rng.choice(np.arange(1, n), pieces - 1, replace=False))
    bounds = [0, *cuts.tolist(), n]
    return ts, ch, [TagChunk.from_arrays(ts[a:b], ch[a:b], a) for a, b in zip(bounds[:-1], bounds[1:])]


@pytest.mark.parametrize("fmt,name", [("qutag-binary", "run.qutag"), ("sstt-v2", "run.sstt")])
def test_every_tag_recorded_and_read_back(tmp_path, fmt, name):
    ts, ch, chunks = make_chunks()
    path = tmp_path / name
    ev = DataLossEvent("buffer-overflow", 0.5, 1.7e9, 1234, 99_000, None)
    with Recorder(path, fmt, channels=[1, 2, 3, 5], metadata={"source": {"kind": "test"}}) as rec:
        for c in chunks:
            assert rec.write(c)
        rec.note_event(ev)
        assert read_meta(path)["complete"] is False  # written at open: a killed run says so
    back = open_tags(path).read_all()
    np.testing.assert_array_equal(back.timestamps_ps, ts)
    np.testing.assert_array_equal(back.channels, ch)
    meta = read_meta(path)
    assert meta["complete"] is True and meta["n_records"] == len(ts) and meta["format"] == fmt
    assert meta["data_loss_events"] == [ev.to_json_dict()] and meta["overflow_count"] == 1
    assert meta["source"] == {"kind": "test"} and meta["recording_error"] is None
    assert rec.size_bytes > 0 and rec.tags_not_recorded == 0
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


def test_refuses_to_overwrite_and_says_so(tmp_path):
    path = tmp_path / "run.qutag"
    path.write_bytes(b"precious")
    errors = []
    rec = Recorder(path, on_error=errors.append, meta_path=tmp_path / "m.json")
    assert not rec.ok and len(errors) == 1 and "exists" in errors[0] and str(path) in errors[0]
    assert path.read_bytes() == b"precious"
    assert rec.write(make_chunks(100)[2][0]) is False


def test_unwritable_folder_is_reported_at_once(tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    errors = []
    rec = Recorder(blocker / "run.qutag", on_error=errors.append)
    assert len(errors) == 1 and "cannot start the recording" in errors[0] and "NOT recorded" in errors[0]
    ts, ch, chunks = make_chunks(1000)
    for c in chunks:
        assert rec.write(c) is False
    rec.close()
    assert rec.tags_not_recorded == len(ts) and len(errors) == 1  # reported once


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux) to produce ENOSPC")
def test_disk_full_is_reported_at_once_and_later_tags_counted(tmp_path):
    errors = []
    rec = Recorder("/dev/full", overwrite=True, on_error=errors.append, meta_path=tmp_path / "full.meta.json",
                   flush_interval_s=0.0)
    ts, ch, chunks = make_chunks(5000)
    assert rec.write(chunks[0]) is False  # the first flush meets "No space left on device"
    assert len(errors) == 1 and "No space left on device" in errors[0]
    for c in chunks[1:]:
        rec.write(c)
    assert rec.tags_not_recorded == len(ts)
    rec.close()
    meta = json.loads((tmp_path / "full.meta.json").read_text())
    assert meta["complete"] is False and "No space left" in meta["recording_error"]


def test_file_size_limit_in_a_subprocess(tmp_path):
    """A real write failure part-way (RLIMIT_FSIZE → EFBIG): the tags before it stay readable."""
    pytest.importorskip("resource")
    script = textwrap.dedent(f"""
        import resource, sys
        sys.path.insert(0, {str(ROOT / 'tests')!r})
        from test_recorder import make_chunks
        from tagstream.sources.recorder import Recorder
        ts, ch, chunks = make_chunks(30_000, pieces=30)
        errors = []
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, resource.RLIM_INFINITY))
        rec = Recorder({str(tmp_path / 'run.qutag')!r}, on_error=errors.append, flush_interval_s=0.0)
        ok = [rec.write(c) for c in chunks]
        rec.close()
        print(sum(ok), rec.n_written, rec.tags_not_recorded, repr(errors[0]) if errors else "none")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    n_ok, n_written, n_lost, err = out.stdout.split(maxsplit=3)
    assert 0 < int(n_ok) < 30 and int(n_written) + int(n_lost) == 30_000
    assert "File too large" in err
    ts, ch, _ = make_chunks(30_000, pieces=30)
    back = open_tags(tmp_path / "run.qutag", allow_truncated=True).read_all()
    assert 0 < len(back) <= 100_000 // 10
    np.testing.assert_array_equal(back.timestamps_ps, ts[:len(back)])
    np.testing.assert_array_equal(back.channels, ch[:len(back)])


@pytest.fixture(scope="module")
def stub_lib(tmp_path_factory):
    if qstub.compiler() is None:
        pytest.skip("no C compiler (cc/gcc/clang) to build the quTAG stand-in library")
    return qstub.build(tmp_path_factory.mktemp("stub"), "standard")


@pytest.mark.parametrize("fmt,name", [("qutag-binary", "live.qutag"), ("sstt-v2", "live.sstt")])
def test_recording_killed_with_sigkill_reads_back_as_a_prefix(tmp_path, stub_lib, fmt, name):
    ts, ch0 = qstub.fixture_tags(300_000, seed=11)
    raw = tmp_path / "served.raw"
    qstub.write_raw(raw, ts, ch0)
    path = tmp_path / name
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT / 'tests' / 'qutag_stub')!r})
        import stub
        from tagstream.sources import LiveSession, QutagSource
        s = stub.Stub({str(stub_lib)!r})
        src = QutagSource(library={str(stub_lib)!r}, buffer_size=10_000, poll_interval_s=0.005)
        s.set_batch(300)
        session = LiveSession(src, record_to={str(path)!r}, record_format={fmt!r})
        session.start()
        while True:
            st = session.status()
            print(st.recording_tags, flush=True)
            time.sleep(0.05)
    """)
    env = {**os.environ, "TAGSTREAM_QUTAG_STUB_TAGS": str(raw)}
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        recorded = 0
        t_end = time.monotonic() + 60
        while recorded < 20_000 and time.monotonic() < t_end:
            line = proc.stdout.readline()
            if not line:
                break
            recorded = int(line)
        assert recorded >= 20_000, proc.stderr.read() if proc.poll() is not None else "too slow"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    back = open_tags(path, allow_truncated=True).read_all()
    n = len(back)
    assert recorded <= n < len(ts)  # everything reported as recorded is there, and the run was cut
    exp_ch = np.where(ch0 < 100, ch0.astype(np.uint16) + 1, ch0).astype(np.uint16)
    if fmt == "qutag-binary":
        np.testing.assert_array_equal(back.timestamps_ps, ts[:n])
        np.testing.assert_array_equal(back.channels, exp_ch[:n])
    else:  # one file per channel: each channel's events are a prefix of that channel's served tags
        for c in np.unique(exp_ch):
            got = back.timestamps_ps[back.channels == c]
            np.testing.assert_array_equal(got, ts[exp_ch == c][:len(got)])
    meta = json.loads(meta_path_for(path).read_text())
    assert meta["complete"] is False and meta["stopped"] is None
