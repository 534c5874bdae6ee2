"""The quTAG ctypes binding, tested for real against a C stand-in library (tests/qutag_stub)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagstream.errors import SourceError
from tagstream.sources.base import ClampingReorderer
from tagstream.sources.qutag import ENV_LIB, QutagSource, channel_mask

sys.path.insert(0, str(Path(__file__).parent / "qutag_stub"))
import stub as qstub  # noqa: E402


@pytest.fixture(scope="session")
def stub_libs(tmp_path_factory) -> dict[str, Path]:
    if qstub.compiler() is None:
        pytest.skip("no C compiler (cc/gcc/clang) to build the quTAG stand-in library")
    out = tmp_path_factory.mktemp("qutag_stub")
    return {v: qstub.build(out, v) for v in ("standard", "mc-hr")}


@pytest.fixture(params=["standard", "mc-hr"])
def variant(request, stub_libs):
    path = stub_libs[request.param]
    stub = qstub.Stub(path)
    stub.reset()
    return request.param, path, stub


def collect(src: QutagSource, stub: qstub.Stub) -> list:
    """Read until the stub has served everything, then stop and drain."""
    chunks = []
    src.start()
    while True:
        c = src.read(0.01)
        if c is not None:
            chunks.append(c)
        elif stub.remaining == 0:
            break
    src.stop()
    last = src.drain()
    if last is not None:
        chunks.append(last)
    return chunks


def expected_channels(ch0: np.ndarray) -> np.ndarray:
    ch = ch0.astype(np.uint16)
    return np.where(ch < 100, ch + 1, ch).astype(np.uint16)


def test_missing_library_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_LIB, str(tmp_path / "libtdcbase.so"))
    with pytest.raises(SourceError) as err:
        QutagSource()
    msg = str(err.value)
    assert "quTAG library not found" in msg and ENV_LIB in msg and "qutools" in msg
    assert str(tmp_path / "libtdcbase.so") in msg


def test_a_library_without_the_functions_is_refused(tmp_path):
    if qstub.compiler() is None:
        pytest.skip("no C compiler")
    import subprocess
    src = tmp_path / "other.c"
    src.write_text("int TDC_init(int id) { return 0; }\n")
    so = tmp_path / "libother.so"
    subprocess.run([qstub.compiler(), "-shared", "-fPIC", "-o", str(so), str(src)], check=True)
    with pytest.raises(SourceError, match="lacks TDC_deInit"):
        QutagSource(library=so)


def test_serves_every_tag_with_one_based_channels(variant):
    name, path, stub = variant
    ts, ch0 = qstub.fixture_tags(20_000)
    stub.load(ts, ch0)
    stub.set_batch(777)
    with QutagSource(library=path, buffer_size=5000) as src:
        assert src.api == name  # auto-detected
        chunks = collect(src, stub)
        counters = src.counters()
    got_ts = np.concatenate([c.timestamps_ps for c in chunks])
    got_ch = np.concatenate([c.channels for c in chunks])
    np.testing.assert_array_equal(got_ts, ts)
    np.testing.assert_array_equal(got_ch, expected_channels(ch0))
    assert got_ch.dtype == np.uint16 and set(np.unique(got_ch)) == {1, 2, 3, 5, 100}
    firsts = [c.first_record for c in chunks]
    assert firsts == list(np.cumsum([0] + [len(c) for c in chunks[:-1]]))
    assert counters.n_tags == len(ts) and counters.overflow_count == 0 and not counters.data_lost
    assert stub.calls() == (1, 1)  # TDC_init once, TDC_deInit once on close


def test_enable_channels_follows_the_api_variant(variant):
    name, path, stub = variant
    stub.load(*qstub.fixture_tags(10))
    with QutagSource(library=path, channels=(1, 2, 5), enable_start=True) as src:
        src.start()
        en_start, mask, nargs = stub.enabled()
    if name == "standard":  # Int32 mask, bit c = stop channel c, bit 0 = start input
        assert (nargs, mask) == (1, 0b100111)
    else:  # (Bln32 enStart, Int32 mask), bit c-1 = stop channel c
        assert (nargs, en_start, mask) == (2, 1, 0b10011)
    assert channel_mask([1, 2, 5], "standard", False) == (0b100110,)
    assert channel_mask([32], "mc-hr", False) == (0, -(1 << 31))
    with pytest.raises(SourceError, match="1..32"):
        channel_mask([0], "mc-hr")


def test_timebase_converts_standard_units_to_ps(stub_libs):
    ts, ch0 = qstub.fixture_tags(3000)
    for name, factor in (("standard", 3), ("mc-hr", 1)):  # the MC/HR API gives ps whatever the timebase
        stub = qstub.Stub(stub_libs[name])
        stub.load(ts, ch0)
        stub.set_timebase(3e-12)
        with QutagSource(library=stub_libs[name]) as src:
            got = np.concatenate([c.timestamps_ps for c in collect(src, stub)])
            assert src.time_unit_ps == pytest.approx(3.0 if name == "standard" else 1.0)
        np.testing.assert_array_equal(got, ts * factor)


def test_ring_buffer_overflow_is_counted_and_only_overwritten_tags_are_missing(variant):
    name, path, stub = variant
    ts, ch0 = qstub.fixture_tags(20_000)
    stub.load(ts, ch0)
    stub.set_batch(3000)  # more tags per poll than the buffer holds
    with QutagSource(library=path, buffer_size=1000) as src:
        chunks = collect(src, stub)
        counters = src.counters()
    got_ts = np.concatenate([c.timestamps_ps for c in chunks])
    assert stub.overwritten == len(ts) - len(got_ts) > 0
    assert np.all(np.isin(got_ts, ts)) and np.all(np.diff(got_ts) >= 0)
    polls_with_data = -(-len(ts) // 3000)
    assert counters.overflow_count == polls_with_data
    assert all(e.kind == "buffer-overflow" for e in counters.data_loss_events)
    assert not counters.data_lost  # the device itself lost nothing


def test_device_data_loss_is_latched_and_timed(variant):
    name, path, stub = variant
    ts, ch0 = qstub.fixture_tags(5000)
    stub.load(ts, ch0)
    stub.set_batch(1000)
    with QutagSource(library=path) as src:
        src.start()
        first = src.read(0.05)
        stub.inject_data_loss()
        src.read(0.05)
        c = src.counters()
    assert c.data_lost and src.data_lost
    (ev,) = [e for e in c.data_loss_events if e.kind == "device-data-lost"]
    assert ev.after_record == len(first) and ev.after_tag_ps == int(first.timestamps_ps[-1])
    assert ev.elapsed_s >= 0 and ev.to_json_dict()["kind"] == "device-data-lost"


def test_init_error_is_mapped_to_a_message(variant):
    name, path, stub = variant
    stub.set_init_result(2)
    src = QutagSource(library=path)
    with pytest.raises(SourceError, match=r"TDC_init failed: no connection was established .*\(code 2\)"):
        src.start()
    src.close()
    assert stub.calls() == (1, 0) and not stub.initialized


def test_out_of_range_buffer_is_refused_before_connecting(variant):
    name, path, stub = variant
    with pytest.raises(SourceError, match="1..1000000"):
        QutagSource(library=path, buffer_size=2_000_000)


def test_tags_from_env_file(variant, tmp_path, monkeypatch):
    name, path, stub = variant
    ts, ch0 = qstub.fixture_tags(4000, seed=3)
    raw = tmp_path / "tags.raw"
    qstub.write_raw(raw, ts, ch0)
    stub.load(np.empty(0, np.int64), np.empty(0, np.uint8))
    monkeypatch.setenv("TAGSTREAM_QUTAG_STUB_TAGS", str(raw))
    monkeypatch.setenv(ENV_LIB, str(path))
    with QutagSource() as src:  # library from the environment variable
        chunks = collect(src, stub)
    np.testing.assert_array_equal(np.concatenate([c.timestamps_ps for c in chunks]), ts)
    np.testing.assert_array_equal(np.concatenate([c.channels for c in chunks]), expected_channels(ch0))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=300), st.integers(0, 500),
       st.lists(st.integers(1, 50), min_size=1, max_size=20), st.integers(0, 100))
def test_reorderer_restores_order_for_any_chunking(times, jitter_max, cuts, seed):
    rng = np.random.default_rng(seed)
    ts = np.sort(np.array(times, np.int64) * 100)
    jittered = ts + rng.integers(0, jitter_max + 1, len(ts))  # out of order by at most jitter_max
    ch = np.arange(len(ts), dtype=np.uint16)  # identifies each tag
    r = ClampingReorderer(window_ps=jitter_max)
    out_t, out_c, i, k = [], [], 0, 0
    while i < len(ts):
        n = cuts[k % len(cuts)]
        t, c, late = r.push(jittered[i:i + n], ch[i:i + n])
        assert late == 0
        out_t.append(t), out_c.append(c)
        i, k = i + n, k + 1
    t, c = r.flush()
    out_t.append(t), out_c.append(c)
    got_t, got_c = np.concatenate(out_t), np.concatenate(out_c)
    assert np.all(np.diff(got_t) >= 0)
    order = np.argsort(jittered, kind="stable")
    np.testing.assert_array_equal(got_t, jittered[order])
    assert sorted(got_c.tolist()) == ch.tolist()


def test_reorderer_keeps_late_tags_and_counts_them():
    r = ClampingReorderer(window_ps=10)
    t, c, late = r.push(np.array([0, 100, 200]), np.array([1, 1, 1]))
    assert t.tolist() == [0, 100] and late == 0
    t, c, late = r.push(np.array([50, 300]), np.array([2, 1]))  # 50 is behind the released 100
    assert late == 1 and r.late == 1
    assert t.tolist() == [100, 200] and c.tolist() == [2, 1]  # kept, raised to 100
