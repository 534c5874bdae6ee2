"""Average-lifetime trace (per trace bin, coloured where the bin is ON and in a regime) and the
histogram of ON-bin lifetimes with the regimes as draggable ranges (pg.LinearRegionItem)."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pyqtgraph as pg

from tagstream.app.theme import Theme, fast, legend_show, lifetime_axis_max_ns, style_plot
from tagstream.app.views.trace import shown_bins
from tagstream.regime import Regime

SNAP_NS = 0.5    # dragged regime bounds are rounded to this (labels, report and file names stay short)


def snap_regime(lo: float, hi: float) -> tuple[float, float]:
    """(lo, hi) sorted and rounded to SNAP_NS, at least SNAP_NS wide."""
    lo, hi = sorted((float(lo), float(hi)))
    lo, hi = round(lo / SNAP_NS) * SNAP_NS, round(hi / SNAP_NS) * SNAP_NS
    return (lo, hi if hi > lo else lo + SNAP_NS)


class LifetimeTraceView:
    def __init__(self, plot: pg.PlotItem, theme: Theme, *, window_s: float | None = 60.0) -> None:
        self.plot, self.theme, self.window_s = plot, theme, window_s
        self.legend = style_plot(plot, theme, x="time (s)", y="average lifetime (ns)", title="Average lifetime",
                                 legend=True, legend_cols=4)
        self.curve_all = fast(plot.plot(name="all bins", pen=theme.pen(theme.muted), connect="finite"))
        self.legend.addItem(self.curve_all, "all bins")
        self.curves: list[pg.PlotDataItem] = []
        self.bands: list[pg.LinearRegionItem] = []
        self._ranged = False  # the y range is set once (noisy OFF bins would blow it up); zoom kept

    def _ensure(self, regimes) -> None:
        while len(self.curves) < len(regimes):
            i = len(self.curves)
            c = fast(self.plot.plot(pen=self.theme.pen(self.theme.regime_color(i), 2), connect="finite",
                                    name=f"regime {i + 1}"))
            band = pg.LinearRegionItem(orientation="horizontal", movable=False,
                                       brush=self.theme.brush(self.theme.regime_color(i), 28),
                                       pen=self.theme.pen(self.theme.regime_color(i), 0.5))
            band.setZValue(-10)
            self.plot.addItem(band, ignoreBounds=True)
            self.curves.append(c)
            self.bands.append(band)
        for i, (c, b) in enumerate(zip(self.curves, self.bands)):
            vis = i < len(regimes)
            c.setVisible(vis)
            b.setVisible(vis)
            if not vis:
                legend_show(self.legend, c, "", False)

    def update(self, res) -> None:
        tr = res.trace
        s, t_s = shown_bins(tr, self.window_s)
        lt = tr.lifetime_ns[s]
        reg = tr.regime[s]
        self.curve_all.setData(t_s, lt)
        self._ensure(res.regimes)
        for i, r in enumerate(res.regimes):
            self.curves[i].setData(t_s, np.where(reg == i, lt, np.nan))
            legend_show(self.legend, self.curves[i], f"ON, {Regime(*r.range_ns).display}", True)
            self.bands[i].setRegion(r.range_ns)
        if not self._ranged and t_s.size:
            self.plot.setYRange(0.0, lifetime_axis_max_ns(res), padding=0)
            self._ranged = True


class LifetimeHistogramView:
    """Histogram of the average lifetimes of ON bins (FLID marginal) and of all bins; the regime ranges
    are LinearRegionItems. Dragging one ends in on_regimes(list of (lo_ns, hi_ns)) (None: fixed)."""

    def __init__(self, plot: pg.PlotItem, theme: Theme, *,
                 on_regimes: Callable[[list[tuple[float, float]]], None] | None = None) -> None:
        self.plot, self.theme = plot, theme
        self.legend = style_plot(plot, theme, x="average lifetime (ns)", y="trace bins",
                                 title="Lifetime histogram · regimes", legend=True)
        self.curve_all = plot.plot(name="all bins", pen=theme.pen(theme.muted), stepMode="center")
        self.curve_on = plot.plot(name="ON bins", pen=theme.pen(theme.total, 1.5), stepMode="center",
                                  fillLevel=0, brush=theme.brush(theme.total, 40))
        self.legend.addItem(self.curve_all, "all bins")
        self.legend.addItem(self.curve_on, "ON bins")
        self.regions: list[pg.LinearRegionItem] = []
        self._labels: list[pg.InfLineLabel] = []
        self._on_regimes = on_regimes
        self._dragging = False
        self._ranged = False
        plot.vb.sigResized.connect(self.place_labels)
        plot.vb.sigXRangeChanged.connect(self.place_labels)

    LABEL_TOP, LABEL_STEP = 0.92, 0.11   # label heights (fraction of the view) of rows 0, 1, 2, ...

    def place_labels(self, *_) -> None:
        """Regime labels R1, R2, ... each to the right of its region's left edge; a label that would
        overlap one to its left goes one row lower (narrow or adjacent regimes at small plot sizes)."""
        labs = [(lab, reg) for lab, reg in zip(self._labels, self.regions) if reg.isVisible()]
        for lab, _ in labs:
            lab.setPosition(self.LABEL_TOP)
            lab.updatePosition()
        placed = sorted(((lab.mapRectToScene(lab.boundingRect()), lab) for lab, _ in labs), key=lambda t: t[0].left())
        row_right: list[float] = []      # right end (scene px) of the last label in each row
        for rect, lab in placed:
            row = next((k for k, right in enumerate(row_right) if rect.left() >= right + 2), len(row_right))
            if row == len(row_right):
                row_right.append(rect.right())
            row_right[row] = rect.right()
            lab.setPosition(max(self.LABEL_TOP - row * self.LABEL_STEP, 0.05))
            lab.updatePosition()

    def _ensure(self, n: int) -> None:
        while len(self.regions) < n:
            i = len(self.regions)
            col = self.theme.regime_color(i)
            reg = pg.LinearRegionItem(movable=self._on_regimes is not None, brush=self.theme.brush(col, 45),
                                      hoverBrush=self.theme.brush(col, 80), pen=self.theme.pen(col, 1.5))
            reg.setZValue(-10)
            self.plot.addItem(reg, ignoreBounds=True)
            lab = pg.InfLineLabel(reg.lines[0], text=f"R{i + 1}", position=0.92,
                                  color=col)
            self._labels.append(lab)
            if self._on_regimes is not None:
                reg.sigRegionChanged.connect(self._drag_started)
                reg.sigRegionChangeFinished.connect(self._drag_finished)
            self.regions.append(reg)
        for i, r in enumerate(self.regions):
            r.setVisible(i < n)

    def _drag_started(self, *_):
        self._dragging = True

    def _drag_finished(self, *_):
        self._dragging = False
        regimes = self.current_regimes()
        self.set_regimes(regimes)          # the dragged edges jump to the 0.5 ns grid
        if self._on_regimes is not None:
            self._on_regimes(regimes)

    def current_regimes(self) -> list[tuple[float, float]]:
        """The shown ranges, bounds snapped to SNAP_NS."""
        return [snap_regime(*r.getRegion()) for r in self.regions if r.isVisible()]

    def set_regimes(self, regimes_ns: Sequence[tuple[float, float]]) -> None:
        self._ensure(len(regimes_ns))
        for reg, rng in zip(self.regions, regimes_ns):
            reg.blockSignals(True)
            reg.setRegion(rng)
            reg.blockSignals(False)
        self.place_labels()

    def update(self, res) -> None:
        f = res.flid
        self.curve_all.setData(f.lifetime_edges_ns, f.hist.sum(axis=0))
        self.curve_on.setData(f.lifetime_edges_ns, f.on_lifetime_hist)
        if not self._dragging:
            self.set_regimes([r.range_ns for r in res.regimes])
        if not self._ranged and f.hist.sum():
            self.plot.setXRange(float(f.lifetime_edges_ns[0]), lifetime_axis_max_ns(res), padding=0)
            self._ranged = True
