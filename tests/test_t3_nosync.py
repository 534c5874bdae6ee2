"""Recorded microtimes (T3 / nanotimes) everywhere, streams without sync, and "no channel" in the setup:
the direct-microtime path, replay in the live session, convert, the T3 -> Photon-HDF5 -> analyze round
trip, --sync none / sync = "none", and the part-by-part setup precedence."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import REAL, requires_real

from tagstream.chunk import TagChunk
from tagstream.cli import main
from tagstream.commands.convert import convert
from tagstream.errors import SetupError, TagFileError
from tagstream.io import open_tags, write_photon_hdf5
from tagstream.pipeline import AnalysisConfig, Pipeline, analyze_file
from tagstream.setup import Setup, resolve_setup
from tagstream.stages.microtime import MicrotimeStage

T3 = REAL / "hydraharp_t3_syncdiv8_hbt.ptu"
PERIOD_PS = 12_500


def t3_like(n=40_000, seed=0, period_ps=PERIOD_PS, divider=4, tau_ps=1500.0):
    """A T3-like stream: photons on 1/2 with microtimes after a divided sync (spanning `divider`
    laser periods), a 2 ns delay plus an exponential decay."""
    rng = np.random.default_rng(seed)
    nsync = np.sort(rng.integers(0, 50_000_000, n))
    pulse = rng.integers(0, divider, n)
    micro = (pulse * period_ps + 2000 + rng.exponential(tau_ps, n)).astype(np.int64)
    t = nsync * period_ps * divider + micro
    order = np.argsort(t, kind="stable")
    ch = rng.integers(1, 3, n).astype(np.uint16)
    return t[order], ch[order], micro[order]


def test_direct_microtimes_without_a_period_are_a_setup_error_not_a_crash():
    t, c, m = t3_like(100)
    stage = MicrotimeStage(Setup(sync=None))
    with pytest.raises(SetupError, match="laser period"):
        stage.update(TagChunk.from_arrays(t, c, 0, m))


def test_direct_microtimes_are_folded_into_the_laser_period_whatever_the_chunking():
    t, c, m = t3_like()
    cfg = AnalysisConfig(laser_period_ps=PERIOD_PS, g2=False)
    results = []
    for size in (len(t), 977):
        pipe = Pipeline(Setup(sync=None), cfg)
        for a in range(0, len(t), size):
            pipe.feed(TagChunk.from_arrays(t[a:a + size], c[a:a + size], a, m[a:a + size]))
        results.append(pipe.finalize())
    d = results[0].decay
    ref = np.minimum((m % PERIOD_PS) // d.bin_ps, len(d.counts) - 1)
    np.testing.assert_array_equal(d.counts, np.bincount(ref, minlength=len(d.counts)))
    np.testing.assert_array_equal(results[1].decay.counts, d.counts)
    assert results[0].unreferenced_photons == 0


def test_no_sync_stream_gives_g2_and_traces_and_no_lifetimes(tmp_path, capsys):
    rng = np.random.default_rng(2)
    t = np.sort(rng.integers(0, 2 * 10**12, 100_000)).astype(np.int64)
    c = rng.integers(1, 3, t.size).astype(np.uint16)
    p = tmp_path / "cw.h5"
    write_photon_hdf5(p, TagChunk.from_arrays(t, c))
    assert main(["analyze", str(p), "--no-fit", "--json", "--sync", "none"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["laser_period_ps"] is None and d["setup"]["sync"] is None and d["setup"]["origins"]["sync"] == "CLI"
    assert d["g2"] is not None and d["g2"]["window_ps"] == 50_000
    assert all(r["n_photons"] == 0 for r in d["regimes"])
    assert sum("lifetime outputs" in w for w in d["warnings"]) == 1
    assert main(["analyze", str(p), "--no-fit", "--sync", "none", "--levels"]) == 0
    out = capsys.readouterr().out
    assert "\nregime " not in out and "levels" in out and out.count("lifetime outputs") == 1
    res = analyze_file(p, Setup(sync=None), AnalysisConfig())
    assert res.trace.counts.sum() == t.size and res.decay.counts.sum() == 0
    a, b = t[c == 1], t[c == 2]                       # g2 = every B-A pair within +-50 ns
    lo, hi = np.searchsorted(b, a - 50_000, "left"), np.searchsorted(b, a + 50_000, "left")
    assert res.g2.counts.sum() == (hi - lo).sum() > 0


def test_toml_and_cli_say_no_sync(tmp_path):
    s = Setup(sync=None, spad_a=3, spad_b=None)
    assert Setup.from_dict(__import__("tomllib").loads(s.to_toml())) == s
    f = tmp_path / "s.toml"
    f.write_text('[channels]\nsync = "none"\nspad_a = 1\n')
    rs = resolve_setup(None, {"sync": 99, "spad_b": 4, "laser_period_ps": 100.0}, f, {"spad_b": 2})
    assert (rs.setup.sync, rs.setup.spad_a, rs.setup.spad_b, rs.laser_period_ps) == (None, 1, 2, 100.0)
    assert rs.origins == {**rs.origins, "sync": str(f), "spad_a": str(f), "spad_b": "CLI",
                          "laser_period_ps": "file header", "sync_divider": "defaults"}
    f.write_text('[channels]\nsync = "sometimes"\n')
    with pytest.raises(SetupError, match="none"):
        resolve_setup(None, {}, f)


def test_sidecar_beats_the_header_and_the_cli_beats_both(tmp_path):
    t, c, m = t3_like(2000)
    p = tmp_path / "run.h5"
    write_photon_hdf5(p, TagChunk.from_arrays(t, c, 0, m), period_ps=PERIOD_PS)
    (tmp_path / "run.setup.toml").write_text("[channels]\nspad_a = 2\nspad_b = 1\n")
    from tagstream.io.propose import propose_setup
    header, _ = propose_setup(open_tags(p))
    rs = resolve_setup(p, header)
    assert (rs.setup.spad_a, rs.setup.spad_b, rs.setup.sync) == (2, 1, None)
    assert rs.origins["spad_a"].endswith("run.setup.toml") and rs.origins["sync"] == "file header"
    assert rs.laser_period_ps == pytest.approx(PERIOD_PS)
    rs = resolve_setup(p, header, cli={"spad_a": 1, "spad_b": 2})
    assert rs.origins["spad_a"] == "CLI"


def test_convert_keeps_microtimes_in_photon_hdf5_and_refuses_to_drop_them_silently(tmp_path):
    t, c, m = t3_like(5000)
    src = tmp_path / "in.h5"
    write_photon_hdf5(src, TagChunk.from_arrays(t, c, 0, m), period_ps=PERIOD_PS)
    with pytest.raises(TagFileError, match="drop-microtimes"):
        convert(src, tmp_path / "out.qutag")
    with pytest.raises(TagFileError, match="drop-microtimes"):
        convert(src, tmp_path / "out.sstt")
    r = convert(src, tmp_path / "out.qutag", drop_microtimes=True)
    assert r["records"] == 5000 and not r["microtimes"]
    r = convert(src, tmp_path / "copy.h5")
    assert r["microtimes"]
    back = open_tags(tmp_path / "copy.h5").read_all()
    np.testing.assert_array_equal(back.microtimes_ps, m)
    np.testing.assert_array_equal(back.timestamps_ps, t)


def _analyze_as_proposed(path):
    from tagstream.io.propose import propose_setup

    rs = resolve_setup(path, propose_setup(open_tags(path))[0])
    return rs, analyze_file(path, rs.setup, AnalysisConfig(laser_period_ps=rs.laser_period_ps))


@requires_real
def test_t3_to_photon_hdf5_to_analyze_gives_the_same_decay(tmp_path, capsys):
    out = tmp_path / "t3.h5"
    assert main(["convert", str(T3), str(out)]) == 0
    assert "with microtimes" in capsys.readouterr().out
    (ra, a), (rb, b) = _analyze_as_proposed(T3), _analyze_as_proposed(out)
    assert ra.setup == rb.setup and ra.laser_period_ps == pytest.approx(rb.laser_period_ps, rel=1e-12)
    np.testing.assert_array_equal(a.decay.counts, b.decay.counts)
    assert a.decay.counts.sum() == 453263
    np.testing.assert_array_equal(a.g2.counts, b.g2.counts)
    np.testing.assert_array_equal(a.trace.counts, b.trace.counts)


@requires_real
def test_t3_replay_in_the_live_session_keeps_the_microtimes_and_equals_offline(tmp_path):
    from tagstream.sources import LiveSession, ReplaySource

    src = ReplaySource(T3, speed=None, chunk_records=50_000)
    assert src.laser_period_ps == pytest.approx(12512.587663189168)
    setup = Setup(sync=None)
    cfg = AnalysisConfig(laser_period_ps=src.laser_period_ps, trace_bin_ms=5)
    session = LiveSession(src, pipeline=Pipeline(setup, cfg))
    session.start()
    assert session.wait_finished(120)
    session.stop()
    live = session.pipeline.finalize()
    offline = analyze_file(T3, setup, cfg)
    assert live.unreferenced_photons == 0 and live.decay.counts.sum() == 453263
    np.testing.assert_array_equal(live.decay.counts, offline.decay.counts)
    np.testing.assert_array_equal(live.g2.counts, offline.g2.counts)
