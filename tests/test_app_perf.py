"""The live window's cost bounds at high tag rates (issue 15): regime decays, split-half decays and the
per-bin lifetime sums summed incrementally (exact),
the tick's drawing budget including the fast views, the 1 us - 10 s correlation opt-in live."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest

from tagstream.pipeline import AnalysisConfig, Pipeline
from tagstream.results import derive
from tagstream.setup import Setup
from tagstream.simulate.params import SimulationParams
from tagstream.sources.simulated import SimulatedSource


def _chunks(chunk_s: float, seed: int = 3):
    return list(SimulatedSource(SimulationParams(mean_excitations=0.5), seed=seed, speed=None, duration_s=6.0,
                                chunk_s=chunk_s))


def _full_sum(pipe: Pipeline, **selection):
    """The same snapshot with every photon summed again (no memo)."""
    raw = pipe._raw(False)
    raw = dataclasses.replace(raw, stages={**raw.stages, "trace": dataclasses.replace(raw.trace, sums=None)})
    sel = dataclasses.replace(pipe._selection, **selection)
    return derive(raw, sel)


@pytest.mark.parametrize("chunk_s", [0.05, 0.37])
def test_memoised_regime_decays_equal_a_full_sum_through_selection_changes(chunk_s):
    setup = Setup(sync=5, spad_a=1, spad_b=2, frame=3, sync_divider=1000)
    pipe = Pipeline(setup, AnalysisConfig(trace_bin_ms=20, intensity_correlation=False, t0_ps=0.0,
                                          regimes_ns=((5, 15), (15, 30), (30, 80))))
    sel_steps = [{}, {"on_threshold": 20.0}, {"on_threshold": 60.0}, {"regimes_ns": ((10, 20), (20, 90))},
                 {"on_threshold": None}, {}]
    checked = checked_halves = 0
    for k, c in enumerate(_chunks(chunk_s)):
        pipe.feed(c)
        s = sel_steps[k % len(sel_steps)]
        if s.get("regimes_ns") is not None:
            pipe.set_selection(**s)
            s = {}
        elif s:
            pipe.set_selection(**s)
        got = pipe.snapshot()
        want = _full_sum(pipe)
        assert [r.n_bins for r in got.regimes] == [r.n_bins for r in want.regimes]
        # the memoised per-bin index sums (photons below the cut, split halves) give the same lifetimes
        np.testing.assert_array_equal(got.trace.lifetime_ns, want.trace.lifetime_ns)
        for a, b in zip(got.regimes, want.regimes):
            np.testing.assert_array_equal(a.counts, b.counts)
            np.testing.assert_array_equal(a.fitted_counts, b.fitted_counts)   # cross-selected halves (memoised)
        checked += sum(int(r.counts.sum()) for r in got.regimes)
        checked_halves += sum(int(r.fit_counts.sum()) for r in got.regimes if r.fit_counts is not None)
    assert checked > 10_000                       # the regimes held photons (the comparison meant something)
    assert checked_halves > 5_000
    final = pipe.finalize()
    assert pickle.loads(pickle.dumps(final)).regimes[0].counts.sum() == final.regimes[0].counts.sum()


def test_decay_memo_is_not_used_when_the_bins_it_summed_changed():
    from tagstream.stages.trace import DecaySums

    store = np.array([0, 1, 1, 2, 2, 2], np.uint16)
    m = DecaySums()
    off = np.array([0, 2, 4, 6], np.int64)
    np.testing.assert_array_equal(m.selected(0, store, off, np.array([0, 1, 2]), 3), [1, 2, 3])
    np.testing.assert_array_equal(m.selected(0, store, off, np.array([1, 2]), 3), [0, 1, 3])  # minus bin 0
    off2 = np.array([0, 3, 4, 6], np.int64)         # bin 0 / 1 slices moved: summed again, not diffed
    np.testing.assert_array_equal(m.selected(0, store, off2, np.array([1, 2]), 3), [0, 0, 3])


def test_half_delay_memo_sums_again_only_the_bins_whose_slice_changed():
    from tagstream.kernels.split_half import half_delay_sums
    from tagstream.stages.trace import DecaySums

    def full(store, off):
        n, s = np.zeros((off.size - 1, 2), np.int64), np.zeros((off.size - 1, 2))
        half_delay_sums(store, off, 3, 500.0, 1e6, n, s)
        return n, s

    rng = np.random.default_rng(5)
    store = rng.integers(0, 2000, 400).astype(np.uint16)
    m = DecaySums()
    for off in ([0, 5, 9, 9, 20], [0, 5, 9, 9, 23, 30], [0, 5, 9, 9, 23, 30, 31], [0, 6, 9, 9, 23, 30, 31],
                [0, 6, 9, 9, 23, 30, 31, 400]):   # the last bin grows, bins join; one earlier slice moves
        off = np.array(off, np.int64)
        got, want = m.half_delays(store, off, 3, 500.0, 1e6), full(store, off)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    assert m.half_delays(store, off, 4, 500.0, 1e6)[1].tolist() != want[1].tolist()  # another cut: its own sums


def test_the_tick_budget_includes_the_fast_views():
    from tagstream.app.redraw import RedrawScheduler

    s = RedrawScheduler(budget_s=0.015, slow_period_s=0.25)
    names = ["intensity", "lifetime", "flid", "g2"]
    s.drawn("intensity", 0, -1.0, 0.006)
    s.drawn("lifetime", 0, -1.0, 0.005)
    s.drawn("flid", 0, -0.3, 0.006)
    s.drawn("g2", 0, -0.3, 0.003)
    plan = s.plan(names, 1, 0.0, lambda n: True)
    assert plan[:2] == ["intensity", "lifetime"]
    assert plan == ["intensity", "lifetime", "g2"]        # 11 ms fast + 3 ms fit; flid's 6 ms would not


pytest.importorskip("pytestqt")
from test_app import win  # noqa: E402,F401  (the window fixture)


def test_intensity_correlation_is_a_checkbox_off_by_default_live(qtbot, win):
    assert not win.corr_box.isChecked()
    assert win.config_from_controls().intensity_correlation is False
    win.corr_box.setChecked(True)
    assert win.config_from_controls().intensity_correlation is True
    win.save_settings()
    assert win.settings.value("correlation", type=bool) is True


@pytest.mark.parametrize("speed", [1.0, 10.0, 256.0])
def test_the_trace_scrolls_at_most_every_quarter_second_or_a_third_of_its_window(qtbot, speed):
    import pyqtgraph as pg

    from tagstream.app.theme import DARK
    from tagstream.app.views import IntensityTraceView

    w = pg.GraphicsLayoutWidget()
    qtbot.addWidget(w)
    v = IntensityTraceView(w.addPlot(), DARK, window_s=60.0)
    moves, last = 0, None
    bin_s, tick_s = 0.1, 1 / 30
    for k in range(1, 300):                    # 10 s of 30 Hz redraws
        now = k * tick_s
        t_s = np.arange(0.0, max(now * speed, bin_s), bin_s)
        v._scroll(t_s, bin_s, now_s=now)
        lo, hi = v.plot.vb.viewRange()[0]
        assert lo <= t_s[-1] and t_s[-1] + bin_s <= hi + 1e-9          # the newest bin in view
        assert hi - lo <= 60.0 + 1e-6 and t_s[-1] - lo >= min(60.0 - 20.0 - bin_s, t_s[-1] - t_s[0]) - 1e-9
        if last is not None and (lo, hi) != last:
            moves += 1
        last = (lo, hi)
    # <= 4 moves per wall second, or (faster tag time) one per third of the window: 10x fewer at 256x than
    # one per 1/30 of the window
    assert moves <= max(10.0 / v.MIN_SCROLL_S, 10.0 * speed / 20.0) + 2
    if speed > 1.0:   # fewer than half the moves of fixed 2 s steps (one per redraw at 256x)
        assert moves <= min(299, 10.0 * speed / 2.0) / 2 + 1
    if speed == 1.0:
        assert v.scroll_step_s(bin_s) == pytest.approx(2.0)   # real time: 1/30 of the window
