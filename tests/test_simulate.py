"""The simulator against its own ground truth and against the physics it claims (see tagstream.simulate)."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats

from tagstream.simulate import (Simulation, SimulationParams, SimulationParamsError, emccd_readout,
                                segment_expectations, truth_per_bin)
from tagstream.simulate.truth import excitation_probabilities, state_constants

PS_PER_S = 10**12


def run(params: SimulationParams, duration_s: float, seed: int = 0, chunk_s: float = 0.5):
    """All tags, frames and truth of one simulation."""
    sim = Simulation(params, seed=seed)
    chunks = list(sim.chunks(chunk_s=chunk_s, duration_s=duration_s))
    t = np.concatenate([c.timestamps_ps for c in chunks])
    ch = np.concatenate([c.channels for c in chunks])
    return t, ch, sim.pop_frames(), sim.truth(), chunks


def quiet(**kw) -> SimulationParams:
    """ON only, fixed P_trap = 0, no dark counts: a clean single-exponential emitter."""
    base = dict(blinking=False, ptrap_min=0.0, ptrap_max=0.0, dark_count_rate_hz=0.0, sync_divider=1,
                spectrometer=False)
    base.update(kw)
    return SimulationParams(**base)


def microtimes_ps(t, ch, params, channels=(1, 2)):
    """Photon delay after its sync tag (sync divider 1), the slow obvious way."""
    sync = t[ch == params.ch_sync]
    ph = t[np.isin(ch, channels)]
    idx = np.searchsorted(sync, ph, side="right") - 1
    ok = idx >= 0
    return ph[ok] - sync[idx[ok]]


# ------------------------------------------------------------------ determinism and chunking

def test_same_output_for_any_chunking_default_model():
    p = SimulationParams()
    ref = run(p, 2.0, seed=3, chunk_s=2.5)
    for chunk_s in (0.5, 0.0731):
        t, ch, fr, truth, _ = run(p, 2.0, seed=3, chunk_s=chunk_s)
        assert np.array_equal(t, ref[0]) and np.array_equal(ch, ref[1])
        assert np.array_equal(fr.frame_start_ps, ref[2].frame_start_ps)
        assert np.array_equal(fr.frames_adu, ref[2].frames_adu)
        assert truth.equals(ref[3])
    assert len(ref[0]) > 5000


@settings(max_examples=8, deadline=None)
@given(spans=st.lists(st.integers(min_value=1, max_value=400_000_000_000), min_size=1, max_size=12),
       filtered=st.booleans())
def test_same_output_for_random_spans(spans, filtered):
    # sync filter, afterpulses and heavy dark counts: every stateful part of the generator crosses spans
    p = SimulationParams(sync_filtered=filtered, sync_divider=7, afterpulse_prob=0.2, dark_count_rate_hz=2e4,
                         exposure_s=0.05, cycle_time_s=0.07)
    end = 600_000_000_000
    ref_sim = Simulation(p, seed=11)
    ref = ref_sim.finish(end)
    ref_frames = ref_sim.pop_frames()
    sim = Simulation(p, seed=11)
    parts = []
    t = 0
    for s in spans:
        t += s
        if t >= end:
            break
        parts.append(sim.advance_to(t))
    parts.append(sim.finish(end))
    got_t = np.concatenate([c.timestamps_ps for c in parts])
    got_ch = np.concatenate([c.channels for c in parts])
    assert np.array_equal(got_t, ref.timestamps_ps) and np.array_equal(got_ch, ref.channels)
    assert [c.first_record for c in parts] == list(np.cumsum([0] + [len(c) for c in parts[:-1]]))
    fr = sim.pop_frames()
    assert np.array_equal(fr.frames_adu, ref_frames.frames_adu)
    assert np.array_equal(fr.frame_start_ps, ref_frames.frame_start_ps)


def test_seed_changes_output_and_tags_are_ordered():
    p = SimulationParams()
    a = run(p, 1.0, seed=1)
    b = run(p, 1.0, seed=2)
    assert not (len(a[0]) == len(b[0]) and np.array_equal(a[0], b[0]))
    for t, ch, *_ in (a, b):
        assert np.all(np.diff(t) >= 0)
        assert set(np.unique(ch).tolist()) == {1, 2, 3, 5}
        assert t.min() >= 0 and t.max() < PS_PER_S


# ------------------------------------------------------------------ rates and blinking vs truth

def test_counts_per_channel_match_truth_with_blinking():
    p = SimulationParams()
    t, ch, _, truth, _ = run(p, 8.0, seed=5)
    tb = truth_per_bin(truth, 8 * PS_PER_S)
    for col, c in (("expected_counts_a", 1), ("expected_counts_b", 2)):
        exp = float(tb[col].sum())
        n = int((ch == c).sum())
        # Poisson error; dead-time loss is ~rate*dead ~ 1e-4, far below it
        assert abs(n - exp) < 4 * math.sqrt(exp), (c, n, exp)
    assert set(truth["state"].unique().to_list()) == {"on", "grey", "off"}


def test_state_count_levels_match_seed_threshold():
    # ON ~600-1000, grey ~200-300, OFF ~20-50 counts / 100 ms over both SPADs (seed: ON > 400)
    p = SimulationParams()
    exp = segment_expectations(p, [0, 0, 1, 2], [0.0, 0.65, 0.0, 0.0])
    per_100ms = (exp["rate_a_hz"] + exp["rate_b_hz"]) * 0.1
    assert 600 < per_100ms[0] < 1000 and 600 < per_100ms[1] < 1000
    assert 200 < per_100ms[2] < 300
    assert 20 < per_100ms[3] < 50


def test_counts_inside_long_segments_follow_their_state():
    p = SimulationParams()
    t, ch, _, truth, _ = run(p, 10.0, seed=2)
    ph = np.sort(t[(ch == 1) | (ch == 2)])
    long = truth.filter((pl.col("end_ps") - pl.col("start_ps")) > 100_000_000_000)
    assert long.height >= 3
    for row in long.iter_rows(named=True):
        n = np.searchsorted(ph, row["end_ps"]) - np.searchsorted(ph, row["start_ps"])
        exp = (row["rate_a_hz"] + row["rate_b_hz"]) * (row["end_ps"] - row["start_ps"]) / PS_PER_S
        assert abs(n - exp) < 5 * math.sqrt(exp) + 3, row


def test_truth_per_bin_against_brute_force():
    p = SimulationParams()
    sim = Simulation(p, seed=4)
    end = 7 * PS_PER_S + 123
    truth = sim.truth(end)
    bin_ps = 250_000_000_000
    tb = truth_per_bin(truth, bin_ps, end)
    rows = truth.rows(named=True)
    for b in tb.iter_rows(named=True):
        a0, a1 = b["bin_start_ps"], b["bin_end_ps"]
        on = pt = cnt = mt = 0.0
        for r in rows:
            ov = max(0, min(a1, r["end_ps"]) - max(a0, r["start_ps"]))
            on += ov * (r["state"] == "on")
            pt += ov * r["p_trap"]
            c = ov * (r["rate_a_hz"] + r["rate_b_hz"]) / PS_PER_S
            cnt += c
            mt += c * r["mean_microtime_ns"]
        span = a1 - a0
        assert b["on_fraction"] == pytest.approx(on / span, abs=1e-9)
        assert b["mean_p_trap"] == pytest.approx(pt / span, abs=1e-9)
        assert b["expected_counts"] == pytest.approx(cnt, rel=1e-9)
        assert b["expected_mean_microtime_ns"] == pytest.approx(mt / cnt, rel=1e-9)
    assert tb["bin_end_ps"][-1] == end and tb.height == 29


def test_slow_processes_respect_their_ranges():
    p = SimulationParams()
    truth = Simulation(p, seed=8).truth(200 * PS_PER_S)
    assert truth["p_trap"].min() >= p.ptrap_min and truth["p_trap"].max() <= p.ptrap_max
    assert np.all(truth["start_ps"].to_numpy()[1:] == truth["end_ps"].to_numpy()[:-1])
    sim = Simulation(p, seed=8)
    sim.slow.extend_to(200 * PS_PER_S)
    bs = np.asarray(sim.slow.blink_start_ps)
    dwell_s = np.diff(bs) / PS_PER_S
    assert dwell_s.min() >= p.dwell_min_s * 0.999 and dwell_s.max() <= p.dwell_max_s * 1.001
    codes = np.asarray(sim.slow.blink_code)
    assert np.all(codes[1:] != codes[:-1])  # every change point changes the state
    ps = np.diff(np.asarray(sim.slow.ptrap_start_ps)) / PS_PER_S
    assert 0.7 * p.ptrap_dwell_s < ps.mean() < 1.3 * p.ptrap_dwell_s  # ~130 exponential dwells


def test_on_bins_populate_all_three_seed_lifetime_regimes():
    truth = Simulation(SimulationParams(), seed=0).truth(300 * PS_PER_S)
    tb = truth_per_bin(truth, 100_000_000_000)
    on = tb.filter(pl.col("on_fraction") == 1.0)["expected_mean_microtime_ns"].to_numpy()
    counts = np.histogram(on, [40, 50, 60, 70])[0]
    assert np.all(counts > 0.05 * on.size), counts
    assert on.min() > 45 and on.max() < 65


# ------------------------------------------------------------------ microtimes and the decay model

def test_band_edge_microtimes_are_exponential_35ns():
    p = quiet(qy_xx=0.0, mean_excitations=0.3)
    t, ch, *_ = run(p, 1.0)
    d_ns = (microtimes_ps(t, ch, p) - p.irf_offset_ns * 1000) / 1000.0
    assert d_ns.size > 10000
    ks = stats.kstest(d_ns, stats.expon(scale=p.tau_be_ns).cdf)
    assert ks.pvalue > 1e-3, ks
    assert stats.kstest(d_ns, stats.expon(scale=0.95 * p.tau_be_ns).cdf).pvalue < 1e-3  # the test has power


def test_irf_is_gaussian_with_configured_sigma():
    p = quiet(tau_be_ns=1e-6, grey_tau_be_ns=1e-6, off_tau_be_ns=1e-6, qy_xx=0.0, tau_xx_ns=1e-6,
              mean_excitations=0.5,
              irf_sigma_ps=80.0)
    t, ch, *_ = run(p, 0.3)
    d_ps = microtimes_ps(t, ch, p) - p.irf_offset_ns * 1000
    assert d_ps.size > 5000
    assert abs(d_ps.mean()) < 5 and d_ps.std() == pytest.approx(80.0, rel=0.05)
    assert stats.kstest(d_ps, stats.norm(0, 80).cdf).pvalue > 1e-3


def test_ptrap_half_gives_the_right_mixture():
    p = quiet(qy_xx=0.0, mean_excitations=0.3, ptrap_min=0.5, ptrap_max=0.5)
    t, ch, *_ = run(p, 3.0)
    d_ns = (microtimes_ps(t, ch, p) - p.irf_offset_ns * 1000) / 1000.0

    def mix_cdf(x):
        return 0.5 * stats.expon(scale=p.tau_be_ns).cdf(x) + 0.5 * stats.expon(scale=p.tau_trap_ns).cdf(x)

    assert stats.kstest(d_ns, mix_cdf).pvalue > 1e-3
    assert stats.kstest(d_ns, stats.expon(scale=d_ns.mean()).cdf).pvalue < 1e-4  # not one exponential
    exp = segment_expectations(p, [0], [0.5])
    assert exp["trap_photon_fraction"][0] == pytest.approx(0.5)
    assert d_ns.mean() == pytest.approx(exp["mean_delay_ns"][0], abs=4 * d_ns.std() / math.sqrt(d_ns.size))


def test_mean_microtime_per_bin_matches_truth():
    # every bin with enough counts, ON, grey, OFF or mixed: the truth is count-weighted over segments.
    # Without dark counts (a rare 500-ns outlier makes per-bin z-scores of dim bins non-Gaussian).
    p = SimulationParams(sync_divider=1, dark_count_rate_hz=0.0)
    t, ch, _, truth, _ = run(p, 4.0, seed=6)
    tb = truth_per_bin(truth, 100_000_000_000).filter(pl.col("expected_counts") > 20)
    assert tb.height > 20 and (tb["on_fraction"] < 0.5).sum() >= 2
    mt = microtimes_ps(t, ch, p)
    ph = t[(ch == 1) | (ch == 2)]
    ph = ph[ph >= t[ch == 5][0]]
    z = []
    for b in tb.iter_rows(named=True):
        sel = (ph >= b["bin_start_ps"]) & (ph < b["bin_end_ps"])
        m = mt[sel] / 1000.0
        z.append((m.mean() - b["expected_mean_microtime_ns"]) / (m.std() / math.sqrt(m.size)))
    z = np.asarray(z)
    assert np.all(np.abs(z) < 5), z
    assert abs(z.mean()) < 5 / math.sqrt(z.size) + 0.5


def test_mean_microtime_with_dark_counts_matches_truth_overall():
    p = SimulationParams(sync_divider=1, dark_count_rate_hz=200.0)
    t, ch, _, truth, _ = run(p, 4.0, seed=6)
    tb = truth_per_bin(truth, 4 * PS_PER_S)
    m = microtimes_ps(t, ch, p) / 1000.0
    se = m.std() / math.sqrt(m.size)
    assert m.mean() == pytest.approx(tb["expected_mean_microtime_ns"][0], abs=4 * se)
    # the dark counts matter here: without them the expectation would be off by many standard errors
    no_dark = truth_per_bin(Simulation(p.replace(dark_count_rate_hz=0.0), seed=6).truth(4 * PS_PER_S), 4 * PS_PER_S)
    assert abs(m.mean() - no_dark["expected_mean_microtime_ns"][0]) > 10 * se


def test_g2_zero_matches_biexciton_yield():
    p = quiet(collection_efficiency=1.0, spad_efficiency=1.0, hbt_fraction=1.0, mean_excitations=0.1,
              qy_xx=0.07)
    t, ch, *_ = run(p, 2.0, seed=9)
    period = p.period_ps
    pa = np.unique(t[ch == 1] // period)  # dead time: at most one click per SPAD per pulse here
    pb = np.unique(t[ch == 2] // period)
    centre = np.intersect1d(pa, pb).size
    sides = [np.intersect1d(pa, pb + k).size for k in list(range(-30, 0)) + list(range(1, 31))]
    g2 = centre / np.mean(sides)
    p1, p2 = excitation_probabilities(p)
    y_x = state_constants(p)[2][0]
    expected = 2 * p2 * p.qy_xx * y_x / (p1 * y_x + p2 * p.qy_xx) ** 2
    assert 0.05 < expected < 0.1
    assert g2 == pytest.approx(expected, abs=4 * math.sqrt(centre) / np.mean(sides) + 0.005)


# ------------------------------------------------------------------ detector effects

def test_dead_time_respected_and_jitter_clipped():
    p = quiet(mean_excitations=3.0, collection_efficiency=1.0, spad_efficiency=1.0, hbt_fraction=1.0,
              dead_time_ns=45.0, dark_count_rate_hz=1e5, tau_xx_ns=0.6)
    t, ch, *_ = run(p, 0.2)
    for c in (1, 2):
        d = np.diff(t[ch == c])
        assert d.size > 10000 and d.min() >= 45_000
    # the biexciton photon and the exciton photon often hit one SPAD within 45 ns: dead time must bite
    assert (t[ch == 1].size + t[ch == 2].size) < 0.99 * 0.2 * 1e6 * 2 * 0.95


def test_afterpulses_add_the_configured_fraction():
    p = quiet(collection_efficiency=0.0, dark_count_rate_hz=20_000.0, afterpulse_prob=0.25,
              afterpulse_tau_ns=200.0, dead_time_ns=30.0)
    t, ch, *_ = run(p, 1.0)
    for c in (1, 2):
        x = t[ch == c]
        # every registered click has prob. 0.25 of an afterpulse: total = dark / (1 - 0.25)
        exp = 20_000.0 / 0.75
        assert abs(x.size - exp) < 5 * math.sqrt(exp)
        d = np.diff(x)
        assert d.min() >= 30_000
        short = np.count_nonzero(d < 30_000 + 5 * 200_000)  # mostly afterpulses (dark: 2 %)
        assert short > 0.2 * x.size


def test_dark_counts_only_are_uniform_poisson():
    p = quiet(collection_efficiency=0.0, dark_count_rate_hz=5000.0, dead_time_ns=0.0)
    t, ch, *_ = run(p, 2.0)
    x = t[ch == 1]
    assert abs(x.size - 10_000) < 5 * 100
    assert stats.kstest(np.diff(x) / 1e12, stats.expon(scale=1 / 5000).cdf).pvalue > 1e-3


# ------------------------------------------------------------------ sync recording

def test_sync_divider_exact():
    p = SimulationParams(sync_divider=1000)
    t, ch, *_ = run(p, 1.25, chunk_s=0.3)
    s = t[ch == 5]
    assert s[0] == 0 and np.all(np.diff(s) == 1000 * p.period_ps)
    assert s.size == 1250


def test_sync_filter_keeps_exactly_the_syncs_before_photons():
    base = SimulationParams(sync_divider=1, spectrometer=False)
    t0, ch0, *_ = run(base, 0.3, seed=4)
    t1, ch1, *_ = run(base.replace(sync_filtered=True), 0.3, seed=4, chunk_s=0.0377)
    spad = lambda t, ch: t[(ch == 1) | (ch == 2)]  # noqa: E731
    assert np.array_equal(spad(t0, ch0), spad(t1, ch1))  # the filter does not touch photons
    ph = spad(t1, ch1)
    expected_syncs = np.unique(ph // base.period_ps) * base.period_ps
    assert np.array_equal(t1[ch1 == 5], expected_syncs)
    assert np.all(np.diff(t1) >= 0)


# ------------------------------------------------------------------ camera

def test_frames_and_triggers_agree():
    p = SimulationParams(exposure_s=0.1, cycle_time_s=0.1)
    t, ch, fr, truth, _ = run(p, 2.35, chunk_s=0.33)
    trig = t[ch == 3]
    assert trig.size == 24 and np.array_equal(trig, fr.frame_start_ps)
    assert np.all(np.diff(trig) == 100_000_000_000)
    assert fr.frames_adu.shape == (24, p.n_pixels) and fr.frames_adu.dtype == np.float32


def test_camera_electrons_match_truth_and_gain():
    p = SimulationParams(blinking=False, ptrap_min=0.0, ptrap_max=0.0)
    t, ch, fr, truth, _ = run(p, 3.0)
    tb = truth_per_bin(truth, 100_000_000_000)
    e = fr.electrons.sum(axis=1)
    exp = tb["expected_spec_electrons"].to_numpy()
    assert e.size == exp.size == 30
    assert abs(e.sum() - exp.sum()) < 4 * math.sqrt(exp.sum())
    # the ADU of all frames: baseline + electrons * gain * adu_per_electron (gamma EM noise averages out)
    signal = (fr.frames_adu.astype(np.float64) - p.baseline_adu).sum() / (p.em_gain * p.adu_per_electron)
    assert signal == pytest.approx(e.sum(), rel=4 * math.sqrt(2 / e.sum()) + 0.01)
    # centroid of the band-edge spectrum at 2.064 eV through the calibration polynomial
    lam = np.polynomial.polynomial.polyval(np.arange(p.n_pixels), p.wavelength_coeffs_nm)
    mean_ev = (fr.electrons.sum(axis=0) * (1239.841984 / lam)).sum() / e.sum()
    assert mean_ev == pytest.approx(p.be_center_ev, abs=0.002)


def test_emccd_readout_statistics():
    p = SimulationParams(em_gain=150.0, adu_per_electron=0.1, read_noise_adu=4.0, baseline_adu=300.0)
    rng = np.random.default_rng(0)
    n = np.full(200_000, 5, np.int32)
    adu = emccd_readout(n, p, rng).astype(np.float64)
    g = p.em_gain * p.adu_per_electron
    assert adu.mean() == pytest.approx(300 + 5 * g, rel=0.002)
    # gamma(5, G): variance 5 G^2 (excess-noise factor sqrt(2) relative to... n G^2 (1 + 1/n)?) -> 5 G^2
    assert adu.var() == pytest.approx(5 * g**2 + 16.0, rel=0.03)
    dark = emccd_readout(np.zeros(100_000, np.int32), p, rng).astype(np.float64)
    assert dark.mean() == pytest.approx(300, abs=0.1) and dark.std() == pytest.approx(4.0, rel=0.02)


# ------------------------------------------------------------------ parameters

def test_params_roundtrip_and_validation():
    p = SimulationParams(tau_be_ns=30.0, wavelength_coeffs_nm=[400, 0.3])
    assert SimulationParams.from_dict(p.to_dict()) == p
    assert p.wavelength_coeffs_nm == (400.0, 0.3)
    for bad in (dict(qy_be=1.5), dict(sync_divider=0), dict(ptrap_min=0.7), dict(cycle_time_s=0.05),
                dict(wavelength_coeffs_nm=(500.0, -0.3)), dict(ch_sync=1), dict(on_alpha=1.0),
                dict(rep_rate_hz=1e10), dict(irf_sigma_ps=5000.0)):
        with pytest.raises(SimulationParamsError):
            SimulationParams(**bad)
    with pytest.raises(SimulationParamsError, match="unknown"):
        SimulationParams.from_dict({"tau_be": 3})


def test_finish_and_misuse():
    sim = Simulation(SimulationParams(), seed=1)
    sim.advance(0.2)
    with pytest.raises(ValueError):
        sim.finish(1000)
    last = sim.finish(int(0.25 * PS_PER_S))
    assert len(last) > 0 and last.timestamps_ps.max() < 0.25 * PS_PER_S
    assert len(sim.pop_frames()) == 3  # 0-100, 100-200, 200-250 ms (cut short)
    with pytest.raises(RuntimeError):
        sim.advance(0.1)


@pytest.mark.slow
def test_ten_minutes_at_1mhz_in_bounded_memory():
    import tracemalloc

    p = SimulationParams()
    sim = Simulation(p, seed=1)
    tracemalloc.start()
    n = {1: 0, 2: 0}
    biggest = 0
    for chunk in sim.chunks(chunk_s=1.0, duration_s=600):
        biggest = max(biggest, len(chunk))
        for c in n:
            n[c] += int(np.count_nonzero(chunk.channels == c))
        sim.pop_frames()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert biggest < 30_000 and peak < 100e6
    tb = truth_per_bin(sim.truth(), 600 * PS_PER_S)
    for c, col in ((1, "expected_counts_a"), (2, "expected_counts_b")):
        assert abs(n[c] - tb[col][0]) < 5 * math.sqrt(tb[col][0])


def test_80mhz_laser_wraps_microtimes_but_keeps_rates():
    p = SimulationParams(rep_rate_hz=80e6, sync_divider=1, mean_excitations=0.01, blinking=False,
                         spectrometer=False)
    t, ch, _, truth, _ = run(p, 0.05)
    assert p.period_ps == 12500
    s = t[ch == 5]
    assert np.all(np.diff(s) == 12500) and s.size == 4_000_000
    tb = truth_per_bin(truth, 50_000_000_000)
    n = int(((ch == 1) | (ch == 2)).sum())
    assert abs(n - tb["expected_counts"][0]) < 5 * math.sqrt(tb["expected_counts"][0])
