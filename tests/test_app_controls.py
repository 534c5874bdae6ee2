"""The live window's controls and state display (pytest-qt, offscreen): one test per defect of issue 15
(state shown wrongly, controls lost or silently changed, plots covered or squashed, redraw starving
the GUI thread)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from PyQt6 import QtCore, QtGui, QtWidgets  # noqa: E402

from tagstream.app.camera import SimulatedCameraSource  # noqa: E402
from tagstream.app.status import RED, ORANGE, RateMeters  # noqa: E402
from tagstream.app.theme import DARK, robust_top  # noqa: E402
from tagstream.app.views.lifetime import snap_regime  # noqa: E402
from test_app import WAIT_MS, finite_source, wait_done, win  # noqa: E402,F401  (the window fixture)

FIX = Path(__file__).resolve().parents[1] / "fixtures"


def paced_source(speed: float = 5.0, seed: int = 7):
    """The simulated QD paced at `speed` x real time, endless (stopped by the test)."""
    return SimulatedCameraSource(seed=seed, speed=speed, chunk_s=0.05), None


def running(qtbot, win, **kw):
    src, acc = paced_source(**kw)
    win.start(source=src, spectra=acc)
    c = win.controller
    qtbot.waitUntil(lambda: c.last_drawn is not None and c.session.status().tags_acquired > 1000, timeout=WAIT_MS)
    return c


# ---------------------------------------------------------------- redraw mechanism
def test_the_snapshot_thread_never_queues_redraws_and_status_comes_before_drawing(qtbot, win):
    c = win.controller
    assert not hasattr(c, "_ready")           # no redraw-request signal from the snapshot thread
    order = []
    c.status.connect(lambda st: order.append("status"))
    c.redrawn.connect(lambda b: order.append("redraw"))
    running(qtbot, win)
    win.stop()
    assert order and order[0] == "status"
    # every redraw is preceded by a status update in the same tick
    for i, what in enumerate(order):
        if what == "redraw":
            assert "status" in order[:i]
    assert c.timer.interval() <= 50 and c.timer.isActive()


def test_hidden_panels_are_not_drawn_and_catch_up_when_shown(qtbot, win):
    c = win.controller
    win.docks["decays"].hide()
    src, acc = finite_source(4.0, seed=5)
    win.start(source=src, spectra=acc)
    b = wait_done(qtbot, win)
    assert "decays" not in c.scheduler.shown_seq          # never drawn while hidden
    assert win.views["decays"].total.getOriginalDataset()[1] is None
    assert c.scheduler.shown_seq["flid"] == b.seq
    qtbot.wait(300)
    assert "decays" not in c.scheduler.shown_seq          # still not, though newer bundles came (the analysis)
    win.docks["decays"].show()
    qtbot.waitUntil(lambda: c.scheduler.shown_seq.get("decays") == c.latest().seq, timeout=WAIT_MS)
    assert win.views["decays"].total.getOriginalDataset()[1].size > 10


def test_slow_panels_are_redrawn_less_often_than_the_traces(qtbot, win):
    from tagstream.app.redraw import FAST, RedrawScheduler

    s = RedrawScheduler(budget_s=0.016, slow_period_s=0.25)
    names = ["intensity", "lifetime", "flid", "decays", "g2"]
    drawn = {n: 0 for n in names}
    for k in range(100):                     # 100 ticks of 30 ms, a new bundle each
        now = k * 0.03
        for n in s.plan(names, k + 1, now, lambda n: True):
            drawn[n] += 1
            s.drawn(n, k + 1, now, 0.004)
    assert drawn["intensity"] == drawn["lifetime"] == 100
    for n in ("flid", "decays", "g2"):
        assert n not in FAST and 5 <= drawn[n] <= 100 * 0.03 / 0.25 + 1
    # an expensive panel is drawn at most duty_slow of the time
    s2 = RedrawScheduler()
    s2.drawn("decays", 0, 0.0, 0.05)
    assert s2.period_s("decays") == pytest.approx(0.05 / s2.duty_slow)


# ---------------------------------------------------------------- toolbar and state
def test_toolbar_is_fixed_with_shortcuts(qtbot, win):
    tb = win.toolbar
    assert not tb.isMovable() and not tb.isFloatable() and tb.isVisible()
    keys = {a.text(): a.shortcut().toString() for a in (win.start_act, win.reset_act, win.record_act, win.export_act)}
    assert keys == {"Start": "F5", "Reset": "F6", "Record": "Ctrl+R", "Export…": "Ctrl+E"}
    for a in (win.start_act, win.reset_act, win.record_act, win.export_act):
        assert tb.widgetForAction(a) is not None and tb.widgetForAction(a).isVisible()
    win.record_act.trigger()                  # the toolbar's Record is the Recording checkbox
    assert win.record.isChecked()
    win.record.setChecked(False)
    assert not win.record_act.isChecked()


def test_rec_shows_time_and_size_while_recording_and_is_gone_after_stop(qtbot, win, tmp_path):
    win.record_path.setText(str(tmp_path / "r.qutag"))
    win.record.setChecked(True)
    c = running(qtbot, win)
    qtbot.waitUntil(lambda: re.fullmatch(r"● REC \d\d:\d\d, [\d.]+ (B|kB|MB)", win.st_rec.text()) is not None,
                    timeout=WAIT_MS)
    assert win.st_rec.styleSheet().startswith(f"color: {RED}")
    assert win.start_btn.text() == "Stop" and win.st_state.text().startswith("● running")
    win.stop()
    qtbot.waitUntil(lambda: not c.running, timeout=WAIT_MS)
    qtbot.wait(100)
    assert "REC" not in win.st_rec.text() and win.st_rec.text().startswith("recorded r.qutag")
    assert win.start_btn.text() == "Start" and win.st_state.text().startswith("■ stopped")


def test_elapsed_time_stops_on_stop(qtbot, win):
    running(qtbot, win)
    qtbot.wait(1200)
    win.stop()
    qtbot.wait(100)
    frozen = win.st_state.text()
    t = win.controller.current_status().elapsed_s
    qtbot.wait(1300)
    assert win.st_state.text() == frozen
    assert win.controller.current_status().elapsed_s == t


def test_button_says_start_and_state_finished_right_after_a_replay(qtbot, win):
    win.fit_box.setCurrentIndex(win.fit_box.count() - 1)     # "no fits": the state is what is tested here
    assert win.fit_box.currentData() is None
    win.replay(str(FIX / "qd_demo.qutag"), speed=1e6)
    c = win.controller
    qtbot.waitUntil(lambda: c.finished, timeout=WAIT_MS)
    assert win.start_btn.text() == "Start"
    qtbot.waitUntil(lambda: "finished" in win.st_state.text(), timeout=WAIT_MS)
    assert not c.running
    t = win.st_state.text()
    qtbot.wait(1200)
    assert win.st_state.text() == t           # elapsed time frozen once finished
    win.toggle()                              # Start replays it again
    assert c.running or c.finished, win.log.toPlainText()
    qtbot.waitUntil(lambda: c.finished, timeout=WAIT_MS)


def test_data_loss_is_red(qtbot, win):
    from tagstream.app.status import loss_text

    st = SimpleNamespace(data_lost=True, data_loss_events=2, overflow_count=0)
    text, colour = loss_text(st)
    assert text == "DATA LOST (2 events)" and colour == RED
    assert loss_text(SimpleNamespace(data_lost=False, data_loss_events=0, overflow_count=0)) == ("no data loss", "")


# ---------------------------------------------------------------- controls
def test_threshold_set_by_hand_survives_start_and_reset(qtbot, win):
    c = running(qtbot, win)
    line = win.views["intensity"].threshold
    line.setValue(250.0)
    line.sigPositionChangeFinished.emit(line)
    qtbot.waitUntil(lambda: c.last_drawn.results.trace.on_threshold == 250.0, timeout=WAIT_MS)
    assert "set by hand" in win.thr_label.text()
    win.reset()                                               # Reset: a new pipeline, same threshold
    assert c.pipeline.config.on_threshold == 250.0
    qtbot.waitUntil(lambda: c.last_drawn is not None and c.last_drawn.results.trace.on_threshold == 250.0,
                    timeout=WAIT_MS)
    win.stop()
    win.bin_ms.setValue(50.0)                                 # kept as a rate: half the counts per half the bin
    assert win.config_from_controls().on_threshold == pytest.approx(125.0)
    win.bin_ms.setValue(100.0)
    src, acc = paced_source()
    win.start(source=src, spectra=acc)                        # Start
    assert c.pipeline.config.on_threshold == pytest.approx(250.0)
    win.auto_thr.click()
    assert win.threshold_cps is None and win.config_from_controls().on_threshold is None
    qtbot.waitUntil(lambda: c.last_drawn is not None and c.last_drawn.results.trace.on_threshold != 250.0,
                    timeout=WAIT_MS)
    win.stop()


def test_ticking_record_while_running_says_when_it_takes_effect(qtbot, win, tmp_path):
    win.record_path.setText(str(tmp_path / "later.qutag"))
    c = running(qtbot, win)
    win.record.setChecked(True)
    assert "recording starts at the next Start / Reset" in win.log.toPlainText()
    assert "next Start / Reset" in win.statusBar().currentMessage()
    assert c.session.status().recording_path is None
    win.reset()                                               # ... and it does
    assert c.session.status().recording_path == str(tmp_path / "later.qutag")
    win.stop()
    assert (tmp_path / "later.qutag").exists()


def wheel(widget, steps: int = 1) -> None:
    pos = QtCore.QPointF(widget.width() / 2, widget.height() / 2)
    ev = QtGui.QWheelEvent(pos, widget.mapToGlobal(pos), QtCore.QPoint(0, 0), QtCore.QPoint(0, 120 * steps),
                           QtCore.Qt.MouseButton.NoButton, QtCore.Qt.KeyboardModifier.NoModifier,
                           QtCore.Qt.ScrollPhase.NoScrollPhase, False)
    QtWidgets.QApplication.sendEvent(widget, ev)


def test_spin_boxes_ignore_the_wheel_unless_focused(qtbot, win):
    sb = win.bin_ms
    win.log.setFocus()
    assert not sb.hasFocus()
    wheel(sb, 3)
    assert sb.value() == 100.0                 # the bin width did not silently change
    wheel(win.source_box, 1)
    assert win.source_box.currentData() == "simulated"
    sb.setFocus()
    qtbot.waitUntil(sb.hasFocus, timeout=5000)
    wheel(sb, 1)
    assert sb.value() != 100.0                 # a focused spin box still takes the wheel


def test_dragged_regime_bounds_snap_to_half_a_nanosecond(qtbot, win):
    assert snap_regime(30.3187, 40.3187) == (30.5, 40.5)
    assert snap_regime(41.0, 40.9) == (41.0, 41.5)            # never empty
    src, acc = finite_source(3.0, seed=6)
    win.start(source=src, spectra=acc)
    wait_done(qtbot, win)
    region = win.views["histogram"].regions[0]
    region.setRegion((30.3187, 40.3187))
    region.sigRegionChangeFinished.emit(region)
    assert region.getRegion() == (30.5, 40.5)
    c = win.controller
    qtbot.waitUntil(lambda: c.last_drawn.results.selection.regimes_ns[0] == (30.5, 40.5), timeout=WAIT_MS)
    assert win.settings.value("regimes").startswith("30.5-40.5,")
    qtbot.waitUntil(lambda: "30.5–40.5 ns" in win.views["decays"].legend.text(), timeout=WAIT_MS)
    # the exported tables' file names and the report's regime labels are the snapped bounds too
    from tagstream.export.parquet import results_frames

    res = c.pipeline.snapshot()
    assert res.regimes[0].regime.label == "30.5-40.5"
    assert "decay_30p5-40p5ns.parquet" in results_frames(res)


# ---------------------------------------------------------------- plots
def test_legends_do_not_cover_the_plots(qtbot, win):
    src, acc = finite_source(4.0, seed=8)
    win.start(source=src, spectra=acc)
    wait_done(qtbot, win)
    win.resize(1366, 768)
    qtbot.wait(200)
    for name in ("decays", "intensity", "lifetime", "histogram"):
        v = win.views[name]
        leg = v.legend.label.sceneBoundingRect()
        vb = v.plot.vb.sceneBoundingRect()
        assert v.legend.entries and leg.height() > 0
        assert not leg.intersects(vb), name
    assert "all photons" in win.views["decays"].legend.text()


def trace_res(counts, bin_ms=100.0, threshold=100.0):
    n = counts.size
    tr = SimpleNamespace(counts=counts, counts_a=counts // 2, counts_b=counts - counts // 2, on_threshold=threshold,
                         bin_ms=bin_ms, bin_start_ps=np.arange(n, dtype=np.int64) * int(bin_ms * 1e9))
    return SimpleNamespace(trace=tr)


def test_intensity_range_is_robust_to_one_bright_short_level(qtbot):
    import pyqtgraph as pg

    from tagstream.app.views import IntensityTraceView

    w = pg.GraphicsLayoutWidget()
    qtbot.addWidget(w)
    v = IntensityTraceView(w.addPlot(), DARK, window_s=None)
    rng = np.random.default_rng(1)
    counts = rng.poisson(400, 1000).astype(np.int64)
    counts[500:503] = 20_000                    # one bright level, 3 bins of 1000
    v.update(trace_res(counts))
    lo, hi = v.plot.vb.viewRange()[1]
    assert lo == 0.0 and np.percentile(counts[:-1], 99) < hi < 1000     # the trace is not squashed
    assert hi == robust_top(counts[:-1])
    # a zoom by hand is kept
    v.plot.vb.setYRange(0, 30_000)
    v.plot.vb.sigRangeChangedManually.emit(v.plot.vb.state["mouseEnabled"])
    v.update(trace_res(counts))
    assert v.plot.vb.viewRange()[1][1] == pytest.approx(30_000, rel=0.05)


def test_flid_colour_is_counts_with_a_log_option(qtbot, win):
    src, acc = finite_source(4.0, seed=9)
    win.start(source=src, spectra=acc)
    b = wait_done(qtbot, win)
    hist = b.results.flid.hist.T
    np.testing.assert_array_equal(win.views["flid"].image.image, hist)
    assert win.views["flid"].colorbar.getAxis("right").labelText == "trace bins per cell"
    win.flid_log.setChecked(True)
    np.testing.assert_allclose(win.views["flid"].image.image, np.log10(1 + hist))
    assert win.views["flid"].colorbar.getAxis("right").labelText.startswith("log")


def test_colour_bar_label_clear_of_its_tick_numbers(qtbot, win):
    src, acc = finite_source(4.0, seed=10)
    win.start(source=src, spectra=acc)
    wait_done(qtbot, win)
    for size, bars in (((1366, 768), ("flid",)), ((1920, 1080), ("flid", "spectra"))):   # (compact: no waterfall)
        win.resize(*size)
        win.docks["spectra"].raise_()
        qtbot.wait(300)
        win.grab()                                   # paint once: tick texts measured
        for bar in (win.views[b].colorbar for b in bars):
            ax = bar.getAxis("right")
            label = ax.mapRectFromItem(ax.label, ax.label.boundingRect())   # rotated label, in the axis' coordinates
            text_right = max(ax.style["tickLength"], 0) + ax.style["tickTextOffset"][0] + ax.textWidth
            margin = ax.label.document().documentMargin()
            assert label.left() + margin >= text_right, (label, text_right)     # the label starts after the numbers
            assert label.right() - margin <= ax.width() + 1                       # and is inside the axis


def assert_tick_labels_readable(win, skip=()) -> None:
    """Every visible axis of every visible plot shows at least two tick labels, distinct ones (distinct
    values), that do not overlap one another (pyqtgraph's own draw specs: what it paints). (The spectra
    panel at 1366 x 768 shows the spectra per regime alone: three stacked plots overlapped their ticks.)"""
    import pyqtgraph as pg

    img = QtGui.QImage(8, 8, QtGui.QImage.Format.Format_ARGB32)
    painter = QtGui.QPainter(img)
    checked = 0
    try:
        for name, w in win.plot_widgets.items():
            if not w.isVisible() or name in skip:
                continue
            for item in w.scene().items():
                if not isinstance(item, pg.AxisItem) or not item.isVisible() or item.style["showValues"] is False:
                    continue
                if item.orientation in ("top", "right") and not item.label.isVisible():
                    continue                          # an unlabelled frame axis without numbers
                texts = [(r, t) for r, _, t in item.generateDrawSpecs(painter)[2]]
                if not texts:
                    continue
                where = (name, w.size(), item.geometry(), item.orientation, [t for _, t in texts])
                assert len(texts) >= 2, where
                major = [t for _, t in texts]
                assert len(set(major)) == len(major), where          # "1, 0, 0, 0": values rounded alike
                boxes = [r.adjusted(0, 0.1 * r.height(), 0, -0.1 * r.height()) for r, _ in texts]  # pyqtgraph
                for i, a in enumerate(boxes):                 # spaces texts at 0.8 of their box height
                    for b in boxes[i + 1:]:
                        assert not a.intersects(b), where
                checked += 1
    finally:
        painter.end()
    assert checked >= 6


def test_layout_works_at_1366_by_768(qtbot, win, tmp_path):
    src, acc = finite_source(4.0, seed=11)
    win.start(source=src, spectra=acc)
    wait_done(qtbot, win)
    win.resize(1366, 768)
    qtbot.wait(300)
    assert win._compact                          # g2 and spectra share the right column as tabs, decays below
    d = win.docks
    assert set(win.tabifiedDockWidgets(d["g2"])) == {d["fits"], d["spectra"], d["trap"], d["blinking"]}
    assert win.dockWidgetArea(win.docks["decays"]) == QtCore.Qt.DockWidgetArea.RightDockWidgetArea
    for name, w in win.plot_widgets.items():
        if w.isVisible():
            assert w.width() >= 220 and w.height() >= 170, (name, w.size())
    tb = win.toolbar.geometry()
    assert tb.top() >= 0 and tb.right() <= 1366 and win.start_btn.isVisible()
    img = win.grab().toImage()
    assert img.width() == 1366 and img.height() == 768
    assert_tick_labels_readable(win)              # not "1, 0, 0, 0" on a squashed axis
    assert img.save(str(tmp_path / "window_1366.png"))
    d["spectra"].raise_()                         # the spectra tab: its plots share ~270 px
    qtbot.wait(100)
    win.grab()
    sv = win.views["spectra"]
    assert win.plot_widgets["spectra"].isVisible() and not sv.p_latest.isVisible() and not sv.p_water.isVisible()
    assert_tick_labels_readable(win)
    assert win.grab().toImage().save(str(tmp_path / "spectra_1366.png"))
    d["g2"].raise_()
    win.resize(1920, 1080)
    qtbot.wait(100)
    assert not win._compact and win.tabifiedDockWidgets(d["g2"]) == [d["fits"]]
    assert win.tabifiedDockWidgets(d["spectra"]) == [d["trap"], d["blinking"]]
    assert win.dockWidgetArea(win.docks["decays"]) == QtCore.Qt.DockWidgetArea.BottomDockWidgetArea
    for name, w in win.plot_widgets.items():
        if w.isVisible():
            assert w.width() >= 220 and w.height() >= 170, (name, w.size())
    win.grab()
    assert sv.p_latest.isVisible() and sv.p_water.isVisible()   # the wide layout shows all three again
    assert_tick_labels_readable(win, skip=("spectra",))   # (its latest-spectrum plot autoscales to one noisy
    # frame: a near-flat frame leaves one y tick; the compact check above covers the spectra panel)


def test_spectra_hidden_in_the_compact_layout_catch_up_when_the_window_grows(qtbot, win):
    """The compact layout hides the latest-spectrum and waterfall plots and does not update them; grown to
    the wide layout after the replay (no new snapshot comes), they show the final spectra at once."""
    win.resize(1366, 768)
    qtbot.wait(200)
    assert win._compact
    src, acc = finite_source(4.0, seed=12)
    win.start(source=src, spectra=acc)
    wait_done(qtbot, win)
    sv = win.views["spectra"]
    snap = win.controller.last_drawn.spectra
    assert snap is not None and snap.n_frames > 0 and snap.latest is not None
    assert sv.latest.yData is None or len(sv.latest.yData) == 0       # hidden: not drawn
    win.resize(1920, 1080)
    qtbot.wait(100)
    assert not win._compact and sv.p_latest.isVisible() and sv.p_water.isVisible()
    np.testing.assert_array_equal(sv.latest.yData, snap.latest)
    assert sv.image.image is not None and sv.image.image.shape == snap.density_per_ev.shape


def test_rate_meters_warn_near_saturation_and_pile_up(qtbot):
    m = RateMeters()
    qtbot.addWidget(m)
    names = {1: "spad_a", 2: "spad_b", 5: "sync"}
    m.update_rates({1: 9e6, 2: 5e5, 5: 8e3}, names, spads=(1, 2), saturation_hz=10e6, laser_hz=8e6)
    assert RED in m.labels[1].styleSheet() and "saturation" in m.warnings[0]        # 90 % of saturation
    assert ORANGE in m.labels[2].styleSheet() and "pile-up" in m.warnings[1]        # 6 % of the laser pulses
    assert "ch1 spad_a 9.00 M/s" in m.text()
    m.update_rates({1: 1e4, 2: 1e4, 5: 8e3}, names, spads=(1, 2), saturation_hz=10e6, laser_hz=8e6)
    assert not m.warnings and RED not in m.labels[1].styleSheet()


def test_time_zero_convention_control(qtbot, win):
    """Default: t0 = 0 at the laser sync (the seed's convention); switching to the decay rise recomputes
    at once (a pipeline selection), and the choice is the one the next Start uses."""
    assert win.config_from_controls().t0_ps == 0.0
    src, acc = finite_source(4.0, seed=12)
    win.start(source=src, spectra=acc)
    b = wait_done(qtbot, win)
    c = win.controller
    assert c.pipeline.config.t0_ps == 0.0 and b.results.decay.t0_ps == 0.0
    win.t0_box.setCurrentIndex(1)
    assert win.config_from_controls().t0_ps is None
    qtbot.waitUntil(lambda: c.last_drawn.results.decay.t0_ps not in (None, 0.0), timeout=WAIT_MS)
    exp = b.results.reselect(t0_ps=None)
    assert c.last_drawn.results.decay.t0_ps == exp.decay.t0_ps > 0
    np.testing.assert_array_equal(c.last_drawn.results.trace.lifetime_ns, exp.trace.lifetime_ns)


def test_level_flid_range_is_robust_to_one_bright_short_level(qtbot):
    import pyqtgraph as pg

    from tagstream.app.views import LevelFlidView

    w = pg.GraphicsLayoutWidget()
    qtbot.addWidget(w)
    v = LevelFlidView(w.addPlot(), DARK)
    # 50 levels of 1 s at ~4000 counts/s (400 per 100 ms bin) and one 20 ms level at 200 000 counts/s
    start = np.arange(51, dtype=np.int64) * 1_000_000_000_000
    end = start + 1_000_000_000_000
    end[-1] = start[-1] + 20_000_000_000
    cps = np.full(51, 4000.0)
    cps[-1] = 200_000.0
    lev = SimpleNamespace(levels=SimpleNamespace(start_ps=start, end_ps=end, intensity_cps=cps),
                          grouping=SimpleNamespace(state_intensity_cps=np.array([4000.0])))
    res = SimpleNamespace(levels=lev, trace=SimpleNamespace(bin_ms=100.0))
    top = v.y_top(res)
    assert 400 * 1.1 <= top < 1000 < 20_000       # the bright 20 ms level does not set the range


def test_decays_legend_stays_inside_its_panel_after_a_regime_drag(qtbot, win):
    src, acc = finite_source(4.0, seed=13)
    win.start(source=src, spectra=acc)
    wait_done(qtbot, win)
    win.resize(1366, 768)
    region = win.views["histogram"].regions[0]
    region.setRegion((30.3187, 44.8))
    region.sigRegionChangeFinished.emit(region)
    c = win.controller
    qtbot.waitUntil(lambda: c.last_drawn.results.selection.regimes_ns[0] == (30.5, 45.0) and c.complete,
                    timeout=WAIT_MS)
    qtbot.wait(200)
    dv = win.views["decays"]
    panel = win.plot_widgets["decays"]
    leg = dv.legend.label.sceneBoundingRect()
    assert "30.5–45 ns" in dv.legend.text()
    assert not leg.intersects(dv.plot.vb.sceneBoundingRect())
    # the plot is not pushed out of its panel by a long legend line
    assert dv.plot.sceneBoundingRect().right() <= panel.width() + 1


def _compact_arrangement_ok(win) -> None:
    d = win.docks
    assert win._compact
    assert set(win.tabifiedDockWidgets(d["g2"])) == {d[n] for n in ("fits", "spectra", "trap", "blinking")
                                                     if not d[n].isHidden()}
    assert win.dockWidgetArea(d["decays"]) == QtCore.Qt.DockWidgetArea.RightDockWidgetArea
    for name, w in win.plot_widgets.items():
        if w.isVisible():
            assert w.width() >= 220 and w.height() >= 170, (name, w.size())


def test_a_restored_layout_still_becomes_compact_at_1366_by_768(qtbot, tmp_path):
    from tagstream.app.window import MainWindow

    path = str(tmp_path / "layout.ini")
    made = []

    def window():
        w = MainWindow(settings=QtCore.QSettings(path, QtCore.QSettings.Format.IniFormat), fit_interval_s=None)
        qtbot.addWidget(w)
        made.append(w)
        return w

    try:
        a = window()
        a.resize(1920, 1080)
        a.show()
        qtbot.wait(100)
        assert a._compact is False
        a.docks["trap"].close()                          # the user's own layout: no trap spectrum
        a.close()                                        # saves geometry, dock state and its size class
        b = window()
        b.resize(1920, 1080)                             # (offscreen Qt clamps a restored geometry to its screen)
        b.show()
        qtbot.wait(100)
        assert b._restored_layout and b._compact is False and b.docks["trap"].isHidden()   # kept as saved
        b.resize(1366, 768)
        qtbot.wait(300)
        _compact_arrangement_ok(b)                       # the restored layout did not switch compact off
        assert b.docks["trap"].isHidden()                # the user's closed dock stays closed
        b.close()
        c = window()
        c.resize(1366, 768)
        c.show()
        qtbot.wait(100)
        assert c._restored_layout
        _compact_arrangement_ok(c)                       # saved compact, restored compact
        assert c.docks["trap"].isHidden()
        c.resize(1920, 1080)
        qtbot.wait(100)
        assert not c._compact and c.dockWidgetArea(c.docks["decays"]) == QtCore.Qt.DockWidgetArea.BottomDockWidgetArea
    finally:
        for w in made:
            w.controller.shutdown()


@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)])
@pytest.mark.parametrize("regimes", [[(40.0, 50.0), (50.0, 60.0), (60.0, 70.0)],
                                     [(40.0, 41.0), (41.0, 42.0), (42.0, 43.0), (43.0, 44.0)]])
def test_regime_labels_never_overlap(qtbot, win, size, regimes):
    win.resize(*size)
    hv = win.views["histogram"]
    hv.plot.setXRange(0.0, 140.0, padding=0)
    hv.set_regimes(regimes)
    qtbot.wait(200)
    hv.place_labels()
    labs = [lab for lab, reg in zip(hv._labels, hv.regions) if reg.isVisible()]
    assert [lab.textItem.toPlainText() for lab in labs] == [f"R{i + 1}" for i in range(len(regimes))]
    rects = [lab.mapRectToScene(lab.boundingRect()) for lab in labs]
    view = hv.plot.vb.mapRectToScene(hv.plot.vb.boundingRect())
    for i, a in enumerate(rects):
        assert view.contains(a.center()), (i, a, view)               # inside the plot
        for b in rects[i + 1:]:
            assert not a.intersects(b), (a, b)
