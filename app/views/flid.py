"""FLID image: trace bins per (average lifetime, counts per bin) cell, colour = number of trace bins
(linear, or log10(1 + bins) with log_colors), with the ON threshold (horizontal) and the lifetime
regimes (vertical bands) overlaid."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from tagstream.app.theme import Theme, lifetime_axis_max_ns, robust_top, set_axis_label, style_colorbar, style_plot


class FlidView:
    def __init__(self, plot: pg.PlotItem, theme: Theme, *, log_colors: bool = False) -> None:
        self.plot, self.theme, self.log_colors = plot, theme, log_colors
        style_plot(plot, theme, x="average lifetime (ns)", y="counts per bin", title="FLID")
        self.image = pg.ImageItem(axisOrder="col-major")
        plot.addItem(self.image)
        self.cmap = pg.colormap.get(theme.colormap)
        self.image.setLookupTable(self.cmap.getLookupTable(nPts=256))
        self.colorbar = pg.ColorBarItem(colorMap=self.cmap, interactive=False,
                                        width=12)
        self.colorbar.setImageItem(self.image, insert_in=plot)
        style_colorbar(self.colorbar, theme, self.colorbar_label())
        self.threshold = pg.InfiniteLine(angle=0, movable=False, pen=theme.pen(theme.threshold, 1.5, dash=True))
        plot.addItem(self.threshold, ignoreBounds=True)
        self.bands: list[pg.LinearRegionItem] = []
        plot.setMenuEnabled(False)

    def colorbar_label(self) -> str:
        return "log₁₀(1 + trace bins)" if self.log_colors else "trace bins per cell"

    def set_log_colors(self, on: bool) -> None:
        """Colour scale: log10(1 + bins) (faint cells visible) or bins (the default)."""
        self.log_colors = bool(on)
        self.colorbar.getAxis("right").setLabel(self.colorbar_label(), color=self.theme.foreground)

    def image_of(self, res) -> np.ndarray:
        """The drawn image: x = lifetime, y = counts per bin; values = bins (or log10(1 + bins))."""
        img = res.flid.hist.T.astype(np.float64)
        return np.log10(1.0 + img) if self.log_colors else img

    def update(self, res) -> None:
        f = res.flid
        ce, le = f.count_edges, f.lifetime_edges_ns
        img = self.image_of(res)
        top = float(img.max()) if img.size else 1.0
        top = robust_top([top], pct=100, floor=1e-3, headroom=1.0)   # a 1-2-5 step: the bar is not redrawn every frame
        self.image.setImage(img, autoLevels=False, levels=(0.0, top))
        self.colorbar.setLevels((0.0, top))
        self.image.setRect(pg.QtCore.QRectF(float(le[0]), float(ce[0]), float(le[-1] - le[0]),
                                            float(ce[-1] - ce[0])))
        set_axis_label(self.plot, "left", f"counts per {res.trace.bin_ms:g} ms bin", self.theme)
        self.threshold.setValue(float(res.trace.on_threshold))
        while len(self.bands) < len(res.regimes):
            col = self.theme.regime_color(len(self.bands))
            band = pg.LinearRegionItem(movable=False, brush=self.theme.brush(col, 25), pen=self.theme.pen(col, 1))
            self.plot.addItem(band, ignoreBounds=True)
            self.bands.append(band)
        for i, b in enumerate(self.bands):
            b.setVisible(i < len(res.regimes))
            if i < len(res.regimes):
                b.setRegion(res.regimes[i].range_ns)
        self.plot.setXRange(float(le[0]), lifetime_axis_max_ns(res), padding=0)
        self.plot.setYRange(float(ce[0]), float(ce[-1]), padding=0)
