"""LiveEngine: the live analysis without Qt — a LiveSession (source -> recorder + pipeline), a snapshot
thread and an analysis-product thread making the Bundles a GUI draws. It runs either in the GUI's process
(threads; tests and scripts that hand the window a source object) or alone in a child process
(tagstream.app.live_process), so that the GUI thread has its interpreter (and GIL) to itself.

Threads: the session's acquisition and analysis threads (tagstream.sources.live); a snapshot
thread here that takes pipeline snapshots (~ms each, growing with the data) and spectra snapshots; an
analysis thread that runs the analysis product on the newest snapshot (tagstream.product.analyze_recording:
regime fits, spectra per regime, trap spectrum; at most every max(fit_interval_s, its last CPU time /
PRODUCT_DUTY), at once after a selection change, and on the finalized results when a finite source is
done, so a replay ends with exactly what `tagstream analyze` gives) without holding up the snapshots.
While acquiring, and first after a selection change (a drag), it runs a preview (analyze(preview=True): no
profile-likelihood intervals, no biexciton component; ~5x cheaper); once every tag is analysed the full
fit follows, so the final bundle is exactly `analyze`'s (Bundle.preview False). A fit whose selection was
changed meanwhile, or that nobody waits for any more (shutdown), is abandoned (tagstream.analysis.cancel).
The snapshot thread never asks for a redraw: the GUI takes the newest bundle (latest()) on its own timer
and calls take(), which lets the next snapshot be taken (no snapshot nobody will draw).
Dragging a threshold or a regime calls the pipeline's set_selection(); the next snapshot carries the
recomputed result.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import importlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tagstream.analysis.cancel import Cancelled, cancellable
from tagstream.analysis.fit_options import FitOptions
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
    preview: bool = True    # the analysis is a preview (LiveEngine.analyze(preview=True)); False: the full one


POLL_S = 0.01   # how often the snapshot thread looks for new tags when idle
PRODUCT_DUTY = 0.2   # the analysis product (fits: Python holding the GIL) may take this share of one core:
                     # while acquiring it is rerun every max(fit_interval_s, its CPU time / PRODUCT_DUTY)


class _AnalysisWorker(threading.Thread):
    """Runs the analysis product on the snapshot handed to it (one at a time; a newer one replaces a
    waiting one), then has the snapshot thread make a bundle with it."""

    def __init__(self, ctrl: "LiveEngine") -> None:
        super().__init__(name="tagstream-analysis-product", daemon=True)
        self.ctrl = ctrl
        self.wake = threading.Event()
        self.halt = threading.Event()
        self._job = None            # (Results, selection version, final)
        self._lock = threading.Lock()
        self.busy = False
        self._running = None        # (selection version, cancel Event) of the job being computed
        self.cpu_s = 0.0            # this thread's CPU time of the last run (it holds the GIL most of it)

    def submit(self, res, sel: int, final: bool) -> None:
        """Compute this next (replacing a waiting job); a running job of another selection is abandoned."""
        with self._lock:
            self._job = (res, sel, final)
            if self._running is not None and self._running[0] != sel:
                self._running[1].set()
        self.wake.set()

    def cancel(self) -> None:
        """Abandon the running job (shutdown)."""
        with self._lock:
            if self._running is not None:
                self._running[1].set()

    def run(self) -> None:
        c = self.ctrl
        while not self.halt.is_set():
            self.wake.wait(0.5)
            self.wake.clear()
            with self._lock:
                job, self._job = self._job, None
                self.busy = job is not None
                ev = threading.Event()
                self._running = None if job is None else (job[1], ev)
            if job is None:
                continue
            res, sel, final = job
            cpu0 = time.thread_time()
            try:
                with cancellable(ev):
                    a = c.analyze(res, preview=not final)
                with c._lock:
                    c._analysis = (sel, res.n_records, final, a)
            except Cancelled:
                pass                   # superseded (a newer selection) or shut down: nothing to show
            except Exception as exc:  # keep the display alive; say what happened
                c._report(f"analysis failed: {type(exc).__name__}: {exc}")
                with c._lock:
                    c._analysis = (sel, res.n_records, final, None)
            finally:
                self.cpu_s = time.thread_time() - cpu0
                with self._lock:
                    self._running = None
                    self.busy = self._job is not None
            c._force = True            # a bundle with the new analysis (no Qt call here: not the GUI thread)
            w = c._worker
            if w is not None:
                w.wake.set()


class _SnapshotWorker(threading.Thread):
    def __init__(self, ctrl: "LiveEngine") -> None:
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
                fitting = c.fit_interval_s is not None
                new_sel = fitting and (asked is None or asked[0] != sel)
                final_due = done and fitting and asked != (sel, n, True) and not self.analyst.busy
                if (n, sel) == seen and not c._force and not final_due and not new_sel:
                    continue
                if not c._force and not c._taken.is_set():
                    continue
                c._force = False
                t = t_snap = time.monotonic()
                res = pipe.snapshot()
                seen = (res.n_records, sel)
                if new_sel or final_due or (fitting and not done and not self.analyst.busy and t - last_fit >= max(
                        c.fit_interval_s, self.analyst.cpu_s / PRODUCT_DUTY)):
                    # a new selection after an earlier analysis (a drag): a preview first, the full fit then
                    final = done and not (new_sel and asked is not None)
                    asked = (sel, res.n_records, final)
                    self.analyst.submit(res, sel, final)    # abandons a running fit of an older selection
                    last_fit = t
                with c._lock:
                    got = c._analysis
                a = got[3] if got is not None and got[0] == sel else None
                fits = None if a is None or a.fits is None else list(a.fits.fits)
                spec = c.spectra_snapshot(res, None if a is None else a.spectra)
                with c._lock:
                    c._seq += 1
                    c._bundle = Bundle(res, fits, spec, t, c._seq, a, preview=a is None or not got[2])
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


@dataclass(frozen=True)
class Recipe:
    """How to make a source (or live spectra) in whichever process runs the engine: target
    "module:function" called as function(engine, **kwargs); a source recipe returns (source, spectra or
    None), a spectra recipe the spectra. Picklable, unlike the sources themselves."""

    target: str
    kwargs: dict = field(default_factory=dict)

    def make(self, engine: "LiveEngine"):
        module, name = self.target.split(":")
        return getattr(importlib.import_module(module), name)(engine, **self.kwargs)


class LiveEngine:
    """The Qt-free live analysis: start(), stop(), selections, latest() / take(), status(), export()."""

    def __init__(self, *, interval_s: float = 0.03, fit_interval_s: float | None = 2.0, on_error=None) -> None:
        self.interval_s = float(interval_s)
        self.fit_interval_s = fit_interval_s
        self.on_error = on_error
        self.session: LiveSession | None = None
        self.pipeline: Pipeline | None = None
        self.spectra = None          # SpectraAccumulator of a live camera / watched SIF folder, or None
        self.spectra_series = None   # SpectralSeries of a replayed recording's spectra file, or None
        self.options: AnalysisOptions | None = None
        self._taken = threading.Event()   # the GUI has taken the newest bundle: the next snapshot may be taken
        self._taken.set()
        self._lock = threading.Lock()
        self._bundle: Bundle | None = None
        self._seq = 0
        self._force = False
        self._analysis = None   # (selection version, tags, final, tagstream.product.Analysis) last computed
        self._sel_version = 0   # bumped by every selection change (fits are redone for a new one)
        self._worker: _SnapshotWorker | None = None

    def start(self, source, setup, config: AnalysisConfig, *, record_to=None, record_format="qutag-binary",
              spectra=None, spectra_file=None, fit: str | None = "global", fit_options=None) -> None:
        """A new session (stopping any previous one). source: a Source, or a Recipe of one; spectra: a
        SpectraAccumulator fed by the source (tagstream.app.camera), a Recipe of live spectra, or None;
        spectra_file: the spectra of a replayed recording (.sif / .spectra.npz). fit: the product's
        decay-fit model; fit_options: its options (IRF, ..., as AnalysisOptions.fit_options). Raises what
        LiveSession.start raises (source closed)."""
        self.stop()
        self._stop_worker()   # before the new pipeline: the old threads must never see (or finalize) it
        if isinstance(source, Recipe):
            source, made = source.make(self)
            spectra = made if spectra is None else spectra
        if isinstance(spectra, Recipe):
            spectra = spectra.make(self)
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

    def stop(self) -> None:
        """Stop acquiring; the recording is closed and the analysis finishes its backlog. The last
        snapshot stays and selections can still be changed."""
        if self.session is None:
            return
        try:
            self.session.close()
        except RuntimeError as exc:
            self._report(str(exc))
        close_spectra = getattr(self.spectra, "close", None)   # a watched SIF folder's polling thread
        if close_spectra is not None:
            close_spectra()
        self.request_snapshot()

    def shutdown(self) -> None:
        """stop() and end the snapshot thread."""
        self.stop()
        self._stop_worker()

    def _stop_worker(self) -> None:
        w = self._worker
        if w is not None:
            for t in (w, w.analyst):
                t.halt.set()
                t.wake.set()
            w.analyst.cancel()  # a fit in progress is abandoned (nobody will draw it)
            w.join(30)          # it waits for the analysis thread (a fit in progress) to end
            w.analyst.join(30)
            self._worker = None

    # -- reading -------------------------------------------------------------------------------------
    def status(self):
        """The session's LiveStatus (None without a session)."""
        return None if self.session is None else self.session.status()

    def session_done(self) -> bool:
        """The session ended or its finite source is done, and every tag is analysed."""
        if self.session is None:
            return False
        st = self.session.status()
        return (st.state != "running" or st.source_finished) and st.analysis_lag_tags == 0 and \
            not any(t.is_alive() for t in self.session.threads)

    def latest(self) -> Bundle | None:
        with self._lock:
            return self._bundle

    def take(self) -> None:
        """The GUI took the newest bundle: the snapshot thread takes the next one now (ready next tick)."""
        self._taken.set()
        w = self._worker
        if w is not None:
            w.wake.set()

    @property
    def spectra_warnings(self) -> list[str]:
        return list(getattr(self.spectra, "warnings", None) or ())

    # -- the analysis product ------------------------------------------------------------------------
    def analyze(self, res, *, preview: bool = False):
        """The analysis product (tagstream.product.Analysis) of a Results snapshot with this session's
        options and spectra: the same computation as `tagstream analyze`. preview: while acquiring or right
        after a drag, without the profile-likelihood intervals (the global fit re-fitted per bound: ~1-2 s of
        CPU per round, at 6 M tags/s ~40 % of the engine's; the errors shown are then the Fisher ones) and
        without the biexciton component (off by default; ~2.5x slower fits when asked for); the final result
        (and an export) has both as the options say."""
        series = self.spectra.series() if self.spectra is not None else self.spectra_series
        if self.spectra is not None and series is not None:
            series, res = _matched_frames(series, res)
        opts = self.options if series is None else dataclasses.replace(self.options, spectra=series)
        if preview and not res.laser_period_ps:   # no period yet (the first snapshots): no fit to show yet,
            opts = dataclasses.replace(opts, fit=None)   # not a row of "no laser period" errors
        if preview:
            opts = dataclasses.replace(opts, fit_options=dataclasses.replace(
                opts.fit_options if opts.fit_options is not None else FitOptions(), profile_intervals=False,
                biexciton_component=False))
        return analyze_recording(res, opts, title="live")

    def spectra_snapshot(self, res, regime_spectra):
        """What the spectra views draw: the frames (waterfall) and the product's regime spectra."""
        if self.spectra is not None:
            return self.spectra.snapshot(res, regime_spectra)
        if self.spectra_series is not None:
            from tagstream.app.spectra_model import spectra_snapshot

            return spectra_snapshot(self.spectra_series, res, regime_spectra)
        return None

    _session_done = session_done   # the snapshot thread's name for it

    # -- selections (the pipeline recomputes) --------------------------------------------------------
    def set_threshold(self, counts: float | None) -> None:
        """ON threshold in counts per trace bin; None = automatic (Otsu)."""
        if self.pipeline is not None:
            self.pipeline.set_selection(on_threshold=None if counts is None else float(counts))
            self._selection_changed()

    def set_fit(self, fit: str | None, fit_options=None) -> None:
        """Another decay-fit model / IRF for this session: the product is run again at once."""
        if self.options is not None:
            self.options = dataclasses.replace(self.options, fit=fit, fit_options=fit_options)
            self._selection_changed()

    def set_time_zero(self, t0_ps: float | None) -> None:
        """Decay time zero: 0 = the laser sync (the seed's convention), None = the decay's rise (half maximum)."""
        if self.pipeline is not None:
            self.pipeline.set_selection(t0_ps=t0_ps)
            self._selection_changed()

    def set_regimes(self, regimes_ns) -> None:
        if self.pipeline is not None:
            self.pipeline.set_selection(regimes_ns=[tuple(r) for r in regimes_ns])
            self._selection_changed()

    def _selection_changed(self) -> None:
        """A new selection: its fits are redone (a running fit of the old one is abandoned at once, so it
        does not compete with the new snapshot), and a snapshot is taken now."""
        self._sel_version += 1
        if self._worker is not None:
            self._worker.analyst.cancel()
        self.request_snapshot()

    def request_snapshot(self) -> None:
        """Take a snapshot now (after a selection change) instead of waiting for new tags."""
        self._force = True
        if self._worker is not None:
            self._worker.wake.set()

    # -- errors and export ---------------------------------------------------------------------------
    def _report(self, message: str) -> None:
        """Any thread: hand the message on (the controller re-emits it as a Qt signal)."""
        if self.on_error is not None:
            self.on_error(message)

    def export(self, directory, *, title: str = "tagstream live snapshot") -> list[Path]:
        """Parquet tables + PNG report of the current results (the analysis product, as
        `tagstream analyze --export` writes them) into a new time-stamped subfolder."""
        if self.pipeline is None:
            raise RuntimeError("nothing to export: start a measurement first")
        res = self.pipeline.snapshot()
        with self._lock:
            got = self._analysis
        if got is not None and got[3] is not None and got[:3] == (self._sel_version, res.n_records, True) and \
                got[3].results.final == res.final:
            a = got[3]        # the final product of exactly these results is on screen already (a finished replay)
        else:
            a = self.analyze(res)
        out = Path(directory) / f"snapshot-{_dt.datetime.now():%Y%m%d-%H%M%S}"
        return dataclasses.replace(a, source=title).write(out)
