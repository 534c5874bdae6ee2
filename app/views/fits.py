"""The analysis product's fit numbers and trap spectrum, as the live window shows them.

FitTable: one row per lifetime regime (photons, τ band edge, τ trap, trap fraction with the errors
tagstream quotes -- the profile-likelihood 68 % interval, or the covariance 1σ while acquiring --,
reduced deviance = adequacy, and why a regime was not fitted), from the product's fits
(tagstream.analysis.regimes.quoted / regime_fields: the numbers `tagstream analyze` prints and exports).
TrapSpectrumView: the reconstructed trap-emission spectrum (RegimeSpectra.trap) with its 1σ band and
peak, or the product's reason why there is none. Both only copy numbers into widgets.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtGui, QtWidgets

from tagstream.app.theme import Theme, style_plot

ADEQUATE, DOUBTFUL = 1.5, 3.0    # reduced deviance: <= 1.5 adequate, <= 3 doubtful, above: the model does not fit

COLUMNS = ("regime", "photons", "τ BE (ns)", "τ trap (ns)", "trap", "D/dof", "fit")


def pm(value, err, fmt: str = "{:.2f}", scale: float = 1.0) -> str:
    if value is None:
        return "—"
    s = fmt.format(value * scale)
    return s if err is None or not np.isfinite(err) else f"{s} ± {fmt.format(err * scale)}"


def adequacy(red) -> tuple[str, str]:
    """(word, colour) for a reduced deviance."""
    if red is None:
        return "", ""
    if red <= ADEQUATE:
        return "adequate", "#3fa34d"
    if red <= DOUBTFUL:
        return "doubtful", "#f0a030"
    return "does not fit", "#ff5c5c"


ERROR_KIND = {"profile": "errors: 68 % profile-likelihood intervals", "covariance": "errors: covariance 1σ "
              "(profile intervals when the acquisition ends)",
              "upper_limit": "a trap fraction at 0: its 68 % profile interval is one-sided (+ the upper limit)",
              "lower_limit": "a trap fraction at 100 %: its 68 % profile interval is one-sided (− the lower limit)"}


def fit_rows(analysis) -> list[tuple[list[str], str, str]]:
    """(cells, colour of the D/dof cell, tooltip) per regime of a tagstream.product.Analysis."""
    from tagstream.analysis.regimes import quoted, regime_fields

    res = analysis.results
    rows = []
    for i, r in enumerate(res.regimes):
        d = regime_fields(analysis.fits, analysis.spectra, i)
        q = {n: quoted(analysis.fits, i, n) for n in ("tau_be_ns", "tau_trap_ns", "trap_fraction")}
        word, colour = adequacy(d.get("reduced_deviance"))
        tau_be = q["tau_be_ns"].text("", ".1f", unicode=True, short=True)
        if d.get("tau_be_ns") is None and d.get("tau_ns") is not None:     # single-exponential model
            tau_be = pm(d.get("tau_ns"), d.get("tau_err_ns"), "{:.1f}")
        ok = d.get("fit_success")
        status = "—" if ok is None else ("ok" if ok else "not converged")
        why = d.get("fit_message") or ("not fitted" if d.get("fit_mode") is not None
                                        and d.get("reduced_deviance") is None else "")
        kinds = {x.kind for x in q.values()} & set(ERROR_KIND)
        tip = "; ".join([why] * bool(why) + [ERROR_KIND[k] for k in sorted(kinds)]
                        + [f"{n}: no error bar ({x.why})" for n, x in q.items() if x.kind == "none" and x.value is not None])
        label = f"{r.range_ns[0]:g}–{r.range_ns[1]:g} ns"
        cells = [label, f"{r.n_photons:,}", tau_be, q["tau_trap_ns"].text("", ".1f", unicode=True, short=True),
                 q["trap_fraction"].text(" %", ".0f", 100.0, unicode=True, short=True),
                 "—" if d.get("reduced_deviance") is None else f"{d['reduced_deviance']:.2f} {word}",
                 status if not why or ok else why]
        rows.append((cells, colour, tip))
    return rows


class FitTable(QtWidgets.QTableWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(COLUMNS)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.horizontalHeader().setStretchLastSection(True)
        self.caption = ""
        self._shown = None

    def update_analysis(self, analysis) -> None:
        """Rows from the product; None (being recomputed for a new selection): the old rows greyed out."""
        self.setEnabled(analysis is not None)
        if analysis is None:
            return
        rows = fit_rows(analysis)
        key = [r[0] for r in rows]
        if key == self._shown:
            return
        self._shown = key
        self.setRowCount(len(rows))
        for i, (cells, colour, tip) in enumerate(rows):
            for j, text in enumerate(cells):
                it = self.item(i, j)
                if it is None:
                    it = QtWidgets.QTableWidgetItem()
                    self.setItem(i, j, it)
                it.setText(text)
                it.setToolTip(tip)
                it.setForeground(QtGui.QBrush(QtGui.QColor(colour)) if (j == 5 and colour) else QtGui.QBrush())
        f = analysis.fits
        g = None if f is None else f.global_fit
        from tagstream.analysis.regimes import quoted

        self.caption = "" if f is None else f"model: {f.mode}" + (
            f" · shared τ_BE {quoted(f, None, 'tau_be_ns').text(' ns', '.1f', unicode=True)}, "
            f"τ_trap {quoted(f, None, 'tau_trap_ns').text(' ns', '.1f', unicode=True)}, "
            f"D/dof {g.reduced_deviance:.2f}" if g is not None else "")
        self.setToolTip(self.caption)

    def text(self) -> str:
        """The table as text (tests, logs)."""
        return "\n".join(" | ".join(self.item(i, j).text() for j in range(self.columnCount()))
                         for i in range(self.rowCount()))


class TrapSpectrumView:
    """The trap-emission spectrum of the product (spectra.trap): density per eV per frame with a 1σ band,
    the fitted peak as a line; the product's message when there is none."""

    def __init__(self, plot: pg.PlotItem, theme: Theme) -> None:
        self.plot, self.theme = plot, theme
        style_plot(plot, theme, x="photon energy (eV)", y="counts per eV per frame", title="Trap emission spectrum")
        self.curve = plot.plot(pen=theme.pen(theme.regime_color(1), 1.5))
        self.hi = plot.plot(pen=theme.pen(theme.muted, 0.5))
        self.lo = plot.plot(pen=theme.pen(theme.muted, 0.5))
        self.band = pg.FillBetweenItem(self.lo, self.hi, brush=theme.brush(theme.regime_color(1), 50))
        plot.addItem(self.band)
        self.peak = pg.InfiniteLine(angle=90, movable=False, pen=theme.pen(theme.foreground, 1, dash=True))
        plot.addItem(self.peak, ignoreBounds=True)
        self.peak.setVisible(False)
        self.text = pg.TextItem("", color=theme.foreground, anchor=(0, 0))
        self.text.setParentItem(plot.vb)
        self.text.setPos(6, 4)
        self.message = ""

    def update_analysis(self, analysis) -> None:
        sp = None if analysis is None else analysis.spectra
        t = None if sp is None else sp.trap
        if t is None:
            self.message = "no spectra" if sp is None else (sp.trap_message or "no trap spectrum")
            for c in (self.curve, self.hi, self.lo):
                c.setData([], [])
            self.peak.setVisible(False)
            self.text.setText(self.message)
            return
        e = np.asarray(t.energy_ev, np.float64)
        d = np.asarray(t.density_per_frame() if callable(getattr(t, "density_per_frame", None)) else t.density,
                       np.float64)
        err = np.asarray(t.density_err, np.float64)
        if d.shape != err.shape:
            err = np.zeros_like(d)
        self.curve.setData(e, d)
        self.hi.setData(e, d + err)
        self.lo.setData(e, d - err)
        ok = t.peak is not None and getattr(t.peak, "success", False)
        self.peak.setVisible(ok)
        if ok:
            self.peak.setValue(float(t.peak.peak_ev))
            self.message = f"peak {t.peak.peak_ev:.4f} eV, FWHM {1e3 * t.peak.fwhm_ev:.0f} meV · p = {t.p_value:.2f}"
        else:
            self.message = "trap spectrum without a clear peak"
        self.text.setText(self.message)

