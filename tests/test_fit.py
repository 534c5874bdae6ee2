"""Decay models against brute-force references; Poisson-MLE fits on histograms drawn from known parameters."""

from __future__ import annotations

import numpy as np
import pytest

from tagstream.analysis import IRF, decay_model_counts, emission_fractions, fit_decay, fit_decay_global
from tagstream.analysis import decay_models as dm
from tagstream.errors import AnalysisError, TagstreamError

T_PS = 1_000_000  # 1 MHz laser, as in the seed
W_PS = 4000
T_BINS = np.arange(0, T_PS, W_PS, dtype=np.int64)


# ------------------------------------------------------------------ models vs slow references
def _fine_periodic(density, start_ps, period_ps, n_pulses, t_fine):
    """Explicit sum over the latest n_pulses pulses of a single-pulse density (pure numpy, slow)."""
    out = np.zeros_like(t_fine)
    for k in range(n_pulses):
        u = np.mod(t_fine - start_ps, period_ps) + k * period_ps
        out += density(u)
    return out


def _bin_integrate(f_fine, edges, sub):
    """Midpoint rule on `sub` sub-samples per bin (pulse times sit on sub-sample edges)."""
    return f_fine.reshape(-1, sub).mean(axis=1) * np.diff(edges)


@pytest.mark.parametrize("tau_ps,start_ps", [(35_000.0, 12_347.5), (400_000.0, 998_000.0), (2_000.0, 0.0)])
def test_exp_shape_matches_explicit_pulse_sum(tau_ps, start_ps):
    t = np.arange(0, 100_000, 1000, dtype=np.int64)
    period = 100_000.0
    edges = dm.histogram_edges_ps(t, period)
    sub = 400
    tf = edges[0] + (np.arange(t.size * sub) + 0.5) * (1000 / sub)
    ref = _bin_integrate(_fine_periodic(lambda u: np.exp(-u / tau_ps) / tau_ps, start_ps, period, 200, tf),
                         edges, sub)
    got = dm.exp_shape(edges, tau_ps, start_ps, period)
    assert got.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(got, ref, rtol=2e-4, atol=1e-7)


def test_powerlaw_shape_matches_explicit_pulse_sum():
    period = 100_000.0
    t = np.arange(0, 100_000, 1000, dtype=np.int64)
    edges = dm.histogram_edges_ps(t, period)
    alpha, t0, start = 3.0, 5_000.0, 40_500.0
    sub = 400
    tf = (np.arange(t.size * sub) + 0.5) * (1000 / sub)
    dens = lambda u: (alpha - 1) / t0 * (1 + u / t0) ** (-alpha)  # noqa: E731
    ref = _bin_integrate(_fine_periodic(dens, start, period, 3000, tf), edges, sub)
    got = dm.powerlaw_shape(edges, alpha, t0, start, period)
    assert got.sum() == pytest.approx(1.0, rel=1e-6)
    np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-7)


@pytest.mark.parametrize("tail_ps,w,sigma", [(0.0, 250, 600.0), (800.0, 250, 600.0), (0.0, 2000, 150.0),
                                             (500.0, 2000, 150.0)])
def test_gaussian_and_emg_irf_match_direct_convolution(tail_ps, w, sigma):
    """Analytic model vs explicit fine-grid convolution of the periodic decay with the IRF density
    (including an IRF much narrower than a bin)."""
    from scipy.stats import exponnorm, norm
    period = 200_000.0
    t = np.arange(0, int(period), w, dtype=np.int64)
    tau, shift = 20_000.0, 3_000.0
    mu = decay_model_counts(t, period, {"n_photons": 1.0, "tau_ns": tau / 1000, "irf_shift_ps": shift},
                            irf=IRF.emg(sigma, tail_ps) if tail_ps else IRF.gaussian(sigma))
    dt = 10.0
    tf = np.arange(0, period, dt) + dt / 2
    dec = _fine_periodic(lambda u: np.exp(-u / tau) / tau, 0.0, period, 50, tf)
    off = (np.arange(tf.size) - tf.size // 2) * dt
    ker = exponnorm.pdf(off, tail_ps / sigma, scale=sigma) if tail_ps else norm.pdf(off, scale=sigma)
    ker /= ker.sum()
    # circular convolution, then move the decay start to `shift`
    conv = np.real(np.fft.ifft(np.fft.fft(dec) * np.fft.fft(np.fft.ifftshift(ker))))
    conv = np.roll(conv, int(round(shift / dt)))
    ref = conv.reshape(-1, int(w / dt)).sum(axis=1) * dt
    assert mu.sum() == pytest.approx(1.0, rel=1e-9)
    np.testing.assert_allclose(mu, ref, atol=3e-3 * ref.max())


GAUSS_CASES = [  # period, bin, tau, start, sigma, tail (ps): rise mid-period, at the end (wrapping), before
    (1e6, 1000, 35_000.0, 12_000.0, 300.0, 0.0), (1e6, 1000, 35_000.0, 999_800.0, 50.0, 0.0),
    (1e5, 16, 57_000.0, -3_000.0, 200.0, 0.0), (2e5, 250, 20_000.0, 3_000.0, 600.0, 800.0),
    (12_500.0, 8, 3_000.0, 100.0, 60.0, 0.0), (1e6, 1000, 200.0, 500_000.0, 50.0, 0.0),
    (1e6, 4000, 57_000.0, 20_000.0, 5.0, 0.0)]   # an IRF far narrower than a bin


@pytest.mark.parametrize("period,w,tau,start,sigma,tail", GAUSS_CASES)
def test_numba_gauss_shape_and_derivatives_match_numpy_formula(period, w, tau, start, sigma, tail):
    """The numba kernel (value + analytic derivatives) vs the same formula in numpy/scipy.special
    (exp_gauss_shape_numpy) and central differences of it."""
    edges = np.append(np.arange(0, period, w), period).astype(np.float64)
    got = dm.exp_gauss_shape_grad(edges, tau, start, sigma, period, tail)
    ref = dm.exp_gauss_shape_numpy(edges, tau, start, sigma, period, tail)
    np.testing.assert_allclose(got[0], ref, rtol=1e-12, atol=1e-15)
    assert got[0].sum() == pytest.approx(1.0, rel=1e-12)
    args = {"tau_ps": tau, "start_ps": start, "sigma_ps": sigma, "tail_ps": tail}
    for row, (name, h) in enumerate([("tau_ps", 1e-3 * tau), ("start_ps", 1e-2 * sigma),
                                     ("sigma_ps", 1e-3 * sigma), ("tail_ps", 1e-3 * tail)], 1):
        if name == "tail_ps" and not tail:
            assert np.all(got[row] == 0)
            continue
        ap, am = dict(args), dict(args)
        ap[name] += h
        am[name] -= h
        fd = (dm.exp_gauss_shape_numpy(edges, period_ps=period, **ap)
              - dm.exp_gauss_shape_numpy(edges, period_ps=period, **am)) / (2 * h)
        np.testing.assert_allclose(got[row], fd, atol=1e-4 * np.abs(fd).max(), err_msg=name)


def test_kernel_log_ndtr_and_deviance_moments_match_scipy():
    """The kernels' log Phi (both tails) and sparse-bin deviance moments vs scipy.special / explicit pmf sums."""
    from scipy import special

    from tagstream.analysis.decay_fit import deviance_expectation
    from tagstream.kernels.decay import log_ndtr

    z = np.concatenate([np.linspace(-60, 12, 1441), [-29.999, -30.001, -100.0, -1e3]])
    got = np.array([log_ndtr(v) for v in z])
    np.testing.assert_allclose(got, special.log_ndtr(z), rtol=1e-13)
    mu = np.array([1e-6, 0.01, 0.3, 1.0, 4.2, 17.0, 49.9, 50.1, 300.0])
    E, V = deviance_expectation(mu)
    n = np.arange(400.0)[None, :]
    m = mu[:, None]
    pmf = np.exp(special.xlogy(n, m) - m - special.gammaln(n + 1.0))
    d = 2.0 * (m - n + special.xlogy(n, n) - special.xlogy(n, m))
    e_ref = np.sum(pmf * d, axis=1)
    v_ref = np.sum(pmf * d * d, axis=1) - e_ref ** 2
    small = mu <= 50
    np.testing.assert_allclose(E[small], e_ref[small], rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(V[small], v_ref[small], rtol=1e-8, atol=1e-15)
    np.testing.assert_allclose(E[~small], e_ref[~small], rtol=2e-3)   # the asymptotic form above mu = 50


def test_measured_irf_shift_equals_moving_the_decay():
    """A measured IRF that is a single bin acts as a delta at that bin's centre."""
    irf_counts = np.zeros(T_BINS.size)
    irf_counts[5] = 100.0
    got = decay_model_counts(T_BINS, T_PS, {"n_photons": 1.0, "tau_ns": 35.0, "irf_shift_ps": 1234.0},
                             irf=IRF.measured(irf_counts))
    ref = dm.exp_shape(dm.histogram_edges_ps(T_BINS, T_PS), 35_000.0, 5.5 * W_PS + 1234.0, T_PS)
    np.testing.assert_allclose(got, ref, atol=1e-12)


def test_emission_fractions_delta_method_matches_monte_carlo():
    A = np.array([300.0, 80.0])
    tau = np.array([35.0, 57.0])
    cov = np.diag([20.0, 10.0, 0.5, 2.0]) ** 2
    cov[0, 1] = cov[1, 0] = -0.3 * 20 * 10
    f, err = emission_fractions(A, tau, cov)
    assert f == pytest.approx(A * tau / np.sum(A * tau))
    rng = np.random.default_rng(3)
    draws = rng.multivariate_normal(np.r_[A, tau], cov, size=200_000)
    y = draws[:, :2] * draws[:, 2:]
    mc = (y / y.sum(axis=1, keepdims=True)).std(axis=0)
    np.testing.assert_allclose(err, mc, rtol=0.03)


# ----------------------------------------------------------------------------------- fitting
IRF_G = IRF.gaussian(500.0, shift_ps=20_000.0)


def _probs(params, model="single", irf=IRF_G, delayed=False):
    mu = decay_model_counts(T_BINS, T_PS, params, model, irf=irf, delayed=delayed)
    return mu / mu.sum()


def test_single_exponential_bias_below_1_percent_at_1e4_counts():
    rng = np.random.default_rng(11)
    p = _probs({"n_photons": 1.0, "tau_ns": 35.0, "bg_per_bin": 0.002})
    taus, pulls = [], []
    for _ in range(150):
        fit = fit_decay(T_BINS, rng.multinomial(10_000, p), T_PS, "single", irf=IRF_G)
        assert fit.success
        taus.append(fit.params["tau_ns"])
        pulls.append((fit.params["tau_ns"] - 35.0) / fit.errors["tau_ns"])
    taus = np.array(taus)
    bias = taus.mean() / 35.0 - 1.0
    assert abs(bias) < 0.01
    # error bars calibrated: pulls ~ N(0, 1)
    assert 0.85 < np.std(pulls) < 1.15
    assert abs(np.mean(pulls)) < 0.25


def test_mle_beats_least_squares_at_low_counts():
    """Neyman chi-square loses ~1 count per occupied bin: lifetime and amplitude biased low."""
    rng = np.random.default_rng(5)
    p = _probs({"n_photons": 1.0, "tau_ns": 35.0})
    fixed = {"bg_per_bin": 0.0, "irf_shift_ps": 20_000.0}
    res = {"mle": [], "lsq": []}
    for _ in range(40):
        c = rng.multinomial(300, p)
        for m in res:
            f = fit_decay(T_BINS, c, T_PS, "single", irf=IRF_G, fixed=fixed, method=m)
            res[m].append((f.params["tau_ns"], f.params["n_photons"]))
    mle, lsq = np.array(res["mle"]), np.array(res["lsq"])
    se = lsq[:, 0].std() / np.sqrt(len(lsq))
    assert abs(mle[:, 0].mean() - 35.0) < abs(lsq[:, 0].mean() - 35.0)
    assert lsq[:, 0].mean() < 35.0 - 3 * se  # significant least-squares bias
    assert np.sqrt(np.mean((mle[:, 0] - 35) ** 2)) < np.sqrt(np.mean((lsq[:, 0] - 35) ** 2))
    np.testing.assert_allclose(mle[:, 1], 300.0, rtol=1e-4)  # Poisson MLE conserves the counts
    assert lsq[:, 1].mean() < 290.0


def test_be_trap_fit_recovers_fractions_and_lifetimes():
    rng = np.random.default_rng(21)
    truth = {"n_be": 65_000.0, "tau_be_ns": 35.0, "n_trap": 35_000.0, "tau_trap_ns": 57.0, "bg_per_bin": 0.3}
    mu = decay_model_counts(T_BINS, T_PS, truth, "be_trap", irf=IRF_G)
    fits = [fit_decay(T_BINS, rng.poisson(mu), T_PS, "be_trap", irf=IRF_G) for _ in range(12)]
    for f in fits:
        for k in ("tau_be_ns", "tau_trap_ns"):
            assert abs(f.params[k] - truth[k]) < 4 * f.errors[k]
        assert abs(f.fractions["trap"] - 0.35) < 4 * f.fraction_errors["trap"]
        assert f.fractions["be"] + f.fractions["trap"] == pytest.approx(1.0)
        assert 0.85 < f.reduced_deviance < 1.2
    mean_trap = np.mean([f.params["tau_trap_ns"] for f in fits])
    sem = np.std([f.params["tau_trap_ns"] for f in fits]) / np.sqrt(len(fits))
    assert abs(mean_trap - 57.0) < 4 * sem + 0.5


def test_fixed_band_edge_and_fraction_errors():
    rng = np.random.default_rng(2)
    truth = {"n_be": 35_000.0, "tau_be_ns": 35.0, "n_trap": 65_000.0, "tau_trap_ns": 58.0, "bg_per_bin": 0.3}
    c = rng.poisson(decay_model_counts(T_BINS, T_PS, truth, "be_trap", irf=IRF_G))
    f = fit_decay(T_BINS, c, T_PS, "be_trap", irf=IRF_G, fixed={"tau_be_ns": 35.0}, profile=("tau_trap_ns",))
    assert f.params["tau_be_ns"] == 35.0 and np.isnan(f.errors["tau_be_ns"]) and "tau_be_ns" in f.fixed
    assert abs(f.params["tau_trap_ns"] - 58.0) < 4 * f.errors["tau_trap_ns"]
    assert abs(f.fractions["trap"] - 0.65) < 4 * f.fraction_errors["trap"]
    lo, hi = f.intervals["tau_trap_ns"]
    assert lo < f.params["tau_trap_ns"] < hi
    # at 1e5 counts the likelihood is near-parabolic: profile interval ~ +- Hessian error
    assert (hi - lo) / 2 == pytest.approx(f.errors["tau_trap_ns"], rel=0.2)


def test_goodness_of_fit_flags_wrong_model():
    rng = np.random.default_rng(8)
    truth = {"n_be": 3e5, "tau_be_ns": 20.0, "n_trap": 3e5, "tau_trap_ns": 80.0, "bg_per_bin": 2.0}
    c = rng.poisson(decay_model_counts(T_BINS, T_PS, truth, "be_trap", irf=IRF_G))
    good = fit_decay(T_BINS, c, T_PS, "be_trap", irf=IRF_G)
    bad = fit_decay(T_BINS, c, T_PS, "single", irf=IRF_G)
    assert 0.8 < good.reduced_deviance < 1.2
    assert bad.reduced_deviance > 3.0
    inside = good.residuals[good.fit_mask]
    assert np.all(np.isnan(good.residuals[~good.fit_mask]))
    assert np.sum(inside**2) == pytest.approx(good.deviance)
    assert abs(np.mean(inside)) < 0.2


def test_fit_range_and_measured_irf():
    rng = np.random.default_rng(4)
    irf_true = decay_model_counts(T_BINS, T_PS, {"n_photons": 1.0, "tau_ns": 0.4, "irf_shift_ps": 8_000.0},
                                  irf=IRF.gaussian(700.0))
    irf_meas = rng.poisson(2e4 * irf_true)
    truth = {"n_photons": 5e4, "tau_ns": 35.0, "irf_shift_ps": 12_000.0, "bg_per_bin": 0.5}
    c = rng.poisson(decay_model_counts(T_BINS, T_PS, truth, irf=IRF.measured(irf_true)))
    f = fit_decay(T_BINS, c, T_PS, irf=IRF.measured(irf_meas), fit_range_ps=(0, 600_000))
    assert abs(f.params["tau_ns"] - 35.0) < 4 * f.errors["tau_ns"]
    full = fit_decay(T_BINS, c, T_PS, irf=IRF.measured(irf_meas))
    assert abs(full.params["irf_shift_ps"] - 12_000.0) < 4 * full.errors["irf_shift_ps"] + 100
    # a fit range keeps the shift of the full-period fit (fast components need not fix it)
    assert "irf_shift_ps" not in f.free and f.params["irf_shift_ps"] == full.params["irf_shift_ps"]
    assert f.fit_mask.sum() == 150
    # a periodic range may wrap past the period end
    w = fit_decay(T_BINS, c, T_PS, irf=IRF.measured(irf_meas), fit_range_ps=(900_000, 1_300_000))
    assert w.fit_mask.sum() == 100 and w.fit_mask[0] and not w.fit_mask[80]


def test_delayed_powerlaw_component():
    rng = np.random.default_rng(6)
    truth = {"n_photons": 8e5, "tau_ns": 35.0, "n_delayed": 1.2e5, "alpha_delayed": 2.0,
             "t0_delayed_ns": 20.0, "bg_per_bin": 0.0}
    c = rng.poisson(decay_model_counts(T_BINS, T_PS, truth, "single", irf=IRF_G, delayed=True))
    f = fit_decay(T_BINS, c, T_PS, "single", irf=IRF_G, delayed=True, fixed={"bg_per_bin": 0.0},
                  initial={"alpha_delayed": 1.7, "t0_delayed_ns": 30.0})
    frac = 1.2e5 / 9.2e5
    assert abs(f.fractions["delayed"] - frac) < 4 * f.fraction_errors["delayed"] + 0.005
    assert abs(f.params["tau_ns"] - 35.0) < 4 * f.errors["tau_ns"] + 0.2
    assert 0.8 < f.reduced_deviance < 1.25


def test_global_fit_recovers_shared_lifetimes_and_fractions():
    """The seed's Fig. 4 f-h: short = band edge only; intermediate 65/35; long 35/65."""
    rng = np.random.default_rng(12)
    base = {"tau_be_ns": 35.0, "tau_trap_ns": 57.5, "bg_per_bin": 0.2}
    regimes = {"short": (3e4, 0.0), "mid": (2.6e4, 1.4e4), "long": (1.05e4, 1.95e4)}
    hists = {}
    for lab, (nb, nt) in regimes.items():
        mu = decay_model_counts(T_BINS, T_PS, {**base, "n_be": nb, "n_trap": nt}, "be_trap", irf=IRF_G)
        hists[lab] = (T_BINS, rng.poisson(mu))
    g = fit_decay_global(hists, T_PS, single_regimes=["short"], irf=IRF_G)
    assert g.success
    assert abs(g.params["tau_be_ns"] - 35.0) < 3 * g.errors["tau_be_ns"]
    assert abs(g.params["tau_trap_ns"] - 57.5) < 3 * g.errors["tau_trap_ns"]
    assert g.fits["short"].components == ("be",)
    for lab, (nb, nt) in list(regimes.items())[1:]:
        fr = g.fits[lab]
        assert abs(fr.fractions["trap"] - nt / (nb + nt)) < 3 * fr.fraction_errors["trap"]
        assert fr.params["tau_be_ns"] == g.params["tau_be_ns"]
        assert fr.params["n_trap"] == g.params[f"n_trap[{lab}]"]
    # joint fit beats separate fits in precision for the shared band-edge lifetime
    sep = fit_decay(*hists["mid"], T_PS, "be_trap", irf=IRF_G)
    assert g.errors["tau_be_ns"] < sep.errors["tau_be_ns"]
    assert g.to_json_dict()["params"]["tau_trap_ns"] == g.params["tau_trap_ns"]


def _mid_and_long_regimes(seed: int) -> dict:
    """Two regimes' Poisson decay histograms (35 / 57 ns, Gaussian IRF): "mid" 6k band-edge + 3k trap
    photons, "long" the reverse; the global-fit tests' data."""
    rng = np.random.default_rng(seed)
    base = {"tau_be_ns": 35.0, "tau_trap_ns": 57.0, "bg_per_bin": 0.2}
    return {lab: (T_BINS, rng.poisson(decay_model_counts(T_BINS, T_PS, {**base, "n_be": nb, "n_trap": nt},
                                                         "be_trap", irf=IRF_G)))
            for lab, (nb, nt) in {"mid": (6e3, 3e3), "long": (3e3, 6e3)}.items()}


def test_global_profile_intervals_match_a_scan_of_fits_with_the_lifetime_fixed():
    """with_profile_intervals vs an independent scan: global fits with tau_BE / tau_trap held fixed on a
    grid, the deviance interpolated to where it rises by 1 above the free fit's minimum."""
    hists = _mid_and_long_regimes(5)
    g = fit_decay_global(hists, T_PS, irf=IRF_G)
    assert g.success and g.intervals == {}
    gp = g.with_profile_intervals(("tau_be_ns", "tau_trap_ns"))
    assert gp.params == g.params and gp.errors == g.errors
    for name in ("tau_be_ns", "tau_trap_ns"):
        lo, hi = gp.intervals[name]
        v, e = g.params[name], g.errors[name]
        assert lo < v < hi and 0.5 * e < v - lo < 2 * e and 0.5 * e < hi - v < 2 * e
        for edge, side in ((lo, -1), (hi, 1)):
            grid = edge + np.array([-0.1, 0.0, 0.1]) * e
            dev = [fit_decay_global(hists, T_PS, irf=IRF_G, fixed={name: t}, initial=g.params).deviance - g.deviance
                   for t in grid]
            crossing = np.interp(1.0, dev if side > 0 else dev[::-1], grid if side > 0 else grid[::-1])
            assert crossing == pytest.approx(edge, abs=0.02 * e)


def test_global_fraction_profile_interval_edges_are_delta_deviance_one():
    """A regime's trap-fraction profile interval vs the public API: at each edge f, global fits with
    n_be = (1 - f) X and n_trap = f X held fixed, minimised over X by a parabola through a small scan,
    lie 1 above the free fit's deviance."""
    hists = _mid_and_long_regimes(8)
    g = fit_decay_global(hists, T_PS, irf=IRF_G).with_profile_intervals(["trap_fraction[mid]"])
    lo, hi = g.intervals["trap_fraction[mid]"]
    f, e = g.fits["mid"].fractions["trap"], g.fits["mid"].fraction_errors["trap"]
    assert lo < f < hi and 0.7 * e < f - lo < 1.4 * e and 0.7 * e < hi - f < 1.4 * e
    total = g.params["n_be[mid]"] + g.params["n_trap[mid]"]
    for edge in (lo, hi):
        xs = total * (1 + np.array([-0.015, 0.0, 0.015]))
        dev = [fit_decay_global(hists, T_PS, irf=IRF_G, initial=g.params,
                                fixed={"n_be[mid]": (1 - edge) * X, "n_trap[mid]": edge * X}).deviance - g.deviance
               for X in xs]
        c2, c1, c0 = np.polyfit(xs - total, dev, 2)
        assert c2 > 0 and c0 - c1**2 / (4 * c2) == pytest.approx(1.0, abs=0.03)


def test_global_fit_started_with_swapped_labels_reports_them_in_order():
    """All trap fractions free: the model is symmetric in band edge / trap, so a fit that lands on
    tau_trap < tau_BE is the same solution with the labels (and fractions f <-> 1 - f) swapped."""
    hists = _mid_and_long_regimes(21)
    ref = fit_decay_global(hists, T_PS, irf=IRF_G)
    sw = fit_decay_global(hists, T_PS, irf=IRF_G, initial={"tau_be_ns": 57.0, "tau_trap_ns": 35.0,
                                                           "n_be[mid]": 3e3, "n_trap[mid]": 6e3,
                                                           "n_be[long]": 6e3, "n_trap[long]": 3e3})
    assert ref.success and sw.success and sw.params["tau_trap_ns"] > sw.params["tau_be_ns"]
    assert sw.deviance == pytest.approx(ref.deviance, abs=1e-4)
    for name in ("tau_be_ns", "tau_trap_ns"):
        assert sw.params[name] == pytest.approx(ref.params[name], rel=1e-4)
        assert sw.errors[name] == pytest.approx(ref.errors[name], rel=1e-3)
    for lab in hists:
        assert sw.fits[lab].fractions["trap"] == pytest.approx(ref.fits[lab].fractions["trap"], abs=1e-4)


def test_global_fit_per_regime_trap_lifetime():
    rng = np.random.default_rng(13)
    hists = {}
    for lab, tt in (("a", 50.0), ("b", 70.0)):
        mu = decay_model_counts(T_BINS, T_PS, {"n_be": 5e4, "tau_be_ns": 35.0, "n_trap": 5e4,
                                               "tau_trap_ns": tt}, "be_trap", irf=IRF_G)
        hists[lab] = (T_BINS, rng.poisson(mu))
    g = fit_decay_global(hists, T_PS, shared=("tau_be_ns",), irf=IRF_G, fixed={"bg_per_bin": 0.0})
    assert abs(g.params["tau_trap_ns[a]"] - 50.0) < 4 * g.errors["tau_trap_ns[a]"]
    assert abs(g.params["tau_trap_ns[b]"] - 70.0) < 4 * g.errors["tau_trap_ns[b]"]
    assert g.params["bg_per_bin[a]"] == 0.0


# ------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("t_ps,counts,period", [
    (np.array([0, 10, 30]), np.ones(3), 40),          # non-uniform bins
    (np.array([5, 15, 25]), np.ones(3), 35),          # not starting at 0
    (np.arange(0, 100, 10), np.ones(10), 50),         # longer than the period
    (np.arange(0, 100, 10), -np.ones(10), 100),       # negative counts
    (np.arange(0, 100, 10), np.ones(9), 100),         # shape mismatch
    (np.arange(0, 100, 10), np.zeros(10), 100),       # empty
])
def test_bad_histograms_raise_analysis_error(t_ps, counts, period):
    with pytest.raises(AnalysisError):
        fit_decay(t_ps, counts, period)


def test_bad_options_raise_tagstream_errors():
    c = np.ones(T_BINS.size)
    with pytest.raises(TagstreamError, match="unknown decay model"):
        fit_decay(T_BINS, c, T_PS, "triple")
    with pytest.raises(TagstreamError, match="unknown fixed parameter"):
        fit_decay(T_BINS, c, T_PS, "single", fixed={"tau_trap_ns": 3.0})
    with pytest.raises(TagstreamError, match="single_regimes"):
        fit_decay_global({"a": (T_BINS, c)}, T_PS, single_regimes=["zz"])
