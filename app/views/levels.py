"""Change-point levels: a step curve of each level's intensity in counts per trace bin (intensity_cps x bin)
over the intensity trace (LevelsOverlay) and the level FLID (LevelFlidView), drawn from Results.levels
(computed by the pipeline's levels stage when AnalysisConfig.levels_confidence is set). The views only draw;
the overlay's checkbox shows or hides the curve."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtWidgets

from tagstream.app.theme import Theme

LEVELS_COLOR = "#c77dff"        # distinct from the SPAD, sum, threshold and regime colours


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
        self.curve = plot.plot(name="levels", stepMode="center", pen=theme.pen(LEVELS_COLOR, 2))
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


def level_flid_image(res, log_colors: bool = False) -> tuple[np.ndarray, tuple[float, float, float, float]] | None:
    """(image time / trace bin (or log10(1 + that)), x = lifetime, y = counts per trace bin; rect x, y, w, h) of
    the level FLID, or None without levels. Time in units of the trace bin makes its colours comparable to the
    binned FLID's trace bins per cell."""
    lev = getattr(res, "levels", None)
    if lev is None or lev.n_levels == 0:
        return None
    bin_s = res.trace.bin_ms * 1e-3
    img = lev.flid_hist_s.T / bin_s
    if log_colors:
        img = np.log10(1.0 + img)
    le, ie = lev.flid_lifetime_edges_ns, lev.flid_intensity_edges_cps * bin_s
    return img, (float(le[0]), float(ie[0]), float(le[-1] - le[0]), float(ie[-1] - ie[0]))


class LevelFlidView:
    """Level FLID beside the binned one: time spent per (level average lifetime, level intensity) cell, one
    entry per change-point level weighted by its duration; dashed lines at the grouped states' intensities."""

    def __init__(self, plot: pg.PlotItem, theme: Theme, *, log_colors: bool = False) -> None:
        from tagstream.app.theme import style_colorbar, style_plot

        self.plot, self.theme, self.log_colors = plot, theme, log_colors
        style_plot(plot, theme, x="level average lifetime (ns)", y="counts per bin", title="level FLID")
        self.image = pg.ImageItem(axisOrder="col-major")
        plot.addItem(self.image)
        cmap = pg.colormap.get(theme.colormap)
        self.image.setLookupTable(cmap.getLookupTable(nPts=256))
        self.colorbar = pg.ColorBarItem(colorMap=cmap, interactive=False, width=12)
        self.colorbar.setImageItem(self.image, insert_in=plot)
        style_colorbar(self.colorbar, theme, self.colorbar_label())
        self.state_lines: list[pg.InfiniteLine] = []
        self.text = pg.TextItem(color=theme.foreground, anchor=(0, 0))
        plot.addItem(self.text, ignoreBounds=True)
        plot.setMenuEnabled(False)

    def colorbar_label(self) -> str:
        return "log₁₀(1 + time / bin)" if self.log_colors else "time / trace bin"

    def set_log_colors(self, on: bool) -> None:
        self.log_colors = bool(on)
        self.colorbar.getAxis("right").setLabel(self.colorbar_label(), color=self.theme.foreground)

    def y_top(self, res) -> float:
        """Upper end of the intensity axis: the 99th percentile of the time spent (duration-weighted level
        intensity), so one bright short level does not squash the plot; the grouped states stay in view."""
        from tagstream.app.theme import robust_top

        lev = res.levels
        lv = lev.levels
        bin_s = res.trace.bin_ms * 1e-3
        dur = (lv.end_ps - lv.start_ps).astype(np.float64)
        y = lv.intensity_cps * bin_s
        order = np.argsort(y)
        cum = np.cumsum(dur[order])
        p99 = float(y[order][min(int(np.searchsorted(cum, 0.99 * cum[-1])), y.size - 1)]) if y.size else 1.0
        states = lev.grouping.state_intensity_cps * bin_s
        return max(robust_top([p99]), 1.1 * float(states.max()) if states.size else 0.0)

    def update(self, res) -> None:
        from tagstream.app.theme import lifetime_axis_max_ns

        got = level_flid_image(res, self.log_colors)
        if got is None:
            self.image.clear()
            for ln in self.state_lines:
                ln.setVisible(False)
            self.text.setText("no levels")
            return
        img, rect = got
        top = max(float(img.max()) if img.size else 1.0, 1e-3)
        self.image.setImage(img, autoLevels=False, levels=(0.0, top))
        self.colorbar.setLevels((0.0, top))
        self.image.setRect(pg.QtCore.QRectF(*rect))
        lev = res.levels
        states = lev.grouping.state_intensity_cps * res.trace.bin_ms * 1e-3
        while len(self.state_lines) < states.size:
            ln = pg.InfiniteLine(angle=0, movable=False, pen=self.theme.pen(LEVELS_COLOR, 1, dash=True))
            self.plot.addItem(ln, ignoreBounds=True)
            self.state_lines.append(ln)
        for i, ln in enumerate(self.state_lines):
            ln.setVisible(i < states.size)
            if i < states.size:
                ln.setValue(float(states[i]))
        self.text.setText(f"{lev.n_levels} levels · {lev.grouping.n_states} states")
        from tagstream.app.theme import set_axis_label

        set_axis_label(self.plot, "left", f"counts per {res.trace.bin_ms:g} ms bin", self.theme)
        self.plot.setXRange(rect[0], lifetime_axis_max_ns(res), padding=0)
        top = min(rect[1] + rect[3], self.y_top(res))
        self.plot.setYRange(rect[1], top, padding=0)
        self.text.setPos(rect[0], top)
