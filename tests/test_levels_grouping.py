"""Grouping levels into states (AHC -> EM Poisson mixture -> BIC): the numba kernels against slow pure-Python
references, the number of states on clean simulations (simulator truth) and on the qd_demo fixture, the
--level-states override, and the live-snapshot cache."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tagstream.levels import find_change_points, group_levels, levels_from_change_points
from tagstream.levels.grouping import EM_MAX_ITER, EM_TOL, extend_grouping, group_levels_cached
from tagstream.pipeline import AnalysisConfig, Pipeline, analyze_file
from tagstream.setup import setup_for_recording
from tagstream.simulate import Simulation, SimulationParams, setup_for

FIX = Path(__file__).resolve().parents[1] / "fixtures"


# --- slow references: the reference program's algorithm written out with Python floats -----------------------
def ref_ahc(n, T, g_max):
    """Full pair scan per merge (AHCluster.c's delta()); labels per G numbered by first member."""
    groups = [[i] for i in range(len(n))]
    gn, gt = [float(x) for x in n], [float(x) for x in T]
    out = {}
    while True:
        if len(groups) <= g_max:
            lab = [0] * len(n)
            first = sorted(range(len(groups)), key=lambda g: min(groups[g]))
            for new, g in enumerate(first):
                for i in groups[g]:
                    lab[i] = new
            out[len(groups)] = lab
        if len(groups) == 1:
            return out
        best, bi, bj = math.inf, -1, -1
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                nij, tij = gn[i] + gn[j], gt[i] + gt[j]
                d = gn[i] * math.log(gn[i] / gt[i]) + gn[j] * math.log(gn[j] / gt[j]) - nij * math.log(nij / tij)
                if d < best:
                    best, bi, bj = d, i, j
        groups[bi] += groups.pop(bj)
        gn[bi] += gn.pop(bj)
        gt[bi] += gt.pop(bj)


def ref_em(n, T, labels, g, tol=EM_TOL, max_iter=EM_MAX_ITER):
    """EM for sum_k w_k Poisson(n_i | I_k T_i) from hard labels; returns ln L, I, w, most probable state."""
    m = len(n)
    r = [[1.0 if labels[i] == k else 0.0 for k in range(g)] for i in range(m)]
    ll = -math.inf
    for _ in range(max_iter):
        inten, w = [], []
        for k in range(g):
            nk = sum(r[i][k] * n[i] for i in range(m))
            tk = sum(r[i][k] * T[i] for i in range(m))
            inten.append(nk / tk if tk > 0 else 0.0)
            w.append(sum(r[i][k] for i in range(m)) / m)
        new, cls = 0.0, []
        for i in range(m):
            logp = [math.log(w[k]) + n[i] * math.log(inten[k] * T[i]) - inten[k] * T[i] - math.lgamma(n[i] + 1)
                    if w[k] > 0 and inten[k] > 0 else -math.inf for k in range(g)]
            mx = max(logp)
            s = sum(math.exp(x - mx) for x in logp)
            r[i] = [math.exp(x - mx) / s for x in logp]
            cls.append(logp.index(mx))
            new += mx + math.log(s)
        done = abs(new - ll) <= tol * (1 + abs(new))
        ll = new
        if done:
            break
    return ll, inten, w, cls


def ref_group(n, T, g_max):
    """(chosen number of states, BIC per G, ordered labels per G, intensities per G) by the references."""
    ahc = ref_ahc(n, T, g_max)
    N = sum(n)
    bic, labels, intens = [], [], []
    for g in range(1, g_max + 1):
        ll, inten, _, cls = ref_em(n, T, ahc[g], g)
        used = sorted(set(cls), key=lambda k: inten[k])
        lab = [used.index(c) for c in cls]
        d = sum(1 for a, b in zip(lab, lab[1:]) if a != b)
        bic.append(2 * ll - math.log(len(n)) if g == 1 else 2 * ll - (2 * g - 1) * math.log(max(d, 1)) - d * math.log(N))
        labels.append(lab)
        intens.append([inten[k] for k in used])
    best = int(np.argmax(bic))
    return len(intens[best]), bic, labels, intens


def _random_levels(seed, m, rates=(300.0, 2000.0, 8000.0)):
    rng = np.random.default_rng(seed)
    state = rng.integers(0, len(rates), m)
    T = rng.exponential(0.05, m) + 0.005
    n = rng.poisson(np.asarray(rates)[state] * T).clip(1).astype(float)
    return n, T


@pytest.mark.parametrize("seed", range(8))
def test_ahc_matches_full_pair_scan(seed):
    n, T = _random_levels(seed, 25)
    from tagstream.levels.grouping import _ahc_labels
    raw = _ahc_labels(n, T, 8)
    ref = ref_ahc(list(n), list(T), 8)
    for g in range(1, 9):
        assert raw[g - 1].tolist() == ref[g], g


@pytest.mark.parametrize("seed", range(6))
def test_em_bic_match_slow_reference(seed):
    n, T = _random_levels(100 + seed, 14)
    g = group_levels(n, T, max_states=5)
    k, bic, labels, intens = ref_group(list(n), list(T), 5)
    assert g.n_states == k
    np.testing.assert_allclose(g.bic, bic, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(g.log_likelihood[0], sum(
        x * math.log(n.sum() / T.sum() * t) - n.sum() / T.sum() * t - math.lgamma(x + 1) for x, t in zip(n, T)))
    for G in range(1, 6):
        assert g.all_labels[G - 1].tolist() == labels[G - 1]
        np.testing.assert_allclose(g.all_intensity_cps[G - 1], intens[G - 1], rtol=1e-9)


def test_em_never_lowers_the_likelihood_of_the_ahc_start():
    """EM from the AHC assignment: the mixture ln L is at least that of the hard assignment's mixture."""
    from tagstream.levels.grouping import _ahc_labels
    n, T = _random_levels(7, 40)
    g = group_levels(n, T, max_states=6)
    raw = _ahc_labels(n, T, 6)
    for G in range(2, 7):
        lab = raw[G - 1]
        ll0 = 0.0
        inten = np.array([n[lab == k].sum() / T[lab == k].sum() for k in range(G)])
        w = np.bincount(lab, minlength=G) / n.size
        for x, t in zip(n, T):
            lp = np.log(w) + x * np.log(inten * t) - inten * t - math.lgamma(x + 1)
            ll0 += np.logaddexp.reduce(lp)
        assert g.log_likelihood[G - 1] >= ll0 - 1e-6


def _hard_bic_choice(n, T, all_labels):
    """The former rule: classification likelihood of the hard AHC assignment (over-splits)."""
    from tagstream.levels.grouping import _ahc_labels
    raw = _ahc_labels(n, T, all_labels.shape[0])
    lg = np.array([math.lgamma(x + 1) for x in n])
    bic = []
    for G in range(1, raw.shape[0] + 1):
        lab = raw[G - 1]
        inten = np.array([n[lab == k].sum() / T[lab == k].sum() for k in range(G)])
        mu = inten[lab] * T
        ll = float(np.sum(n * np.log(mu) - mu - lg))
        d = int(np.count_nonzero(np.diff(inten[lab])))
        bic.append(2 * ll - math.log(n.size) if G == 1 else
                   2 * ll - (2 * G - 1) * math.log(max(d, 1)) - d * math.log(n.sum()))
    return int(np.argmax(bic)) + 1


def test_one_state_of_many_levels_is_not_split():
    """60 levels of one constant intensity (exact Poisson counts): one state in >= 10 of 12 seeds."""
    found = []
    for seed in range(12):
        rng = np.random.default_rng(seed)
        T = rng.uniform(0.02, 0.5, 60)
        n = rng.poisson(8000.0 * T).astype(float)
        found.append(group_levels(n, T).n_states)
    print("states found for one true state:", found)
    assert sum(f == 1 for f in found) >= 10


def _clean_levels(seed):
    p = SimulationParams().replace(spectrometer=False, ptrap_max=0.0, dwell_min_s=0.3, dwell_max_s=3.0)
    sim = Simulation(p, seed=seed)
    chunks = [c for c in sim.chunks(chunk_s=1.0, duration_s=30.0) if len(c)]
    ts = np.concatenate([c.timestamps_ps for c in chunks])
    ch = np.concatenate([c.channels for c in chunks])
    t = ts[(ch == p.ch_spad_a) | (ch == p.ch_spad_b)]
    lv = levels_from_change_points(t, find_change_points(t, 0.99))
    truth = sim.truth().with_columns(rate=pl.col("rate_a_hz") + pl.col("rate_b_hz"))
    return lv, truth


def test_clean_simulations_give_the_true_number_of_states():
    """Constant ON/grey/OFF rates, dwell 0.3-3 s, 30 s, 99 % change points: 3 states in >= 10 of 12 seeds,
    with the state intensities of the truth; the former hard-assignment BIC is shown for comparison."""
    rows = []
    for seed in range(12):
        lv, truth = _clean_levels(seed)
        n, T = lv.n_intervals.clip(min=1).astype(float), np.maximum(lv.duration_s, 1e-12)
        g = group_levels(n, T)
        true_rates = np.sort(truth.group_by("state").agg(pl.col("rate").mean())["rate"].to_numpy())
        rows.append((seed, len(lv), true_rates.size, _hard_bic_choice(n, T, g.all_labels), g.n_states,
                     g.state_intensity_cps, true_rates))
    print("\nseed levels true hard-BIC EM-BIC  intensities (cps) / truth")
    for s, m, k, hard, em, inten, tr in rows:
        print(f"{s:4d} {m:6d} {k:4d} {hard:8d} {em:6d}  {np.round(inten)} / {np.round(tr)}")
    good = [r for r in rows if r[4] == r[2] == 3]
    assert len(good) >= 10
    for *_, inten, tr in good:
        np.testing.assert_allclose(inten, tr, rtol=0.06)


def test_fixture_states():
    """qd_demo: ON has one constant rate, but grey (1850-2290 cps) and OFF (245-310 cps) rates change with
    the simulator's P_trap, and long grey levels at both ends are resolved (> 10 sigma apart). The EM BIC finds
    one ON state and splits grey and OFF by their true rates (5 states); --level-states 3 gives ON/grey/OFF."""
    path = FIX / "qd_demo.qutag"
    setup, _ = setup_for_recording(path)
    res = analyze_file(path, setup, AnalysisConfig(trace_bin_ms=100, levels_confidence=0.99, g2=False))
    lev = res.levels
    g = lev.grouping
    truth = pl.read_parquet(FIX / "qd_demo.truth.parquet").with_columns(rate=pl.col("rate_a_hz") + pl.col("rate_b_hz"))
    s0, s1, rate = (truth[c].to_numpy() for c in ("start_ps", "end_ps", "rate"))
    st = truth["state"].to_numpy()
    lv = lev.levels
    ov = np.clip(np.minimum(s1[None], lv.end_ps[:, None]) - np.maximum(s0[None], lv.start_ps[:, None]), 0, None)
    frac_on = (ov * (st == "on")).sum(1) / ov.sum(1)
    frac_grey = (ov * (st == "grey")).sum(1) / ov.sum(1)
    true_rate = (ov * rate).sum(1) / ov.sum(1)
    on_rate = rate[st == "on"][0]
    print("\nfixture: states", g.n_states, "intensities", np.round(g.state_intensity_cps), "BIC", np.round(g.bic, 1))
    # one ON state: every level spent >= 97 % in ON is in the brightest state, at the true ON rate
    assert np.all(lev.state[frac_on >= 0.97] == g.n_states - 1)
    assert np.all(lev.state[frac_on < 0.5] < g.n_states - 1)
    assert abs(g.state_intensity_cps[-1] / on_rate - 1) < 0.01
    # more than 3 states only because grey/OFF rates differ: the grey states' levels differ in TRUE rate
    assert 3 <= g.n_states <= 5
    grey_states = np.unique(lev.state[frac_grey >= 0.97])
    if grey_states.size > 1:
        w = [np.average(true_rate[(lev.state == k) & (frac_grey >= 0.97)],
                        weights=lv.n_photons[(lev.state == k) & (frac_grey >= 0.97)]) for k in grey_states]
        assert np.all(np.diff(w) > 0.1 * w[0])              # brighter fitted state = brighter true grey rate
    # the override: 3 states = OFF / grey / ON, intensities near the truth's averages
    three = res.reselect(level_states=3).levels.grouping
    assert three.n_states == 3
    assert abs(three.state_intensity_cps[2] / on_rate - 1) < 0.01
    assert 1800 < three.state_intensity_cps[1] < 2350 and 200 < three.state_intensity_cps[0] < 350


def test_snapshot_grouping_is_cached_closed_levels_plus_provisional():
    lv, _ = _clean_levels(3)
    n, T = lv.n_intervals.clip(min=1).astype(float), np.maximum(lv.duration_s, 1e-12)
    a = group_levels_cached(n[:-1], T[:-1])
    assert group_levels_cached(n[:-1].copy(), T[:-1].copy()) is a          # same levels -> no regrouping
    ext = extend_grouping(a, n[-1], T[-1])
    np.testing.assert_array_equal(ext.labels[:-1], a.labels)
    k = ext.labels[-1]
    lp = np.log(a.all_weight[a.n_states - 1]) + n[-1] * np.log(a.state_intensity_cps * T[-1]) \
        - a.state_intensity_cps * T[-1]
    assert k == int(np.argmax(lp))
    assert ext.all_labels.shape == (a.all_labels.shape[0], n.size)
    assert ext.with_n_states(2).labels.size == n.size


def test_pipeline_snapshot_uses_closed_levels_grouping():
    p = SimulationParams().replace(spectrometer=False, ptrap_max=0.0, dwell_min_s=0.3, dwell_max_s=3.0)
    sim = Simulation(p, seed=4)
    pipe = Pipeline(setup_for(p), AnalysisConfig(trace_bin_ms=100, g2=False, levels_confidence=0.99))
    for c in sim.chunks(chunk_s=1.0, duration_s=20.0):
        pipe.feed(c)
    snap = pipe.snapshot().levels
    lv = snap.levels
    n, T = lv.n_intervals.clip(min=1).astype(float), np.maximum(lv.duration_s, 1e-12)
    closed = group_levels(n[:-1], T[:-1])
    assert snap.grouping.n_states == closed.n_states
    np.testing.assert_array_equal(snap.state[:-1], closed.labels)
    np.testing.assert_allclose(snap.grouping.state_intensity_cps, closed.state_intensity_cps)
    final = pipe.finalize().levels
    fl = final.levels
    np.testing.assert_array_equal(final.state, group_levels(fl.n_intervals.clip(min=1).astype(float),
                                                            np.maximum(fl.duration_s, 1e-12)).labels)


def test_live_grouping_reused_until_closed_levels_grow_2_percent():
    from tagstream.levels.grouping import group_levels_live
    n, T = _random_levels(21, 300)
    a = group_levels_live(n[:201], T[:201], 200)                     # 200 closed + 1 provisional
    np.testing.assert_array_equal(a.labels[:200], group_levels(n[:200], T[:200]).labels)
    b = group_levels_live(n[:205], T[:205], 204)                     # +2 %: reused, new levels classified
    np.testing.assert_array_equal(b.labels[:201], a.labels)
    np.testing.assert_array_equal(b.state_intensity_cps, a.state_intensity_cps)
    for i in range(200, 205):
        lp = np.log(a.all_weight[a.n_states - 1]) + n[i] * np.log(a.state_intensity_cps * T[i]) \
            - a.state_intensity_cps * T[i]
        assert b.labels[i] == int(np.argmax(lp))
    c = group_levels_live(n[:206], T[:206], 205)                     # > 2 %: regrouped
    np.testing.assert_array_equal(c.labels[:205], group_levels(n[:205], T[:205]).labels)
    d = group_levels_live(n[:206] * 2, T[:206], 205)                 # other levels: never reused
    np.testing.assert_array_equal(d.labels[:205], group_levels(n[:205] * 2, T[:205]).labels)
