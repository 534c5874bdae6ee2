"""Paced, replay and simulated sources; LiveSession (threads, recording, lag, errors, shutdown)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tagstream.chunk import TagChunk
from tagstream.errors import SourceError
from tagstream.io import open_tags, write_qutag_binary
from tagstream.sources import LiveSession, PacedSource, ReplaySource, read_meta
from tagstream.sources.base import Source

sys.path.insert(0, str(Path(__file__).parent / "qutag_stub"))
import stub as qstub  # noqa: E402


def stream(n=20_000, span_s=0.4, seed=0, channels=(1, 2, 5), weights=None):
    rng = np.random.default_rng(seed)
    ts = np.sort(rng.integers(0, int(span_s * 1e12), n)).astype(np.int64) + 1_000_000
    ch = rng.choice(np.array(channels, np.uint16), n, p=weights)
    return ts, ch


def as_chunks(ts, ch, size=3000):
    return [TagChunk.from_arrays(ts[i:i + size], ch[i:i + size], i) for i in range(0, len(ts), size)]


def concat(chunks):
    return (np.concatenate([c.timestamps_ps for c in chunks]), np.concatenate([c.channels for c in chunks]))


def assert_threads_ended(session):
    assert session.threads and not any(t.is_alive() for t in session.threads)


# ---------------------------------------------------------------- paced / replay / simulated
def test_paced_as_fast_as_possible_keeps_every_tag_in_order():
    ts, ch = stream()
    src = PacedSource(as_chunks(ts, ch), speed=None, max_chunk_tags=1234)
    out = list(src)
    assert all(len(c) <= 1234 for c in out) and src.finished
    got_t, got_c = concat(out)
    np.testing.assert_array_equal(got_t, ts)
    np.testing.assert_array_equal(got_c, ch)
    assert [c.first_record for c in out] == list(np.cumsum([0] + [len(c) for c in out[:-1]]))


def test_paced_releases_tags_only_when_due():
    ts, ch = stream(n=5000, span_s=0.4)
    src = PacedSource(as_chunks(ts, ch), speed=2.0, poll_interval_s=0.01)
    t0 = time.monotonic()
    out = []
    for c in src:
        elapsed = time.monotonic() - t0
        # nothing ahead of the wall clock x speed (plus a little slack for the first read)
        assert (c.timestamps_ps[-1] - ts[0]) * 1e-12 <= elapsed * 2.0 + 0.01
        out.append(c)
    wall = time.monotonic() - t0
    assert 0.18 <= wall < 1.5
    np.testing.assert_array_equal(concat(out)[0], ts)


def test_pause_holds_the_stream():
    ts, ch = stream(n=3000, span_s=0.3)
    src = PacedSource(as_chunks(ts, ch), speed=1.0, poll_interval_s=0.01)
    src.start()
    first = src.read(0.2)
    assert first is not None or src.read(0.2) is not None
    src.pause()
    n_before = src.counters().n_tags
    t_pause = time.monotonic()
    while time.monotonic() - t_pause < 0.3:
        assert src.read(0.05) is None
    assert src.counters().n_tags == n_before
    src.resume()
    rest = list(src)
    assert src.counters().n_tags == len(ts)
    assert time.monotonic() - t_pause >= 0.3 and rest


def test_replay_of_a_file(tmp_path):
    ts, ch = stream()
    path = tmp_path / "rec.qutag"
    write_qutag_binary(path, TagChunk.from_arrays(ts, ch))
    with ReplaySource(path, speed=None, chunk_records=4096) as src:
        got_t, got_c = concat(list(src))
        assert src.describe()["format"] == "qutag-binary"
    np.testing.assert_array_equal(got_t, ts)
    np.testing.assert_array_equal(got_c, ch)


def test_replay_of_a_bad_file_fails_before_starting(tmp_path):
    bad = tmp_path / "bad.qutag"
    bad.write_bytes(b"\x00" * 7)
    with pytest.raises(Exception) as err:
        ReplaySource(bad)
    assert "bad.qutag" in str(err.value)


def test_simulated_stream_does_not_depend_on_pacing():
    pytest.importorskip("tagstream.simulate.simulation")
    from tagstream.sources.simulated import SimulatedSource
    fast = concat(list(SimulatedSource(seed=5, speed=None, duration_s=0.6, chunk_s=0.013)))
    paced_src = SimulatedSource(seed=5, speed=3.0, duration_s=0.6, poll_interval_s=0.005)
    t0 = time.monotonic()
    paced = concat(list(paced_src))
    assert time.monotonic() - t0 >= 0.6 / 3.0 * 0.9
    assert len(fast[0]) > 100
    np.testing.assert_array_equal(fast[0], paced[0])
    np.testing.assert_array_equal(fast[1], paced[1])
    assert set(np.unique(fast[1])) <= {1, 2, 3, 5}


# ---------------------------------------------------------------- LiveSession
def test_session_records_and_analyses_every_tag(tmp_path):
    ts, ch = stream(n=30_000)
    got, errors = [], []
    rec = tmp_path / "live.qutag"
    session = LiveSession(PacedSource(as_chunks(ts, ch), speed=None), on_chunk=got.append, record_to=rec,
                          on_error=errors.append)
    session.start()
    assert session.wait_finished(30)
    session.stop()
    assert_threads_ended(session)
    st = session.status()
    assert st.state == "stopped" and st.source_finished and not errors and not st.errors
    assert st.tags_acquired == st.tags_analyzed == st.recording_tags == len(ts)
    assert st.analysis_lag_tags == 0 and st.analysis_lag_s == 0 and not st.analysis_stopped
    assert st.recording_bytes == 40 + 10 * len(ts) and st.recording_path == str(rec)
    np.testing.assert_array_equal(concat(got)[0], ts)
    back = open_tags(rec).read_all()
    np.testing.assert_array_equal(back.timestamps_ps, ts)
    np.testing.assert_array_equal(back.channels, ch)
    meta = read_meta(rec)
    assert meta["complete"] and meta["n_records"] == len(ts) and meta["source"]["kind"] == "paced"


def test_slow_analysis_lags_visibly_but_loses_nothing(tmp_path):
    ts, ch = stream(n=20_000, span_s=1.0)
    got = []

    def slow(chunk):
        time.sleep(0.02)
        got.append(chunk)

    session = LiveSession(PacedSource(as_chunks(ts, ch, 500), speed=None, max_chunk_tags=500), on_chunk=slow,
                          record_to=tmp_path / "r.qutag")
    session.start()
    while not session.status().source_finished:
        time.sleep(0.01)
    st = session.status()  # acquisition (and recording) finished long before the analysis
    assert st.recording_tags == len(ts) or st.tags_acquired == len(ts)
    assert st.analysis_lag_tags > 0 and st.analysis_lag_s > 0 and st.analysis_delay_s > 0
    assert st.analysis_lag_tags == st.tags_acquired - st.tags_analyzed
    session.stop()
    assert_threads_ended(session)
    st = session.status()
    assert st.tags_analyzed == len(ts) and st.analysis_lag_tags == 0 and not st.analysis_stopped
    np.testing.assert_array_equal(concat(got)[0], ts)


def test_backlog_overrun_stops_the_analysis_loudly_and_the_recording_goes_on(tmp_path):
    ts, ch = stream(n=20_000)
    errors = []
    session = LiveSession(PacedSource(as_chunks(ts, ch, 500), speed=None, max_chunk_tags=500),
                          on_chunk=lambda c: time.sleep(0.05),
                          record_to=tmp_path / "r.qutag", max_backlog_tags=2000, on_error=errors.append)
    session.start()
    assert session.wait_finished(30)
    session.stop()
    st = session.status()
    assert st.analysis_overrun and st.analysis_stopped and st.tags_analyzed < len(ts)
    assert len(errors) == 1 and "fell more than 2000 tags behind" in errors[0] and errors[0] in st.errors
    assert st.recording_tags == len(ts)
    np.testing.assert_array_equal(open_tags(tmp_path / "r.qutag").read_all().timestamps_ps, ts)


def test_failing_analysis_is_reported_and_acquisition_goes_on(tmp_path):
    ts, ch = stream(n=10_000)

    def boom(chunk):
        raise ValueError("kaput")

    session = LiveSession(PacedSource(as_chunks(ts, ch), speed=None), on_chunk=boom, record_to=tmp_path / "r.qutag")
    session.start()
    assert session.wait_finished(30)
    session.stop()
    st = session.status()
    assert st.analysis_stopped and not st.analysis_overrun and any("kaput" in e for e in st.errors)
    assert st.tags_acquired == st.recording_tags == len(ts)


def test_recording_failure_shows_at_once_and_the_display_goes_on(tmp_path):
    ts, ch = stream(n=10_000)
    (tmp_path / "file").write_text("x")
    errors, got = [], []
    session = LiveSession(PacedSource(as_chunks(ts, ch), speed=None), on_chunk=got.append,
                          record_to=tmp_path / "file" / "r.qutag", on_error=errors.append)
    session.start()
    assert errors and "cannot start the recording" in errors[0]  # before any tag arrived
    assert session.wait_finished(30)
    session.stop()
    st = session.status()
    assert st.recording_error == errors[0] and st.tags_analyzed == len(ts) and st.recording_tags == 0
    assert session.recorder.tags_not_recorded == len(ts)


class FailingSource(Source):
    kind = "failing"

    def __init__(self):
        super().__init__()
        self.reads = 0

    def _start(self):
        pass

    def _read(self, timeout_s):
        self.reads += 1
        if self.reads > 3:
            raise SourceError("USB cable pulled")
        return self._emit(np.arange(10, dtype=np.int64) + 10 * self.reads, np.ones(10, np.uint16))


def test_source_failure_ends_the_threads_and_keeps_what_came(tmp_path):
    session = LiveSession(FailingSource(), record_to=tmp_path / "r.qutag")
    session.start()
    assert session.wait_finished(10)
    session.stop()
    assert_threads_ended(session)
    st = session.status()
    assert st.state == "error" and any("USB cable pulled" in e for e in st.errors)
    assert st.tags_acquired == st.tags_analyzed == 30
    assert len(open_tags(tmp_path / "r.qutag").read_all()) == 30


def test_stop_of_an_endless_source_is_clean(tmp_path):
    pytest.importorskip("tagstream.simulate.simulation")
    from tagstream.sources.simulated import SimulatedSource
    got = []
    session = LiveSession(SimulatedSource(seed=2, speed=5.0), on_chunk=got.append, record_to=tmp_path / "s.qutag")
    session.start()
    time.sleep(0.5)
    assert session.status().state == "running"
    session.stop(timeout_s=10)
    assert_threads_ended(session)
    st = session.status()
    assert st.state == "stopped" and st.tags_acquired > 0
    assert st.tags_acquired == st.tags_analyzed == st.recording_tags == sum(map(len, got))
    back = open_tags(tmp_path / "s.qutag").read_all()
    np.testing.assert_array_equal(back.timestamps_ps, concat(got)[0])
    assert read_meta(tmp_path / "s.qutag")["source"]["kind"] == "simulated"


def test_rates_per_channel():
    rates = {1: 20_000.0, 2: 10_000.0, 5: 50_000.0}
    total = sum(rates.values())
    ts, ch = stream(n=int(total * 1.2), span_s=1.2, channels=tuple(rates),
                    weights=[r / total for r in rates.values()])
    session = LiveSession(PacedSource(as_chunks(ts, ch, 2000), speed=1.0, poll_interval_s=0.01),
                          rate_window_s=0.5)
    session.start()
    time.sleep(0.9)
    st = session.status()
    session.stop()
    assert set(st.rate_hz) == set(rates)
    for c, r in rates.items():
        assert st.rate_hz[c] == pytest.approx(r, rel=0.25)


def test_quTAG_overflow_and_data_loss_reach_status_and_metadata(tmp_path):
    if qstub.compiler() is None:
        pytest.skip("no C compiler to build the quTAG stand-in library")
    from tagstream.sources import QutagSource
    lib = qstub.build(tmp_path, "standard")
    stub = qstub.Stub(lib)
    ts, ch0 = qstub.fixture_tags(50_000, seed=4)
    stub.load(ts, ch0)
    stub.set_batch(3000)
    rec = tmp_path / "q.qutag"
    session = LiveSession(QutagSource(library=lib, buffer_size=2000, poll_interval_s=0.002), record_to=rec)
    session.start()
    time.sleep(0.05)
    stub.inject_data_loss()
    while stub.remaining:
        time.sleep(0.01)
    time.sleep(0.1)
    session.close()
    st = session.status()
    assert st.data_lost and st.overflow_count > 0 and st.data_loss_events >= st.overflow_count + 1
    meta = read_meta(rec)
    assert meta["data_lost"] and meta["overflow_count"] == st.overflow_count
    kinds = {e["kind"] for e in meta["data_loss_events"]}
    assert kinds == {"buffer-overflow", "device-data-lost"}
    back = open_tags(rec).read_all()
    assert len(back) == st.tags_acquired == len(ts) - stub.overwritten
    assert stub.calls()[1] == 1  # deInit on close


def test_session_with_the_pipeline_equals_offline_analysis_of_its_recording(tmp_path):
    pytest.importorskip("tagstream.simulate.simulation")
    import json

    from tagstream.pipeline import AnalysisConfig, Pipeline, analyze_file
    from tagstream.setup import Setup
    from tagstream.sources.simulated import SimulatedSource
    setup = Setup(sync=5, spad_a=1, spad_b=2, frame=3, sync_divider=1000)
    config = AnalysisConfig(trace_bin_ms=100)
    rec = tmp_path / "sim.qutag"
    session = LiveSession(SimulatedSource(seed=9, speed=None, duration_s=2.0, chunk_s=0.07),
                          pipeline=Pipeline(setup, config), record_to=rec, setup=setup)
    session.start()
    mid = session.snapshot()  # from this (non-analysis) thread while running
    assert mid is not None
    assert session.wait_finished(60)
    session.stop()
    live = session.pipeline.finalize()
    offline = analyze_file(rec, setup, config)
    assert live.n_records == offline.n_records == session.status().tags_analyzed > 0
    assert json.dumps(live.to_json_dict(), sort_keys=True, default=str) == \
        json.dumps(offline.to_json_dict(), sort_keys=True, default=str)
    assert Setup.from_dict(__import__("tomllib").loads(read_meta(rec)["setup_toml"])) == setup
