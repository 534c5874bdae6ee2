"""Colours and plot styling shared by the app (dark) and the PNG report (light).

One Theme object carries every colour a view needs, so a view draws the same way in the live
window and in the report; only the background/foreground differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyqtgraph as pg


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
               legend: bool = False, legend_cols: int = 1) -> pg.LegendItem | None:
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
        leg = plot.addLegend(offset=(-8, 8), labelTextColor=theme.foreground, labelTextSize="9pt",
                             colCount=legend_cols)
        leg.setBrush(theme.brush(theme.background, 200))
        cached(leg)
        leg.setPen(theme.pen(theme.muted))
        return leg
    return None


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
    ax = bar.getAxis("right")
    cached(ax)
    ax.setPen(theme.foreground)
    ax.setTextPen(theme.foreground)
    ax.setLabel(label, color=theme.foreground)
    ax.enableAutoSIPrefix(False)


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
