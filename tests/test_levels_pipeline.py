"""Levels in the pipeline (tagstream.stages.levels + tagstream.levels.result): equal to the batch functions
on all photons for any chunking, lifetimes vs per-photon references, ON bins vs brute force, switching times
and states vs the simulator's truth, the qd_demo fixture, JSON and Parquet export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings, strategies as st

from tagstream.chunk import TagChunk
from tagstream.levels import find_change_points, group_levels, levels_from_change_points, mle_lifetime_ps
from tagstream.pipeline import AnalysisConfig, Pipeline, analyze_file
from tagstream.setup import setup_for_recording
from tagstream.simulate import Simulation, SimulationParams, setup_for

FIX = Path(__file__).resolve().parents[1] / "fixtures"
PERIOD = 1_000_000


def _simulate(params, seed, duration_s):
    sim = Simulation(params, seed=seed)
    chunks = [c for c in sim.chunks(chunk_s=1.0, duration_s=duration_s) if len(c)]
    ts = np.concatenate([c.timestamps_ps for c in chunks])
    ch = np.concatenate([c.channels for c in chunks])
    return TagChunk.from_arrays(ts, ch), sim.truth(), setup_for(params)


@pytest.fixture(scope="module")
def blinky():
    """4 s of fast blinking (many levels, short ones too), no camera."""
    p = SimulationParams().replace(spectrometer=False, dwell_min_s=0.02, dwell_max_s=1.0)
    return _simulate(p, 5, 4.0)


def _run(tags, setup, sizes=None, **cfg):
    pipe = Pipeline(setup, AnalysisConfig(trace_bin_ms=50, g2=False, levels_confidence=0.95, **cfg))
    n = len(tags)
    a = 0
    k = 0
    while a < n:
        b = n if sizes is None else min(n, a + sizes[k % len(sizes)])
        pipe.feed(tags.slice(a, b))
        a, k = b, k + 1
    return pipe.finalize()


def _photons(tags, setup):
    m = (tags.channels == setup.spad_a) | (tags.channels == setup.spad_b)
    return tags.timestamps_ps[m]


def _ref_microtimes(tags, setup):
    """Independent microtimes: the simulator's pulses are at k * 1 us exactly (sync divider 1000, first sync at
    t = 0); the engine references photons only once the period is measured, i.e. after the second sync."""
    t = _photons(tags, setup)
    syncs = tags.timestamps_ps[tags.channels == setup.sync]
    mt = np.where(t >= syncs[1], t % PERIOD, -1)
    return t, mt


def test_stage_levels_equal_batch_functions_and_lifetimes(blinky):
    tags, _, setup = blinky
    res = _run(tags, setup, t0_ps=0, subtract_background=False)
    lev = res.levels
    t, mt = _ref_microtimes(tags, setup)
    cps = find_change_points(t, 0.95)
    ref = levels_from_change_points(t, cps)
    assert lev.n_levels == len(ref) == cps.size + 1 > 5
    for name in ("start_ps", "end_ps", "first_photon", "n_photons", "n_intervals"):
        np.testing.assert_array_equal(getattr(lev.levels, name), getattr(ref, name), err_msg=name)
    np.testing.assert_allclose(lev.levels.intensity_cps, ref.intensity_cps, rtol=1e-12)
    # average lifetime (t0 = 0, no background) = mean microtime of the level's referenced photons
    dbin = res.decay.bin_ps
    for i, (a, n) in enumerate(zip(ref.first_photon, ref.n_photons)):
        m = mt[a:a + n]
        m = m[m >= 0]
        exp_mean = m.mean() / 1e3 if m.size else np.nan
        np.testing.assert_allclose(lev.mean_lifetime_ns[i], exp_mean, rtol=1e-12)
        # MLE on the photons' decay-bin centres (the per-photon store), window [0, P)
        centres = (np.minimum(m // dbin, res.decay.t_ps.size - 1) + 0.5) * dbin
        exp_mle = mle_lifetime_ps(centres, res.laser_period_ps, 0.0) / 1e3 if m.size else np.nan
        if np.isfinite(exp_mle):
            np.testing.assert_allclose(lev.mle_lifetime_ns[i], exp_mle, rtol=1e-6)
    g = group_levels(ref.n_intervals.clip(min=1), np.maximum(ref.duration_s, 1e-12))
    assert lev.grouping.n_states == g.n_states
    np.testing.assert_array_equal(lev.state, g.labels)
    on = lev.on_levels
    assert on.any() and np.all(lev.state[on] == g.n_states - 1)
    # state occupancy: time fractions; level FLID: seconds per cell sum to the levels with a lifetime
    np.testing.assert_allclose(lev.state_occupancy.sum(), 1.0)
    fin = np.isfinite(lev.mean_lifetime_ns) & (lev.mean_lifetime_ns < lev.flid_lifetime_edges_ns[-1])
    np.testing.assert_allclose(lev.flid_hist_s.sum(), lev.levels.duration_s[fin].sum(), rtol=1e-9)


@settings(max_examples=8, deadline=None)
@given(sizes=st.lists(st.integers(1, 4000), min_size=1, max_size=6), seed=st.integers(0, 3))
def test_levels_identical_for_any_chunking(blinky, sizes, seed):
    tags, _, setup = blinky
    sizes = [1] * seed + sizes                       # always some 1-record chunks
    whole = _run(tags, setup).levels
    parts = _run(tags, setup, sizes).levels
    assert whole.final and parts.final
    for name in ("start_ps", "end_ps", "n_photons", "intensity_cps"):
        np.testing.assert_array_equal(getattr(parts.levels, name), getattr(whole.levels, name))
    np.testing.assert_array_equal(parts.mean_lifetime_ns, whole.mean_lifetime_ns)
    np.testing.assert_array_equal(parts.mle_lifetime_ns, whole.mle_lifetime_ns)
    np.testing.assert_array_equal(parts.state, whole.state)


def test_snapshot_levels_are_provisional_prefix(blinky):
    tags, _, setup = blinky
    pipe = Pipeline(setup, AnalysisConfig(trace_bin_ms=50, g2=False, levels_confidence=0.95))
    half = len(tags) // 2
    pipe.feed(tags.slice(0, half))
    snap = pipe.snapshot().levels
    pipe.feed(tags.slice(half, len(tags)))
    final = pipe.finalize().levels
    assert not snap.final and final.final
    k = snap.n_levels - 1                            # all but the provisional last level are final
    np.testing.assert_array_equal(snap.levels.start_ps[:k], final.levels.start_ps[:k])
    np.testing.assert_array_equal(snap.levels.end_ps[:k], final.levels.end_ps[:k])


def test_on_bins_fully_inside_on_levels(blinky):
    tags, _, setup = blinky
    res = _run(tags, setup)
    on_res = res.reselect(on_from_levels=True)
    lev = on_res.levels
    tr = on_res.trace
    bin_ps = int(round(tr.bin_ms * 1e9))
    expect = np.zeros(tr.counts.size, bool)
    for k, b in enumerate(tr.bin_start_ps[:-1]):     # last (partial) bin never ON
        inside = [(s <= b) and (b + bin_ps <= e) for s, e, o in
                  zip(lev.levels.start_ps, lev.levels.end_ps, lev.on_levels) if o]
        # a bin spanning two adjacent ON levels is inside their union
        cover = sum(max(0, min(e, b + bin_ps) - max(s, b)) for s, e, o in
                    zip(lev.levels.start_ps, lev.levels.end_ps, lev.on_levels) if o)
        expect[k] = any(inside) or cover == bin_ps
    np.testing.assert_array_equal(tr.on, expect)
    assert tr.on_threshold_method == "levels" and tr.on.any()
    # regimes now select only from those bins; their intervals lie inside ON levels
    iv = lev.on_intervals_ps()
    for r in on_res.regimes:
        assert set(r.bins.tolist()) <= set(np.flatnonzero(tr.on).tolist())
        for a, b in r.intervals_ps:
            assert np.any((iv[:, 0] <= a) & (b <= iv[:, 1]))
    # back to a threshold: the same as the original results
    np.testing.assert_array_equal(on_res.reselect(on_from_levels=False).trace.on, res.trace.on)


def test_switch_times_and_states_vs_truth():
    """Clean case: long dwell times, constant rates per state (no trap fluctuation)."""
    p = SimulationParams().replace(spectrometer=False, ptrap_max=0.0, dwell_min_s=0.3, dwell_max_s=3.0)
    tags, truth, setup = _simulate(p, 1, 30.0)
    pipe = Pipeline(setup, AnalysisConfig(trace_bin_ms=100, g2=False, levels_confidence=0.99))
    pipe.feed(tags)
    lev = pipe.finalize().levels
    seg = truth.with_columns(rate=pl.col("rate_a_hz") + pl.col("rate_b_hz"))
    states = seg["state"].to_numpy()
    rate = seg["rate"].to_numpy()
    sw = np.flatnonzero(states[1:] != states[:-1]) + 1          # switches between different states
    sw_t = seg["start_ps"].to_numpy()[sw]
    starts = lev.levels.start_ps[1:]
    for k, t in zip(sw, sw_t):
        lo_rate = min(rate[k - 1], rate[k])
        tol_ps = 15.0 / lo_rate * 1e12                          # ~15 intervals of the dimmer side
        assert np.min(np.abs(starts - t)) < tol_ps, (t, tol_ps)
    assert lev.n_levels <= sw.size + 1 + 3                     # at most a few spurious change points
    assert lev.grouping.n_states == 3 == len(set(states))
    true_rates = np.sort([rate[states == s][0] for s in ("off", "grey", "on")])
    np.testing.assert_allclose(lev.grouping.state_intensity_cps, true_rates, rtol=0.05)
    # occupancy vs truth (time fraction per state)
    dur = (seg["end_ps"] - seg["start_ps"]).to_numpy().astype(float)
    true_occ = np.array([dur[states == s].sum() for s in ("off", "grey", "on")]) / dur.sum()
    np.testing.assert_allclose(lev.state_occupancy, true_occ, atol=0.02)


def test_qd_demo_fixture_levels():
    path = FIX / "qd_demo.qutag"
    setup, _ = setup_for_recording(path)
    res = analyze_file(path, setup, AnalysisConfig(trace_bin_ms=100, t0_ps=0, levels_confidence=0.99))
    lev = res.levels
    truth = pl.read_parquet(FIX / "qd_demo.truth.parquet").with_columns(rate=pl.col("rate_a_hz") + pl.col("rate_b_hz"))
    on_rate = truth.filter(pl.col("state") == "on")["rate"][0]
    # the brightest state is the ON state, within 5 %; ON levels cover the truth's ON time
    assert abs(lev.grouping.state_intensity_cps[-1] / on_rate - 1) < 0.05
    t = np.arange(0, int(res.duration_s * 1e12), 10**9)          # 1 ms grid
    def covered(starts, ends, mask):
        idx = np.searchsorted(starts[mask], t, side="right") - 1
        ok = idx >= 0
        return ok & (t < ends[mask][np.where(ok, idx, 0)])
    bright = lev.levels.intensity_cps > 0.5 * on_rate
    in_truth_on = covered(truth["start_ps"].to_numpy(), truth["end_ps"].to_numpy(),
                          (truth["state"] == "on").to_numpy())
    in_bright = covered(lev.levels.start_ps, lev.levels.end_ps, bright)
    assert np.mean(in_bright == in_truth_on) > 0.97
    # ON bins from levels lie in truth-ON time
    on = res.reselect(on_from_levels=True).trace
    b = on.bin_start_ps[on.on]
    frac = np.array([in_truth_on[(t >= s) & (t < s + 10**11)].mean() for s in b])
    assert on.on.sum() > 20 and np.mean(frac == 1.0) > 0.95
    d = res.to_json_dict()["levels"]
    json.dumps(d, allow_nan=False)
    assert d["n_levels"] == lev.n_levels and d["n_states"] == len(d["states"]) == lev.grouping.n_states
    assert abs(sum(s["occupancy"] for s in d["states"]) - 1) < 1e-9


def test_level_states_three_on_fixture_matches_truth_occupancy():
    path = FIX / "qd_demo.qutag"
    setup, _ = setup_for_recording(path)
    res = analyze_file(path, setup, AnalysisConfig(trace_bin_ms=100, t0_ps=0, levels_confidence=0.99, level_states=3))
    lev = res.levels
    truth = pl.read_parquet(FIX / "qd_demo.truth.parquet")
    dur = (truth["end_ps"] - truth["start_ps"]).to_numpy().astype(float)
    st_ = truth["state"].to_numpy()
    true_occ = np.array([dur[st_ == s].sum() for s in ("off", "grey", "on")]) / dur.sum()
    assert lev.grouping.n_states == 3
    np.testing.assert_allclose(lev.state_occupancy, true_occ, atol=0.03)
    # the cut grouping is the AHC's own 3-group assignment; BIC's choice is kept in .bic
    np.testing.assert_array_equal(lev.state, lev.grouping.all_labels[2])
    # reselect to the BIC's choice and back without re-reading
    bic = res.reselect(level_states=None).levels
    assert bic.grouping.n_states == int(np.argmax(bic.grouping.bic)) + 1
    np.testing.assert_array_equal(bic.levels.start_ps, lev.levels.start_ps)


def test_cli_levels_json_and_export(tmp_path, capsys):
    from tagstream.cli import main

    rec = FIX / "qd_demo.qutag"
    out = tmp_path / "exp"
    rc = main(["analyze", str(rec), "--bin-ms", "100", "--t0-ps", "0", "--levels", "--on-from-levels",
               "--level-states", "3", "--no-fit", "--no-spectra", "--json", "--export", str(out)])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    lv = d["levels"]
    assert lv["confidence"] == 0.99 and lv["n_states"] == 3 == len(lv["states"])
    assert set(lv["states"][0]) == {"intensity_cps", "lifetime_ns", "occupancy"}
    assert d["trace"]["on_threshold_method"] == "levels"
    setup, _ = setup_for_recording(rec)
    res = analyze_file(rec, setup, AnalysisConfig(trace_bin_ms=100, t0_ps=0, levels_confidence=0.99,
                                                  on_from_levels=True, level_states=3))
    assert lv["n_levels"] == res.levels.n_levels
    t = pl.read_parquet(out / "levels.parquet")
    assert t.columns[:7] == ["start_ps", "end_ps", "n_photons", "intensity_cps", "mean_lifetime_ns",
                             "mle_lifetime_ns", "state"]
    np.testing.assert_array_equal(t["start_ps"].to_numpy(), res.levels.levels.start_ps)
    np.testing.assert_array_equal(t["state"].to_numpy(), res.levels.state)
    np.testing.assert_allclose(t["mle_lifetime_ns"].to_numpy(), res.levels.mle_lifetime_ns)
    f = pl.read_parquet(out / "level_flid.parquet")
    np.testing.assert_allclose(f["duration_s"].sum(), res.levels.flid_hist_s.sum())
    assert f.height == res.levels.flid_hist_s.size
    trace = pl.read_parquet(out / "trace.parquet")
    np.testing.assert_array_equal(trace["on"].to_numpy(), res.trace.on)
    # bad confidence: one clear error line, exit 2
    assert main(["analyze", str(rec), "--levels", "0.5", "--no-fit", "--no-spectra"]) == 2
