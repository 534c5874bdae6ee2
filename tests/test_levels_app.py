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
