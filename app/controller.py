"""LiveController: wires a LiveSession's snapshots to the views (no widgets of its own).

Threads: the session's acquisition and analysis threads (tagstream.sources.live); a snapshot
thread here that takes pipeline snapshots (~ms each, growing with the data), runs the analysis
product on them (tagstream.product.analyze_recording: regime fits, spectra per regime; at most every
fit_interval_s, and once more when a finite source is done, so a replay ends with exactly what
`tagstream analyze` gives) and spectra snapshots, so the GUI thread never waits on the analysis; and the GUI thread, whose QTimer (~20 Hz) draws the newest bundle and the status.
Errors from the worker threads (LiveSession.on_error) are re-emitted as the Qt signal `error`.
The GUI computes nothing: dragging a threshold or a regime calls pipeline.set_selection() and the
next snapshot carries the recomputed result.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from PyQt6 import QtCore

from tagstream.pipeline import AnalysisConfig, Pipeline
from tagstream.product import AnalysisOptions, analyze_recording
from tagstream.sources import LiveSession


@dataclass(frozen=True)
class Bundle:
    """What one redraw shows: a Results snapshot, fits per regime (or None), a spectra snapshot, and
    the analysis product they come from (tagstream.product.Analysis; None before the first one)."""

    results: object
    fits: list | None
    spectra: object | None
    taken_s: float          # time.monotonic() when the snapshot was taken
    seq: int
    analysis: object = None


POLL_S = 0.01   # how often the snapshot thread looks for new tags when idle


class _SnapshotWorker(threading.Thread):
    def __init__(self, ctrl: "LiveController") -> None:
        super().__init__(name="tagstream-snapshots", daemon=True)
        self.ctrl = ctrl
        self.wake = threading.Event()
        self.halt = threading.Event()

    def run(self) -> None:
        c = self.ctrl
        last_fit = -1e9
        analysis, fit_sel = None, None
        seen = analysed = (-1, None)   # analysed: (tags, selection) of the final analysis once done
        t_snap = 0.0    # when the last snapshot was taken: snapshots are >= interval_s apart
        while not self.halt.is_set():
            # look for new tags every POLL_S (cheap), snapshot at most every interval_s
            self.wake.wait(max(POLL_S, c.interval_s - (time.monotonic() - t_snap)))
            self.wake.clear()
            if self.halt.is_set():
                return
            pipe = c.pipeline
            if pipe is None:
                continue
            try:
                sel = c._sel_version
                n = c.session.status().tags_analyzed if c.session is not None else 0
                done = c.session is not None and c._session_done()
                final_due = done and c.fit_interval_s is not None and analysed != (n, sel)
                if (n, sel) == seen and not c._force and not final_due:
                    continue
                c._force = False
                t = t_snap = time.monotonic()
                res = pipe.snapshot()
                seen = (res.n_records, sel)
                if c.fit_interval_s is not None and (t - last_fit >= c.fit_interval_s or fit_sel != sel or final_due):
                    analysis, fit_sel, last_fit = c.analyze(res), sel, time.monotonic()
                    analysed = (res.n_records, sel) if done else None
                a = analysis if fit_sel == sel else None
                fits = None if a is None or a.fits is None else list(a.fits.fits)
                spec = c.spectra_snapshot(res, None if a is None else a.spectra)
                with c._lock:
                    c._seq += 1
                    c._bundle = Bundle(res, fits, spec, t, c._seq, a)
                c._ready.emit()  # queued to the GUI thread: draw now rather than at the next tick
            except Exception as exc:  # keep the display alive; say what happened
                c._report(f"display snapshot failed: {type(exc).__name__}: {exc}")
                time.sleep(0.5)


class LiveController(QtCore.QObject):
    """views: objects with update(results) (DecayView: update(results, fits); SpectraViews:
    update(spectra_snapshot)); keys 'decays' and 'spectra' are treated so."""

    error = QtCore.pyqtSignal(str)        # from any thread -> shown by the window
    redrawn = QtCore.pyqtSignal(object)   # Bundle just drawn (tests, benchmark)
    status = QtCore.pyqtSignal(object)    # LiveStatus, every tick while a session exists
    state = QtCore.pyqtSignal(str)        # "running" | "stopped"
    _ready = QtCore.pyqtSignal()          # snapshot thread -> GUI thread: a new bundle is waiting

    def __init__(self, views: dict, *, interval_ms: int = 50, fit_interval_s: float | None = 2.0,
                 parent=None) -> None:
        super().__init__(parent)
        self.views = views
        self.interval_s = interval_ms / 1000.0
        self.fit_interval_s = fit_interval_s
        self.session: LiveSession | None = None
        self.pipeline: Pipeline | None = None
        self.spectra = None          # SpectraAccumulator of a live camera, or None
        self.spectra_series = None   # SpectralSeries of a replayed recording's spectra file, or None
        self.options: AnalysisOptions | None = None
        self._lock = threading.Lock()
        self._bundle: Bundle | None = None
        self._drawn_seq = 0
        self._seq = 0
        self._force = False
        self._sel_version = 0   # bumped by every selection change (fits are redone for a new one)
        self._worker: _SnapshotWorker | None = None
        self.last_drawn: Bundle | None = None
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.tick)
        self._ready.connect(self.draw_latest, QtCore.Qt.ConnectionType.QueuedConnection)
        self._was_running = False

    # -- session -----------------------------------------------------------------------------------
    def start(self, source, setup, config: AnalysisConfig, *, record_to=None, record_format="qutag-binary",
              spectra=None, spectra_file=None, fit: str | None = "global") -> None:
        """Start a new session (stopping any previous one). spectra: a SpectraAccumulator fed by the
        source (tagstream.app.camera), or None; spectra_file: the spectra of a replayed recording
        (.sif / .spectra.npz). fit: the product's decay-fit model. Raises what LiveSession.start
        raises (source closed)."""
        self.stop()
        if record_to is not None and Path(record_to).exists():
            source.close()
            raise FileExistsError(f"recording file {record_to} exists: choose another name")
        self.pipeline = Pipeline(setup, config)
        self.spectra = spectra
        self.spectra_series = None
        if spectra_file is not None:
            from tagstream.spectra import read_spectra

            self.spectra_series = read_spectra(spectra_file)
        self.options = AnalysisOptions(config=config, setup=setup, setup_source="live", fit=fit,
                                       spectra_sidecar=False)
        self.session = LiveSession(source, pipeline=self.pipeline, record_to=record_to, record_format=record_format,
                                   setup=setup, on_error=self._report)
        with self._lock:
            self._bundle = None
        try:
            self.session.start()
        except Exception:
            try:
                self.session.close()
            except Exception:
                pass
            raise
        self._stop_worker()   # a restart (replay, reset) must not leave the previous snapshot thread running
        self._worker = _SnapshotWorker(self)
        self._worker.start()
        self.timer.start()
        self._was_running = True
        self.state.emit("running")

    def stop(self) -> None:
        """Stop acquiring; the recording is closed and the analysis finishes its backlog. The last
        snapshot stays on screen and selections can still be changed."""
        if self.session is None:
            return
        try:
            self.session.close()
        except RuntimeError as exc:
            self._report(str(exc))
        self._force = True
        self.request_redraw()
        if self._was_running:
            self._was_running = False
            self.state.emit("stopped")

    def shutdown(self) -> None:
        """stop() and end the snapshot thread (window closing)."""
        self.stop()
        self.timer.stop()
        self._stop_worker()

    def _stop_worker(self) -> None:
        if self._worker is not None:
            self._worker.halt.set()
            self._worker.wake.set()
            self._worker.join(5)
            self._worker = None

    # -- the analysis product ------------------------------------------------------------------------
    def analyze(self, res):
        """The analysis product (tagstream.product.Analysis) of a Results snapshot with this session's
        options and spectra: the same computation as `tagstream analyze`."""
        series = self.spectra.series() if self.spectra is not None else self.spectra_series
        opts = self.options if series is None else dataclasses.replace(self.options, spectra=series)
        return analyze_recording(res, opts, title="live")

    def spectra_snapshot(self, res, regime_spectra):
        """What the spectra views draw: the frames (waterfall) and the product's regime spectra."""
        if self.spectra is not None:
            return self.spectra.snapshot(res, regime_spectra)
        if self.spectra_series is not None:
            from tagstream.app.spectra_model import spectra_snapshot

            return spectra_snapshot(self.spectra_series, res, regime_spectra)
        return None

    def _session_done(self) -> bool:
        st = self.session.status()
        return (st.state != "running" or st.source_finished) and st.analysis_lag_tags == 0 and \
            not any(t.is_alive() for t in self.session.threads)

    @property
    def analysis(self):
        """The analysis product of the last drawn bundle (None before the first)."""
        b = self.last_drawn
        return None if b is None else b.analysis

    @property
    def running(self) -> bool:
        return self.session is not None and self.session.status().state == "running"

    # -- selections (the pipeline recomputes) --------------------------------------------------------
    def set_threshold(self, counts: float | None) -> None:
        """ON threshold in counts per trace bin; None = automatic (Otsu)."""
        if self.pipeline is not None:
            self.pipeline.set_selection(on_threshold=None if counts is None else float(counts))
            self._sel_version += 1
            self.request_redraw()

    def set_regimes(self, regimes_ns) -> None:
        if self.pipeline is not None:
            self.pipeline.set_selection(regimes_ns=[tuple(r) for r in regimes_ns])
            self._sel_version += 1
            self.request_redraw()

    def request_redraw(self) -> None:
        """Take a snapshot now (after a selection change) instead of waiting for new tags."""
        self._force = True
        if self._worker is not None:
            self._worker.wake.set()
        if not self.timer.isActive() and self.session is not None:
            self.timer.start()

    # -- drawing -----------------------------------------------------------------------------------
    def tick(self) -> None:
        """GUI thread, every interval: status line, and the newest bundle if there is one."""
        if self.session is None:
            return
        st = self.session.status()
        self.status.emit(st)
        if self._was_running and st.state != "running":
            self._was_running = False
            self.state.emit("stopped")
        self.draw_latest()

    def draw_latest(self) -> None:
        """Draw the newest bundle unless it is already on screen (GUI thread)."""
        with self._lock:
            b = self._bundle
        if b is None or b.seq == self._drawn_seq:
            return
        self.draw(b)

    def draw(self, b: Bundle) -> None:
        for name, v in self.views.items():
            if name == "decays":
                v.update(b.results, b.fits)
            elif name == "spectra":
                v.update(b.spectra)
            else:
                v.update(b.results)
        self._drawn_seq = b.seq
        self.last_drawn = b
        self.redrawn.emit(b)

    def latest(self) -> Bundle | None:
        with self._lock:
            return self._bundle

    # -- errors and export ---------------------------------------------------------------------------
    def _report(self, message: str) -> None:
        """Any thread: hand the message to the GUI thread (queued signal)."""
        self.error.emit(message)

    def export_snapshot(self, directory, *, title: str = "tagstream live snapshot") -> list[Path]:
        """Parquet tables + PNG report of the current results (the analysis product, as
        `tagstream analyze --export` writes them) into a new time-stamped subfolder."""
        if self.pipeline is None:
            raise RuntimeError("nothing to export: start a measurement first")
        a = self.analyze(self.pipeline.snapshot())
        out = Path(directory) / f"snapshot-{_dt.datetime.now():%Y%m%d-%H%M%S}"
        return dataclasses.replace(a, source=title).write(out)
