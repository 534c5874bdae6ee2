"""One-page PNG report of a Results: FLID, intensity and lifetime traces, g2 with g2(0), decays per
regime with fits and residuals, lifetime histogram with the regimes, and spectra when given.

    from tagstream.export.report import render_report
    render_report(results, "qd7_report.png", fits=fit_regimes(results), spectra=series, title="QD 7")

Drawn by the live app's own views (tagstream.app.views) on an offscreen pyqtgraph page with a light
theme, so the report shows exactly what the app shows. Needs a Qt application: one is created
(QT_QPA_PLATFORM=offscreen unless set) if the process has none; call it from the main thread (or
from a worker *process*). The PNG is written atomically (temporary file + os.replace) and an existing
file is only replaced with overwrite=True (ExportError otherwise).
"""

from __future__ import annotations

import gc
import html
import os
from pathlib import Path
from typing import Sequence

from tagstream.atomic import atomic_path
from tagstream.export.parquet import ExportError

PAGE_PX = (1500, 2000)


def ensure_qapp():
    """The running QApplication, or a new offscreen one."""
    from PyQt6 import QtWidgets

    app = QtWidgets.QApplication.instance()
    if app is None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = QtWidgets.QApplication([])
    return app


def summary_html(res, fits: Sequence | None, title: str, spectra=None, notes: Sequence[str] = ()) -> str:
    """The report's text block: what was measured and the headline numbers."""
    g = res.g2
    tr = res.trace
    rows = [f"{res.n_records:,} tags · {res.duration_s:.2f} s · "
            + (f"laser period {res.laser_period_ps / 1e3:.3f} ns" if res.laser_period_ps else "no laser sync")
            + " · " + ", ".join(f"{k} {v:,}" for k, v in res.counts.items() if k != "total")]
    g0 = "n/a" if g is None or g.g2_zero is None else f"{g.g2_zero:.3f} ± {g.g2_zero_err:.3f}"
    rows.append(f"g²(0) = <b>{g0}</b> · trace bin {tr.bin_ms:g} ms · ON threshold {tr.on_threshold:g} counts "
                f"({tr.on_threshold_method}) · ON fraction {100 * tr.on_fraction:.1f} % · "
                f"background {100 * res.decay.background_fraction:.2f} %"
                + (f" · t0 {res.decay.t0_ps / 1e3:.2f} ns" if res.decay.t0_ps is not None else ""))
    parts = []
    for i, r in enumerate(res.regimes):
        fit = fits[i] if fits is not None and i < len(fits) else r.fit
        s = f"{r.range_ns[0]:g}–{r.range_ns[1]:g} ns: {r.n_bins} bins, {r.n_photons:,} photons"
        if fit is not None and hasattr(fit, "lifetimes_ns"):
            s += " (fit " + ", ".join(f"τ {v:.1f} ns" for v in fit.lifetimes_ns().values())
            s += (f", trap {100 * fit.fractions['trap']:.0f} %" if "trap" in getattr(fit, "fractions", {}) else "") + ")"
        parts.append(s)
    if parts:
        rows.append("regimes: " + " · ".join(parts))
    if spectra is not None:
        rows.append(f"spectra: {spectra.n_frames} EMCCD frames")
    rows += list(notes)
    body = "<br>".join(html.escape(r).replace("&lt;b&gt;", "<b>").replace("&lt;/b&gt;", "</b>") for r in rows)
    return f"<span style='font-size:15pt'><b>{html.escape(title)}</b></span><br><span style='font-size:10pt'>{body}</span>"


def build_page(res, *, fits: Sequence | None = None, spectra=None, title: str = "tagstream report",
               theme=None, size: tuple[int, int] = PAGE_PX, notes: Sequence[str] = (), trap_spectrum=None):
    """The page as a pyqtgraph GraphicsLayoutWidget (not shown); returns (widget, views dict)."""
    import pyqtgraph as pg

    from tagstream.app.spectra_model import SpectraSnapshot, spectra_snapshot
    from tagstream.app.theme import LIGHT
    from tagstream.app.views import (CorrelationView, DecayView, DwellHistogramView, FlidView, G2View,
                                     IntensityTraceView, LifetimeHistogramView, LifetimeTraceView, SpectraViews)

    theme = theme or LIGHT
    if spectra is not None and not isinstance(spectra, SpectraSnapshot):
        spectra = spectra_snapshot(spectra, res)
    w = pg.GraphicsLayoutWidget(show=False)
    w.setBackground(theme.background)
    w.resize(*size)
    lay = w.ci
    lay.setContentsMargins(18, 14, 18, 14)
    lay.setSpacing(10)
    header = lay.addLabel(summary_html(res, fits, title, spectra, notes), row=0, col=0, colspan=2, color=theme.foreground,
                          justify="left")
    header.setMaximumHeight(110 + 18 * len(notes))
    views = {}
    views["intensity"] = IntensityTraceView(lay.addPlot(row=1, col=0, colspan=2), theme, window_s=None)
    views["lifetime"] = LifetimeTraceView(lay.addPlot(row=2, col=0, colspan=2), theme, window_s=None)
    views["lifetime"].plot.setXLink(views["intensity"].plot)
    views["flid"] = FlidView(lay.addPlot(row=3, col=0), theme)
    views["g2"] = G2View(lay.addPlot(row=3, col=1), theme)
    dec = lay.addPlot(row=4, col=0)
    resid = lay.addPlot(row=5, col=0)
    views["decays"] = DecayView(dec, theme, residual_plot=resid)
    views["histogram"] = LifetimeHistogramView(lay.addPlot(row=4, col=1, rowspan=2), theme)
    row_heights = {1: 2, 2: 2, 3: 3, 4: 3, 5: 1}
    if spectra is not None:
        views["spectra"] = SpectraViews(theme, waterfall=lay.addPlot(row=6, col=0), regimes=lay.addPlot(row=6, col=1))
        row_heights[6] = 3
    if getattr(res, "blinking", None) is not None or getattr(res, "intensity_correlation", None) is not None:
        views["dwells"] = DwellHistogramView(lay.addPlot(row=7, col=0), theme)
        views["correlation"] = CorrelationView(lay.addPlot(row=7, col=1), theme)
        row_heights[7] = 3
    for r, f in row_heights.items():
        lay.layout.setRowStretchFactor(r, f)
    for v in views.values():
        if v is views.get("spectra"):
            v.update(spectra)
        elif v is views["decays"]:
            v.update(res, fits)
        else:
            v.update(res)
    if trap_spectrum is not None and "spectra" in views:  # tagstream.analysis.regimes.TrapSpectrum
        views["spectra"].p_reg.plot(trap_spectrum.energy_ev, trap_spectrum.density_per_frame,
                                    pen=theme.pen(theme.foreground, 2.0, dash=True), name="trap (reconstructed)")
    return w, views


def render_report(results, path, *, fits: Sequence | None = None, spectra=None, title: str = "tagstream report",
                  overwrite: bool = False, size: tuple[int, int] = PAGE_PX, notes: Sequence[str] = (),
                  trap_spectrum=None) -> Path:
    """Write the one-page PNG report of `results` to `path`; returns the path.

    fits: one tagstream.analysis.DecayFit (or None) per regime, e.g. tagstream.analysis.regimes.fit_regimes(results);
    default: the fits attached with results.with_regime_fits, if any. spectra: a tagstream.spectra
    SpectralSeries (placed on the photon clock by its frame_start_ps or the frame triggers in results) or
    a tagstream.app.spectra_model.SpectraSnapshot; None: no spectra row. size: page in pixels.
    notes: extra header lines (e.g. tagstream.analysis.regimes.report_notes). trap_spectrum: a
    tagstream.analysis.regimes.TrapSpectrum, drawn dashed over the spectra per regime.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise ExportError(f"{path} exists; pass overwrite=True (--force) to replace it")
    if not path.parent.is_dir():
        raise ExportError(f"cannot write the report: directory {path.parent} does not exist")
    app = ensure_qapp()
    from PyQt6 import QtCore

    w, views = build_page(results, fits=fits, spectra=spectra, title=title, size=size, notes=notes,
                          trap_spectrum=trap_spectrum)
    w.setAttribute(QtCore.Qt.WidgetAttribute.WA_DontShowOnScreen, True)
    w.show()
    app.processEvents()
    image = w.grab()
    w.close()
    # The page's pyqtgraph items hold reference cycles, so the cyclic garbage collector frees them, in
    # whichever thread it next runs. Qt objects must die in their own (this, the GUI) thread: free them
    # now. (Left to chance, a live window's snapshot thread destroyed them: a segfault.)
    del w, views
    gc.collect()
    with atomic_path(path) as tmp:
        if not image.save(str(tmp), "PNG"):
            raise ExportError(f"could not write the report image to {path} (disk full or not writable?)")
    return path


def render_report_anywhere(results, path, **kwargs) -> Path:
    """render_report from any thread. Qt widgets may only live on a process's main thread; from another
    thread (a Dask worker's task thread, a thread pool) the page is rendered by a fresh Python process
    that receives the arguments pickled in a temporary file."""
    import threading

    if threading.current_thread() is threading.main_thread():
        return render_report(results, path, **kwargs)
    import pickle
    import subprocess
    import sys
    import tempfile

    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="tagstream-report-") as d:
        args_file = Path(d) / "args.pickle"
        args_file.write_bytes(pickle.dumps((results, str(path), kwargs), protocol=pickle.HIGHEST_PROTOCOL))
        env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
        proc = subprocess.run([sys.executable, "-m", "tagstream.export.report", str(args_file)],
                              capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise ExportError(f"could not render the report {path}: {last}")
    return path


def _main(argv: Sequence[str]) -> int:
    """Child-process entry of render_report_anywhere: python -m tagstream.export.report ARGS_PICKLE."""
    import pickle

    results, path, kwargs = pickle.loads(Path(argv[0]).read_bytes())
    try:
        render_report(results, path, **kwargs)
    except ExportError as exc:
        print(exc, file=__import__("sys").stderr)
        return 2
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(_main(sys.argv[1:]))
