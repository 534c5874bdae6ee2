"""LiveController: wires the live engine's bundles to the views (no widgets of its own).

The engine (tagstream.app.engine.LiveEngine: session, pipeline, snapshot and analysis-product threads)
runs in a child process (tagstream.app.live_process.RemoteEngine) when the source is given as a Recipe
(the window's own sources), so the pipeline and the fits never hold the GUI's GIL; a source object
(tests, scripts) runs it here, in threads. Either way the GUI thread has one fixed-rate timer
(RedrawScheduler, ~30 Hz) that first serves the status line, then draws the newest bundle within a time
budget; taking a bundle lets the engine take the next snapshot (ready by the next tick). Errors from the
engine's threads or process are re-emitted as the Qt signal `error`.
The GUI computes nothing: dragging a threshold or a regime calls the engine's set_* and the next
snapshot carries the recomputed result.
"""

from __future__ import annotations

import dataclasses
import time

from PyQt6 import QtCore

from tagstream.app.engine import Bundle, LiveEngine, Recipe
from tagstream.app.redraw import FAST, RedrawScheduler
from tagstream.pipeline import AnalysisConfig


class LiveController(QtCore.QObject):
    """views: objects with update(results) (DecayView: update(results, fits); SpectraViews:
    update(spectra_snapshot)); keys 'decays' and 'spectra' are treated so."""

    error = QtCore.pyqtSignal(str)        # from any thread -> shown by the window
    redrawn = QtCore.pyqtSignal(object)   # Bundle just drawn in the fast views (tests, benchmark)
    status = QtCore.pyqtSignal(object)    # LiveStatus, every tick while a session exists
    state = QtCore.pyqtSignal(str)        # "running" | "stopped" | "finished"

    def __init__(self, views: dict, *, interval_ms: int = 30, fit_interval_s: float | None = 2.0,
                 is_visible=None, parent=None) -> None:
        """interval_ms: GUI tick and shortest snapshot interval. is_visible(view name) -> bool: whether the
        view's panel is on screen (hidden ones are not drawn); default: all are."""
        super().__init__(parent)
        self.views = views
        self.interval_s = interval_ms / 1000.0
        self.fit_interval_s = fit_interval_s
        self.is_visible = is_visible if is_visible is not None else (lambda name: True)
        self.scheduler = RedrawScheduler()
        self.engine = self._new_engine(remote=False)
        self.last_drawn: Bundle | None = None
        self.timer = QtCore.QTimer(self)
        self.timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.tick)
        self._was_running = False
        self._finished = False
        self._stopped_elapsed_s: float | None = None   # elapsed time frozen at Stop / finish

    def _new_engine(self, remote: bool):
        kw = dict(interval_s=self.interval_s, fit_interval_s=self.fit_interval_s, on_error=self._report)
        if remote:
            from tagstream.app.live_process import RemoteEngine

            return RemoteEngine(**kw)
        return LiveEngine(**kw)

    def warm(self) -> None:
        """Start the live-engine process now, without waiting for it (its imports and compiled kernels are
        most of a first Start: 2.2-3.1 s of a blocked GUI thread cold, 0.06-0.11 s warm)."""
        if not self.remote:
            self.engine.shutdown()
            self.engine = self._new_engine(True)
        self.engine.warm()

    # the engine's state, read by the window and tests
    session = property(lambda self: self.engine.session)
    pipeline = property(lambda self: self.engine.pipeline)
    spectra = property(lambda self: self.engine.spectra)
    spectra_series = property(lambda self: self.engine.spectra_series)
    options = property(lambda self: self.engine.options)

    @property
    def remote(self) -> bool:
        """The engine runs in a child process."""
        return not isinstance(self.engine, LiveEngine)

    # -- session -----------------------------------------------------------------------------------
    def start(self, source, setup, config: AnalysisConfig, *, record_to=None, record_format="qutag-binary",
              spectra=None, spectra_file=None, fit: str | None = "global", fit_options=None) -> None:
        """Start a new session (stopping any previous one). source: a Recipe (tagstream.app.recipes: the
        engine runs in a child process) or a Source object (the engine runs here, in threads); spectra: a
        SpectraAccumulator fed by the source, a Recipe of live spectra, or None; spectra_file: the spectra
        of a replayed recording (.sif / .spectra.npz). fit / fit_options: the product's decay-fit model and
        its options. Raises what the session's start raises (source closed, recording file exists)."""
        self.stop()
        remote = isinstance(source, Recipe)
        if remote != self.remote:
            self.engine.shutdown()
            self.engine = self._new_engine(remote)
        self.scheduler.reset()
        self.last_drawn = None
        self._finished = False
        self._stopped_elapsed_s = None
        self.engine.start(source, setup, config, record_to=record_to, record_format=record_format,
                          spectra=spectra, spectra_file=spectra_file, fit=fit, fit_options=fit_options)
        self.timer.start()
        self._was_running = True
        self.state.emit("running")

    def stop(self) -> None:
        """Stop acquiring; the recording is closed and the analysis finishes its backlog. The last
        snapshot stays on screen and selections can still be changed."""
        if self.session is None:
            return
        self.engine.stop()
        self.request_redraw()
        if self._stopped_elapsed_s is None:
            st = self.engine.status()
            self._stopped_elapsed_s = st.elapsed_s if st is not None else 0.0
        if self._was_running:
            self._was_running = False
            self.state.emit("stopped")

    def shutdown(self) -> None:
        """stop() and end the engine's threads (and its process): window closing."""
        self.stop()
        self.timer.stop()
        self.engine.shutdown()

    def analyze(self, res):
        """The analysis product of a Results snapshot with this session's options (in-process engine)."""
        return self.engine.analyze(res)

    @property
    def analysis(self):
        """The analysis product of the last drawn bundle (None before the first)."""
        b = self.last_drawn
        return None if b is None else b.analysis

    @property
    def preview(self) -> bool:
        """The last drawn analysis is a preview (while acquiring, right after a drag: no profile intervals,
        no biexciton component) or there is none yet; False: the full analysis, as `analyze` gives it."""
        b = self.last_drawn
        return b is None or b.preview

    @property
    def running(self) -> bool:
        """Acquiring (a finished replay is not running: Start replays it again)."""
        st = self.engine.status() if self.session is not None else None
        return st is not None and not self._finished and st.state == "running"

    # -- selections (the engine's pipeline recomputes) -------------------------------------------------
    def set_threshold(self, counts: float | None) -> None:
        """ON threshold in counts per trace bin; None = automatic (Otsu)."""
        self.engine.set_threshold(counts)
        self.request_redraw()

    def set_fit(self, fit: str | None, fit_options=None) -> None:
        """Another decay-fit model / IRF for this session: the product is run again at once."""
        self.engine.set_fit(fit, fit_options)
        self.request_redraw()

    def set_time_zero(self, t0_ps: float | None) -> None:
        """Decay time zero: 0 = the laser sync (the seed's convention), None = the decay's rise (half maximum)."""
        self.engine.set_time_zero(t0_ps)
        self.request_redraw()

    def set_regimes(self, regimes_ns) -> None:
        self.engine.set_regimes(regimes_ns)
        self.request_redraw()

    def request_redraw(self) -> None:
        """Take a snapshot now (after a selection change) instead of waiting for new tags."""
        if self.session is None:
            return
        self.engine.request_snapshot()
        if not self.timer.isActive():
            self.timer.start()

    # -- drawing -----------------------------------------------------------------------------------
    def current_status(self):
        """The session's status, its elapsed time frozen once stopped or finished (None without a session)."""
        st = self.engine.status() if self.session is not None else None
        if st is None:
            return None
        if self._stopped_elapsed_s is not None:
            st = dataclasses.replace(st, elapsed_s=self._stopped_elapsed_s)
        return st

    def tick(self) -> None:
        """GUI thread, every interval: the status line first, then the newest bundle (within the budget)."""
        st = self.current_status()
        if st is None:
            return
        if not self._finished and st.state == "running" and st.source_finished and self.engine.session_done():
            self._finished = True              # a finite source is done and every tag analysed
            self._stopped_elapsed_s = st.elapsed_s
            self._was_running = False
            self.request_redraw()
            self.state.emit("finished")
        self.status.emit(st)
        if self._was_running and st.state != "running":
            self._was_running = False
            self._stopped_elapsed_s = st.elapsed_s
            self.state.emit("stopped")
        self.draw_latest(everything=st.state != "running" or self._finished)

    @property
    def finished(self) -> bool:
        """A finite source (replay) was read to its end and every tag analysed."""
        return self._finished

    def draw_latest(self, everything: bool = False) -> None:
        """Draw the newest bundle in the views that are due (GUI thread); everything: in every visible one."""
        b = self.engine.latest()
        if b is None:
            return
        self.engine.take()   # the engine takes the next snapshot now, while we draw this (ready next tick)
        self.draw(b, everything=everything)

    def draw(self, b: Bundle, everything: bool = True) -> None:
        sch = self.scheduler
        names = sch.plan(self.views.keys(), b.seq, time.monotonic(), self.is_visible, everything=everything)
        fast_drawn = False
        for name in names:
            v = self.views[name]
            t = time.perf_counter()
            if name == "decays":
                v.update(b.results, b.fits)
            elif name == "spectra":
                v.update(b.spectra)
            elif hasattr(v, "update_analysis"):       # fit table, trap spectrum: the analysis product
                v.update_analysis(getattr(b, "analysis", None))
            else:
                v.update(b.results)
            sch.drawn(name, b.seq, time.monotonic(), time.perf_counter() - t)
            fast_drawn |= name in FAST
        if names and (fast_drawn or self.last_drawn is None or self.last_drawn.seq != b.seq):
            self.last_drawn = b
            self.redrawn.emit(b)

    @property
    def complete(self) -> bool:
        """Every visible view shows last_drawn (slow panels catch up within their period)."""
        b = self.last_drawn
        return b is not None and b is self.latest() and self.scheduler.complete(self.views.keys(), b.seq,
                                                                                  self.is_visible)

    def latest(self) -> Bundle | None:
        return self.engine.latest()

    # -- errors and export ---------------------------------------------------------------------------
    def _report(self, message: str) -> None:
        """Any thread: hand the message to the GUI thread (queued signal)."""
        self.error.emit(message)

    def export_snapshot(self, directory, *, title: str = "tagstream live snapshot"):
        """Parquet tables + PNG report of the current results (the analysis product, as
        `tagstream analyze --export` writes them) into a new time-stamped subfolder."""
        return self.engine.export(directory, title=title)
