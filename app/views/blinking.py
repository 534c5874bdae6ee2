"""Blinking views: the dwell-time histograms per state with their fitted power laws (DwellHistogramView, log-log),
and the A-B intensity correlation from 1 us to 10 s on a log lag axis with Poisson error bars (CorrelationView).
Drawn from Results.blinking (levels) and Results.intensity_correlation; the views only draw."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from tagstream.app.theme import Theme, style_plot
from tagstream.blinking.analysis import dwell_curves


def state_colors(theme: Theme) -> dict:
    return {"on": theme.spad_a, "grey": theme.muted, "off": theme.spad_b}


class DwellHistogramView:
    def __init__(self, plot: pg.PlotItem, theme: Theme) -> None:
        self.plot, self.theme = plot, theme
        style_plot(plot, theme, x="dwell time (s)", y="probability density (1/s)", title="dwell times · power laws",
                   legend=True)
        plot.setLogMode(x=True, y=True)
        colors = state_colors(theme)
        self.points = {n: plot.plot(pen=None, symbol="o", symbolSize=6, symbolBrush=colors[n], symbolPen=None,
                                    name=n.upper()) for n in colors}
        self.lines = {n: plot.plot(pen=theme.pen(colors[n], 2)) for n in colors}
        self.text = ""

    def update(self, res) -> None:
        curves = dwell_curves(res)
        for n in self.points:
            mid, dens, ft, fd, _ = curves.get(n, (np.zeros(0),) * 4 + ("",))
            self.points[n].setData(mid, dens)
            self.lines[n].setData(ft, fd)
        b = getattr(res, "blinking", None)
        if b is None:
            self.text = "dwell times: needs levels"
        else:
            self.text = "dwell times · " + (" · ".join(c[4] for c in curves.values()) or "no dwells yet")
        self.plot.setTitle(self.text, color=self.theme.foreground, size="10pt")


class CorrelationView:
    def __init__(self, plot: pg.PlotItem, theme: Theme) -> None:
        self.plot, self.theme = plot, theme
        style_plot(plot, theme, x="lag τ (s)", y="g²(τ) (A × B, normalised)", title="intensity correlation 1 µs – 10 s")
        plot.setLogMode(x=True, y=False)
        self.curve = plot.plot(pen=theme.pen(theme.total, 1.5), symbol="o", symbolSize=4, symbolBrush=theme.total,
                               symbolPen=None)
        self.errors = pg.ErrorBarItem(x=np.zeros(0), y=np.zeros(0), height=np.zeros(0), pen=theme.pen(theme.muted, 1))
        plot.addItem(self.errors)
        self.one = pg.InfiniteLine(pos=1.0, angle=0, movable=False, pen=theme.pen(theme.muted, 1, dash=True))
        plot.addItem(self.one, ignoreBounds=True)

    def update(self, res) -> None:
        c = getattr(res, "intensity_correlation", None)
        if c is None:
            self.curve.setData([], [])
            self.errors.setData(x=np.zeros(0), y=np.zeros(0), height=np.zeros(0))
            return
        ok = np.isfinite(c.g2)
        self.curve.setData(c.lag_s[ok], c.g2[ok])
        self.errors.setData(x=np.log10(c.lag_s[ok]), y=c.g2[ok], height=2 * c.g2_err[ok])  # view coords: log10 x
