"""Decay curves per lifetime regime over one laser period (log counts), the total decay in grey,
fitted model curves (dashed) when fits are given, and optionally their deviance residuals."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pyqtgraph as pg

from tagstream.app.theme import Theme, fast, legend_show, style_plot
from tagstream.regime import Regime


def one_period(res, t_ps: np.ndarray) -> slice:
    """Decay bins lying inside one laser period (the engine's histogram may run a few bins past it)."""
    d = res.decay.bin_ps
    if not d or not res.laser_period_ps:
        return slice(0, t_ps.shape[0])
    return slice(0, min(int(np.ceil(res.laser_period_ps / d)), t_ps.shape[0]))


def positive_or_nan(y: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """For a log axis: empty bins (and model values below `floor`) are not drawn."""
    y = np.asarray(y, dtype=np.float64)
    return np.where(y > floor, y, np.nan)


def short_count(n: int) -> str:
    return f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.1f} k" if n >= 1e4 else f"{n}"


def decay_axis_max_ns(res) -> float:
    """Show the decay from 0 to t0 + 8 x the median average lifetime of ON bins (the rest of a long
    period is flat background), at most one period. Set once; the user's zoom is kept."""
    P_ns = res.laser_period_ps * 1e-3
    on = res.trace.on & np.isfinite(res.trace.lifetime_ns)
    if not on.any():
        return P_ns
    tau = float(np.median(res.trace.lifetime_ns[on]))
    return float(min(P_ns, res.decay.t0_ps * 1e-3 + 8.0 * max(tau, 0.5)))


def fit_label(fit) -> str:
    taus = getattr(fit, "lifetimes_ns", None)
    if taus is None:
        return "fit"
    parts = [f"τ {v:.1f} ns" for v in taus().values()]
    red = getattr(fit, "reduced_deviance", None)
    return "fit " + ", ".join(parts) + (f" (D/dof {red:.2f})" if red is not None else "")


class DecayView:
    """fits: one object per regime (tagstream.analysis.DecayFit or None); taken from the argument or
    else from results.regimes[i].fit. residual_plot: PlotItem for the deviance residuals (optional)."""

    def __init__(self, plot: pg.PlotItem, theme: Theme, *, residual_plot: pg.PlotItem | None = None,
                 show_total: bool = True) -> None:
        self.plot, self.theme, self.rplot = plot, theme, residual_plot
        self.legend = style_plot(plot, theme, x="time after the laser pulse (ns)", y="counts per bin",
                                 title="Decays per regime", legend=True, legend_cols=1)
        plot.setLogMode(y=True)
        self.total = fast(plot.plot(name="all photons", pen=theme.pen(theme.muted), connect="finite")) if show_total \
            else None
        if self.total is not None:
            self.legend.addItem(self.total, "all photons")
        self.curves: list[pg.PlotDataItem] = []
        self.fit_curves: list[pg.PlotDataItem] = []
        self.res_curves: list[pg.PlotDataItem] = []
        self._ranged = False
        if residual_plot is not None:
            style_plot(residual_plot, theme, x="time after the laser pulse (ns)", y="deviance residual")
            residual_plot.setXLink(plot)
            residual_plot.addItem(pg.InfiniteLine(angle=0, pos=0, pen=theme.pen(theme.muted)))

    def _ensure(self, n: int) -> None:
        while len(self.curves) < n:
            i = len(self.curves)
            col = self.theme.regime_color(i)
            self.curves.append(fast(self.plot.plot(pen=self.theme.pen(col, 1.3), connect="finite",
                                                   name=f"regime {i + 1}")))
            self.fit_curves.append(self.plot.plot(pen=self.theme.pen(self.theme.foreground, 1.5, dash=True),
                                                  connect="finite", name=f"fit {i + 1}"))
            self.legend.removeItem(self.fit_curves[-1])
            if self.rplot is not None:
                self.res_curves.append(fast(self.rplot.plot(pen=self.theme.pen(col, 1), connect="finite")))
        for i in range(len(self.curves)):
            self.curves[i].setVisible(i < n)
            if i >= n:
                legend_show(self.legend, self.curves[i], "", False)
                legend_show(self.legend, self.fit_curves[i], "", False)
                self.fit_curves[i].setVisible(False)
                if self.rplot is not None:
                    self.res_curves[i].setVisible(False)

    def update(self, res, fits: Sequence | None = None) -> None:
        regs = res.regimes
        if not self._ranged and res.decay.t0_ps is not None and res.laser_period_ps:
            self.plot.setXRange(0.0, decay_axis_max_ns(res), padding=0.01)
            self._ranged = True
        self._ensure(len(regs))
        if self.total is not None:
            s = one_period(res, res.decay.t_ps)
            self.total.setData(res.decay.t_ps[s] * 1e-3, positive_or_nan(res.decay.counts[s]))
        for i, r in enumerate(regs):
            s = one_period(res, r.t_ps)
            y = r.fitted_counts  # the cross-selected decay the fits use (tagstream.results.RegimeResult)
            self.curves[i].setData(r.t_ps[s] * 1e-3, positive_or_nan(y[s]))
            fit = fits[i] if fits is not None and i < len(fits) else r.fit
            ok = fit is not None and getattr(fit, "model_counts", None) is not None
            label = f"{Regime(*r.range_ns).display}: {short_count(int(y.sum()))} fit photons"   # (the table: the regime's)
            legend_show(self.legend, self.curves[i], label + (f" · {fit_label(fit)}" if ok else ""), True)
            fc = self.fit_curves[i]
            fc.setVisible(ok)
            if ok:
                fc.setPen(self.theme.pen(self.theme.regime_color(i), 2, dash=True))
                fc.setData(fit.t_ps * 1e-3, positive_or_nan(fit.model_counts, 0.3))
            if self.rplot is not None:
                rc = self.res_curves[i]
                rc.setVisible(ok)
                if ok:
                    rc.setData(fit.t_ps * 1e-3, np.asarray(fit.residuals, dtype=np.float64))
