"""The main window: docks holding the views, the controls, the status bar and the error banner.

    win = MainWindow(settings=QSettings(path, QSettings.Format.IniFormat))
    win.show(); win.start()

Everything it shows comes from LiveController bundles (tagstream.app.controller); the window only
builds sources and configs from its controls and remembers them (QSettings) between sessions.
"""

from __future__ import annotations

import dataclasses
import time
import tomllib
from pathlib import Path

import pyqtgraph as pg
from PyQt6 import QtCore, QtGui, QtWidgets

from tagstream.app.gc_guard import GuiThreadGC
from tagstream.app.controller import LiveController
from tagstream.app.status import (RateMeters, WheelGuard, human_bytes, loss_text, rec_text, set_label,
                                  state_text)
from tagstream.app.theme import DARK, Theme
from tagstream.app.views.fits import FitTable, TrapSpectrumView
from tagstream.app.views import (CorrelationView, DecayView, DwellHistogramView, FlidView, G2View,
                                 IntensityTraceView, LevelFlidView, LevelsOverlay,
                                 LifetimeHistogramView, LifetimeTraceView, SpectraViews)
from tagstream.pipeline import AnalysisConfig
from tagstream.regime import parse_regimes
from tagstream.setup import Setup, sidecar_setup

LEVELS_CONFIDENCE = 0.99        # change-point confidence of the live levels
COMPACT_WIDTH_PX = 1500         # narrower windows (a 1366 x 768 laptop) get g2 and spectra as tabs
SOURCES = ("simulated", "qutag", "replay")
SOURCE_LABELS = {"simulated": "Simulated QD", "qutag": "quTAG", "replay": "Replay a recording"}


def apply_palette(app: QtWidgets.QApplication, theme: Theme) -> None:
    """Fusion style with the theme's colours, so the controls match the plots."""
    app.setStyle("Fusion")
    if theme.name != "dark":
        return
    pal = QtGui.QPalette()
    bg, fg = QtGui.QColor(theme.background), QtGui.QColor(theme.foreground)
    base = QtGui.QColor("#1e2228")
    R = QtGui.QPalette.ColorRole
    for role, col in ((R.Window, bg), (R.WindowText, fg), (R.Base, base), (R.AlternateBase, bg),
                      (R.Text, fg), (R.Button, QtGui.QColor("#262b33")), (R.ButtonText, fg),
                      (R.ToolTipBase, base), (R.ToolTipText, fg), (R.Highlight, QtGui.QColor("#2f6db5")),
                      (R.HighlightedText, QtGui.QColor("#ffffff")), (R.PlaceholderText, QtGui.QColor(theme.muted))):
        pal.setColor(role, col)
    pal.setColor(QtGui.QPalette.ColorGroup.Disabled, R.Text, QtGui.QColor(theme.muted))
    pal.setColor(QtGui.QPalette.ColorGroup.Disabled, R.ButtonText, QtGui.QColor(theme.muted))
    app.setPalette(pal)


class TimedLayoutWidget(pg.GraphicsLayoutWidget):
    """A plot panel that reports how long each paint took (the redraw scheduler budgets with it)."""

    def __init__(self, panel: str | None, on_paint) -> None:
        super().__init__()
        self.panel, self._on_paint = panel, on_paint

    def paintEvent(self, ev) -> None:  # noqa: N802 (Qt)
        t = time.perf_counter()
        super().paintEvent(ev)
        if self.panel is not None:
            self._on_paint(self.panel, time.perf_counter() - t)


class MainWindow(QtWidgets.QMainWindow):
    def __init__(self, settings: QtCore.QSettings | None = None, theme: Theme = DARK,
                 fit_interval_s: float | None = 2.0, warm_engine: bool = False, parent=None) -> None:
        """warm_engine: start the live-engine process at once (the app does), so that the first Start does
        not wait for its imports."""
        super().__init__(parent)
        self._gc = GuiThreadGC(self)      # Qt objects must be freed in this thread (see app/gc_guard.py)
        self.theme = theme
        self.settings = settings if settings is not None else QtCore.QSettings("tagstream", "tagstream-live")
        self.setWindowTitle("tagstream live")
        app = QtWidgets.QApplication.instance()
        if app is not None:
            apply_palette(app, theme)
        self.setDockNestingEnabled(True)
        pg.setConfigOptions(antialias=False, background=theme.background, foreground=theme.foreground)
        self.views = self._build_views()
        self.controller = LiveController(self.views, fit_interval_s=fit_interval_s, is_visible=self.view_visible,
                                         parent=self)
        self.controller.scheduler.panel_of = {"intensity": "traces", "lifetime": "traces", "levels": "traces"}
        self.controller.error.connect(self.show_error)
        if warm_engine:
            QtCore.QTimer.singleShot(0, self.controller.warm)
        self.controller.status.connect(self.show_status)
        self.controller.state.connect(self._state_changed)
        self.threshold_cps: float | None = None   # ON threshold set by hand (counts/s; None = automatic)
        self._state = "idle"                       # the window's: idle | running | stopped | finished
        self._build_controls()
        self._build_toolbar()
        self._build_status_bar()
        self._build_menu()
        self.wheel_guard = WheelGuard(self)
        self.wheel_guard.guard(self.docks["controls"])
        self.setCorner(QtCore.Qt.Corner.BottomLeftCorner, QtCore.Qt.DockWidgetArea.LeftDockWidgetArea)
        self._compact: bool | None = None
        self.resize(1920, 1080)
        self.resizeDocks([self.docks["g2"], self.docks["controls"]], [470, 300], QtCore.Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["flid"], self.docks["g2"]], [450, 330], QtCore.Qt.Orientation.Vertical)
        self._restored_layout = False
        self.load_settings()

    # ------------------------------------------------------------------ layout
    def _plot_widget(self, panel: str | None = None) -> pg.GraphicsLayoutWidget:
        w = TimedLayoutWidget(panel, self._painted)
        w.setMinimumSize(220, 170)          # below this ticks overlap ("1, 0, 0, 0"): the dock stops shrinking
        w.setBackground(self.theme.background)
        w.ci.setContentsMargins(4, 4, 8, 4)
        return w

    def _dock(self, title: str, widget, area, name: str) -> QtWidgets.QDockWidget:
        d = QtWidgets.QDockWidget(title, self)
        d.setObjectName(name)
        d.setWidget(widget)
        d.setFeatures(QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetMovable
                      | QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetFloatable
                      | QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, d)
        self.docks[name] = d
        return d

    def _build_views(self) -> dict:
        t = self.theme
        A = QtCore.Qt.DockWidgetArea
        self.docks: dict[str, QtWidgets.QDockWidget] = {}
        traces = self._plot_widget("traces")
        iv = IntensityTraceView(traces.addPlot(row=0, col=0), t, on_threshold=self._threshold_dragged)
        lv = LifetimeTraceView(traces.addPlot(row=1, col=0), t)
        lv.plot.setXLink(iv.plot)
        self.setCentralWidget(traces)
        flid_w = self._plot_widget("flid")
        fv = FlidView(flid_w.addPlot(), t)
        self.flid_log = QtWidgets.QCheckBox("FLID: log colour scale")
        self.flid_log.setToolTip("colour = log10(1 + trace bins) instead of trace bins (shows faint cells)")
        # change-point levels: a checkbox in the controls builds the pipeline with levels (next Start / Reset)
        # and shows the steps over the intensity trace and the level FLID beside the binned one
        self.levels_box = QtWidgets.QCheckBox("levels (change points, 99 %)")
        self.levels_box.setToolTip("change-point intensity levels over the trace and a level FLID; "
                                   "applies at the next Start / Reset")
        lov = LevelsOverlay(iv.plot, t, checkbox=self.levels_box, enabled=False)
        lflid_w = self._plot_widget("level_flid")
        lfv = LevelFlidView(lflid_w.addPlot(), t)
        self.flid_log.toggled.connect(self._flid_log_toggled)
        lflid_w.setVisible(False)
        self.levels_box.toggled.connect(lflid_w.setVisible)
        self.levels_box.toggled.connect(self._widen_flid)
        flid_box = QtWidgets.QWidget()
        hl = QtWidgets.QHBoxLayout(flid_box)
        hl.setContentsMargins(0, 0, 0, 0)
        hl.setSpacing(0)
        hl.addWidget(flid_w)
        hl.addWidget(lflid_w)
        hist_w = self._plot_widget("histogram")
        hv = LifetimeHistogramView(hist_w.addPlot(), t, on_regimes=self._regimes_dragged)
        g2_w = self._plot_widget("g2")
        gv = G2View(g2_w.addPlot(), t)
        dec_w = self._plot_widget("decays")
        dv = DecayView(dec_w.addPlot(row=0, col=0), t, residual_plot=dec_w.addPlot(row=1, col=0))
        dec_w.ci.layout.setRowStretchFactor(0, 3)
        dec_w.ci.layout.setRowStretchFactor(1, 1)
        dv.rplot.setMinimumHeight(100)   # its x axis takes ~40 px: at 1366 x 768 a quarter left its ticks overlapping
        spec_w = self._plot_widget("spectra")
        sv = SpectraViews(t, latest=spec_w.addPlot(row=0, col=0), waterfall=spec_w.addPlot(row=1, col=0),
                          regimes=spec_w.addPlot(row=2, col=0))
        spec_w.ci.layout.setRowStretchFactor(1, 2)
        blink_w = self._plot_widget()  # dwell-time power laws (with levels) and the 1 us - 10 s correlation
        dwv = DwellHistogramView(blink_w.addPlot(row=0, col=0), t)
        cov = CorrelationView(blink_w.addPlot(row=1, col=0), t)
        H = QtCore.Qt.Orientation.Horizontal
        self._dock("FLID", flid_box, A.BottomDockWidgetArea, "flid")
        self._dock("Lifetime histogram · regimes (drag the ranges)", hist_w, A.BottomDockWidgetArea, "histogram")
        self._dock("Decays", dec_w, A.BottomDockWidgetArea, "decays")
        self.splitDockWidget(self.docks["flid"], self.docks["histogram"], H)
        self.splitDockWidget(self.docks["histogram"], self.docks["decays"], H)
        self._dock("g²(τ)", g2_w, A.RightDockWidgetArea, "g2")
        self._dock("Spectra", spec_w, A.RightDockWidgetArea, "spectra")
        self.splitDockWidget(self.docks["g2"], self.docks["spectra"], QtCore.Qt.Orientation.Vertical)
        self._dock("Blinking · correlation", blink_w, A.RightDockWidgetArea, "blinking")
        self.tabifyDockWidget(self.docks["spectra"], self.docks["blinking"])
        self.docks["spectra"].raise_()
        self.setCorner(QtCore.Qt.Corner.BottomRightCorner, A.RightDockWidgetArea)
        self._view_widget = {"intensity": traces, "lifetime": traces, "levels": traces, "flid": flid_w,
                             "level_flid": lflid_w, "histogram": hist_w, "g2": g2_w, "decays": dec_w, "spectra": spec_w,
                             "dwells": blink_w, "correlation": blink_w}
        fit_table = FitTable()
        trap_w = self._plot_widget("trap")
        tv = TrapSpectrumView(trap_w.addPlot(), t)
        self._dock("Fits", fit_table, A.RightDockWidgetArea, "fits")
        self._dock("Trap spectrum", trap_w, A.RightDockWidgetArea, "trap")
        self.tabifyDockWidget(self.docks["spectra"], self.docks["trap"])
        self.docks["spectra"].raise_()
        self.tabifyDockWidget(self.docks["g2"], self.docks["fits"])
        self.docks["g2"].raise_()

        self._view_widget.update({"fits": fit_table, "trap": trap_w})
        self.fit_table = fit_table
        self.plot_widgets = {"traces": traces, "flid": flid_w, "level_flid": lflid_w, "histogram": hist_w,
                             "g2": g2_w, "decays": dec_w, "spectra": spec_w, "trap": trap_w,
                             "blinking": blink_w}
        return {"intensity": iv, "lifetime": lv, "flid": fv, "histogram": hv, "g2": gv, "decays": dv,
                "spectra": sv, "levels": lov, "level_flid": lfv, "fits": fit_table, "trap": tv,
                "dwells": dwv, "correlation": cov}

    def _painted(self, panel: str, dt_s: float) -> None:
        c = getattr(self, "controller", None)
        if c is not None:
            c.scheduler.painted(panel, dt_s)

    def view_visible(self, name: str) -> bool:
        """Whether a view's panel is on screen (hidden or tabbed-away docks are not redrawn)."""
        w = self._view_widget.get(name)
        return w is None or w.isVisible()

    def _widen_flid(self, levels: bool) -> None:
        """Room for the level FLID beside the binned one."""
        d = self.docks
        if "flid" in d and "histogram" in d and "decays" in d:
            w = [d[k].width() for k in ("flid", "histogram", "decays")]
            total = sum(w)
            if total > 0:
                f = 0.45 if levels else 0.3
                rest = (1 - f) * total / max(w[1] + w[2], 1)
                self.resizeDocks([d["flid"], d["histogram"], d["decays"]],
                                 [int(f * total), int(w[1] * rest), int(w[2] * rest)], QtCore.Qt.Orientation.Horizontal)

    def _build_controls(self) -> None:
        w = QtWidgets.QWidget()
        v = QtWidgets.QVBoxLayout(w)
        self.banner = QtWidgets.QLabel()
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("QLabel { background: #8b1e1e; color: white; padding: 6px; border-radius: 3px; }")
        self.banner.hide()
        v.addWidget(self.banner)

        src = QtWidgets.QGroupBox("Source")
        f = QtWidgets.QFormLayout(src)
        self.source_box = QtWidgets.QComboBox()
        for s in SOURCES:
            self.source_box.addItem(SOURCE_LABELS[s], s)
        self.speed = QtWidgets.QDoubleSpinBox(decimals=2, minimum=0.01, maximum=10000.0, value=1.0, suffix=" × real time")
        self.speed.setToolTip("simulated / replayed seconds per wall-clock second")
        self.replay_path = QtWidgets.QLineEdit(placeholderText="recording to replay")
        browse = QtWidgets.QPushButton("…", maximumWidth=30)
        browse.clicked.connect(self.choose_replay)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.replay_path)
        row.addWidget(browse)
        f.addRow("source", self.source_box)
        f.addRow("speed", self.speed)
        f.addRow("file", row)
        self.sif_watch = QtWidgets.QCheckBox("spectra: new Andor SIF files in")
        self.sif_watch.setToolTip("pick up each SIF file Andor Solis saves into this folder; frames are placed on the "
                                  "photon clock by the camera frame-trigger tags (Setup ▸ camera frame)")
        self.sif_folder = QtWidgets.QLineEdit(placeholderText="folder Solis saves to")
        b = QtWidgets.QPushButton("…", maximumWidth=30)
        b.clicked.connect(self.choose_sif_folder)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.sif_folder)
        row.addWidget(b)
        f.addRow(self.sif_watch)
        f.addRow("folder", row)
        v.addWidget(src)

        setup = QtWidgets.QGroupBox("Setup (channel map)")
        f = QtWidgets.QFormLayout(setup)
        self.ch = {}
        for key, label, val in (("sync", "laser sync", 5), ("spad_a", "SPAD A", 1), ("spad_b", "SPAD B", 2),
                                ("frame", "camera frame (0 = none)", 3)):
            sb = QtWidgets.QSpinBox(minimum=0, maximum=255, value=val)
            self.ch[key] = sb
            f.addRow(label, sb)
        self.divider = QtWidgets.QSpinBox(minimum=1, maximum=1_000_000, value=1000)
        self.filtered = QtWidgets.QCheckBox("sync filtered")
        f.addRow("sync divider", self.divider)
        f.addRow("", self.filtered)
        self.saturation = QtWidgets.QDoubleSpinBox(decimals=1, minimum=0.1, maximum=1000.0, value=10.0, suffix=" M/s")
        self.saturation.setToolTip("a SPAD's saturation count rate: its meter turns red from 80 % of it (orange "
                                   "from 5 % of the laser rate: pile-up)")
        f.addRow("SPAD saturation", self.saturation)
        row = QtWidgets.QHBoxLayout()
        for text, slot in (("Load TOML…", self.load_setup), ("Save TOML…", self.save_setup)):
            b = QtWidgets.QPushButton(text)
            b.clicked.connect(slot)
            row.addWidget(b)
        f.addRow(row)
        self._setup_extra = Setup()  # markers / delays from a loaded TOML (no widgets for those)
        v.addWidget(setup)

        ana = QtWidgets.QGroupBox("Analysis")
        f = QtWidgets.QFormLayout(ana)
        self.bin_ms = QtWidgets.QDoubleSpinBox(decimals=1, minimum=0.1, maximum=10000.0, value=100.0, suffix=" ms")
        self.bin_ms.setToolTip("trace bin width; applies at the next Start / Reset")
        f.addRow("bin width", self.bin_ms)
        self.t0_box = QtWidgets.QComboBox()
        self.t0_box.addItem("laser sync (t₀ = 0)", 0.0)
        self.t0_box.addItem("decay rise (half maximum)", None)
        self.t0_box.setToolTip("time zero of the decays and average lifetimes. Laser sync: the seed paper's "
                               "convention, for which the regimes 40–50 / 50–60 / 60–70 ns are meant "
                               "(analyze --t0-ps 0); decay rise: lifetimes from the rising edge")
        self.t0_box.currentIndexChanged.connect(lambda _: self.controller.set_time_zero(self.t0_box.currentData()))
        f.addRow("time zero", self.t0_box)
        self.fit_box = QtWidgets.QComboBox()
        for text, model in (("band edge + trap, shared τ", "global"), ("band edge + trap per regime", "be_trap"),
                            ("single exponential", "single"), ("no fits", None)):
            self.fit_box.addItem(text, model)
        self.fit_box.setToolTip("decay model of the regime fits (as analyze --fit): global = the seed's Fig. 4, "
                                "band-edge and trap lifetimes shared by all regimes, a trap fraction per regime")
        f.addRow("fit model", self.fit_box)
        # the IRF of the fits: the same choices as analyze --irf / --irf-sigma-ps and the setup's [fit] table
        self.irf_box = QtWidgets.QComboBox()
        for text, kind in (("Gaussian", "gaussian"), ("EMG (Gaussian + tail)", "emg"), ("none (δ)", "delta"),
                           ("measured (file)", "measured")):
            self.irf_box.addItem(text, kind)
        self.irf_box.setToolTip("instrument response of the fits (as analyze --irf): Gaussian (analyze's default; "
                                "shift and width fitted, started from the measured rise), EMG (Gaussian with an "
                                "exponential tail), none, or a measured IRF: a decay histogram (.npz t_ps/counts, "
                                ".csv, .txt) or a tag file of scattered laser light")
        self.irf_sigma = QtWidgets.QDoubleSpinBox(decimals=0, minimum=0.0, maximum=100000.0, value=0.0, suffix=" ps")
        self.irf_sigma.setSpecialValueText("σ fitted")
        self.irf_sigma.setToolTip("Gaussian / EMG width σ held fixed (analyze --irf-sigma-ps); 0 = fitted, "
                                  "started from the measured rise")
        self.irf_tail = QtWidgets.QDoubleSpinBox(decimals=0, minimum=0.0, maximum=1e6, value=0.0, suffix=" ps")
        self.irf_tail.setSpecialValueText("tail fitted")
        self.irf_tail.setToolTip("EMG tail held fixed (the setup's [fit] irf_tail_ps); 0 = fitted")
        f.addRow("IRF", self.irf_box)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.irf_sigma)
        row.addWidget(self.irf_tail)
        f.addRow("IRF σ · tail", row)
        self.irf_file = QtWidgets.QLineEdit(placeholderText="measured IRF: histogram or tag file")
        self.irf_file.setToolTip(self.irf_box.toolTip())
        browse = QtWidgets.QToolButton(text="…")
        browse.setToolTip("choose the measured IRF file")
        browse.clicked.connect(self._choose_irf_file)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.irf_file)
        row.addWidget(browse)
        self.irf_file_row = QtWidgets.QWidget()
        self.irf_file_row.setLayout(row)
        row.setContentsMargins(0, 0, 0, 0)
        f.addRow("IRF file", self.irf_file_row)
        for box in (self.fit_box, self.irf_box):
            box.currentIndexChanged.connect(self._fit_changed)
        for edit in (self.irf_sigma, self.irf_tail, self.irf_file):
            edit.editingFinished.connect(self._fit_changed)
        f.addRow(self.levels_box)
        self.levels_box.toggled.connect(
            lambda on: self.controller.running and self.message(f"levels {'on' if on else 'off'}: the analysis "
                                                                "changes at the next Start / Reset"))
        self.corr_box = QtWidgets.QCheckBox("intensity correlation 1 µs – 10 s")
        self.corr_box.setToolTip("the exact A-B correlation on log lags (as analyze; analyze --no-correlation skips "
                                 "it). Off by default live: it triples the analysis CPU per tag and a snapshot counts "
                                 "the last 10-20 s of photons (150 ms at 6 M tags/s). Applies at the next Start / Reset")
        f.addRow(self.corr_box)
        self.corr_box.toggled.connect(
            lambda on: self.controller.running and self.message(f"intensity correlation {'on' if on else 'off'}: "
                                                                "the analysis changes at the next Start / Reset"))
        self.thr_label = QtWidgets.QLabel("ON threshold: automatic (Otsu)")
        self.thr_label.setWordWrap(True)
        self.thr_label.setToolTip("drag the dashed line in the intensity plot to set it by hand; kept for the "
                                  "next Start / Reset (as a rate, so a new bin width keeps its meaning)")
        f.addRow(self.thr_label)
        self.auto_thr = QtWidgets.QPushButton("Automatic ON threshold (Otsu)")
        self.auto_thr.clicked.connect(self.automatic_threshold)
        f.addRow(self.auto_thr)
        f.addRow(self.flid_log)
        v.addWidget(ana)

        rec = QtWidgets.QGroupBox("Recording")
        f = QtWidgets.QFormLayout(rec)
        self.record = QtWidgets.QCheckBox("record every tag")
        self.record.setToolTip("record the whole run, from its first tag, to the file below (Ctrl+R); "
                               "takes effect at Start / Reset")
        self.record.toggled.connect(self._record_toggled)
        self.record_path = QtWidgets.QLineEdit(placeholderText="file.qutag")
        b = QtWidgets.QPushButton("…", maximumWidth=30)
        b.clicked.connect(self.choose_record)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.record_path)
        row.addWidget(b)
        f.addRow(self.record)
        f.addRow("file", row)
        v.addWidget(rec)

        v.addStretch(1)
        scroll = QtWidgets.QScrollArea()
        scroll.setWidget(w)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(300)
        scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._dock("Controls", scroll, QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, "controls")

        self.log = QtWidgets.QPlainTextEdit(readOnly=True)
        self.log.setMaximumBlockCount(2000)
        self._dock("Messages", self.log, QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, "messages")

    def _build_toolbar(self) -> None:
        """Always visible: Start/Stop, Reset, Record, Export (with shortcuts), the state, the recording,
        data loss and the per-channel rate meters."""
        tb = QtWidgets.QToolBar("Acquisition", self)
        tb.setObjectName("toolbar")
        tb.setMovable(False)
        tb.setFloatable(False)
        tb.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.addToolBar(QtCore.Qt.ToolBarArea.TopToolBarArea, tb)
        self.toolbar = tb
        self.start_act = QtGui.QAction("Start", self)
        self.start_act.setShortcut(QtGui.QKeySequence("F5"))
        self.start_act.setToolTip("start / stop acquiring (F5)")
        self.start_act.triggered.connect(self.toggle)
        self.reset_act = QtGui.QAction("Reset", self)
        self.reset_act.setShortcut(QtGui.QKeySequence("F6"))
        self.reset_act.setToolTip("clear the analysis and start again with the current settings (F6)")
        self.reset_act.triggered.connect(self.reset)
        self.record_act = QtGui.QAction("Record", self)
        self.record_act.setCheckable(True)
        self.record_act.setShortcut(QtGui.QKeySequence("Ctrl+R"))
        self.record_act.setToolTip("record every tag to the file in Controls ▸ Recording (Ctrl+R)")
        self.record_act.toggled.connect(self.record.setChecked)
        self.record.toggled.connect(self.record_act.setChecked)
        self.export_act = QtGui.QAction("Export…", self)
        self.export_act.setShortcut(QtGui.QKeySequence("Ctrl+E"))
        self.export_act.setToolTip("export the current results (Parquet tables + PNG report) (Ctrl+E)")
        self.export_act.triggered.connect(lambda: self.export_snapshot())
        for act in (self.start_act, self.reset_act, self.record_act, self.export_act):
            tb.addAction(act)
        self.start_btn = tb.widgetForAction(self.start_act)
        self.start_btn.setStyleSheet("QToolButton { font-weight: bold; min-width: 56px; }")
        tb.addSeparator()
        big = self.font()
        big.setPointSizeF(big.pointSizeF() * 1.15)
        self.st_state = QtWidgets.QLabel("■ idle")
        self.st_rec = QtWidgets.QLabel("not recording")
        self.st_loss = QtWidgets.QLabel("")
        for lab in (self.st_state, self.st_rec, self.st_loss):
            lab.setFont(big)
            lab.setContentsMargins(6, 0, 6, 0)
            tb.addWidget(lab)
        tb.addSeparator()
        self.st_rates = RateMeters()
        tb.addWidget(self.st_rates)

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.st_lag = QtWidgets.QLabel("")
        sb.addPermanentWidget(self.st_lag)

    def _build_menu(self) -> None:
        m = self.menuBar().addMenu("&File")
        act = m.addAction("&Open recording (replay)…")
        act.triggered.connect(self.open_recording)
        m.addAction(self.export_act)
        m.addSeparator()
        m.addAction("&Quit").triggered.connect(self.close)
        vm = self.menuBar().addMenu("&View")
        for d in self.docks.values():
            vm.addAction(d.toggleViewAction())

    # ------------------------------------------------------------------ settings
    def setup_from_controls(self) -> Setup:
        """The channel map in the controls (markers/delays kept from a loaded TOML)."""
        return dataclasses.replace(self._setup_extra, sync=self.ch["sync"].value(), spad_a=self.ch["spad_a"].value(),
                                   spad_b=self.ch["spad_b"].value(), frame=self.ch["frame"].value() or None,
                                   sync_divider=self.divider.value(), sync_filtered=self.filtered.isChecked())

    def show_setup(self, s: Setup) -> None:
        self._setup_extra = s
        self.ch["sync"].setValue(s.sync or 0)
        self.ch["spad_a"].setValue(s.spad_a)
        self.ch["spad_b"].setValue(s.spad_b or 0)     # "none" (one detector) shows as 0
        self.ch["frame"].setValue(s.frame or 0)
        self.divider.setValue(s.sync_divider)
        self.filtered.setChecked(bool(s.sync_filtered))

    def config_from_controls(self) -> AnalysisConfig:
        """The analysis the controls ask for (a threshold set by hand included)."""
        bin_ms = self.bin_ms.value()
        thr = None if self.threshold_cps is None else self.threshold_cps * bin_ms * 1e-3
        return AnalysisConfig(trace_bin_ms=bin_ms, regimes_ns=tuple(self.regimes_ns), on_threshold=thr,
                              t0_ps=self.t0_box.currentData(),
                              levels_confidence=LEVELS_CONFIDENCE if self.levels_box.isChecked() else None,
                              intensity_correlation=self.corr_box.isChecked())

    def load_settings(self) -> None:
        s = self.settings
        src = s.value("source", "simulated")
        self.source_box.setCurrentIndex(max(0, self.source_box.findData(src)))
        self.speed.setValue(float(s.value("speed", 1.0)))
        self.replay_path.setText(str(s.value("replay_path", "")))
        self.bin_ms.setValue(float(s.value("bin_ms", 100.0)))
        self.levels_box.setChecked(s.value("levels", False, type=bool))
        self.corr_box.setChecked(s.value("correlation", False, type=bool))
        self.record.setChecked(s.value("record", False, type=bool))
        self.flid_log.setChecked(s.value("flid_log", False, type=bool))
        fit = s.value("fit", "global")
        models = [self.fit_box.itemData(i) for i in range(self.fit_box.count())]
        self.fit_box.setCurrentIndex(models.index(None if fit == "none" else fit) if (None if fit == "none" else fit)
                                     in models else 0)
        self.irf_box.setCurrentIndex(max(0, self.irf_box.findData(s.value("irf", "gaussian"))))
        self.irf_sigma.setValue(float(s.value("irf_sigma_ps", 0.0)))
        self.irf_tail.setValue(float(s.value("irf_tail_ps", 0.0)))
        self.irf_file.setText(str(s.value("irf_file", "")))
        self._show_irf_controls()
        self.t0_box.setCurrentIndex(1 if s.value("t0", "sync") == "rise" else 0)
        self.saturation.setValue(float(s.value("saturation_mhz", 10.0)))
        thr = s.value("threshold_cps", "")
        self.threshold_cps = float(thr) if thr not in ("", None) else None
        self._show_threshold()
        self.record_path.setText(str(s.value("record_path", "")))
        self.sif_watch.setChecked(s.value("sif_watch", False, type=bool))
        self.sif_folder.setText(str(s.value("sif_folder", "")))
        toml = s.value("setup_toml", "")
        if toml:
            try:
                self.show_setup(Setup.from_dict(tomllib.loads(toml), source="saved settings"))
            except Exception as exc:
                self.message(f"saved setup ignored: {exc}")
        reg = s.value("regimes", "40-50,50-60,60-70")
        try:
            self.regimes_ns = [tuple(r) for r in parse_regimes(reg)]
        except ValueError:
            self.regimes_ns = [(40.0, 50.0), (50.0, 60.0), (60.0, 70.0)]
        self.views["histogram"].set_regimes(self.regimes_ns)
        geo = s.value("geometry")
        if geo is not None:
            self.restoreGeometry(geo)
        st = s.value("window_state")
        if st is not None:
            self._restored_layout = bool(self.restoreState(st))
        if self._restored_layout:
            # the user's layout is kept at the size class (compact / wide) it was saved in; crossing
            # COMPACT_WIDTH_PX arranges the docks for the new size (a wide layout collapses at 1366 x 768)
            saved = s.value("layout_compact")
            self._compact = (str(saved).lower() == "true") if saved is not None else self.width() < COMPACT_WIDTH_PX

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("source", self.source_box.currentData())
        s.setValue("speed", self.speed.value())
        s.setValue("replay_path", self.replay_path.text())
        s.setValue("bin_ms", self.bin_ms.value())
        s.setValue("levels", self.levels_box.isChecked())
        s.setValue("correlation", self.corr_box.isChecked())
        s.setValue("record", self.record.isChecked())
        s.setValue("flid_log", self.flid_log.isChecked())
        s.setValue("fit", self.fit_box.currentData() or "none")
        s.setValue("irf", self.irf_box.currentData())
        s.setValue("irf_sigma_ps", self.irf_sigma.value())
        s.setValue("irf_tail_ps", self.irf_tail.value())
        s.setValue("irf_file", self.irf_file.text())
        s.setValue("t0", "rise" if self.t0_box.currentData() is None else "sync")
        s.setValue("saturation_mhz", self.saturation.value())
        s.setValue("threshold_cps", "" if self.threshold_cps is None else self.threshold_cps)
        s.setValue("record_path", self.record_path.text())
        s.setValue("sif_watch", self.sif_watch.isChecked())
        s.setValue("sif_folder", self.sif_folder.text())
        s.setValue("setup_toml", self.setup_from_controls().to_toml())
        s.setValue("regimes", ",".join(r.label for r in parse_regimes(self.regimes_ns)))
        s.setValue("geometry", self.saveGeometry())
        s.setValue("window_state", self.saveState())
        if self._compact is not None:
            s.setValue("layout_compact", bool(self._compact))
        s.sync()

    # ------------------------------------------------------------------ actions
    def make_source(self):
        """(Recipe of the controls' source, whether it brings spectra, its laser period in ps or None). The
        live engine makes the source in its own process (tagstream.app.live_process), so the GUI thread
        keeps its interpreter."""
        from tagstream.app.recipes import recipe

        kind = self.source_box.currentData()
        speed = self.speed.value()
        if kind == "simulated":
            return recipe("simulated_camera", seed=int(time.time()) % 100000, speed=speed), True, None
        if kind == "qutag":
            s = self.setup_from_controls()
            chans = sorted({c for c in (s.sync, s.spad_a, s.spad_b, s.frame) if c})
            return recipe("qutag", channels=tuple(chans), sync_divider=s.sync_divider), False, None
        path = self.replay_path.text().strip()
        if not path:
            raise ValueError("choose a recording to replay (File ▸ Open recording)")
        from tagstream.sources import ReplaySource

        probe = ReplaySource(path, speed=speed)      # a T3 / nanotime recording's laser period
        period = getattr(probe, "laser_period_ps", None)
        probe.close()
        return recipe("replay", path=path, speed=speed), False, period

    def start(self, source=None, spectra=None) -> None:
        """Start with the controls' source, or with `source` (+ its SpectraAccumulator) if given
        (scripts, tests, the benchmark)."""
        watched = None
        try:
            if source is not None:
                src, acc, has_spectra = source, spectra, spectra is not None
                period = getattr(src, "laser_period_ps", None)
            else:
                (src, has_spectra, period), acc = self.make_source(), None
            spectra_file = None   # a replayed recording's <stem>.spectra.npz, as `tagstream analyze` uses it
            if source is None and self.source_box.currentData() == "replay":
                from tagstream.product import sidecar_spectra

                spectra_file = sidecar_spectra(self.replay_path.text().strip())
            rec = self.record_path.text().strip() if self.record.isChecked() else None
            if self.record.isChecked() and not rec:
                raise ValueError("recording is on but no file name is given")
            watched = self.watched_spectra(remote=source is None)
            if watched is not None:
                acc, has_spectra = watched, True
            cfg = self.config_from_controls()
            if period and cfg.laser_period_ps is None:   # T3 / nanotime replay
                cfg = dataclasses.replace(cfg, laser_period_ps=period)
            self.controller.start(src, self.setup_from_controls(), cfg, record_to=rec, spectra=acc,
                                  fit=self.fit_box.currentData(), fit_options=self.fit_options(),
                                  spectra_file=spectra_file)
        except Exception as exc:
            if watched is not None and hasattr(watched, "close"):
                watched.close()
            self.show_error(f"could not start: {exc}")
            return
        self.banner.hide()
        self.docks["spectra"].setVisible(has_spectra or spectra_file is not None)
        self.message(f"started: {self.source_box.currentText()}" + (f", recording to {rec}" if rec else ""))
        self.save_settings()

    def stop(self) -> None:
        self.controller.stop()
        st = self.controller.session.status() if self.controller.session else None
        if st is not None and st.recording_path:
            self.message(f"recording closed: {st.recording_path} ({st.recording_tags:,} tags, "
                         f"{human_bytes(st.recording_bytes)})")
        if self.record.isChecked():  # never record twice into one file
            self.record.setChecked(False)

    def toggle(self) -> None:
        if self.controller.running:
            self.stop()
        else:
            self.start()

    def reset(self) -> None:
        was = self.controller.running
        self.controller.stop()
        if was:
            self.start()

    def open_recording(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Replay a recording", self.replay_path.text())
        if path:
            self.replay(path)

    def replay(self, path: str, speed: float | None = None) -> None:
        """Replay a recorded file through the same pipeline (its setup from the recording's sidecar or
        <stem>.setup.toml when present)."""
        self.replay_path.setText(str(path))
        self.source_box.setCurrentIndex(self.source_box.findData("replay"))
        if speed is not None:
            self.speed.setValue(speed)
        s = self._setup_for(Path(path))
        if s is not None:
            self.show_setup(s)
        self.controller.stop()
        self.start()

    def _setup_for(self, p: Path) -> Setup | None:
        found = sidecar_setup(p)
        return None if found is None else found[0]

    def choose_replay(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Recording to replay", self.replay_path.text())
        if path:
            self.replay_path.setText(path)

    def choose_sif_folder(self) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Folder Andor Solis saves SIF files to",
                                                          self.sif_folder.text())
        if path:
            self.sif_folder.setText(path)
            self.sif_watch.setChecked(True)

    def watched_spectra(self, remote: bool = False):
        """The watched SIF folder as the session's spectra (None when not asked for); remote: its Recipe
        (for the engine's process)."""
        if not self.sif_watch.isChecked():
            return None
        folder = self.sif_folder.text().strip()
        if not folder:
            raise ValueError("spectra from a SIF folder are on but no folder is given")
        if not self.setup_from_controls().frame:
            raise ValueError("SIF frames are placed by the camera's frame-trigger tags: set Setup ▸ camera frame")
        from tagstream.app import recipes

        if remote:
            return recipes.recipe("watched_sif", folder=folder)
        return recipes.watched_sif(self.controller, folder=folder)

    def choose_record(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Record to", self.record_path.text(),
                                                        "quTAG binary (*.qutag);;all files (*)")
        if path:
            self.record_path.setText(path)
            self.record.setChecked(True)

    def load_setup(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Load setup", "", "setup TOML (*.toml)")
        if path:
            try:
                self.show_setup(Setup.from_toml(path))
                self.message(f"setup loaded from {path} (applies at the next Start / Reset)")
            except Exception as exc:
                self.show_error(f"setup not loaded: {exc}")

    def save_setup(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save setup", "setup.toml", "setup TOML (*.toml)")
        if path:
            Path(path).write_text(self.setup_from_controls().to_toml())
            self.message(f"setup saved to {path}")

    def export_snapshot(self, directory: str | None = None) -> list:
        if not directory:
            directory = QtWidgets.QFileDialog.getExistingDirectory(self, "Export snapshot to",
                                                                   str(self.settings.value("export_dir", "")))
            if not directory:
                return []
            self.settings.setValue("export_dir", directory)
        try:
            written = self.controller.export_snapshot(directory)
        except Exception as exc:
            self.show_error(f"export failed: {exc}")
            return []
        self.message(f"exported {len(written)} files to {Path(written[0]).parent}")
        return written

    # ------------------------------------------------------------------ drag callbacks
    def _threshold_dragged(self, value: float) -> None:
        value = max(0.0, value)
        self.threshold_cps = value / (self.bin_ms.value() * 1e-3)
        self.controller.set_threshold(value)
        self._show_threshold()
        self.message(f"ON threshold set to {value:.0f} counts per bin (kept for the next Start / Reset)")

    def automatic_threshold(self) -> None:
        self.threshold_cps = None
        self.controller.set_threshold(None)
        self._show_threshold()
        self.message("ON threshold: automatic (Otsu)")

    def _show_threshold(self) -> None:
        if self.threshold_cps is None:
            self.thr_label.setText("ON threshold: automatic (Otsu)")
        else:
            b = self.bin_ms.value()
            self.thr_label.setText(f"ON threshold: {self.threshold_cps * b * 1e-3:.0f} counts per {b:g} ms bin "
                                   f"(set by hand)")

    def fit_options(self):
        """The fits' options from the controls (AnalysisOptions.fit_options): a FitOptions equal to what
        analyze --irf KIND|FILE [--irf-sigma-ps PS] gives (tagstream.commands.fit_options)."""
        from tagstream.analysis.fit_options import FitOptions

        kind = self.irf_box.currentData()
        path = self.irf_file.text().strip() if kind == "measured" else None
        if kind == "measured" and not path:
            return None                   # no file yet: the default (Gaussian) until one is chosen
        if path:
            path = str(Path(path).expanduser().absolute())
        sigma = self.irf_sigma.value() if kind in ("gaussian", "emg") and self.irf_sigma.value() > 0 else None
        tail = self.irf_tail.value() if kind == "emg" and self.irf_tail.value() > 0 else None
        return FitOptions(irf=kind, irf_path=path, irf_sigma_ps=sigma, irf_tail_ps=tail)

    def _show_irf_controls(self) -> None:
        kind = self.irf_box.currentData()
        self.irf_sigma.setEnabled(kind in ("gaussian", "emg"))
        self.irf_tail.setEnabled(kind == "emg")
        self.irf_file_row.setEnabled(kind == "measured")

    def _choose_irf_file(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Measured IRF", self.irf_file.text())
        if path:
            self.irf_file.setText(path)
            self.irf_box.setCurrentIndex(self.irf_box.findData("measured"))
            self._fit_changed()

    def _fit_changed(self, *_) -> None:
        self._show_irf_controls()
        opts = self.fit_options()
        if self.irf_box.currentData() == "measured" and opts is None:
            self.message("measured IRF: choose its file (the fits use the Gaussian IRF until then)")
        elif opts is not None and opts.irf == "measured" and not Path(opts.irf_path).is_file():
            self.message(f"measured IRF: {opts.irf_path} does not exist (the fits will say so)")
        self.controller.set_fit(self.fit_box.currentData(), opts)

    def _flid_log_toggled(self, on: bool) -> None:
        for name in ("flid", "level_flid"):
            self.views[name].set_log_colors(on)
        b = self.controller.last_drawn
        if b is not None:
            for name in ("flid", "level_flid"):
                self.views[name].update(b.results)

    def _record_toggled(self, on: bool) -> None:
        """Recording is decided at Start / Reset (a file holds one whole run): say so when ticked while running."""
        if not self.controller.running:
            return
        st = self.controller.current_status()
        if on and not (st and st.recording_path):
            text = "recording starts at the next Start / Reset (a recording holds a whole run from its first tag)"
        elif not on and st and st.recording_path:
            text = "this run's recording goes on until Stop"
        else:
            return
        self.message(text)
        self.statusBar().showMessage(text, 10000)

    def _regimes_dragged(self, regimes) -> None:
        from tagstream.app.views.lifetime import snap_regime

        self.regimes_ns = [snap_regime(*r) for r in regimes]
        self.controller.set_regimes(self.regimes_ns)
        self.settings.setValue("regimes", ",".join(r.label for r in parse_regimes(self.regimes_ns)))

    # ------------------------------------------------------------------ feedback
    def message(self, text: str) -> None:
        self.log.appendPlainText(f"{time.strftime('%H:%M:%S')}  {text}")

    def show_error(self, text: str) -> None:
        """Errors (also from worker threads, via the controller's signal): banner + log; display goes on."""
        self.banner.setText(f"⚠ {text}")
        self.banner.show()
        self.message(f"ERROR: {text}")
        self.statusBar().showMessage(f"error: {text}", 15000)

    def show_status(self, st) -> None:
        """Toolbar and status line from a LiveStatus (every GUI tick, before any drawing)."""
        state = self._state if self._state != "idle" else st.state
        set_label(self.st_state, state_text(st, state), "#ff5c5c" if st.state == "error" else "", bold=True)
        text, colour = rec_text(st, state)
        set_label(self.st_rec, text, colour, bold=bool(colour))
        if st.recording_path:
            self.st_rec.setToolTip(st.recording_path)
        text, colour = loss_text(st)
        set_label(self.st_loss, text, colour, bold=bool(colour))
        s = self.setup_from_controls()
        names = {v: k for k, v in s.roles.items()}
        sync_hz = st.rate_hz.get(s.sync) if s.sync else None
        laser_hz = None if not sync_hz or s.sync_filtered else sync_hz * s.sync_divider
        self.st_rates.update_rates(st.rate_hz, names, spads=(s.spad_a, s.spad_b),
                                   saturation_hz=self.saturation.value() * 1e6, laser_hz=laser_hz)
        lag = f"lag {st.analysis_lag_s * 1e3:.0f} ms tag time · {st.analysis_delay_s * 1e3:.0f} ms wall"
        if st.analysis_stopped:
            lag = "ANALYSIS STOPPED"
        warn = list(self.st_rates.warnings) + (["SIF frame triggers closer than the exposure (see messages)"]
                                               if self.spectra_warnings() else [])
        if warn:
            lag = "⚠ " + "; ".join(warn) + " · " + lag
        set_label(self.st_lag, lag, "#ff5c5c" if st.analysis_stopped or warn else "", bold=st.analysis_stopped)
        self.st_lag.setToolTip("\n".join(self.spectra_warnings()))

    def spectra_warnings(self) -> list[str]:
        """Warnings of the session's live spectra (a watched SIF folder: triggers closer than the exposure)."""
        return list(getattr(self.controller.spectra, "warnings", None) or ())

    def _state_changed(self, state: str) -> None:
        self._state = state
        self.start_act.setText("Stop" if state == "running" else "Start")
        if state == "finished":
            self.docks["fits"].raise_()          # the final fits are what a finished replay is for
            self.start_act.setToolTip("the source is finished: Start reads it again (F5)")
            self.message("finished: every tag read and analysed")
        else:
            self.start_act.setToolTip("start / stop acquiring (F5)")
        st = self.controller.current_status()
        if st is not None:
            self.show_status(st)

    def resizeEvent(self, ev) -> None:  # noqa: N802 (Qt)
        super().resizeEvent(ev)
        compact = ev.size().width() < COMPACT_WIDTH_PX
        if compact != self._compact:      # a restored layout too, once the size class changes
            self.arrange(compact)

    def arrange(self, compact: bool) -> None:
        """Dock layout for the window size. Compact (< COMPACT_WIDTH_PX, a 1366 x 768 laptop): g2, fits,
        spectra, trap spectrum and blinking share the top of the right column as tabs, the decays take its
        bottom, FLID and histogram the bottom row; else FLID | histogram | decays below the traces, g2 | fits
        tabs over spectra | trap spectrum | blinking tabs. (Qt adds a dock split off a tabbed one as a tab: the
        column is rebuilt, splits first.)"""
        A, O = QtCore.Qt.DockWidgetArea, QtCore.Qt.Orientation
        self._compact = compact
        d = self.docks
        names = ("g2", "fits", "spectra", "trap", "blinking", "decays")
        hidden = {n: d[n].isHidden() for n in names}
        for n in names:
            self.removeDockWidget(d[n])
        self.addDockWidget(A.RightDockWidgetArea, d["g2"])
        if compact:
            self.addDockWidget(A.RightDockWidgetArea, d["decays"])
            self.splitDockWidget(d["g2"], d["decays"], O.Vertical)
            for n in ("fits", "spectra", "trap", "blinking"):
                self.tabifyDockWidget(d["g2"], d[n])
        else:
            self.addDockWidget(A.RightDockWidgetArea, d["spectra"])
            self.splitDockWidget(d["g2"], d["spectra"], O.Vertical)
            self.tabifyDockWidget(d["g2"], d["fits"])
            self.tabifyDockWidget(d["spectra"], d["trap"])
            self.tabifyDockWidget(d["spectra"], d["blinking"])
            self.addDockWidget(A.BottomDockWidgetArea, d["decays"])
            self.splitDockWidget(d["histogram"], d["decays"], O.Horizontal)
        for n in names:
            d[n].setVisible(not hidden[n])
        d["spectra"].raise_()
        d["g2"].raise_()
        w, h = self.width(), self.height()
        side = max(250, int(0.18 * w))
        right = int((0.25 if compact else 0.27) * w)
        self.resizeDocks([d["controls"], d["g2"]], [side, right], QtCore.Qt.Orientation.Horizontal)
        self.resizeDocks([d["controls"], d["messages"]], [int(0.75 * h), int(0.12 * h)], QtCore.Qt.Orientation.Vertical)
        self.resizeDocks([d["flid"]], [int(0.42 * h)], QtCore.Qt.Orientation.Vertical)
        self.views["spectra"].set_compact(compact, self.plot_widgets["spectra"].ci)
        if compact:   # the decays (plot, legend below it, residuals) need the height more than the tabs
            self.resizeDocks([d["g2"], d["decays"]], [int(0.36 * h), int(0.64 * h)], QtCore.Qt.Orientation.Vertical)
        else:         # the spectra's three stacked plots need the height more than g2's one
            self.resizeDocks([d["g2"], d["spectra"]], [int(0.4 * h), int(0.6 * h)], QtCore.Qt.Orientation.Vertical)

    def closeEvent(self, ev) -> None:  # noqa: N802 (Qt)
        self.save_settings()
        self.controller.shutdown()
        super().closeEvent(ev)
        self._gc.release()
