"""The levels overlay draws exactly the pipeline's levels (step curve over the intensity trace)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")
import pyqtgraph as pg  # noqa: E402

from tagstream.app.theme import DARK  # noqa: E402
from tagstream.app.views import IntensityTraceView, LevelsOverlay  # noqa: E402
from tagstream.pipeline import AnalysisConfig, analyze_file  # noqa: E402
from tagstream.setup import setup_for_recording  # noqa: E402

FIX = Path(__file__).resolve().parents[1] / "fixtures"


def test_overlay_steps_equal_levels(qtbot):
    path = FIX / "qd_demo.qutag"
    setup, _ = setup_for_recording(path)
    res = analyze_file(path, setup, AnalysisConfig(trace_bin_ms=100, levels_confidence=0.99, g2=False))
    w = pg.GraphicsLayoutWidget()
    qtbot.addWidget(w)
    theme = DARK
    plot = w.addPlot()
    IntensityTraceView(plot, theme, window_s=None).update(res)
    ov = LevelsOverlay(plot, theme)
    ov.update(res)
    x, y = ov.curve.xData, ov.curve.yData
    lv = res.levels.levels
    np.testing.assert_array_equal(x[:-1], lv.start_ps * 1e-12)
    np.testing.assert_array_equal(x[1:], lv.end_ps * 1e-12)
    np.testing.assert_allclose(y, lv.intensity_cps * 0.1)          # counts per 100 ms bin
    assert ov.curve.isVisible()
    ov.checkbox.setChecked(False)
    assert not ov.curve.isVisible()
    # results without levels: nothing drawn
    ov.update(analyze_file(path, setup, AnalysisConfig(trace_bin_ms=100, g2=False)))
    assert ov.curve.yData is None or len(ov.curve.yData) == 0


def test_window_levels_checkbox_overlay_and_level_flid(qtbot, tmp_path):
    """Levels ticked: the live pipeline has levels at 99 %, the trace overlay's steps and the level FLID are the
    drawn snapshot's levels; unticked: no levels in the config, overlay and level FLID hidden."""
    import os
    import shutil

    from PyQt6 import QtCore

    from tagstream.app.views.levels import level_flid_image
    from tagstream.app.window import MainWindow
    from test_app import finite_source, wait_done

    settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    win = MainWindow(settings=settings, fit_interval_s=None)
    qtbot.addWidget(win)
    win.show()
    try:
        assert win.config_from_controls().levels_confidence is None
        assert not win.views["levels"].curve.isVisible() and not win.plot_widgets["level_flid"].isVisible()
        win.levels_box.setChecked(True)
        assert win.config_from_controls().levels_confidence == 0.99
        assert win.views["levels"].curve.isVisible() and win.plot_widgets["level_flid"].isVisible()
        src, acc = finite_source(20.0, seed=3)
        win.start(source=src, spectra=acc)
        assert win.controller.pipeline.config.levels_confidence == 0.99
        b = wait_done(qtbot, win)
        lev = b.results.levels
        assert lev is not None and lev.n_levels > 5 and lev.grouping.n_states >= 2
        ov = win.views["levels"].curve
        lv = lev.levels
        np.testing.assert_array_equal(ov.xData[:-1], lv.start_ps * 1e-12)
        np.testing.assert_array_equal(ov.xData[1:], lv.end_ps * 1e-12)
        np.testing.assert_allclose(ov.yData, lv.intensity_cps * b.results.trace.bin_ms * 1e-3)
        img, rect = level_flid_image(b.results)
        np.testing.assert_array_equal(win.views["level_flid"].image.image, img)
        np.testing.assert_allclose(img, lev.flid_hist_s.T / (b.results.trace.bin_ms * 1e-3))
        lines = [ln.value() for ln in win.views["level_flid"].state_lines if ln.isVisible()]
        np.testing.assert_allclose(lines, lev.grouping.state_intensity_cps * b.results.trace.bin_ms * 1e-3)
        win.resize(1920, 1080)
        qtbot.wait(300)
        out = tmp_path / "window_levels.png"
        assert win.grab().toImage().save(str(out))
        d = os.environ.get("TAGSTREAM_SCREENSHOT_DIR")
        if d:
            Path(d).mkdir(parents=True, exist_ok=True)
            shutil.copy(out, Path(d) / "tagstream_live_levels.png")
        win.levels_box.setChecked(False)
        assert not ov.isVisible() and not win.plot_widgets["level_flid"].isVisible()
        assert win.config_from_controls().levels_confidence is None
    finally:
        win.controller.shutdown()
