"""Pipeline against the simulator's ground truth (ON fraction, counts, mean microtime, g2(0), regimes)."""

from __future__ import annotations

import numpy as np
import pytest

from tagstream.pipeline import AnalysisConfig, Pipeline
from tagstream.setup import Setup
from tagstream.simulate import SimulationParams, Simulation, truth_per_bin


@pytest.fixture(scope="module")
def sim_result():
    params = SimulationParams(mean_excitations=0.1)
    sim = Simulation(params, seed=11)
    setup = Setup(sync=5, spad_a=1, spad_b=2, frame=3, sync_divider=params.sync_divider)
    cfg = AnalysisConfig(trace_bin_ms=100, on_threshold=400, t0_ps=0, subtract_background=False,
                         regimes_ns="40-50,50-60,60-70")
    pipe = Pipeline(setup, cfg)
    for chunk in sim.chunks(chunk_s=0.7, duration_s=20):
        pipe.feed(chunk)
    res = pipe.finalize()
    truth = truth_per_bin(sim.truth(), cfg.trace_bin_ps)
    return params, res, truth


def test_counts_and_on_state_match_truth(sim_result):
    params, res, truth = sim_result
    n = min(res.trace.counts.size, truth.height) - 1
    exp = truth["expected_counts"].to_numpy()[:n]
    got = res.trace.counts[:n]
    assert abs(got.sum() / exp.sum() - 1) < 0.02
    z = (got - exp) / np.sqrt(np.maximum(exp, 1))
    assert abs(z.mean()) < 0.3 and 0.7 < z.std() < 1.5
    true_on = truth["on_fraction"].to_numpy()[:n] > 0.99
    pure = (truth["on_fraction"].to_numpy()[:n] > 0.99) | (truth["on_fraction"].to_numpy()[:n] < 0.01)
    assert np.mean(res.trace.on[:n][pure] == true_on[pure]) > 0.95


def test_mean_microtime_matches_truth(sim_result):
    params, res, truth = sim_result
    n = min(res.trace.counts.size, truth.height) - 1
    on = res.trace.on[:n]
    exp = truth["expected_mean_microtime_ns"].to_numpy()[:n][on]
    got = res.trace.lifetime_ns[:n][on]
    se = exp / np.sqrt(res.trace.n_referenced[:n][on])
    z = (got - exp) / se
    assert abs(z.mean()) < 0.3 and z.std() < 1.5
    # regimes: the photons are exactly the referenced photons of the selected ON bins
    for k, reg in enumerate(res.regimes):
        sel = res.trace.regime == k
        assert reg.n_bins == sel.sum()
        assert reg.n_photons == res.trace.n_referenced[sel].sum()
        assert np.all(res.trace.on[sel])
    assert sum(r.n_bins for r in res.regimes) > 0.5 * res.trace.on.sum()


def test_g2_zero_matches_model(sim_result):
    params, res, truth = sim_result
    g = res.g2
    assert g.g2_zero is not None
    expected = params.qy_xx / params.qy_be  # low <n> limit, see tagstream.simulate docstring
    assert abs(g.g2_zero - expected) < 3 * g.g2_zero_err + 0.02
