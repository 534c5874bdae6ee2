"""Plausibility checks on synthetic sync streams with known truth: plain, divided, sync-filtered,
jittery, implausibly slow; microtimes longer than the header's sync period; setup proposals."""

from __future__ import annotations

import numpy as np
import pytest

from tagstream.chunk import TagChunk
from tagstream.io import open_tags, write_photon_hdf5
from tagstream.io.propose import propose_setup
from tagstream.plausibility import (channel_warnings, microtime_warnings, period_warnings, sync_summary,
                                    sync_warnings)
from tagstream.setup import Setup

P = 12_500.0


def pulses(n=20_000, period=P, jitter_ps=2.0, seed=0):
    rng = np.random.default_rng(seed)
    return np.rint(np.arange(n) * period + rng.normal(0, jitter_ps, n)).astype(np.int64)


@pytest.mark.parametrize("period", [P, 1e5, 1.3e3])
def test_plain_sync_says_nothing(period):
    s = sync_summary(pulses(period=period))
    assert s["period_ps"] == pytest.approx(period, rel=1e-5) and s["filtered_fraction"] == 0
    assert sync_warnings(s, sync_filtered=False) == []


def test_filtered_sync_is_recognised_and_its_period_found():
    rng = np.random.default_rng(1)
    t = pulses(400_000)
    kept = t[np.sort(rng.choice(t.size, 20_000, replace=False))]     # syncs next to photons only
    s = sync_summary(kept)
    assert s["period_ps"] == pytest.approx(P, rel=1e-4) and s["filtered_fraction"] > 0.5
    w = sync_warnings(s, sync_filtered=False)
    assert len(w) == 1 and "sync-filtered" in w[0] and "--sync-filtered" in w[0]
    assert sync_warnings(s, sync_filtered=True) == []


def test_jittery_and_implausible_periods_are_said():
    s = sync_summary(pulses(jitter_ps=250.0))       # 250 ps rms per sync: 2.8 % of 12.5 ns per interval
    assert s["jitter"] == pytest.approx(250 * 2**0.5 / P, rel=0.05)
    assert [x for x in sync_warnings(s, False) if "jitters" in x]
    s = sync_summary(pulses(jitter_ps=600.0))       # no whole-multiple period any more
    assert s["period_ps"] is None and "irregular" in sync_warnings(s, False)[0]
    slow = sync_summary(pulses(period=8.44e6))      # the "8.44 us laser period"
    assert any("implausible laser period" in x for x in sync_warnings(slow, False))
    assert sync_warnings(slow, False, sync_divider=1000) == []     # a divided sync: 8.44 ns lasers are fine
    assert period_warnings(8.44e6) and period_warnings(100.0) and not period_warnings(P)


def test_microtimes_longer_than_the_header_sync_period_are_said():
    assert microtime_warnings(99_000, P, 8) == []
    w = microtime_warnings(524_256, P, 8)
    assert len(w) == 1 and "524.3 ns" in w[0] and "100.0 ns" in w[0]
    assert microtime_warnings(None, P) == [] and microtime_warnings(20_000, None) == []


def test_channel_warnings():
    assert channel_warnings(Setup(spad_b=None), [1, 5]) == ["one detector only (no SPAD B): no g2"]
    assert "frame channel 3" in channel_warnings(Setup(frame=3), [1, 2, 5])[0]
    assert channel_warnings(Setup(), [1, 2, 5]) == []


def test_a_quTAG_like_stream_proposes_sync_5_and_detects_the_filter(tmp_path):
    """No header at all: sync 5 since it has tags, SPADs 1/2, filter and period from the intervals."""
    from tagstream.io import write_qutag_binary

    rng = np.random.default_rng(4)
    ph = np.sort(rng.integers(0, 10**11, 30_000)).astype(np.int64)
    sync = (np.floor(ph / P) * P).astype(np.int64)            # the sync before each photon
    t = np.concatenate([ph, sync])
    c = np.concatenate([rng.integers(1, 3, ph.size), np.full(sync.size, 5)]).astype(np.uint16)
    o = np.argsort(t, kind="stable")
    f = tmp_path / "x.qutag"
    write_qutag_binary(f, [TagChunk.from_arrays(t[o], c[o])])
    parts, probe = propose_setup(open_tags(f))
    assert (parts["sync"], parts["spad_a"], parts["spad_b"], parts["sync_filtered"]) == (5, 1, 2, True)
    assert parts["laser_period_ps"] == pytest.approx(P, rel=1e-6)
    assert set(parts["probed"]) >= {"sync", "spad_a", "spad_b", "sync_filtered", "laser_period_ps"}


def test_photon_hdf5_of_another_tool_proposes_its_detectors(tmp_path):
    import h5py

    f = tmp_path / "other.h5"
    write_photon_hdf5(f, TagChunk.from_arrays(np.arange(10, dtype=np.int64) * 1000,
                                              np.array([3, 7] * 5, np.uint16), 0, np.arange(10) * 10),
                      period_ps=25_000)
    with h5py.File(f, "a") as h:        # as another tool writes it: no tagstream marker
        del h["user"]
    parts, _ = propose_setup(open_tags(f))
    assert (parts["sync"], parts["spad_a"], parts["spad_b"]) == (None, 4, 8)
    assert parts["laser_period_ps"] == pytest.approx(25_000)
