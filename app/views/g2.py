"""g2 histogram (normalised coincidences vs delay) with the g2(0) readout (centre-peak area over the
mean side-peak area, from the engine)."""

from __future__ import annotations

import pyqtgraph as pg

from tagstream.app.theme import Theme, fast, style_plot


def g2_zero_text(g2) -> str:
    if g2 is None:
        return "g²(0): no g2"
    if g2.g2_zero is None:
        return "g²(0): not enough pairs yet"
    return f"g²(0) = {g2.g2_zero:.3f} ± {g2.g2_zero_err:.3f}"


class G2View:
    def __init__(self, plot: pg.PlotItem, theme: Theme) -> None:
        self.plot, self.theme = plot, theme
        style_plot(plot, theme, x="delay τ = t_B − t_A (ns)", y="g²(τ) (normalised)", title="g²(τ)")
        self.curve = fast(plot.plot(pen=theme.pen(theme.spad_a, 1.0)))  # at bin centres
        self.readout = pg.TextItem("", color=theme.foreground, anchor=(0, 0), fill=theme.brush(theme.background, 200))
        self.readout.setParentItem(plot.vb)
        self.readout.setPos(8, 6)
        f = self.readout.textItem.font()
        f.setPointSize(11)
        f.setBold(True)
        self.readout.setFont(f)
        self.text = ""

    def update(self, res) -> None:
        g = res.g2
        self.text = g2_zero_text(g)
        self.readout.setText(self.text)
        if g is None:
            self.curve.setData([], [])
            return
        self.curve.setData((g.tau_ps + g.bin_ps / 2) * 1e-3, g.normalized)
