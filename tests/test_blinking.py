"""tagstream.blinking: power-law MLE and KS t_min vs a slow reference, recovery of alpha from synthetic dwells
(fixed seeds and calibration over many samples), the cut-off likelihood ratio, dwells from grouped levels, and
end to end from a simulated recording through the levels stage against the simulator's ground-truth dwells."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, optimize

from tagstream.blinking import (blinking_from_dwells, blinking_from_levels, bootstrap_alpha, dwells_from_levels,
                                fit_power_law, gen_expint, log_histogram, power_law_mle, state_categories)
from tagstream.blinking.powerlaw import BOOT_SEED, cutoff_loglik
from tagstream.pipeline import AnalysisConfig, Pipeline
from tagstream.simulate import Simulation, SimulationParams, setup_for


def _pareto(rng, alpha, t_min, n):
    return t_min * (1.0 - rng.random(n)) ** (-1.0 / (alpha - 1.0))


def _slow_fit(x, min_tail):
    """Obvious implementation: every candidate t_min, alpha by numerically maximising the log-likelihood, KS
    distance from the empirical CDF by a plain loop."""
    x = sorted(float(v) for v in x)
    best = None
    for i in range(len(x) - min_tail + 1):
        tm = x[i]
        tail = x[i:]

        def nll(a):
            return -sum(math.log((a - 1) / tm) - a * math.log(v / tm) for v in tail)

        a = optimize.minimize_scalar(nll, bounds=(1.0001, 10), method="bounded", options=dict(xatol=1e-10)).x
        d = 0.0
        for j, v in enumerate(tail):
            cdf = 1 - (v / tm) ** (1 - a)
            d = max(d, abs(cdf - j / len(tail)), abs(cdf - (j + 1) / len(tail)))
        if best is None or d < best[2]:
            best = (tm, a, d)
    return best


def test_mle_and_ks_tmin_equal_a_slow_reference():
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.uniform(0.001, 0.01, 40), _pareto(rng, 1.7, 0.01, 120)])  # non-power-law head
    fit = fit_power_law(x, min_tail=10, cutoff=False)
    tm, a, d = _slow_fit(x, 10)
    assert fit.t_min_s == tm
    assert fit.alpha == pytest.approx(a, abs=1e-6)
    assert fit.ks_distance == pytest.approx(d, abs=1e-6)
    assert fit.alpha_err_nominal == pytest.approx((fit.alpha - 1) / math.sqrt(fit.n_tail))
    assert fit.n_boot == 200 and fit.alpha_err > fit.alpha_err_nominal  # t_min chosen from the data: wider
    assert 0.005 < fit.t_min_s < 0.02  # the KS criterion finds the start of the power law


@pytest.mark.parametrize("alpha", [1.3, 1.5, 1.8, 2.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_alpha_recovered_from_synthetic_dwells(alpha, seed):
    rng = np.random.default_rng(100 + seed)
    fit = fit_power_law(_pareto(rng, alpha, 0.01, 300))
    assert fit.n_tail >= 100
    assert abs(fit.alpha - alpha) < 0.15
    assert abs(fit.alpha - alpha) < 2 * fit.alpha_err


def test_bootstrap_resamples_equal_a_slow_reference_and_are_deterministic():
    """bootstrap_alpha: resamples with replacement drawn from the seeded Generator, t_min re-chosen by KS and
    alpha refitted in each, as the obvious implementation does; the same values give the same error."""
    rng = np.random.default_rng(5)
    x = np.sort(np.concatenate([rng.uniform(0.002, 0.01, 15), _pareto(rng, 1.6, 0.01, 45)]))
    boot = bootstrap_alpha(x, min_tail=10, n_boot=4)
    ref_rng = np.random.default_rng(BOOT_SEED)
    ref = [_slow_fit(x[ref_rng.integers(0, x.size, x.size)], 10)[1] for _ in range(4)]
    assert boot == pytest.approx(ref, abs=1e-6)
    assert np.array_equal(bootstrap_alpha(x, 10, 50), bootstrap_alpha(x, 10, 50))
    f1, f2 = fit_power_law(x, cutoff=False), fit_power_law(x, cutoff=False)
    assert f1.alpha_err == f2.alpha_err == pytest.approx(np.std(bootstrap_alpha(x, 10), ddof=1))
    assert fit_power_law(x, t_min_s=0.01, cutoff=False).n_boot == 0  # t_min given: the nominal error is right


def _pulls(alpha, n, n_samples, seed, head=False):
    rng = np.random.default_rng(seed)
    d, z, zn = [], [], []
    for _ in range(n_samples):
        x = _pareto(rng, alpha, 0.01, n - n // 4 if head else n)
        if head:  # a quarter of the values below the power law's start: t_min must be found
            x = np.concatenate([rng.uniform(0.002, 0.01, n // 4), x])
        f = fit_power_law(x, cutoff=False)
        d.append(f.alpha - alpha)
        z.append((f.alpha - alpha) / f.alpha_err)
        zn.append((f.alpha - alpha) / f.alpha_err_nominal)
    return np.array(d), np.array(z), np.array(zn)


@pytest.mark.parametrize("alpha", [1.5, 1.8])
def test_alpha_errors_are_calibrated(alpha):
    """Over 100 samples of 150 dwells: the bootstrap errors are calibrated (pull sd 0.8 - 1.15, within 2 errors
    >= 92 %, within 1 error 55 - 85 %) where the nominal (alpha - 1) / sqrt(n) is too small; mean bias < 0.04."""
    d, z, zn = _pulls(alpha, 150, 100, 7)
    assert 0.8 < z.std() < 1.15 and zn.std() > z.std()
    assert np.mean(np.abs(z) < 2) >= 0.92
    assert 0.55 <= np.mean(np.abs(z) < 1) <= 0.85
    assert abs(d.mean()) < 0.04


@pytest.mark.slow
@pytest.mark.parametrize("head", [False, True])
@pytest.mark.parametrize("n", [100, 300])
@pytest.mark.parametrize("alpha", [1.3, 1.5, 1.8, 2.0])
def test_alpha_error_calibration_over_many_seeds(alpha, n, head):
    """400 samples per case (pure power law, or a quarter of the values in a non-power-law head): pulls of alpha
    with sd 0.8 - 1.1 and 2-error coverage 93 - 99.7 %; the nominal error's pulls are wider (sd 1.03 - 1.2); the
    MLE's small-sample upward bias stays below 0.35 sd (measured ~0.25 sd at 100 values)."""
    d, z, zn = _pulls(alpha, n, 400, 1000 + n + int(100 * alpha) + head)
    assert 0.8 < z.std() < 1.1, z.std()
    assert 0.93 <= np.mean(np.abs(z) < 2) <= 0.997
    assert zn.std() > z.std()
    assert abs(d.mean()) < 0.35 * d.std()


def test_generalised_exponential_integral_vs_quadrature():
    for s, z in [(1.5, 1e-3), (1.5, 0.5), (2.3, 0.01), (0.7, 2.0), (1.0, 0.3), (3.0, 1e-5), (2.0, 5.0)]:
        ref = integrate.quad(lambda v: math.exp((1 - s) * v - z * math.exp(min(v, 700))), 0, 80, limit=500,
                             points=[math.log(1 / z)])[0]
        assert gen_expint(s, z) == pytest.approx(ref, rel=1e-7)


def test_cutoff_pdf_normalised_and_likelihood_consistent():
    t_min, a, tc = 0.01, 1.4, 0.5
    mu = t_min / tc
    z = gen_expint(a, mu)
    total = integrate.quad(lambda t: (t / t_min) ** -a * math.exp(-t / tc) / (t_min * z), t_min, 50, limit=400,
                           points=[0.1, 1.0])[0]
    assert total == pytest.approx(1.0, rel=1e-6)
    x = np.array([0.02, 0.3, 1.1])
    ref = sum(math.log((v / t_min) ** -a * math.exp(-v / tc) / (t_min * z)) for v in x)
    assert cutoff_loglik(x, t_min, a, mu) == pytest.approx(ref, rel=1e-12)


def test_cutoff_found_when_present_and_rarely_when_absent():
    rng = np.random.default_rng(11)
    x = _pareto(rng, 1.5, 0.01, 40000)
    x = x[rng.random(x.size) < np.exp(-(x - 0.01) / 1.0)][:1500]
    fit = fit_power_law(x, t_min_s=0.01)
    assert fit.cutoff.preferred and fit.cutoff.p_value < 1e-4
    assert 0.6 < fit.cutoff.cutoff_s < 1.6
    assert abs(fit.cutoff.alpha - 1.5) < 0.1
    assert fit.to_json_dict()["cutoff_s"] == pytest.approx(fit.cutoff.cutoff_s)
    false = [fit_power_law(_pareto(rng, 1.6, 0.01, 300), t_min_s=0.01).cutoff.preferred for _ in range(40)]
    assert np.mean(false) <= 0.15  # nominal 5 %
    pure = fit_power_law(_pareto(rng, 1.6, 0.01, 300), t_min_s=0.01)
    assert pure.vs_exponential_llr > 0 and pure.vs_exponential_p < 0.01  # a power law is not an exponential


def test_fixed_tmin_and_too_few_values():
    assert power_law_mle([0.5, 1.0, 2.0], 0.5)[0] == pytest.approx(1 + 3 / (math.log(2) + math.log(4)))
    assert fit_power_law([0.1, 0.2], min_tail=10) is None
    d = dwells_from_levels(np.arange(0, 20, 2) * 10**11, np.arange(2, 22, 2) * 10**11, np.arange(10) % 2, 2)
    res = blinking_from_dwells(d)
    assert res.states["on"].fit is None and any("too few" in w for w in res.warnings)
    assert res.to_json_dict()["on"]["alpha"] is None


def test_dwells_merge_consecutive_levels_of_one_category_and_censor_the_ends():
    assert state_categories(1).tolist() == [0]
    assert state_categories(2).tolist() == [2, 0]
    assert state_categories(4).tolist() == [2, 1, 1, 0]
    start = np.array([0, 10, 20, 30, 40, 50, 60])
    end = np.append(start[1:], 75)
    state = np.array([3, 3, 0, 1, 2, 0, 3])   # 4 states: 3 ON, 1/2 grey, 0 OFF
    d = dwells_from_levels(start, end, state, 4)
    assert d.start_ps.tolist() == [0, 20, 30, 50, 60]
    assert d.end_ps.tolist() == [20, 30, 50, 60, 75]
    assert d.category.tolist() == [0, 2, 1, 2, 0]
    assert d.censored.tolist() == [True, False, False, False, True]
    assert d.of("off").tolist() == [10e-12, 10e-12]
    assert d.of("on").size == 0 and d.of("on", include_censored=True).size == 2


def test_log_histogram_density_integrates_to_one():
    x = _pareto(np.random.default_rng(0), 1.6, 0.01, 500)
    e, c, dens, err = log_histogram(x, per_decade=5)
    assert c.sum() == x.size
    assert np.sum(dens * np.diff(e)) == pytest.approx(1.0)
    assert np.allclose(np.diff(np.log10(e)), 0.2)


# ---------------------------------------------------------------------------------------------- end to end
_P2 = dict(spectrometer=False, ptrap_max=0.0, on_to_grey_prob=0.0, off_to_on_prob=1.0, dwell_min_s=0.01)


def _levels_blinking(params, seed, duration_s):
    sim = Simulation(params, seed=seed)
    pipe = Pipeline(setup_for(params), AnalysisConfig(trace_bin_ms=100, g2=False, levels_confidence=0.95))
    for c in sim.chunks(chunk_s=2.0, duration_s=duration_s):
        pipe.feed(c)
    res = pipe.finalize()
    truth = sim.slow.dwell_table(int(round(duration_s * 1e12)))
    return blinking_from_levels(res.levels), truth


def test_dwells_from_simulated_levels_match_the_true_dwells():
    """20 s of two-state blinking: >= 95 % of the true switches between dwells longer than 20 ms are found
    within 5 ms (about 10 photon intervals of the dimmer side), and about as many dwells as there are."""
    p = SimulationParams().replace(**_P2, dwell_max_s=2.0, on_alpha=1.5, off_alpha=1.8)
    b, truth = _levels_blinking(p, 4, 20.0)
    dw = b.dwells
    t_sw = truth["start_ps"].to_numpy()[1:]
    d = truth["duration_s"].to_numpy()
    clear = (d[:-1] > 0.02) & (d[1:] > 0.02)
    err = np.array([np.min(np.abs(dw.start_ps - t)) for t in t_sw])
    assert np.mean(err[clear] < 5e9) >= 0.95
    assert 0.85 * truth.height <= len(dw) <= 1.05 * truth.height
    assert set(b.states) == {"on", "off"}
    tab = b.tables()
    assert tab["dwells.parquet"].height == len(dw)
    assert set(tab["dwell_histograms.parquet"]["state"].unique()) <= {"on", "off"}


def _end_to_end_fits(seeds, duration_s):
    """(fit alpha, error, MLE of the simulator's own dwells above the same t_min, truth, n_dwells) per state and seed:
    ON alpha 1.5 and OFF alpha 1.8 on [10 ms, 100 s] through change points and grouping."""
    p = SimulationParams().replace(**_P2, dwell_max_s=100.0, on_alpha=1.5, off_alpha=1.8)
    rows = []
    for seed in seeds:
        b, truth = _levels_blinking(p, seed, duration_s)
        for name, alpha in (("on", 1.5), ("off", 1.8)):
            st = b.states[name]
            true_dwells = truth.filter((truth["state"] == name) & ~truth["censored"])["duration_s"].to_numpy()
            assert st.fit.n_boot == 200
            rows.append((st.fit.alpha, st.fit.alpha_err, power_law_mle(true_dwells, st.fit.t_min_s)[0], alpha,
                         st.n_dwells))
    return np.array(rows)


@pytest.mark.slow
def test_alpha_recovered_end_to_end_from_levels():
    """12 recordings of 300 s (134 - 402 uncensored dwells per state): the levels' alpha equals the MLE of the
    simulator's own dwells above the same t_min within half an error (the pipeline's dwell errors are small next
    to the sampling error), every fit within 3 bootstrap errors of the truth, >= 90 % within 2 errors and
    >= 80 % within 0.15. (Measured: 23 / 24 within 2 errors, 20 / 24 within 0.15; the misses have tails of
    47 - 200 dwells, and the simulator's own dwells give the same alpha. Mean pull +0.7: the law truncated at
    100 s and the fixed 300 s window bias the sample itself, not the fit.)"""
    a, err, own, truth, n = _end_to_end_fits(range(1, 13), 300.0).T
    z = (a - truth) / err
    assert np.all(n >= 100)
    assert np.all(np.abs(a - own) < 0.5 * err)
    assert np.all(np.abs(z) < 3)
    assert np.mean(np.abs(z) < 2) >= 0.9
    assert np.mean(np.abs(a - truth) < 0.15) >= 0.8


@pytest.mark.slow
def test_alpha_recovered_end_to_end_long_recordings():
    """4 recordings of 1200 s (874 - 1072 dwells per state): every fit within 0.15 and 3 errors of the truth,
    >= 75 % within 2 errors, the simulator's own dwells above the same t_min within 0.75 errors. (Measured: all
    within 0.103; 6 / 8 within 2 errors: with errors of 0.02 - 0.04 the sample's own bias shows, e.g. ON seed 2,
    t_min 93 ms, 1.603 +- 0.043 where the true dwells give 1.605: the law truncated at 100 s steepens its tail.)"""
    a, err, own, truth, n = _end_to_end_fits(range(1, 5), 1200.0).T
    z = (a - truth) / err
    assert np.all(n >= 300)
    assert np.all(np.abs(a - own) < 0.75 * err)
    assert np.all(np.abs(a - truth) < 0.15)
    assert np.all(np.abs(z) < 3)
    assert np.mean(np.abs(z) < 2) >= 0.75
