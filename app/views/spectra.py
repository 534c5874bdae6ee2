"""Spectra: the latest EMCCD spectrum, a time x energy waterfall of recent frames, and the mean
spectrum of each lifetime regime (from a tagstream.app.spectra_model.SpectraSnapshot)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from tagstream.app.theme import Theme, legend_show, style_colorbar, style_plot
from tagstream.regime import Regime


def emission_range_ev(snap, pad_ev: float = 0.12) -> tuple[float, float]:
    """Energy window around the emission (mean spectrum above 5 % of its peak), padded; the whole
    axis if there is no clear line. Set once, so the user's zoom is kept afterwards."""
    e = snap.energy_ev
    mean = snap.density_per_ev.mean(axis=0)
    if not mean.size or not np.nanmax(mean) > 0:
        return float(e[0]), float(e[-1])
    above = np.flatnonzero(mean > 0.05 * np.nanmax(mean))
    return float(max(e[0], e[above[0]] - pad_ev)), float(min(e[-1], e[above[-1]] + pad_ev))


class SpectraViews:
    """Three PlotItems: latest, waterfall, per regime (any may be None, e.g. the report omits 'latest')."""

    def __init__(self, theme: Theme, latest: pg.PlotItem | None = None, waterfall: pg.PlotItem | None = None,
                 regimes: pg.PlotItem | None = None) -> None:
        self.theme = theme
        self.p_latest, self.p_water, self.p_reg = latest, waterfall, regimes
        if latest is not None:
            style_plot(latest, theme, x="photon energy (eV)", y="counts per eV", title="Latest spectrum")
            self.latest = latest.plot(pen=theme.pen(theme.total, 1.2))
        if waterfall is not None:
            style_plot(waterfall, theme, x="photon energy (eV)", y="time (s)", title="Spectra vs time")
            self.image = pg.ImageItem(axisOrder="row-major")
            waterfall.addItem(self.image)
            self.cmap = pg.colormap.get(theme.colormap)
            self.image.setLookupTable(self.cmap.getLookupTable(nPts=256))
            self.colorbar = pg.ColorBarItem(colorMap=self.cmap, interactive=False, width=12)
            self.colorbar.setImageItem(self.image, insert_in=waterfall)
            style_colorbar(self.colorbar, theme, "counts per eV")
        if regimes is not None:
            self.legend = style_plot(regimes, theme, x="photon energy (eV)", y="counts per eV per frame",
                                     title="Spectra per regime", legend=True, legend_cols=2)
            self.reg_curves: list[pg.PlotDataItem] = []

        self._ranged = False
        self._shown = None
        self._compact = False   # set_compact: only the spectra per regime are shown (and updated)
        self._snap = None       # the newest snapshot (the hidden plots catch up with it when shown)

    def set_compact(self, compact: bool, layout) -> None:
        """Compact window (a 1366 x 768 laptop: the panel is ~200 px tall): three stacked plots leave each
        ~37 px and their y ticks overlap (two still leave one tick each), so it shows the spectra per regime
        alone, without a title (the dock's tab says "Spectra"); the wide layout has all three again.
        layout: the GraphicsLayout the plots sit in. The hidden plots are not updated; they catch up with
        the newest spectra when they are shown again."""
        if self.p_reg is None:
            return
        for row, plot in enumerate((self.p_latest, self.p_water)):
            if plot is None:
                continue
            if compact and plot in layout.items:
                layout.removeItem(plot)
                plot.hide()
            elif not compact and plot not in layout.items:
                layout.addItem(plot, row=row, col=0)
                plot.show()
        layout.layout.setRowStretchFactor(1, 0 if compact else 2)   # an empty row keeps no share of the height
        self._title(self.p_reg, None if compact else "Spectra per regime")
        was_compact, self._compact = self._compact, compact
        if was_compact and not compact and self._snap is not None:
            self._shown = None
            self.update(self._snap)

    def _title(self, plot, title: str | None) -> None:
        plot.setTitle(title, color=self.theme.foreground, size="11pt") if title else plot.setTitle(None)

    def update(self, snap) -> None:
        if snap is None:
            return
        self._snap = snap
        key = (snap.n_frames, snap.regime_ranges_ns, snap.regime_frames.tobytes())
        if key == self._shown:
            return  # no new frame and the same regimes: nothing to redraw
        self._shown = key
        e = snap.energy_ev
        if not self._ranged and len(snap.frame_start_s):
            lo, hi = emission_range_ev(snap)
            for p in (self.p_latest, self.p_water, self.p_reg):
                if p is not None:
                    p.setXRange(lo, hi, padding=0)
            self._ranged = True
        if self.p_latest is not None and snap.latest is not None and not self._compact:
            self.latest.setData(e, snap.latest)
        if self.p_water is not None and len(snap.frame_start_s) and not self._compact:
            img = snap.density_per_ev
            lo, hi = np.percentile(img[-200:, ::4], [1, 99.8]) if img.size else (0, 1)  # recent frames
            self.image.setImage(img, autoLevels=False, levels=(float(lo), float(max(hi, lo + 1e-9))))
            self.colorbar.setLevels((float(lo), float(max(hi, lo + 1e-9))))
            t0 = float(snap.frame_start_s[0])
            t1 = float(snap.frame_start_s[-1])
            dt = (t1 - t0) / max(len(snap.frame_start_s) - 1, 1) or 0.1
            self.image.setRect(pg.QtCore.QRectF(float(e[0]), t0, float(e[-1] - e[0]), t1 - t0 + dt))
        if self.p_reg is not None:
            while len(self.reg_curves) < len(snap.regime_ranges_ns):
                i = len(self.reg_curves)
                self.reg_curves.append(self.p_reg.plot(pen=self.theme.pen(self.theme.regime_color(i), 1.5),
                                                       name=f"regime {i + 1}"))
            for i, c in enumerate(self.reg_curves):
                vis = bool(i < len(snap.regime_ranges_ns) and snap.regime_frames[i] > 0)
                c.setVisible(vis)
                label = ""
                if vis:
                    c.setData(e, snap.regime_spectra[i])
                    label = f"{Regime(*snap.regime_ranges_ns[i]).display} ({snap.regime_frames[i]:.1f} frames)"
                legend_show(self.legend, c, label, vis)
