"""LiveController: wires a LiveSession's snapshots to the views (no widgets of its own).

Threads: the session's acquisition and analysis threads (tagstream.sources.live); a snapshot
thread here that takes pipeline snapshots (~ms each, growing with the data) and spectra snapshots; an
analysis thread that runs the analysis product on the newest snapshot (tagstream.product.analyze_recording:
regime fits, spectra per regime, trap spectrum; at most every max(fit_interval_s, its last CPU time /
PRODUCT_DUTY) — its Python holds the GIL the GUI needs —, at once after a selection change, and on the
finalized results when a finite source is done, so a replay ends with exactly what `tagstream analyze`
gives) without holding up the snapshots; and the GUI thread, where one fixed-rate timer
(RedrawScheduler, ~30 Hz) first serves the status line, then draws the newest bundle within a time
budget. The snapshot thread never asks for a redraw (a queue of redraw requests once crowded out
timers and input for seconds); the GUI wakes it when it takes a bundle, so the next one is ready by
the next tick.
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

from tagstream.app.redraw import FAST, RedrawScheduler
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
PRODUCT_DUTY = 0.2   # the analysis product (fits: Python holding the GIL) may take this share of one core:
                     # while acquiring it is rerun every max(fit_interval_s, its CPU time / PRODUCT_DUTY)


class _AnalysisWorker(threading.Thread):
    """Runs the analysis product on the snapshot handed to it (one at a time; a newer one replaces a
    waiting one), then has the snapshot thread make a bundle with it."""

    def __init__(self, ctrl: "LiveController") -> None:
        super().__init__(name="tagstream-analysis-product", daemon=True)
        self.ctrl = ctrl
        self.wake = threading.Event()
        self.halt = threading.Event()
        self._job = None            # (Results, selection version, final)
        self._lock = threading.Lock()
        self.busy = False
        self.cpu_s = 0.0            # this thread's CPU time of the last run (it holds the GIL most of it)

    def submit(self, res, sel: int, final: bool) -> None:
        with self._lock:
            self._job = (res, sel, final)
        self.wake.set()

    def run(self) -> None:
        c = self.ctrl
        while not self.halt.is_set():
            self.wake.wait(0.5)
            self.wake.clear()
            with self._lock:
                job, self._job = self._job, None
                self.busy = job is not None
            if job is None:
                continue
            res, sel, final = job
            cpu0 = time.thread_time()
            try:
                a = c.analyze(res)
                with c._lock:
                    c._analysis = (sel, res.n_records, final, a)
            except Exception as exc:  # keep the display alive; say what happened
                c._report(f"analysis failed: {type(exc).__name__}: {exc}")
                with c._lock:
                    c._analysis = (sel, res.n_records, final, None)
            finally:
                self.cpu_s = time.thread_time() - cpu0
                self.busy = False
            c._force = True            # a bundle with the new analysis (no Qt call here: not the GUI thread)
            w = c._worker
            if w is not None:
                w.wake.set()


class _SnapshotWorker(threading.Thread):
    def __init__(self, ctrl: "LiveController") -> None:
        super().__init__(name="tagstream-snapshots", daemon=True)
        self.ctrl = ctrl
        self.wake = threading.Event()
        self.halt = threading.Event()
        self.analyst = _AnalysisWorker(ctrl)

    def run(self) -> None:
        c = self.ctrl
        self.analyst.start()
        try:
            self._loop()
        finally:
            self.analyst.halt.set()
            self.analyst.wake.set()
            self.analyst.join(30)

    def _loop(self) -> None:
        c = self.ctrl
        last_fit = -1e9
        asked = None     # (selection, tags, final) of the last analysis asked for
        seen = (-1, None)
        t_snap = 0.0    # when the last snapshot was taken: snapshots are >= interval_s apart
        while not self.halt.is_set():
            # look for new tags every POLL_S (cheap), snapshot at most every interval_s and only once
            # the GUI has taken the previous bundle (no snapshot nobody will draw)
            self.wake.wait(max(POLL_S, c.interval_s - (time.monotonic() - t_snap)))
            self.wake.clear()
            if self.halt.is_set():
                return
            pipe = c.pipeline
            if pipe is None:
                continue
            try:
                sel = c._sel_version
                done = c.session is not None and c._session_done()
                if done:
                    pipe.finalize()     # every tag analysed: the final results, as analyze_file gives them
                n = c.session.status().tags_analyzed if c.session is not None else 0
                final_due = done and c.fit_interval_s is not None and asked != (sel, n, True)
                if (n, sel) == seen and not c._force and not final_due:
                    continue
                if not c._force and not c._taken.is_set():
                    continue
                c._force = False
                t = t_snap = time.monotonic()
                res = pipe.snapshot()
                seen = (res.n_records, sel)
                if c.fit_interval_s is not None and not self.analyst.busy and (
                        final_due or (asked is None or asked[0] != sel)
                        or (not done and t - last_fit >= max(c.fit_interval_s,
                                                             self.analyst.cpu_s / PRODUCT_DUTY))):
                    asked = (sel, res.n_records, done)
                    self.analyst.submit(res, sel, done)
                    last_fit = t
                with c._lock:
                    got = c._analysis
                a = got[3] if got is not None and got[0] == sel else None
                fits = None if a is None or a.fits is None else list(a.fits.fits)
                spec = c.spectra_snapshot(res, None if a is None else a.spectra)
                with c._lock:
                    c._seq += 1
                    c._bundle = Bundle(res, fits, spec, t, c._seq, a)
                    c._taken.clear()
            except Exception as exc:  # keep the display alive; say what happened
                c._report(f"display snapshot failed: {type(exc).__name__}: {exc}")
                time.sleep(0.5)


def _matched_frames(series, res):
    """A live camera's frames and the analysed frame triggers, cut to the frames that have both (a frame
    may be read out before its trigger tag is analysed, or a trigger seen before its frame is read)."""
    fr = res.frames
    if fr is None:
        return series, res
    n = min(series.n_frames, len(fr.frame_start_ps))
    if n == 0:
        return None, res
    if series.n_frames > n:
        cut = {k: getattr(series, k)[:n] for k in ("counts", "frame_times_s", "frame_start_ps")
               if getattr(series, k) is not None}
        series = dataclasses.replace(series, **cut)
    if len(fr.frame_start_ps) > n:
        res = dataclasses.replace(res, frames=dataclasses.replace(
            fr, frame_start_ps=fr.frame_start_ps[:n], counts_a=fr.counts_a[:n], counts_b=fr.counts_b[:n]))
    return series, res


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
        self.is_visible = is_visible if is_visible is not None else (lambda name: True)
        self.scheduler = RedrawScheduler()
        self._taken = threading.Event()   # the GUI has taken the newest bundle: the next snapshot may be taken
        self._taken.set()
        self.fit_interval_s = fit_interval_s
        self.session: LiveSession | None = None
        self.pipeline: Pipeline | None = None
        self.spectra = None          # SpectraAccumulator of a live camera, or None
        self.spectra_series = None   # SpectralSeries of a replayed recording's spectra file, or None
        self.options: AnalysisOptions | None = None
        self._lock = threading.Lock()
        self._bundle: Bundle | None = None
        self._seq = 0
        self._force = False
        self._analysis = None   # (selection version, tags, final, tagstream.product.Analysis) last computed
        self._sel_version = 0   # bumped by every selection change (fits are redone for a new one)
        self._worker: _SnapshotWorker | None = None
        self.last_drawn: Bundle | None = None
        self.timer = QtCore.QTimer(self)
        self.timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.tick)
        self._was_running = False
        self._finished = False
        self._stopped_elapsed_s: float | None = None   # elapsed time frozen at Stop / finish

    # -- session -----------------------------------------------------------------------------------
    def start(self, source, setup, config: AnalysisConfig, *, record_to=None, record_format="qutag-binary",
              spectra=None, spectra_file=None, fit: str | None = "global", fit_options=None) -> None:
        """Start a new session (stopping any previous one). spectra: a SpectraAccumulator fed by the
        source (tagstream.app.camera), or None; spectra_file: the spectra of a replayed recording
        (.sif / .spectra.npz). fit: the product's decay-fit model; fit_options: its options (IRF, ...,
        as AnalysisOptions.fit_options). Raises what LiveSession.start raises (source closed)."""
        self.stop()
        self._stop_worker()   # before the new pipeline: the old threads must never see (or finalize) it
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
                                       fit_options=fit_options, spectra_sidecar=False)
        self.session = LiveSession(source, pipeline=self.pipeline, record_to=record_to, record_format=record_format,
                                   setup=setup, on_error=self._report)
        with self._lock:
            self._bundle = None
            self._analysis = None
        self._taken.set()
        self.scheduler.reset()
        self.last_drawn = None
        self._finished = False
        self._stopped_elapsed_s = None
        try:
            self.session.start()
        except Exception:
            try:
                self.session.close()
            except Exception:
                pass
            raise
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
        close_spectra = getattr(self.spectra, "close", None)   # a watched SIF folder's polling thread
        if close_spectra is not None:
            close_spectra()
        self._force = True
        self.request_redraw()
        if self._stopped_elapsed_s is None:
            self._stopped_elapsed_s = self.session.status().elapsed_s
        if self._was_running:
            self._was_running = False
            self.state.emit("stopped")

    def shutdown(self) -> None:
        """stop() and end the snapshot thread (window closing)."""
        self.stop()
        self.timer.stop()
        self._stop_worker()

    def _stop_worker(self) -> None:
        w = self._worker
        if w is not None:
            for t in (w, w.analyst):
                t.halt.set()
                t.wake.set()
            w.join(30)          # it waits for the analysis thread (a fit in progress) to end
            w.analyst.join(30)
            self._worker = None

    # -- the analysis product ------------------------------------------------------------------------
    def analyze(self, res):
        """The analysis product (tagstream.product.Analysis) of a Results snapshot with this session's
        options and spectra: the same computation as `tagstream analyze`."""
        series = self.spectra.series() if self.spectra is not None else self.spectra_series
        if self.spectra is not None and series is not None:
            series, res = _matched_frames(series, res)
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
        """Acquiring (a finished replay is not running: Start replays it again)."""
        return self.session is not None and not self._finished and self.session.status().state == "running"

    # -- selections (the pipeline recomputes) --------------------------------------------------------
    def set_threshold(self, counts: float | None) -> None:
        """ON threshold in counts per trace bin; None = automatic (Otsu)."""
        if self.pipeline is not None:
            self.pipeline.set_selection(on_threshold=None if counts is None else float(counts))
            self._sel_version += 1
            self.request_redraw()

    def set_fit(self, fit: str | None, fit_options=None) -> None:
        """Another decay-fit model / IRF for this session: the product is run again at once."""
        if self.options is not None:
            self.options = dataclasses.replace(self.options, fit=fit, fit_options=fit_options)
            self._sel_version += 1
            self.request_redraw()

    def set_time_zero(self, t0_ps: float | None) -> None:
        """Decay time zero: 0 = the laser sync (the seed's convention), None = the decay's rise (half maximum)."""
        if self.pipeline is not None:
            self.pipeline.set_selection(t0_ps=t0_ps)
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
    def current_status(self):
        """The session's status, its elapsed time frozen once stopped or finished (None without a session)."""
        if self.session is None:
            return None
        st = self.session.status()
        if self._stopped_elapsed_s is not None:
            st = dataclasses.replace(st, elapsed_s=self._stopped_elapsed_s)
        return st

    def tick(self) -> None:
        """GUI thread, every interval: the status line first, then the newest bundle (within the budget)."""
        if self.session is None:
            return
        st = self.current_status()
        if (not self._finished and st.state == "running" and st.source_finished and st.analysis_lag_tags == 0
                and not any(t.is_alive() for t in self.session.threads)):
            self._finished = True              # a finite source is done and every tag analysed
            self._stopped_elapsed_s = st.elapsed_s
            self._was_running = False
            self._force = True
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
        with self._lock:
            b = self._bundle
        if b is None:
            return
        self._taken.set()   # the snapshot thread takes the next one now, while we draw this (ready next tick)
        w = self._worker
        if w is not None:
            w.wake.set()
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
