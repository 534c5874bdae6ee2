"""g2(0) against time and per blinking state (tagstream.blinking.g2time): per-window g2(0) equals a brute-force
pair count on the photons of the window's closed trace bins; state masks vs a slow loop; JSON shape."""

from __future__ import annotations

import numpy as np
import pytest

from tagstream.blinking.dwells import Dwells
from tagstream.blinking.g2time import MIN_SIDE_PAIRS, category_bin_masks
from tagstream.pipeline import AnalysisConfig, Pipeline
from tagstream.simulate import Simulation, SimulationParams, setup_for

P = 1_000_000
W = 3_500_000


@pytest.fixture(scope="module")
def run():
    p = SimulationParams().replace(spectrometer=False, mean_excitations=0.3, dwell_min_s=0.05, dwell_max_s=3.0)
    sim = Simulation(p, seed=9)
    pipe = Pipeline(setup_for(p), AnalysisConfig(trace_bin_ms=10, g2_window_ps=W, g2_bin_ps=1000, g2_per_state=True,
                                                 levels_confidence=0.95, g2_time_window_s=4.0,
                                                 intensity_correlation=False))
    ts, ch = [], []
    for c in sim.chunks(chunk_s=1.0, duration_s=12.0):
        pipe.feed(c)
        ts.append(c.timestamps_ps)
        ch.append(c.channels)
    t, c = np.concatenate(ts), np.concatenate(ch)
    m = (c == p.ch_spad_a) | (c == p.ch_spad_b)
    return pipe.finalize(), t[m], (c[m] == p.ch_spad_b).astype(np.int8)


def _brute_g2_zero(t, w, lo_ps, hi_ps):
    sel = (t >= lo_ps) & (t < hi_ps)
    a, b = t[sel & (w == 0)], t[sel & (w == 1)]
    areas = np.zeros(7, np.int64)
    for ta in a:
        j0, j1 = np.searchsorted(b, [ta - W, ta + W])
        tau = b[j0:j1] - ta
        k = np.floor((tau + P / 2) / P).astype(int) + 3
        areas += np.bincount(k[(k >= 0) & (k < 7)], minlength=7)
    side = areas[np.arange(7) != 3]
    return areas[3] / side.mean(), int(side.sum())


def test_g2_zero_per_window_equals_brute_force(run):
    res, t, w = run
    gt = res.g2_time
    assert gt.window_s == pytest.approx(4.0)
    origin = int(res.trace.bin_start_ps[0])
    n_bins = res.trace.counts.size
    assert len(gt.values) == 3
    for j, v in enumerate(gt.values):
        lo = origin + j * 400 * 10**10
        hi = min(origin + (j + 1) * 400 * 10**10, origin + (n_bins - 1) * 10**10)  # closed bins only
        g0, side = _brute_g2_zero(t, w, lo, hi)
        assert v.side_pairs == side
        if side >= MIN_SIDE_PAIRS:
            assert v.g2_zero == pytest.approx(g0, rel=1e-12)
    d = gt.to_json_dict()
    assert set(d) >= {"window_s", "t_start_s", "g2_zero", "g2_zero_err", "by_state"}
    assert "on" in d["by_state"] and d["by_state"]["on"]["g2_zero"] is not None
    assert "g2_vs_time" in res.to_json_dict()


def test_state_masks_equal_a_slow_loop():
    d = Dwells(np.array([0, 35, 50, 90]), np.array([35, 50, 90, 130]), np.array([0, 2, 0, 1], np.int8),
               np.array([True, False, False, True]))
    starts = np.arange(0, 130, 10)
    masks = category_bin_masks(d, starts, 10)
    for name, ci in (("on", 0), ("grey", 1), ("off", 2)):
        ref = [any(s >= a and s + 10 <= e for a, e, c in zip(d.start_ps, d.end_ps, d.category) if c == ci)
               for s in starts]
        assert masks[name].tolist() == ref
