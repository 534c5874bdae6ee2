"""Blinking views: the dwell-time histograms per state with their fitted power laws (DwellHistogramView, log-log),
and the A-B intensity correlation from 1 us to 10 s on a log lag axis with Poisson error bars (CorrelationView).
Drawn from Results.blinking (levels) and Results.intensity_correlation; the views only draw."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from tagstream.app.theme import Theme, style_plot


def state_colors(theme: Theme) -> dict:
    return {"on": theme.spad_a, "grey": theme.muted, "off": theme.spad_b}


def dwell_curves(res) -> dict:
    """name -> (mid_s, density, fit_t_s, fit_density, label) of the log-binned dwell histograms (empty bins
    dropped: log axes) and the fitted pdf above t_min; {} without blinking."""
    b = getattr(res, "blinking", None)
    if b is None:
        return {}
    out = {}
    for name, st in b.states.items():
        e = st.edges_s
        if e.size < 2:
            continue
        mid = np.sqrt(e[:-1] * e[1:])
        ok = st.counts > 0
        ft, fd, label = np.zeros(0), np.zeros(0), f"{name.upper()} {st.n_dwells} dwells"
        if st.fit is not None and st.n_dwells:
            ft = np.geomspace(st.fit.t_min_s, max(float(st.dwells_s.max()), st.fit.t_min_s * 1.01), 60)
            fd = st.fit.pdf(ft)
            label += f", α = {st.fit.alpha:.2f} ± {st.fit.alpha_err:.2f}"
            if st.fit.cutoff is not None and st.fit.cutoff.preferred:
                label += f" (cut-off {st.fit.cutoff.cutoff_s:.2g} s)"
        out[name] = (mid[ok], st.density_per_s[ok], ft, fd, label)
    return out


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
