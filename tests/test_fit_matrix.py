"""Decay fits on simulated recordings made differently (issue 11): rise at the sync, rise before the sync,
a long instrument delay with a wide IRF, 10 MHz (tails lapping the next pulses), regimes in any order.
Textbook convention throughout (t0 estimated, no --t0-ps). Ground truth: the simulator's lifetimes and
its per-bin trap photon fraction (photon weighted over each regime's bins). Also: the periodic t0 and
average-lifetime estimators against the simulator's expected mean delay per bin.

Default run: short recordings, checks within 3 quoted sigma (and loose absolute bands); the issue's
tolerances (tau_BE 35 +- 1, tau_trap 57 +- 3 ns, fractions +- 0.05) on longer ones under -m slow."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tagstream.analysis.regimes import fit_results
from tagstream.pipeline import AnalysisConfig, Pipeline
from tagstream.results import estimate_t0
from tagstream.simulate import Simulation, SimulationParams, setup_for, truth_per_bin

BIN_PS = 100 * 10**9
REGIMES_1MHZ = "30-39.5,39.5-46.5,46.5-60"
REGIMES_10MHZ = "28-29.5,29.5-31,31-40"   # periodic means at P = 100 ns: 35 ns -> 28.9, 57 ns -> 36.1
TAU_BE, TAU_TRAP = 35.0, 57.0


def simulate_and_fit(delay_ns, irf_sigma_ps, rep_rate_hz=1e6, duration_s=20.0, regimes=REGIMES_1MHZ, seed=1,
                     mean_excitations=0.1, **fit_kw):
    """(Results, RegimeFits, true trap fraction per regime) of one simulated ON-state recording."""
    p = SimulationParams.with_instrument_delay(
        delay_ns, irf_sigma_ps=irf_sigma_ps, rep_rate_hz=rep_rate_hz, spectrometer=False, blinking=False,
        sync_divider=max(1, int(round(1000 * rep_rate_hz / 1e6))), mean_excitations=mean_excitations)
    sim = Simulation(p, seed=seed)
    pipe = Pipeline(setup_for(p), AnalysisConfig(trace_bin_ms=100.0, regimes_ns=regimes))
    for c in sim.chunks(chunk_s=1.0, duration_s=duration_s):
        if len(c):
            pipe.feed(c)
    res = pipe.finalize()
    truth = truth_per_bin(sim.truth(), BIN_PS)
    tf, ec = truth["trap_photon_fraction"].to_numpy(), truth["expected_counts"].to_numpy()
    expected = []
    for r in res.regimes:
        b = r.bins[r.bins < tf.size]
        ok = np.isfinite(tf[b])
        expected.append(float(np.sum(tf[b][ok] * ec[b][ok]) / max(np.sum(ec[b][ok]), 1e-12)))
    return res, fit_results(res, "global", **fit_kw), expected, truth


def matrix_row(name, res, rf, expected) -> str:
    g = rf.global_fit
    fr = " ".join(f"{f.fractions.get('trap', 0.0):.3f}+-{f.fraction_errors.get('trap', 0.0):.3f}(true {e:.3f})"
                  for f, e in zip(rf.fits, expected) if f is not None)
    return (f"{name}: t0 {res.decay.t0_ps / 1e3:.2f} ns, tau_BE {g.params['tau_be_ns']:.2f}+-{g.errors['tau_be_ns']:.2f}, "
            f"tau_trap {g.params['tau_trap_ns']:.2f}+-{g.errors['tau_trap_ns']:.2f}, trap {fr}, "
            f"adequacy z {g.adequacy_z:+.2f} fit_ok {g.fit_ok}")


def check(rf, expected, n_sigma=None, be_tol=1.0, trap_tol=3.0, frac_tol=0.05):
    """The global fit succeeded, is adequate, and recovers the truth (within n_sigma quoted errors if
    given, else within the issue's absolute tolerances)."""
    g = rf.global_fit
    assert g is not None and g.success and g.fit_ok, rf.lines
    for name, true, tol in (("tau_be_ns", TAU_BE, be_tol), ("tau_trap_ns", TAU_TRAP, trap_tol)):
        lim = n_sigma * g.errors[name] if n_sigma else tol
        assert abs(g.params[name] - true) < lim, (name, g.params[name], g.errors[name], rf.lines)
    assert g.params["tau_trap_ns"] > g.params["tau_be_ns"]
    for f, e in zip(rf.fits, expected):
        assert f is not None and f.fit_ok
        got = f.fractions.get("trap", 0.0)
        err = f.fraction_errors.get("trap", 0.0)
        lim = n_sigma * err if (n_sigma and "trap" in f.fractions) else frac_tol
        assert abs(got - e) < max(lim, 1e-9) or ("trap" not in f.fractions and e < 0.1), (got, err, e, rf.lines)


# ---------------------------------------------------------------------------------- estimators
@pytest.mark.parametrize("rise_ps", [0.0, 250.0, -3000.0, 12000.0, 499_000.0, -499_000.0])
def test_estimate_t0_is_periodic(rise_ps):
    """Half maximum of a periodic exponential rise anywhere in the period, t0 returned in (-P/2, P/2]."""
    P, w = 1_000_000, 500
    t = np.arange(0, P, w) + 0.5 * w
    u = np.mod(t - rise_ps, P)
    h = 1000.0 * np.exp(-u / 35000.0) + 2.0
    t0 = estimate_t0(h, w, 2.0, P)
    d = (t0 - rise_ps + P / 2) % P - P / 2
    assert -P / 2 < t0 <= P / 2 and abs(d) <= w


@pytest.mark.parametrize("delay_ns", [12.0, 0.0, -3.0])
def test_average_lifetime_is_the_wrapped_mean_delay(delay_ns):
    """Per-bin average lifetime (textbook convention) = the simulator's expected mean emission delay,
    whatever the instrument delay, also with the rise at or before the sync."""
    p = SimulationParams.with_instrument_delay(delay_ns, spectrometer=False, blinking=False)
    sim = Simulation(p, seed=3)
    pipe = Pipeline(setup_for(p), AnalysisConfig(trace_bin_ms=100.0, regimes_ns=()))
    for c in sim.chunks(chunk_s=1.0, duration_s=6.0):
        if len(c):
            pipe.feed(c)
    res = pipe.finalize()
    assert abs(res.decay.t0_ps - 1e3 * delay_ns) < 600.0
    truth = truth_per_bin(sim.truth(), BIN_PS)["expected_mean_delay_ns"].to_numpy()
    lt = res.trace.lifetime_ns
    n = min(lt.size, truth.size) - 1  # the last bin is partial
    diff = lt[:n] - truth[:n]
    assert abs(np.nanmean(diff)) < 0.5 and np.nanstd(diff) < 3.0, (np.nanmean(diff), np.nanstd(diff))


# ------------------------------------------------------------------------------ the fit matrix
def test_rise_before_the_sync_short_recording():
    """Rise 3 ns before the sync (t0 ~ -3 ns, not ~997 ns): regimes populated, the truth within 3 sigma."""
    res, rf, expected, _ = simulate_and_fit(-3.0, 80.0, duration_s=20.0)
    print(matrix_row("rise -3 ns (20 s)", res, rf, expected))
    assert abs(res.decay.t0_ps + 3000.0) < 600.0
    assert all(r.n_photons > 5000 for r in res.regimes)
    check(rf, expected, n_sigma=3.0)


def test_regimes_in_any_order_give_the_same_fit():
    """The band-edge-only candidate is the shortest-lifetime regime, not the first listed."""
    res, rf, expected, _ = simulate_and_fit(12.0, 80.0, duration_s=10.0, regimes="46.5-60,39.5-46.5,30-39.5")
    res2, rf2, _, _ = simulate_and_fit(12.0, 80.0, duration_s=10.0)
    g, g2 = rf.global_fit, rf2.global_fit
    assert g.params["tau_be_ns"] == pytest.approx(g2.params["tau_be_ns"], rel=1e-4)
    assert g.params["tau_trap_ns"] == pytest.approx(g2.params["tau_trap_ns"], rel=1e-4)
    assert g.params["tau_trap_ns"] > g.params["tau_be_ns"]
    assert any("shortest regime 30-39.5 ns" in line for line in rf.lines)
    for f, f2 in zip(rf.fits, reversed(rf2.fits)):
        assert f.fractions.get("trap", 0.0) == pytest.approx(f2.fractions.get("trap", 0.0), abs=1e-4)


def test_rejected_fit_is_flagged():
    """A model the data reject (a single exponential for a two-component decay) is said, not printed as a result."""
    res, _, _, _ = simulate_and_fit(12.0, 80.0, duration_s=10.0, regimes="30-60")
    rf = fit_results(res, "single")
    f = rf.fits[0]
    assert not f.fit_ok and f.adequacy_z > 3 and any("reject" in w for w in f.warnings)
    assert "REJECTED BY THE DATA" in rf.lines[-1]


MATRIX = {  # name: (delay ns, IRF sigma ps, rep rate Hz, <n>, duration s, regimes, fit range ns after the rise)
    "rise at the sync": (0.0, 21.0, 1e6, 0.1, 90.0, REGIMES_1MHZ, None),
    "rise 3 ns before the sync": (-3.0, 80.0, 1e6, 0.1, 90.0, REGIMES_1MHZ, None),
    "12 ns delay, 200 ps IRF": (12.0, 200.0, 1e6, 0.1, 90.0, REGIMES_1MHZ, None),
    # 10x the photons: the unmodelled biexciton photons (0.6 ns, ~0.4 %) are then rejected by the adequacy
    # test over the full period (z ~ 6); the fit range skips them, as meant for fast components, and so
    # the fast component goes too (--no-fast-component): kept, it has no photons left to fit and trades
    # off against the trap (tau_trap 48.6 +- 9.4 ns instead of 57.1 +- 3.2)
    "10 MHz": (12.0, 80.0, 1e7, 0.1, 120.0, REGIMES_10MHZ, (1.5, 100.0)),
    "regimes reversed": (12.0, 80.0, 1e6, 0.1, 90.0, ",".join(reversed(REGIMES_1MHZ.split(","))), None),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MATRIX))
def test_fit_matrix(name):
    from tagstream.analysis.fit_options import FitOptions

    delay, sigma, rate, nexc, dur, regimes, fit_range = MATRIX[name]
    res, rf, expected, _ = simulate_and_fit(delay, sigma, rate, dur, regimes, mean_excitations=nexc,
                                            options=FitOptions(fit_range_ns=fit_range,
                                                               fast_component=fit_range is None))
    print(matrix_row(name, res, rf, expected))
    print("\n".join(rf.lines))
    assert math.isfinite(res.decay.t0_ps) and abs(res.decay.t0_ps - 1e3 * delay) < 1000.0
    check(rf, expected)
