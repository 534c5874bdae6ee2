"""Fit verdicts (issue 11): the deviance expectation for sparse bins against Monte Carlo, the adequacy z
of correct and wrong models, failures said (singular information, no error bars), tau_trap > tau_BE,
the fast component, and the fit options from the CLI / setup TOML."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from tagstream.analysis import IRF, decay_model_counts, fit_decay, fit_decay_global
from tagstream.analysis.decay_fit import adequacy, deviance_expectation, deviance_residuals
from tagstream.analysis.fit_options import FitOptions
from tagstream.commands.fit_options import add_fit_arguments, fit_options
from tagstream.errors import TagstreamError

P = 1_000_000
T = np.arange(0, P, 500, dtype=np.int64)
T2 = np.arange(0, P, 1000, dtype=np.int64)   # coarser bins: faster global fits


@pytest.mark.parametrize("mu", [0.02, 0.3, 1.0, 4.0, 30.0, 200.0])
def test_deviance_expectation_matches_monte_carlo(mu):
    rng = np.random.default_rng(1)
    n = rng.poisson(mu, size=400_000)
    d = deviance_residuals(n, np.full(n.size, mu)) ** 2
    E, V = deviance_expectation(np.array([mu]))
    assert E[0] == pytest.approx(d.mean(), rel=0.01, abs=2e-4)
    assert V[0] == pytest.approx(d.var(), rel=0.03, abs=2e-4)


def test_adequacy_z_is_standard_for_the_true_model_and_large_for_a_wrong_one():
    rng = np.random.default_rng(2)
    truth = {"n_be": 3e4, "tau_be_ns": 35.0, "n_trap": 3e4, "tau_trap_ns": 57.0, "bg_per_bin": 0.05,
             "irf_shift_ps": 12_000.0}
    mu = decay_model_counts(T, P, truth, "be_trap", irf=IRF.gaussian(80.0))
    zs = [adequacy(rng.poisson(mu), mu, 0)[2] for _ in range(200)]
    assert abs(np.mean(zs)) < 0.2 and 0.85 < np.std(zs) < 1.15
    c = rng.poisson(4 * mu)
    ok = fit_decay(T, c, P, "be_trap", irf=IRF.gaussian(80.0, fit_sigma=True))
    bad = fit_decay(T, c, P, "single", irf=IRF.gaussian(80.0, fit_sigma=True))
    assert ok.fit_ok and abs(ok.adequacy_z) < 3
    assert not bad.fit_ok and bad.success and bad.adequacy_z > 3
    assert any("reject" in w for w in bad.warnings)
    assert bad.to_json_dict()["fit_ok"] is False and bad.to_json_dict()["adequacy_z"] > 3


def test_singular_information_fails_without_error_bars_and_labels_are_ordered():
    rng = np.random.default_rng(3)
    mu = decay_model_counts(T, P, {"n_photons": 1e5, "tau_ns": 35.0, "irf_shift_ps": 5_000.0},
                            irf=IRF.gaussian(80.0))
    f = fit_decay(T, rng.poisson(mu), P, "be_trap", irf=IRF.gaussian(80.0))
    if not f.success:   # one exponential: the second component is not determined
        assert f.message and not f.fit_ok
        assert all(not np.isfinite(v) for k, v in f.errors.items() if k.startswith("tau")) or "bound" in f.message
    assert f.params["tau_trap_ns"] >= f.params["tau_be_ns"]
    # two clear components whatever the start: tau_trap > tau_BE
    mu2 = decay_model_counts(T, P, {"n_be": 5e4, "tau_be_ns": 10.0, "n_trap": 5e4, "tau_trap_ns": 60.0,
                                    "irf_shift_ps": 5_000.0}, "be_trap", irf=IRF.gaussian(80.0))
    g = fit_decay(T, rng.poisson(mu2), P, "be_trap", irf=IRF.gaussian(80.0),
                  initial={"tau_be_ns": 70.0, "tau_trap_ns": 8.0})
    assert g.success and g.params["tau_trap_ns"] > g.params["tau_be_ns"]
    assert abs(g.params["tau_be_ns"] - 10.0) < 4 * g.errors["tau_be_ns"]


def test_fast_component_removes_the_bias_of_grey_photons():
    """Three regimes with 4 % photons of a 3 ns component: the two-component global fit is pulled, the
    fit with the fast component recovers 35 / 57 ns and the band-edge/trap fractions."""
    rng = np.random.default_rng(4)
    hists, fr = {}, {"a": 0.05, "b": 0.35, "c": 0.65}
    for lab, f in fr.items():
        n = 1.2e5
        mu = decay_model_counts(T2, P, {"n_be": n * (1 - f), "tau_be_ns": 35.0, "n_trap": n * f, "tau_trap_ns": 57.0,
                                       "bg_per_bin": 0.05, "irf_shift_ps": 12_000.0}, "be_trap", irf=IRF.gaussian(80.0))
        mu = mu + decay_model_counts(T2, P, {"n_photons": 0.04 * n, "tau_ns": 3.0, "irf_shift_ps": 12_000.0},
                                     irf=IRF.gaussian(80.0))
        hists[lab] = (T2, rng.poisson(mu))
    irf = IRF.gaussian(80.0, fit_sigma=True)
    plain = fit_decay_global(hists, P, irf=irf)
    fast = fit_decay_global(hists, P, irf=irf, fast=True)
    assert fast.success and fast.fit_ok
    assert abs(fast.params["tau_be_ns"] - 35.0) < 3 * fast.errors["tau_be_ns"]
    assert abs(fast.params["tau_trap_ns"] - 57.0) < 3 * fast.errors["tau_trap_ns"]
    for lab, f in fr.items():
        ff = fast.fits[lab]
        assert set(ff.fractions) == {"be", "trap"}
        assert abs(ff.fractions["trap"] - f) < 3 * ff.fraction_errors["trap"] + 1e-3
    assert abs(fast.params["tau_fast_ns"] - 3.0) < 1.0
    assert plain.deviance - fast.deviance > 25   # the data want the fast component


def test_biexciton_component_derivatives_match_differences():
    """The tied biexciton amplitude (xx_ratio x the exciton photons) in d mu / d n_be, d xx_ratio, d tau_xx."""
    from tagstream.analysis.decay_fit import _components, _Dataset
    irf = IRF.gaussian(80.0, fit_sigma=True)
    ds = _Dataset(T2, np.ones(T2.size), P, None, irf, _components("be_trap", False, True, True))
    p = {"n_be": 4e4, "tau_be_ns": 35.0, "n_trap": 2e4, "tau_trap_ns": 57.0, "n_fast": 800.0, "tau_fast_ns": 10.0,
         "xx_ratio": 0.01, "tau_xx_ns": 0.6, "bg_per_bin": 0.05, "irf_shift_ps": 12_000.0, "irf_sigma_ps": 80.0}
    mu = ds.mu(p)
    assert mu.sum() == pytest.approx(6e4 * 1.01 + 800 + 0.05 * T2.size, rel=1e-6)
    shapes = ds.shapes(p)
    for name, h in (("n_be", 1.0), ("n_trap", 1.0), ("xx_ratio", 1e-5), ("tau_xx_ns", 1e-4)):
        num = (ds.mu({**p, name: p[name] + h}) - ds.mu({**p, name: p[name] - h})) / (2 * h)
        assert np.allclose(ds.dmu(name, p, shapes), num, rtol=1e-4, atol=1e-6 * np.abs(num).max()), name


def test_biexciton_component_removes_the_bias_of_biexciton_and_grey_photons():
    """Biexciton photons (0.6 ns, 1 % of the excitons in every regime) and grey photons (10 ns, 1.5 / 0.8 /
    0.2 %): one fast exponential cannot take both; with the tied biexciton component the fit recovers
    35 / 57 ns, the fractions and the biexciton ratio."""
    rng = np.random.default_rng(5)
    hists, fr, grey = {}, {"a": 0.05, "b": 0.35, "c": 0.65}, {"a": 0.015, "b": 0.008, "c": 0.002}
    sh = {"irf_shift_ps": 12_000.0}
    for lab, f in fr.items():
        n = 2e5
        mu = decay_model_counts(T, P, {"n_be": n * (1 - f), "tau_be_ns": 35.0, "n_trap": n * f, "tau_trap_ns": 57.0,
                                       "bg_per_bin": 0.05, **sh}, "be_trap", irf=IRF.gaussian(80.0))
        for share, tau in ((0.01, 0.6), (grey[lab], 10.0)):
            mu = mu + decay_model_counts(T, P, {"n_photons": share * n, "tau_ns": tau, **sh}, irf=IRF.gaussian(80.0))
        hists[lab] = (T, rng.poisson(mu))
    irf = IRF.gaussian(80.0, fit_sigma=True)
    g = fit_decay_global(hists, P, irf=irf, fast=True, biexciton=True)
    assert g.success and g.fit_ok
    for name, true in (("tau_be_ns", 35.0), ("tau_trap_ns", 57.0), ("xx_ratio", 0.01), ("tau_xx_ns", 0.6)):
        assert abs(g.params[name] - true) < 3 * g.errors[name], name
    for lab, f in fr.items():
        ff = g.fits[lab]
        assert set(ff.fractions) == {"be", "trap"}
        assert abs(ff.fractions["trap"] - f) < 3 * ff.fraction_errors["trap"] + 1e-3
    assert fit_decay_global(hists, P, irf=irf, fast=True).deviance - g.deviance > 10


def _args(argv, recording=None, setup=None):
    p = argparse.ArgumentParser()
    add_fit_arguments(p)
    a = p.parse_args(argv)
    a.recording, a.setup = recording, setup
    return a


def test_fit_options_from_cli_and_setup_toml(tmp_path):
    o = fit_options(_args([]))
    assert o.irf == "gaussian" and o.fit_range_ns is None and o.band_edge_only == "free" and o.fast_component
    assert not o.biexciton_component and o.grey_component and o.rest_histogram
    assert o == FitOptions()    # the CLI's defaults are the library's
    o = fit_options(_args(["--irf", "emg", "--fit-range-ns", "3,500", "--no-band-edge-test", "--no-fast-component"]))
    assert o.irf == "emg" and o.fit_range_ns == (3.0, 500.0) and o.band_edge_only == "always" and not o.fast_component
    assert fit_options(_args(["--band-edge-only", "test"])).band_edge_only == "test"
    setup = tmp_path / "b.setup.toml"
    setup.write_text("[fit]\ntest_band_edge = false\nfast_component = false\nbiexciton_component = false\n")
    o = fit_options(_args([], setup=str(setup)))
    assert o.band_edge_only == "always" and not o.fast_component and not o.biexciton_component
    assert fit_options(_args(["--biexciton-component"], setup=str(setup))).biexciton_component  # the CLI wins
    assert not fit_options(_args(["--no-biexciton-component"])).biexciton_component
    setup.write_text("[fit]\ngrey_component = false\nrest_histogram = false\n")
    o = fit_options(_args([], setup=str(setup)))
    assert not o.grey_component and not o.rest_histogram
    o = fit_options(_args(["--grey-component", "--rest-histogram"], setup=str(setup)))
    assert o.grey_component and o.rest_histogram
    o = fit_options(_args(["--no-grey-component", "--no-rest-histogram"]))
    assert not o.grey_component and not o.rest_histogram
    setup.write_text('[fit]\nband_edge_only = "sometimes"\n')
    with pytest.raises(TagstreamError, match="band_edge_only"):
        fit_options(_args([], setup=str(setup)))
    setup = tmp_path / "s.setup.toml"
    setup.write_text('[channels]\nsync = 5\n\n[fit]\nirf = "irf.npz"\nfit_range_ns = [2.0, 400.0]\n')
    o = fit_options(_args([], setup=str(setup)))
    assert o.irf == "measured" and o.irf_path == str(tmp_path / "irf.npz") and o.fit_range_ns == (2.0, 400.0)
    o = fit_options(_args(["--irf", "delta"], setup=str(setup)))
    assert o.irf == "delta"
    setup.write_text("[fit]\nirf_width = 3\n")
    with pytest.raises(TagstreamError, match="unknown \\[fit\\] key"):
        fit_options(_args([], setup=str(setup)))
    with pytest.raises(TagstreamError, match="LO,HI"):
        fit_options(_args(["--fit-range-ns", "3"]))
    with pytest.raises(TagstreamError, match="stop must exceed start"):
        fit_options(_args(["--fit-range-ns", "5,3"]))


def test_measured_irf_file_reaches_the_fit(tmp_path):
    """A measured IRF histogram (.npz t_ps/counts) on the recording's bins is what the fit convolves with."""
    from tagstream.analysis.fit_options import FitOptions, measured_irf_counts

    class _D:
        bin_ps, rise_10_90_ps, t0_ps = 500, 500.0, 12_000.0

    class _R:
        laser_period_ps, decay = float(P), _D()

    irf_counts = decay_model_counts(T, P, {"n_photons": 1e4, "tau_ns": 0.3, "irf_shift_ps": 3_000.0},
                                    irf=IRF.gaussian(300.0))
    np.savez(tmp_path / "irf.npz", t_ps=T, counts=irf_counts)
    got = measured_irf_counts(tmp_path / "irf.npz", _R())
    np.testing.assert_allclose(got, irf_counts)
    irf = FitOptions(irf="measured", irf_path=str(tmp_path / "irf.npz")).build_irf(_R())
    assert irf.kind == "measured"
    np.savetxt(tmp_path / "bad.csv", np.c_[np.arange(0, P, 250), np.ones(P // 250)], delimiter=",")
    with pytest.raises(TagstreamError, match="500 ps wide"):
        measured_irf_counts(tmp_path / "bad.csv", _R())
    with pytest.raises(TagstreamError, match="does not exist"):
        measured_irf_counts(tmp_path / "nope.npz", _R())


def _grey_biexciton_hists(seed, n=3e4):
    """Three regimes (trap fractions 0.05 / 0.35 / 0.65) with 0.4 % biexciton photons (0.6 ns) and grey
    photons (11 ns; 2 / 1 / 0.2 %), on 1 ns bins: a small recording whose nuisance lifetimes are shallow."""
    rng = np.random.default_rng(seed)
    hists, sh = {}, {"irf_shift_ps": 12_000.0}
    for lab, f, grey in (("a", 0.05, 0.02), ("b", 0.35, 0.01), ("c", 0.65, 0.002)):
        mu = decay_model_counts(T2, P, {"n_be": n * (1 - f), "tau_be_ns": 35.0, "n_trap": n * f, "tau_trap_ns": 57.0,
                                       "bg_per_bin": 0.05, **sh}, "be_trap", irf=IRF.gaussian(80.0))
        for share, tau in ((0.004, 0.6), (grey, 11.0)):
            mu = mu + decay_model_counts(T2, P, {"n_photons": share * n, "tau_ns": tau, **sh}, irf=IRF.gaussian(80.0))
        hists[lab] = (T2, rng.poisson(mu))
    return hists


@pytest.mark.parametrize("seed", [6, 14])
def test_biexciton_fit_finds_the_best_likelihood_over_nuisance_starts(seed):
    """The global fit with fast + biexciton components ends at a likelihood no worse than fits started
    from other fast / biexciton lifetimes (its own restarts: the nuisance likelihood is shallow and has
    local minima where tau_fast and tau_xx meet at 2 ns)."""
    hists = _grey_biexciton_hists(seed)
    irf = IRF.gaussian(80.0, fit_sigma=True)
    g = fit_decay_global(hists, P, irf=irf, fast=True, biexciton=True)
    assert g.success
    for tf, tx in ((2.5, 1.5), (8.0, 0.2), (15.0, 0.6)):
        other = fit_decay_global(hists, P, irf=irf, fast=True, biexciton=True,
                                 initial={"tau_fast_ns": tf, "tau_xx_ns": tx})
        assert g.deviance <= other.deviance + 1e-3, (tf, tx, g.deviance, other.deviance)


def _blinking_hists(seed, n=3e4, n_rest=2e5):
    """Three regimes (trap fractions 0.05 / 0.35 / 0.65) with a few OFF-state (1.2 ns; 0.4 %) and grey-state
    (10 ns; 2 / 1 / 0.5 %) photons, and the photons outside them: mostly ON ones (trap fraction 0.3) with
    20 % grey and 10 % OFF photons (their dim bins), on 1 ns bins."""
    rng = np.random.default_rng(seed)
    sh = {"irf_shift_ps": 12_000.0}

    def draw(n, f, shares):
        mu = decay_model_counts(T2, P, {"n_be": n * (1 - f), "tau_be_ns": 35.0, "n_trap": n * f, "tau_trap_ns": 57.0,
                                       "bg_per_bin": 0.05, **sh}, "be_trap", irf=IRF.gaussian(80.0))
        for share, tau in shares:
            mu = mu + decay_model_counts(T2, P, {"n_photons": share * n, "tau_ns": tau, **sh}, irf=IRF.gaussian(80.0))
        return T2, rng.poisson(mu)

    hists = {lab: draw(n, f, ((0.004, 1.2), (grey, 10.0)))
             for lab, f, grey in (("a", 0.05, 0.02), ("b", 0.35, 0.01), ("c", 0.65, 0.005))}
    return hists, {"rest": draw(n_rest, 0.3, ((0.1, 1.2), (0.2, 10.0)))}


def test_rest_histogram_pins_the_nuisance_lifetimes():
    """With the photons outside the regimes as a nuisance histogram (own amplitudes, shared lifetimes), the
    grey / OFF lifetimes come out at the truth (10 / 1.2 ns) and so do tau_BE, tau_trap and the fractions;
    the rest is no regime: not in `fits`, its view in `nuisance_fits`, the verdict the regimes'."""
    hists, rest = _blinking_hists(3)
    irf = IRF.gaussian(80.0, fit_sigma=True)
    g = fit_decay_global(hists, P, irf=irf, fast=True, grey=True, nuisance_histograms=rest)
    assert g.success and g.fit_ok
    assert list(g.fits) == ["a", "b", "c"] and list(g.nuisance_fits) == ["rest"]
    assert g.nuisance_fits["rest"].adequacy_z < 3
    for name, true in (("tau_be_ns", 35.0), ("tau_trap_ns", 57.0), ("tau_grey_ns", 10.0), ("tau_fast_ns", 1.2)):
        assert abs(g.params[name] - true) < 3 * g.errors[name], name
    for lab, f in (("a", 0.05), ("b", 0.35), ("c", 0.65)):
        ff = g.fits[lab]
        assert abs(ff.fractions["trap"] - f) < 3 * ff.fraction_errors["trap"] + 1e-3, lab
    # the reported deviance and its expectation are the regimes'; the minimised one adds the rest's
    assert g.total_deviance == pytest.approx(g.deviance + g.nuisance_fits["rest"].deviance, rel=1e-9)
    assert g.deviance == pytest.approx(sum(f.deviance for f in g.fits.values()), rel=1e-9)
    alone = fit_decay_global(hists, P, irf=irf, fast=True, grey=True)
    assert alone.nuisance_fits == {} and g.errors["tau_grey_ns"] < 0.5 * alone.errors["tau_grey_ns"]
    with pytest.raises(Exception, match="clash"):
        fit_decay_global(hists, P, irf=irf, fast=True, nuisance_histograms={"a": rest["rest"]})
