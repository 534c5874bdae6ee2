"""Colours and plot styling shared by the app (dark) and the PNG report (light).

One Theme object carries every colour a view needs, so a view draws the same way in the live
window and in the report; only the background/foreground differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyqtgraph as pg
from PyQt6 import QtCore


@dataclass(frozen=True)
class Theme:
    name: str
    background: str
    foreground: str
    muted: str            # secondary curves (all photons, total decay)
    spad_a: str
    spad_b: str
    total: str
    threshold: str
    regimes: tuple[str, ...]
    colormap: str = "viridis"
    grid_alpha: float = 0.25

    def regime_color(self, i: int) -> str:
        return self.regimes[i % len(self.regimes)]

    def pen(self, color: str, width: float = 1.0, dash: bool = False):
        p = pg.mkPen(color, width=width)
        if dash:
            p.setStyle(pg.QtCore.Qt.PenStyle.DashLine)
        return p

    def brush(self, color: str, alpha: int = 50):
        c = pg.mkColor(color)
        c.setAlpha(alpha)
        return pg.mkBrush(c)


# Okabe-Ito-like palette (colour-blind safe), tuned for each background
DARK = Theme("dark", background="#15181d", foreground="#d8dde6", muted="#7d8590", spad_a="#56b4e9",
             spad_b="#e69f00", total="#f0f0f0", threshold="#ff5c5c",
             regimes=("#009e73", "#cc79a7", "#f0e442", "#0072b2", "#d55e00"))
LIGHT = Theme("light", background="#ffffff", foreground="#1b1f24", muted="#8a929b", spad_a="#0072b2",
              spad_b="#e69f00", total="#1b1f24", threshold="#d62728",
              regimes=("#009e73", "#cc79a7", "#b8860b", "#0072b2", "#d55e00"))


def style_plot(plot: pg.PlotItem, theme: Theme, *, x: str, y: str, title: str | None = None,
               legend: bool = False, legend_cols: int = 2) -> "TextLegend | None":
    """Axis labels (with units), colours, grid and an optional legend for one PlotItem. Axes and title
    are cached as pixmaps (redrawn only when they change: replaying their text costs ~2 ms per axis
    and frame otherwise)."""
    for name in ("left", "bottom", "right", "top"):
        ax = plot.getAxis(name)
        ax.setPen(theme.foreground)
        ax.setTextPen(theme.foreground)
        cached(opaque_grid(ax, theme.background))
    cached(plot.titleLabel)
    plot.setLabel("bottom", x, color=theme.foreground)
    plot.setLabel("left", y, color=theme.foreground)
    if title:
        plot.setTitle(title, color=theme.foreground, size="11pt")
    plot.showGrid(x=True, y=True, alpha=theme.grid_alpha)
    if legend:
        return TextLegend(plot, theme, cols=legend_cols)
    return None


class TextLegend:
    """A legend under the plot (its own layout row below the x axis label), so it never covers data:
    one coloured line sample and label per visible curve, `cols` entries per line. Same calls as
    pyqtgraph's LegendItem where the views use them (addItem, removeItem, getLabel)."""

    def __init__(self, plot: pg.PlotItem, theme: Theme, cols: int = 2) -> None:
        self.theme, self.cols = theme, max(1, cols)
        self.label = cached(_LegendLabel("", color=theme.foreground, size="8pt", justify="left"))
        plot.layout.addItem(self.label, 4, 1)
        self.entries: dict[int, list] = {}       # id(item) -> [item, text]
        self._html = None

    def addItem(self, item, name: str) -> None:  # noqa: N802 (pyqtgraph's name)
        self.entries[id(item)] = [item, name]
        self._render()

    def removeItem(self, item) -> None:  # noqa: N802
        if self.entries.pop(id(item), None) is not None:
            self._render()

    def getLabel(self, item):  # noqa: N802
        e = self.entries.get(id(item))
        return None if e is None else _EntryLabel(self, e)

    def text(self) -> str:
        """The legend as plain text (entries separated by ' | ')."""
        return " | ".join(t for _, t in self.entries.values())

    def _render(self) -> None:
        parts = []
        for item, text in self.entries.values():
            pen = item.opts.get("pen") if hasattr(item, "opts") else None
            pen = pg.mkPen(pen) if pen is not None else pg.mkPen(self.theme.foreground)
            dash = pen.style() != pg.QtCore.Qt.PenStyle.SolidLine
            sample = "╍╍" if dash else "━━"
            parts.append(f'<span style="color:{pen.color().name()}">{sample}</span>&nbsp;{text}')
        rows = ["&nbsp;&nbsp;&nbsp;".join(parts[i:i + self.cols]) for i in range(0, len(parts), self.cols)]
        html = "<br>".join(rows)
        if html != self._html:
            self._html = html
            self.label.setText(html)


class _LegendLabel(pg.LabelItem):
    """A LabelItem that asks its layout for room only when its number of lines changes (a new text
    otherwise re-lays out the whole plot, axes included, on every frame), and never for width (a
    long line is cut; the plot is never pushed out of its panel)."""

    def updateMin(self) -> None:  # noqa: N802 (pyqtgraph's name)
        h = self.itemRect().height()
        if self.minimumHeight() == h and self.minimumWidth() == 0:
            return
        self.setMinimumWidth(0)
        self.setMinimumHeight(h)
        self._sizeHint = {QtCore.Qt.SizeHint.MinimumSize: (0, h), QtCore.Qt.SizeHint.PreferredSize: (0, h),
                          QtCore.Qt.SizeHint.MaximumSize: (-1, -1), QtCore.Qt.SizeHint.MinimumDescent: (0, 0)}
        self.updateGeometry()


def set_axis_label(plot: pg.PlotItem, side: str, text: str, theme: Theme) -> None:
    """setLabel only when the text changes (it re-lays out and re-renders the axis)."""
    shown = plot.__dict__.setdefault("_tagstream_labels", {})
    if shown.get(side) != text:
        plot.setLabel(side, text, color=theme.foreground)
        shown[side] = text


class _EntryLabel:
    def __init__(self, legend: TextLegend, entry: list) -> None:
        self.legend, self.entry = legend, entry

    def setText(self, text: str) -> None:  # noqa: N802
        if self.entry[1] != text:
            self.entry[1] = text
            self.legend._render()


def lifetime_axis_max_ns(res) -> float:
    """A sensible upper end for lifetime axes: twice the highest regime bound, within the FLID range."""
    top = max((hi for _, hi in (r.range_ns for r in res.regimes)), default=100.0)
    return float(min(res.flid.lifetime_edges_ns[-1], 2.0 * top))


def opaque_grid(ax: pg.AxisItem, background: str) -> pg.AxisItem:
    """Draw the axis' ticks and grid lines with opaque colours (pre-blended onto the background): Qt's
    raster engine draws translucent lines ~20x slower, and a grid is redrawn on every scroll."""
    gen = ax.generateDrawSpecs
    bg = pg.mkColor(background)
    pens: dict = {}

    def opaque(pen):
        c = pen.color()
        key = (c.rgba(), pen.widthF())
        if c.alpha() == 255:
            return pen
        if key not in pens:
            a = c.alphaF()
            q = pg.QtGui.QPen(pen)
            q.setColor(pg.QtGui.QColor(round(c.red() * a + bg.red() * (1 - a)), round(c.green() * a + bg.green() * (1 - a)),
                                       round(c.blue() * a + bg.blue() * (1 - a))))
            pens[key] = q
        return pens[key]

    def specs(p):
        got = gen(p)
        if got is None:
            return None
        axis, ticks, texts = got
        return axis, [(opaque(pen), p1, p2) for pen, p1, p2 in ticks], texts

    ax.generateDrawSpecs = specs
    return ax


def cached(item):
    """Paint a rarely changing item (axis, label, legend) from a pixmap cache."""
    item.setCacheMode(pg.QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
    return item


def style_colorbar(bar, theme: Theme, label: str) -> None:
    """Colour-bar axis: its label clear of the tick numbers (room for 6-digit ticks)."""
    ax = bar.getAxis("right")
    cached(ax)
    ax.setPen(theme.foreground)
    ax.setTextPen(theme.foreground)
    ax.setLabel(label, color=theme.foreground)
    ax.enableAutoSIPrefix(False)
    ax.setStyle(autoExpandTextSpace=True, autoReduceTextSpace=False, tickTextOffset=3)
    ax.setWidth(None)


def robust_top(values, *, pct: float = 99.0, floor: float = 1.0, headroom: float = 1.15) -> float:
    """Upper axis limit that a few outliers (one bright short level) do not blow up: the pct-th
    percentile with headroom, rounded up to a 1-2-5 value (so the axis does not change every frame)."""
    import numpy as np

    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    top = max(float(np.percentile(v, pct)) * headroom if v.size else floor, floor)
    e = 10 ** np.floor(np.log10(top))
    for m in (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0):
        if m * e >= top:
            return float(m * e)
    return float(10 * e)


def legend_show(legend: pg.LegendItem, item, label: str, visible: bool) -> None:
    """Keep a legend entry only for a visible curve, with an up-to-date label."""
    lab = legend.getLabel(item)
    if visible and lab is None:
        legend.addItem(item, label)
    elif visible:
        lab.setText(label)
    elif lab is not None:
        legend.removeItem(item)


def fast(curve: pg.PlotDataItem) -> pg.PlotDataItem:
    """Long line curves: draw only the visible part, peak-downsampled to ~2 points per pixel column
    (the envelope is kept). Not for stepMode curves."""
    curve.setDownsampling(auto=True, method="peak")
    curve.setClipToView(True)
    return curve
