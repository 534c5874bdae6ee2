"""Change-point levels: pure-Python reference of the Watkins-Yang test and the windowed search, synthetic
piecewise-Poisson streams with known switching times and states, streaming == batch, grouping, lifetimes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tagstream.levels import (ChangePointDetector, critical_value, find_change_points, group_levels, level_flid,
                              level_lifetimes, levels_from_change_points, mle_lifetime_ps, on_state, analyze_levels)
from tagstream.levels.cpa import OVERLAP


# --- pure-Python reference (explicit sums as in the reference FindCP.c; no numba, no cumulative tables) ---
def ref_scan(t, lo, hi):
    n = hi - lo
    if n < 2 or t[hi] == t[lo]:
        return 0, -math.inf
    T = float(t[hi] - t[lo])
    best_k, best = 0, -math.inf
    for k in range(1, n):
        v = min(max((t[lo + k] - t[lo]) / T, 0.5 / T), 1 - 0.5 / T)
        u = -sum(1.0 / j for j in range(k, n))
        u1 = -sum(1.0 / j for j in range(n - k, n))
        v2 = sum(1.0 / j ** 2 for j in range(k, n))
        v21 = sum(1.0 / j ** 2 for j in range(n - k, n))
        term = math.pi ** 2 / 6 - sum(1.0 / j ** 2 for j in range(1, n))
        s2 = 4 * k * k * v2 + 4 * (n - k) ** 2 * v21 - 8 * k * (n - k) * term
        if s2 <= 0:
            continue
        llr = (-2 * k * math.log(v) + 2 * k * u - 2 * (n - k) * math.log(1 - v) + 2 * (n - k) * u1) / math.sqrt(s2) \
            + 0.5 * math.log(4 * k * (n - k) / n ** 2)
        if llr > best:
            best, best_k = llr, k
    return best_k, best


def ref_find(t, conf, m=1000, overlap=OVERLAP):
    t = [int(x) for x in t]
    last = len(t) - 1
    crit = lambda n: critical_value(n, conf)
    detected = []

    def split(a, b, out):
        k, l = ref_scan(t, a, b)
        if k > 0 and l > crit(b - a):
            out.append(a + k)
            split(a, a + k, out)
            split(a + k, b, out)
    lo = 0
    while True:
        hi = lo + m - 1
        found = []
        split(lo, min(hi, last), found)
        detected += sorted(found)
        if hi >= last:
            break
        lo = max(found) if found else hi - overlap
    kept, prev = [], 0
    for i, cp in enumerate(detected):
        nxt = detected[i + 1] if i + 1 < len(detected) else last
        a, b = max(prev, cp - m // 2), min(nxt, cp + m // 2)
        k, l = ref_scan(t, a, b)
        if k > 0 and l > crit(b - a):
            kept.append(a + k)
            prev = a + k
    return kept


def piecewise(rates, durations_s, seed):
    rng = np.random.default_rng(seed)
    parts, t0, switch = [], 0.0, []
    for r, d in zip(rates, durations_s):
        n = rng.poisson(r * d)
        parts.append(np.sort(rng.uniform(t0, t0 + d, n)))
        t0 += d
        switch.append(t0)
    return (np.concatenate(parts) * 1e12).astype(np.int64), np.array(switch[:-1]) * 1e12


def test_critical_values_interpolation_matches_published():
    # published values between the stored grid points (Yang's tables, via Full_SMS Ta-xx.txt line n+1)
    assert critical_value(154, 0.95) == pytest.approx(5.65572641, abs=2e-4)
    assert critical_value(332, 0.99) == pytest.approx(8.33657272, abs=2e-4)
    assert critical_value(466, 0.90) == pytest.approx(4.88611426, abs=2e-4)
    assert critical_value(888, 0.69) == pytest.approx(3.08068298, abs=2e-4)
    assert critical_value(100, 0.95) == pytest.approx(5.49101747 if False else 5.49503024)
    with pytest.raises(ValueError):
        critical_value(10, 0.8)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scan_equals_reference(seed):
    t, _ = piecewise([3000, 300, 3000], [0.05, 0.1, 0.05], seed)
    from tagstream.levels.cpa import _harmonic_tables, wlr_scan
    h, h2 = _harmonic_tables(1001)
    for lo, hi in [(0, len(t) - 1), (3, min(len(t) - 1, 200)), (10, 12)]:
        k, l = wlr_scan(t, lo, hi, h, h2)
        rk, rl = ref_scan(t, lo, hi)
        assert k == rk and l == pytest.approx(rl, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("seed,conf", [(0, 0.95), (1, 0.69), (2, 0.99), (3, 0.90)])
def test_search_equals_reference(seed, conf):
    t, _ = piecewise([20000, 2000, 20000, 6000], [0.05, 0.1, 0.03, 0.08], seed)
    got = find_change_points(t, conf)
    assert got.tolist() == ref_find(t, conf)
    assert got.size >= 2


@settings(max_examples=20, deadline=None)
@given(sizes=st.lists(st.integers(1, 900), min_size=1, max_size=40), seed=st.integers(0, 3))
def test_streaming_equals_batch(sizes, seed):
    t, _ = piecewise([30000, 3000, 30000, 8000, 30000], [0.05, 0.05, 0.04, 0.05, 0.05], seed)
    batch = find_change_points(t, 0.95)
    det = ChangePointDetector(0.95)
    a = 0
    i = 0
    while a < t.size:
        b = a + sizes[i % len(sizes)]
        det.feed(t[a:b])
        a, i = b, i + 1
        assert det._buf.size <= 4 * det.max_segment + max(sizes)   # bounded memory
    np.testing.assert_array_equal(det.finalize(), batch)


@pytest.mark.parametrize("seed", range(5))
def test_switch_times_and_states_recovered(seed):
    """Three states (bright 20 kcps, grey 8 kcps, dark 1.5 kcps), 7 switches; 99 % confidence."""
    rates = [20000, 1500, 20000, 8000, 1500, 20000, 8000, 20000]
    durs = [0.3, 0.3, 0.2, 0.25, 0.3, 0.2, 0.25, 0.3]
    t, switches = piecewise(rates, durs, seed)
    a = analyze_levels(t, 0.99)
    cps_ps = t[a.change_points]
    # every switch found within a few mean inter-photon times of the dimmer side (1 / 1500 s = 0.67 ms);
    # at 99 % per test a rare false split of a level is allowed (at most one per trace)
    nearest = np.array([np.min(np.abs(cps_ps - s)) for s in switches])
    assert np.max(nearest) < 3e-3 * 1e12
    assert len(switches) <= len(cps_ps) <= len(switches) + 1
    assert a.grouping.n_states == 3
    np.testing.assert_allclose(a.grouping.state_intensity_cps, [1500, 8000, 20000], rtol=0.1)
    on_states, on_levels = on_state(a.grouping)
    assert on_states.tolist() == [False, False, True]
    mid = (a.levels.start_ps + a.levels.end_ps) / 2
    true_rate = np.array(rates)[np.searchsorted(switches, mid)]
    np.testing.assert_array_equal(on_levels, true_rate == 20000)


def test_higher_confidence_fewer_false_change_points():
    rng = np.random.default_rng(11)
    streams = [np.sort(rng.uniform(0, 1.0, 20_000) * 1e12).astype(np.int64) for _ in range(10)]
    counts = [sum(find_change_points(t, c).size for t in streams) for c in (0.69, 0.90, 0.95, 0.99)]
    assert counts[0] >= counts[1] >= counts[2] >= counts[3]
    assert counts[0] > counts[3]


def test_levels_bookkeeping():
    t = np.arange(0, 1000, dtype=np.int64) * 1000
    lv = levels_from_change_points(t, [100, 400])
    assert lv.n_photons.tolist() == [100, 300, 600] and lv.n_photons.sum() == t.size
    assert lv.start_ps.tolist() == [0, 100_000, 400_000] and lv.end_ps.tolist() == [100_000, 400_000, 999_000]
    np.testing.assert_allclose(lv.intensity_cps, 1e9)
    with pytest.raises(ValueError):
        levels_from_change_points(t, [400, 100])


def test_grouping_bic_on_exact_levels():
    rng = np.random.default_rng(5)
    true = np.array([1000, 5000, 20000])[rng.integers(0, 3, 40)]
    dur = rng.uniform(0.05, 0.3, 40)
    n = rng.poisson(true * dur)
    g = group_levels(n, dur, max_states=6)
    assert g.n_states == 3
    # the grouping separates the true states exactly
    for k in range(3):
        assert len(set(true[g.labels == k])) == 1
    assert g.bic.size == 6 and np.argmax(g.bic) == 2


def test_mle_lifetime_truncated_exponential():
    rng = np.random.default_rng(9)
    period = 1_000_000.0
    for tau in (20e3, 300e3, 900e3):
        d = rng.exponential(tau, 400_000)
        d = d[d < period]                    # photons inside the window
        assert mle_lifetime_ps(d, period) == pytest.approx(tau, rel=0.03)
    assert math.isnan(mle_lifetime_ps(np.array([]), period))


def test_level_lifetimes_and_flid():
    rng = np.random.default_rng(4)
    t, _ = piecewise([20000, 2000], [0.2, 0.2], 3)
    taus = np.where(t < 0.2e12, 40e3, 10e3)
    micro = rng.exponential(taus) % 1e6
    lv = levels_from_change_points(t, find_change_points(t, 0.99))
    lv = level_lifetimes(lv, micro, 1e6)
    assert len(lv) == 2
    np.testing.assert_allclose(lv.mle_lifetime_ps, [40e3, 10e3], rtol=0.1)
    np.testing.assert_allclose(lv.mean_lifetime_ps, [micro[:lv.n_photons[0]].mean(), micro[lv.n_photons[0]:].mean()])
    h, _, _ = level_flid(lv.intensity_cps, lv.mle_lifetime_ps, lv.duration_s, np.linspace(0, 30000, 7),
                         np.linspace(0, 60e3, 7))
    assert h.sum() == pytest.approx(lv.duration_s.sum())
    ie, le = np.linspace(0, 30000, 7), np.linspace(0, 60e3, 7)
    for k in range(2):
        i, j = np.digitize(lv.intensity_cps[k], ie) - 1, np.digitize(lv.mle_lifetime_ps[k], le) - 1
        assert h[i, j] == pytest.approx(lv.duration_s[k])
