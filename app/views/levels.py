"""Change-point levels over the intensity trace: a step curve of each level's intensity in counts per trace
bin (intensity_cps x bin), drawn from Results.levels (computed by the pipeline's levels stage when
AnalysisConfig.levels_confidence is set). The view only draws; its checkbox shows or hides the curve."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtWidgets

from tagstream.app.theme import Theme


def level_steps(res) -> tuple[np.ndarray, np.ndarray]:
    """(x edges in s, n + 1; y counts per trace bin, n) of the levels; empty without levels."""
    lev = getattr(res, "levels", None)
    if lev is None or lev.n_levels == 0:
        return np.zeros(0), np.zeros(0)
    lv = lev.levels
    x = np.concatenate([lv.start_ps, lv.end_ps[-1:]]).astype(np.float64) * 1e-12
    return x, lv.intensity_cps * res.trace.bin_ms * 1e-3


class LevelsOverlay:
    def __init__(self, plot: pg.PlotItem, theme: Theme, *, checkbox: QtWidgets.QCheckBox | None = None,
                 enabled: bool = True) -> None:
        self.plot = plot
        self.curve = plot.plot(name="levels", stepMode="center", pen=theme.pen(theme.threshold, 2))
        self.curve.setZValue(5)
        self.checkbox = checkbox if checkbox is not None else QtWidgets.QCheckBox("levels")
        self.checkbox.setToolTip("change-point intensity levels (analysis with levels enabled)")
        self.checkbox.setChecked(enabled)
        self.checkbox.toggled.connect(self.curve.setVisible)
        self.curve.setVisible(enabled)

    @property
    def enabled(self) -> bool:
        return self.checkbox.isChecked()

    def update(self, res) -> None:
        x, y = level_steps(res)
        if y.size == 0:
            self.curve.setData([], [])
        else:
            self.curve.setData(x, y, stepMode="center")
