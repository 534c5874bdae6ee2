"""The error tagstream quotes (tagstream.analysis.quoted / regimes.quoted): its kinds, text and fields, and
its calibration -- Poisson replicas drawn from a fitted global model (a parametric bootstrap, independent
of the simulator, seconds): the profile-likelihood 68 % intervals cover the truth ~68 % of the time and
the pulls (fit - truth) / (interval half on the truth's side) have mean ~0 and width ~1."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tagstream.analysis import IRF, decay_model_counts, fit_decay_global
from tagstream.analysis.quoted import Quoted, pull, quote
from tagstream.analysis.regimes import RegimeFits, global_fit_fields, quoted, regime_fields

P_PS, W_PS = 1_000_000, 4000
T_PS = np.arange(0, P_PS, W_PS, dtype=np.int64)
IRF_G = IRF.gaussian(80.0, fit_sigma=False)
PHOTONS = {"short": 40_000, "long": 15_000}      # photons per regime, as in a 25 s seed recording
TRAP = {"short": 0.10, "long": 0.65}
NAMES = ("tau_be_ns", "tau_trap_ns", "trap_fraction[short]", "trap_fraction[long]")


def _histograms(rng, mu=None):
    if mu is None:
        mu = {lab: decay_model_counts(T_PS, P_PS, {"n_be": n * (1 - TRAP[lab]), "tau_be_ns": 35.0,
                                                   "n_trap": n * TRAP[lab], "tau_trap_ns": 57.0,
                                                   "bg_per_bin": 2.0, "irf_shift_ps": 12_000.0}, "be_trap", irf=IRF_G)
              for lab, n in PHOTONS.items()}
    return {lab: (T_PS, rng.poisson(m)) for lab, m in mu.items()}


def _rf(g, profiled=True):
    return RegimeFits("global", tuple(g.fits.values()), (None,) * len(g.fits), g, (), profiled)


def test_quote_kinds_and_text():
    q = quote(35.73, 0.83, (34.85, 36.52), success=True, profiled=True)
    assert q.kind == "profile" and q.minus == pytest.approx(0.88) and q.plus == pytest.approx(0.79)
    assert q.text(" ns") == "35.73 +0.79 -0.88 ns (68 % profile; covariance 1-sigma 0.83)"
    assert q.text(" ns", ".1f", unicode=True, short=True) == "35.7 +0.8 −0.9 ns"
    assert q.fields("tau_be", "_ns") == {"tau_be_ns": 35.73, "tau_be_err_minus_ns": q.minus,
                                         "tau_be_err_plus_ns": q.plus, "tau_be_err_kind": "profile",
                                         "tau_be_cov_err_ns": 0.83}
    c = quote(35.73, 0.83, None, success=True, profiled=False)     # intervals skipped: the covariance
    assert (c.kind, c.minus, c.plus) == ("covariance", 0.83, 0.83) and c.text(" ns").endswith("(covariance 1-sigma)")
    for q, why in ((quote(35.7, 0.8, None, success=True, profiled=True), "profile interval undetermined"),
                   (quote(35.7, 0.8, (35, 36), success=False, profiled=True), "fit failed"),
                   (quote(35.7, math.nan, None, success=True, profiled=False), "not determined")):
        assert q.kind == "none" and q.minus is None and q.plus is None and why in q.why
        assert "no error bar" in q.text(" ns") and "+" not in q.text(" ns")     # no number as an error
        assert math.isnan(pull(q, 35.0))
    f = quote(0.0, None, None, success=True, profiled=True, fixed="band edge only")
    assert f.kind == "fixed" and f.text(" %", ".1f", 100) == "0.0 % (band edge only)"
    assert quote(None, None, None, success=True, profiled=True).fields("x")["x_err_kind"] is None
    assert pull(Quoted(36.0, 0.5, 2.0, "profile", 1.0), 35.0) == pytest.approx(2.0)   # the truth's side
    assert pull(Quoted(36.0, 0.5, 2.0, "profile", 1.0), 37.0) == pytest.approx(-0.5)
    assert pull(Quoted(36.0, 0.5, 2.0, "profile", 1.0), 35.0, covariance=True) == pytest.approx(1.0)


def test_quoted_from_a_global_fit_everywhere_the_same():
    g = fit_decay_global(_histograms(np.random.default_rng(5)), P_PS, irf=IRF_G)
    gp = g.with_profile_intervals(NAMES)
    rf = _rf(gp)
    glob = global_fit_fields(rf)["global"]
    for i, lab in enumerate(gp.fits):
        d = regime_fields(rf, None, i)
        for stem in ("tau_be", "tau_trap"):
            lo, hi = gp.intervals[f"{stem}_ns"]
            v = gp.params[f"{stem}_ns"]
            assert d[f"{stem}_err_kind"] == glob[f"{stem}_err_kind"] == "profile"
            assert d[f"{stem}_err_minus_ns"] == glob[f"{stem}_err_minus_ns"] == pytest.approx(v - lo)
            assert d[f"{stem}_err_plus_ns"] == pytest.approx(hi - v)
            assert d[f"{stem}_cov_err_ns"] == pytest.approx(gp.errors[f"{stem}_ns"])
        lo, hi = gp.intervals[f"trap_fraction[{lab}]"]
        fr = gp.fits[lab].fractions["trap"]
        assert (d["trap_fraction_err_minus"], d["trap_fraction_err_plus"]) == (pytest.approx(fr - lo),
                                                                                pytest.approx(hi - fr))
    cov = regime_fields(_rf(g, profiled=False), None, 0)      # intervals skipped (e.g. the live preview)
    assert cov["tau_be_err_kind"] == "covariance" and cov["tau_be_err_plus_ns"] == pytest.approx(g.errors["tau_be_ns"])
    undetermined = regime_fields(_rf(g, profiled=True), None, 0)   # asked for, none found: no number
    assert undetermined["tau_be_err_kind"] == "none" and undetermined["tau_be_err_minus_ns"] is None


def test_profile_intervals_cover_the_truth_of_replicas_from_the_fitted_model():
    """80 Poisson replicas of a fitted two-regime global model (realistic counts: 40k / 15k photons,
    1 us period, 4 ns bins): per quantity coverage of the 68 % profile interval within 0.68 +- 0.15 and
    pulls |mean| < 0.35, width 0.75-1.25 (3 standard errors at n = 80). ~20 s."""
    rng = np.random.default_rng(11)
    g = fit_decay_global(_histograms(rng), P_PS, irf=IRF_G)
    assert g.success
    mu = {lab: f.model_counts for lab, f in g.fits.items()}
    truth = {"tau_be_ns": g.params["tau_be_ns"], "tau_trap_ns": g.params["tau_trap_ns"],
             **{f"trap_fraction[{lab}]": f.fractions["trap"] for lab, f in g.fits.items()}}
    pulls = {n: [] for n in NAMES}
    for _ in range(80):
        r = fit_decay_global(_histograms(rng, mu), P_PS, irf=IRF_G, initial=g.params).with_profile_intervals(NAMES)
        assert r.success
        rf = _rf(r)
        for n in NAMES:
            i = list(r.fits).index(n[14:-1]) if n.startswith("trap_fraction") else None
            q = quoted(rf, i, "trap_fraction" if i is not None else n)
            assert q.kind == "profile", (n, q)
            pulls[n].append(pull(q, truth[n]))
    for n, v in pulls.items():
        v = np.array(v)
        cover = np.mean(np.abs(v) <= 1.0)
        assert abs(cover - 0.68) < 0.15 and abs(v.mean()) < 0.35 and 0.75 < v.std(ddof=1) < 1.25, \
            (n, cover, v.mean(), v.std(ddof=1))


def test_a_trap_fraction_at_zero_gets_a_one_sided_profile_interval():
    """A regime without trap photons: its fraction fits to the 0 bound, where the covariance has no error;
    the quoted error is the one-sided profile interval [0, hi] ("upper_limit": err_minus 0, err_plus hi),
    hi where the deviance, minimised over everything else, is 1 above the best fit -- checked against a
    brute-force profile (regime a's band-edge and trap photons held at (1 - hi) X, hi X, X scanned)."""
    from scipy.optimize import minimize_scalar

    from tagstream.analysis import IRF, decay_model_counts, fit_decay_global
    from tagstream.analysis.quoted import quote

    P = 1_000_000
    T = np.arange(0, P, 1000, dtype=np.int64)
    rng = np.random.default_rng(5)
    irf = IRF.gaussian(80.0)
    hists = {}
    for lab, f, n in (("a", 0.0, 2e4), ("b", 0.4, 3e4), ("c", 0.7, 3e4)):
        mu = decay_model_counts(T, P, {"n_be": n * (1 - f), "tau_be_ns": 35.0, "n_trap": n * f, "tau_trap_ns": 57.0,
                                      "bg_per_bin": 0.05, "irf_shift_ps": 12_000.0}, "be_trap", irf=irf)
        hists[lab] = (T, rng.poisson(mu))
    for seed_try in range(5):   # a draw whose best fit has the fraction exactly at 0 (about half of them)
        g = fit_decay_global(hists, P, irf=irf)
        if g.params["n_trap[a]"] == 0.0:
            break
        mu = decay_model_counts(T, P, {"n_be": 2e4, "tau_be_ns": 35.0, "n_trap": 0.0, "tau_trap_ns": 57.0,
                                      "bg_per_bin": 0.05, "irf_shift_ps": 12_000.0}, "be_trap", irf=irf)
        hists["a"] = (T, rng.poisson(mu))
    assert g.success and g.params["n_trap[a]"] == 0.0 and not np.isfinite(g.fits["a"].fraction_errors["trap"])
    lo, hi = g.with_profile_intervals(["trap_fraction[a]"]).intervals["trap_fraction[a]"]
    assert lo == 0.0 and 0.0 < hi < 0.2
    q = quote(0.0, g.fits["a"].fraction_errors["trap"], (lo, hi), success=True, profiled=True, bounds=(0.0, 1.0))
    assert q.kind == "upper_limit" and q.minus == 0.0 and q.plus == pytest.approx(hi)
    assert q.text(" %", ".1f", 100) == f"0.0 +{100 * hi:.1f} % (68 % profile upper limit: at its bound)"
    assert q.fields("trap_fraction")["trap_fraction_err_kind"] == "upper_limit"

    def dev_at(total):
        fixed = {"n_be[a]": (1 - hi) * total, "n_trap[a]": hi * total}
        return fit_decay_global(hists, P, irf=irf, fixed=fixed, initial=g.params).deviance

    x0 = g.params["n_be[a]"]
    best = minimize_scalar(dev_at, bounds=(0.97 * x0, 1.03 * x0), method="bounded", options={"xatol": 1e-4 * x0})
    assert best.fun - g.deviance == pytest.approx(1.0, abs=0.02)
