"""Intensity trace: counts per trace bin for SPAD A, SPAD B and their sum, with the ON threshold as a
draggable horizontal line (dragging calls on_threshold(value); the pipeline recomputes). The y range
follows the 99th percentile of the shown bins (theme.robust_top), so one bright short level does not
squash the trace; a zoom by hand is kept until the plot's auto-range button is pressed."""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import pyqtgraph as pg

from tagstream.app.theme import Theme, fast, robust_top, set_axis_label, style_plot


def closed_bins(trace) -> slice:
    """The trace bins to show: all but the last one, which is still filling (live) or partial (final)."""
    return slice(0, max(trace.counts.shape[0] - 1, 0))


def shown_bins(trace, window_s: float | None) -> tuple[slice, np.ndarray]:
    """The closed bins inside the scrolling window (the last window_s seconds; None = all), and their
    start times in s."""
    s = closed_bins(trace)
    t_s = trace.bin_start_ps[s] * 1e-12
    if window_s is not None and t_s.size:
        first = int(np.searchsorted(t_s, t_s[-1] - window_s))
        s, t_s = slice(first, s.stop), t_s[first:]
    return s, t_s


class IntensityTraceView:
    """window_s: show only the last window_s seconds (scrolling live display); None = everything."""

    def __init__(self, plot: pg.PlotItem, theme: Theme, *, window_s: float | None = 60.0,
                 on_threshold: Callable[[float], None] | None = None) -> None:
        self.plot, self.theme, self.window_s = plot, theme, window_s
        self.legend = style_plot(plot, theme, x="time (s)", y="counts per bin", title="Intensity", legend=True,
                                 legend_cols=4)
        self.curve_a = fast(plot.plot(name="SPAD A", pen=theme.pen(theme.spad_a)))
        self.curve_b = fast(plot.plot(name="SPAD B", pen=theme.pen(theme.spad_b)))
        self.curve_sum = fast(plot.plot(name="A + B", pen=theme.pen(theme.total, 1.5)))
        self.threshold = pg.InfiniteLine(angle=0, movable=on_threshold is not None,
                                         pen=theme.pen(theme.threshold, 2, dash=True),
                                         hoverPen=theme.pen(theme.threshold, 3),
                                         label="ON > {value:.0f}", labelOpts={"color": theme.threshold,
                                                                             "position": 0.06})
        self.threshold.setZValue(10)
        plot.addItem(self.threshold, ignoreBounds=True)
        for c in (self.curve_a, self.curve_b, self.curve_sum):
            self.legend.addItem(c, c.name())
        self.legend.addItem(pg.PlotDataItem(pen=theme.pen(theme.threshold, 2, dash=True)), "ON threshold")
        self._on_threshold = on_threshold
        self._dragging = False
        self._user_y = False        # the user zoomed y by hand: keep it
        self._x_set = None          # the x range last set by the scrolling (None: auto / the user's)
        self._pace = None           # (wall s, tag s) of the last update, for the tag-time speed
        self.speed = 0.0            # tag-time seconds per wall second (smoothed): a replay may run 100x
        plot.vb.sigRangeChangedManually.connect(self._zoomed)
        plot.enableAutoRange(y=False)
        if on_threshold is not None:
            self.threshold.sigDragged.connect(self._drag_started)
            self.threshold.sigPositionChangeFinished.connect(self._drag_finished)

    def _zoomed(self, *_):
        self._user_y = True

    MIN_SCROLL_S = 0.25       # the x range moves at most about this often (wall seconds)

    def scroll_step_s(self, bin_s: float) -> float:
        """The scrolling step: 1/30 of the window, or 2x, 5x, 10x that (at most a third of the window, so the
        newest bins stay in view) when the tag time runs so fast that the range would move more often than
        every MIN_SCROLL_S (each move re-renders both time axes: the costliest part of a fast replay's redraw)."""
        base = self.window_s / 30.0
        for m in (1, 2, 5, 10):
            if base * m >= self.speed * self.MIN_SCROLL_S:
                return max(base * m, bin_s)
        return max(base * 10, bin_s)

    def _scroll(self, t_s: np.ndarray, bin_s: float, now_s: float | None = None) -> None:
        """Live (window_s set): the x range moves in steps (scroll_step_s), not every new bin, unless the
        user zoomed or panned x."""
        if self.window_s is None or not t_s.size or not self.plot.vb.state["autoRange"][0] and self._x_set is None:
            return
        now_s = time.monotonic() if now_s is None else now_s
        if self._pace is not None and now_s > self._pace[0] and t_s[-1] > self._pace[1]:
            v = (t_s[-1] - self._pace[1]) / (now_s - self._pace[0])
            self.speed = v if self.speed == 0.0 else 0.8 * self.speed + 0.2 * v
        self._pace = (now_s, float(t_s[-1]))
        if self._x_set is not None and self.plot.vb.viewRange()[0] != list(self._x_set):
            self._x_set = None           # the user moved it: leave it
            return
        step = self.scroll_step_s(bin_s)
        hi = float(np.ceil((t_s[-1] + bin_s) / step) * step)
        lo = max(hi - self.window_s, float(np.floor(t_s[0] / step) * step))
        if self._x_set != (lo, hi):
            self.plot.setXRange(lo, hi, padding=0)
            self._x_set = tuple(self.plot.vb.viewRange()[0])

    def y_top(self, res) -> float:
        """Upper end of the y axis: robust to a few bright bins, and the threshold always in view."""
        s, _ = shown_bins(res.trace, self.window_s)
        return max(robust_top(res.trace.counts[s]), 1.25 * float(res.trace.on_threshold))

    def _drag_started(self, *_):
        self._dragging = True

    def _drag_finished(self, *_):
        self._dragging = False
        if self._on_threshold is not None:
            self._on_threshold(float(self.threshold.value()))

    def update(self, res) -> None:
        tr = res.trace
        s, t_s = shown_bins(tr, self.window_s)
        set_axis_label(self.plot, "left", f"counts per {tr.bin_ms:g} ms bin", self.theme)
        self.curve_a.setData(t_s, tr.counts_a[s])
        self.curve_b.setData(t_s, tr.counts_b[s])
        self.curve_sum.setData(t_s, tr.counts[s])
        if not self._dragging:
            self.threshold.setValue(float(tr.on_threshold))
        self._scroll(t_s, tr.bin_ms * 1e-3)
        vb = self.plot.vb
        if vb.state["autoRange"][1]:        # the auto-range button: back to the robust range
            self._user_y = False
            vb.enableAutoRange(y=False)
        if not self._user_y:
            top = self.y_top(res)
            if vb.viewRange()[1] != [0.0, top]:
                self.plot.setYRange(0.0, top, padding=0)
