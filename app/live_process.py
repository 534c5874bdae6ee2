"""The live engine in its own process, so the GUI thread owns its interpreter (and GIL): at MHz rates
the pipeline, snapshots and fits (Python holding the GIL) once left the GUI a fraction of a core.

    python -m tagstream.app.live_process FD      (started by RemoteEngine; never imports Qt)

Parent and child talk over a socket pair (multiprocessing.connection, pickled messages). The child
serves sessions one after another (it stays warm between Starts: imports, numba caches):
- parent -> child: ("start", session id, kwargs of LiveEngine.start with Recipes for the source /
  spectra), then ("taken",) after each bundle it took, ("call", method, args) for selections, ("stop",),
  ("export", directory, title), ("snapshot",), ("shutdown",);
- child -> parent: ("warm", CPU s) once its kernels are loaded (RemoteEngine.warm: before the first Start);
  ("started", id, pid, qt_imported) or ("failed", id, message); every interval_s
  ("status", id, LiveStatus, done, pipeline config, spectra warnings, spectra frames); ("bundle", id,
  Bundle, same analysis) — the newest, only once the previous one was taken (no queue of stale bundles;
  an analysis product equal to the previous bundle's is not sent again); ("error",
  message); replies ("stopped", LiveStatus), ("exported", paths | message), ("snapshot", Results). The
  parent drops status and bundles of an earlier session still on their way.
The child dies with its parent: PR_SET_PDEATHSIG (Linux), and it ends when the socket closes.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection

START_TIMEOUT_S = 120.0    # the child imports numpy, numba kernels, polars: seconds on a loaded machine
REPLY_TIMEOUT_S = 120.0    # stop (the analysis finishes its backlog), export (a fit)
SHUTDOWN_WAIT_S = 3.0      # then the child is killed (window closing: no hang)
ENGINE_NICE = 5            # when the cores are busy the GUI (input, status) goes first; the engine's backlog
                           # is bounded and shown (status: analysis lag), the recording is complete anyway
SEND_POLL_S = 0.004        # how often the child looks for a new bundle to send (status: every interval_s)


# ---------------------------------------------------------------------------------------------- child
def _die_with_parent() -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _compact(b, same_analysis: bool):
    """What the GUI draws of a bundle: without the pipeline's raw per-bin stage sums (Results._raw, for
    reselect() and the product in this process: tens of MB after an hour at MHz rates) and without an
    analysis product the previous bundle carried already."""
    a = None
    if not same_analysis and b.analysis is not None:
        a = dataclasses.replace(b.analysis, results=dataclasses.replace(b.analysis.results, _raw=None))
    return dataclasses.replace(b, results=dataclasses.replace(b.results, _raw=None), analysis=a)


def _warm_kernels(send) -> None:
    """Load the pipeline's compiled kernels (numba cache) and the product's imports before the first
    Start needs them: a short simulated stream through a pipeline and one snapshot (niced, like the child);
    then ("warm", its CPU seconds) to the parent."""
    cpu0 = time.thread_time()
    try:
        from tagstream.pipeline import AnalysisConfig, Pipeline
        from tagstream.product import analyze_recording  # noqa: F401
        from tagstream.setup import Setup
        from tagstream.simulate.params import SimulationParams
        from tagstream.sources.simulated import SimulatedSource

        pipe = Pipeline(Setup(), AnalysisConfig())
        for c in SimulatedSource(SimulationParams(), seed=1, speed=None, duration_s=0.3, chunk_s=0.1):
            pipe.feed(c)
        pipe.snapshot()
    except Exception:   # warming is an optimisation: a real Start reports real problems
        pass
    send(("warm", time.thread_time() - cpu0))


def main(fd: int) -> None:
    """Serve one GUI: sessions one after another (the process, its imports and compiled kernels stay
    warm between Starts) until "shutdown" or the socket closes."""
    _die_with_parent()
    try:
        os.nice(ENGINE_NICE)
    except OSError:
        pass
    conn = Connection(fd)
    send_lock = threading.Lock()

    def send(msg) -> None:
        with send_lock:
            try:
                conn.send(msg)
            except (OSError, EOFError, ValueError):
                pass

    from tagstream.app.engine import LiveEngine

    threading.Thread(target=_warm_kernels, args=(send,), name="tagstream-warm", daemon=True).start()
    engine: LiveEngine | None = None
    session_lock = threading.Lock()   # a session's status and bundles are sent under its own id
    sid = [None]
    acked = threading.Event()
    halt = threading.Event()

    last_analysis = [None]

    def sender() -> None:
        sent, t_status = -1, 0.0
        while not halt.is_set():
            with session_lock:
                if engine is not None and engine.session is not None:
                    now = time.monotonic()
                    if now - t_status >= engine.interval_s:
                        t_status = now
                        sp = engine.spectra
                        send(("status", sid[0], engine.status(), engine.session_done(), engine.pipeline.config,
                              engine.spectra_warnings, 0 if sp is None else int(getattr(sp, "n_frames", 0) or 0)))
                    b = engine.latest()
                    if b is not None and b.seq != sent and acked.is_set():
                        acked.clear()
                        sent = b.seq
                        same = b.analysis is not None and b.analysis is last_analysis[0]
                        last_analysis[0] = b.analysis
                        # the analysis product (with its own Results) changes every few seconds: sent once
                        send(("bundle", sid[0], _compact(b, same), same))
            halt.wait(SEND_POLL_S)

    t = threading.Thread(target=sender, name="tagstream-live-sender", daemon=True)
    t.start()
    try:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                break
            what = msg[0]
            if what == "start":
                kw = dict(msg[2])
                with session_lock:
                    if engine is None:
                        engine = LiveEngine(interval_s=kw["interval_s"], fit_interval_s=kw["fit_interval_s"],
                                            on_error=lambda m: send(("error", m)))
                    engine.interval_s, engine.fit_interval_s = kw.pop("interval_s"), kw.pop("fit_interval_s")
                    sid[0] = msg[1]
                    last_analysis[0] = None
                    acked.set()
                    try:
                        engine.start(**kw)
                    except Exception as exc:
                        engine.session = None
                        text = str(exc) if isinstance(exc, (OSError, ValueError)) else f"{type(exc).__name__}: {exc}"
                        send(("failed", msg[1], text))
                        continue
                send(("started", msg[1], os.getpid(), any(m.startswith("PyQt") for m in sys.modules)))
            elif engine is None:
                if what == "shutdown":
                    break
                send((what, None))
            elif what == "taken":
                acked.set()
                engine.take()
            elif what == "call":
                getattr(engine, msg[1])(*msg[2])
            elif what == "stop":
                engine.stop()
                send(("stopped", engine.status()))
            elif what == "export":
                try:
                    send(("exported", engine.export(msg[1], title=msg[2])))
                except Exception as exc:
                    send(("exported", f"{type(exc).__name__}: {exc}"))
            elif what == "snapshot":
                send(("snapshot", None if engine.pipeline is None else engine.pipeline.snapshot()))
            elif what == "shutdown":
                break
    finally:
        halt.set()
        if engine is not None:
            engine.shutdown()
        t.join(5)
        send(("bye",))
        conn.close()


# --------------------------------------------------------------------------------------------- parent
class _Session:
    """What the controller reads of a remote LiveSession: status() (the child's newest), threads."""

    def __init__(self, remote: "RemoteEngine") -> None:
        self.remote = remote
        self.threads: list = []

    def status(self):
        return self.remote._status

    def close(self) -> None:
        self.remote.stop()


class _Pipeline:
    """The remote pipeline's config (sent with every status) and, on request, a snapshot."""

    def __init__(self, remote: "RemoteEngine", config) -> None:
        self.remote, self.config = remote, config

    def snapshot(self):
        return self.remote._request(("snapshot",), "snapshot")


class _Spectra:
    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.n_frames = 0


class RemoteEngine:
    """LiveEngine's interface (start, stop, shutdown, selections, latest / take, status, session_done,
    export) over a child process running the engine. Thread-safe like LiveEngine; a receiver thread here
    takes the child's messages."""

    def __init__(self, *, interval_s: float = 0.03, fit_interval_s: float | None = 2.0, on_error=None) -> None:
        self.interval_s, self.fit_interval_s, self.on_error = float(interval_s), fit_interval_s, on_error
        self.session = None
        self.pipeline = None
        self.spectra = None
        self.spectra_series = None
        self.options = None
        self.proc: subprocess.Popen | None = None
        self.conn: Connection | None = None
        self._status = None
        self._done = False
        self._bundle = None
        self._acked_seq = None      # the newest bundle the child was told it may follow
        self._drawn_seq = None      # the newest bundle the GUI took
        self._analysis = None       # the newest bundle's analysis product
        self._ack_lock = threading.Lock()
        self._replies: queue.Queue = queue.Queue()
        self._send_lock = threading.Lock()
        self._receiver: threading.Thread | None = None
        self._stopped = False
        self._closing = False
        self.child_pid: int | None = None
        self.sid = 0                # the session's id: the child's messages carry it
        self.child_imported_qt: bool | None = None
        self.warm_s: float | None = None   # the child's warm-up time (CPU s), once it has warmed up

    # -- control -------------------------------------------------------------------------------------
    def start(self, source, setup, config, *, record_to=None, record_format="qutag-binary", spectra=None,
              spectra_file=None, fit="global", fit_options=None) -> None:
        """As LiveEngine.start, with source (and spectra) as Recipes; waits until the child has started
        the session (raises RuntimeError with the child's message if it could not). The child is started
        at the first Start and kept (warm) for the next ones."""
        from tagstream.product import AnalysisOptions

        self.stop()
        if record_to is not None and os.path.exists(record_to):
            raise FileExistsError(f"recording file {record_to} exists: choose another name")
        if self.proc is None or self.proc.poll() is not None:
            self._spawn()
        self.sid += 1
        with self._ack_lock:
            self._status, self._done, self._bundle, self._acked_seq, self._drawn_seq = None, False, None, None, None
            self._analysis = None
        self._stopped = False
        self.session = _Session(self)
        self.pipeline = _Pipeline(self, config)
        self.spectra = _Spectra() if spectra is not None or source.target.endswith(":simulated_camera") else None
        self.options = AnalysisOptions(config=config, setup=setup, setup_source="live", fit=fit,
                                       fit_options=fit_options, spectra_sidecar=False)
        self._drain_replies()
        self._send(("start", self.sid, dict(source=source, setup=setup, config=config, record_to=record_to,
                                            record_format=record_format, spectra=spectra,
                                            spectra_file=spectra_file, fit=fit, fit_options=fit_options,
                                            interval_s=self.interval_s, fit_interval_s=self.fit_interval_s)))
        deadline = time.monotonic() + START_TIMEOUT_S
        reply = None
        while reply is None or reply[1] not in (self.sid, None):
            try:
                reply = self._replies.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                reply = ("failed", None, f"the live analysis process did not start within {START_TIMEOUT_S:.0f} s")
        if reply[0] != "started":
            self.session = None
            self._stopped = True
            raise RuntimeError(reply[2])
        self.child_pid, self.child_imported_qt = reply[2], reply[3]
        t0 = time.monotonic()
        while self._status is None and time.monotonic() - t0 < 5 and self._receiver.is_alive():
            time.sleep(0.002)   # its first status (state "running") follows at once

    def warm(self) -> None:
        """Start the child now (it imports the engine and loads the compiled kernels while the user sets up),
        so that the first Start only starts a session (0.06-0.11 s against 2.2-3.1 s cold). Returns at once."""
        if self.proc is None or self.proc.poll() is not None:
            self._spawn()

    def _spawn(self) -> None:
        self._close()
        mine, theirs = socket.socketpair()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        self.proc = subprocess.Popen([sys.executable, "-m", "tagstream.app.live_process", str(theirs.fileno())],
                                     pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL)
        theirs.close()
        self.conn = Connection(mine.detach())
        self._closing = False
        self._replies = queue.Queue()
        self._receiver = threading.Thread(target=self._receive, name="tagstream-live-receiver", daemon=True)
        self._receiver.start()

    def _drain_replies(self) -> None:
        while True:
            try:
                self._replies.get_nowait()
            except queue.Empty:
                return

    def stop(self) -> None:
        """Stop acquiring (the child closes the recording and finishes the analysis backlog)."""
        if self.proc is None or self._stopped or self.session is None:
            return
        self._stopped = True
        reply = self._request(("stop",), "stopped")
        if reply is not None:
            self._status = reply

    def shutdown(self) -> None:
        """stop(), end the child (killed if it has not ended within SHUTDOWN_WAIT_S) and the receiver thread."""
        if self.proc is None:
            return
        try:
            self.stop()
        except RuntimeError as exc:
            self._report(str(exc))
        self._closing = True
        self._send(("shutdown",))
        try:
            self.proc.wait(SHUTDOWN_WAIT_S)
        except subprocess.TimeoutExpired:
            self._kill()      # a fit in progress: nothing of it is needed (the recording is closed by stop())
        self._close()

    def _kill(self) -> None:
        self._closing = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._close()

    def _close(self) -> None:
        """After the child ended: its receiver thread (it has met the end of the socket) and the socket."""
        if self._receiver is not None and self._receiver is not threading.current_thread():
            self._receiver.join(10)
        self._receiver = None
        if self.conn is not None:
            try:
                self.conn.close()
            except OSError:
                pass
        self.conn = None

    # -- messages ------------------------------------------------------------------------------------
    def _send(self, msg) -> bool:
        with self._send_lock:
            if self.conn is None:
                return False
            try:
                self.conn.send(msg)
                return True
            except (OSError, EOFError, ValueError):
                return False

    def _request(self, msg, kind: str):
        self._drain_replies()
        if not self._send(msg):
            return None
        try:
            reply = self._replies.get(timeout=REPLY_TIMEOUT_S)
        except queue.Empty:
            raise RuntimeError(f"the live analysis process did not answer '{kind}' within {REPLY_TIMEOUT_S:.0f} s")
        if reply[0] != kind:
            raise RuntimeError(f"the live analysis process answered {reply[0]!r} to {kind!r}")
        return reply[1]

    def _receive(self) -> None:
        conn = self.conn
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError, TypeError):
                break
            what = msg[0]
            if what == "status":
                if msg[1] == self.sid:             # not a message of the previous session still on its way
                    self._status, self._done = msg[2], msg[3]
                    self.pipeline.config = msg[4]
                    if self.spectra is not None:
                        self.spectra.warnings, self.spectra.n_frames = msg[5], msg[6]
            elif what == "bundle":
                if msg[1] == self.sid:
                    b = msg[2]
                    if msg[3]:         # the same analysis as the previous bundle's (not sent again)
                        b = dataclasses.replace(b, analysis=self._analysis)
                    self._analysis = b.analysis
                    with self._ack_lock:
                        prev, self._bundle = self._bundle, b
                        if prev is None or self._drawn_seq == prev.seq:
                            self._ack_locked()    # the GUI keeps up: the child makes the next one now
            elif what == "error":
                self._report(msg[1])
            elif what == "warm":
                self.warm_s = msg[1]
            elif what == "bye":
                break
            else:
                self._replies.put(msg)
        if not self._closing:
            code = self.proc.poll() if self.proc is not None else None
            self._replies.put(("failed", None, "the live analysis process ended"))
            self._report(f"the live analysis process ended unexpectedly (exit code {code}); Start runs it again")
            if self._status is not None and self._status.state == "running":
                self._status = dataclasses.replace(self._status, state="error")

    def _report(self, message: str) -> None:
        if self.on_error is not None:
            self.on_error(message)

    # -- LiveEngine's reading interface ----------------------------------------------------------------
    def status(self):
        return self._status

    def session_done(self) -> bool:
        return self._done

    def latest(self):
        return self._bundle

    def take(self) -> None:
        """The GUI took the newest bundle. Bundles are double-buffered: the child is told to make the next
        one as soon as a bundle arrives while the GUI has drawn the one before (one waits here, one is
        being made, none is made that nobody draws), else when the GUI takes it."""
        with self._ack_lock:
            b = self._bundle
            if b is not None:
                self._drawn_seq = b.seq
                self._ack_locked()

    def _ack_locked(self) -> None:
        b = self._bundle
        if b is not None and b.seq != self._acked_seq:
            self._acked_seq = b.seq
            self._send(("taken",))

    @property
    def spectra_warnings(self) -> list[str]:
        return [] if self.spectra is None else list(self.spectra.warnings)

    # -- selections ------------------------------------------------------------------------------------
    def _call(self, name: str, *args) -> None:
        self._send(("call", name, args))

    def set_threshold(self, counts) -> None:
        self._call("set_threshold", counts)

    def set_fit(self, fit, fit_options=None) -> None:
        if self.options is not None:
            self.options = dataclasses.replace(self.options, fit=fit, fit_options=fit_options)
        self._call("set_fit", fit, fit_options)

    def set_time_zero(self, t0_ps) -> None:
        self._call("set_time_zero", t0_ps)

    def set_regimes(self, regimes_ns) -> None:
        self._call("set_regimes", [tuple(r) for r in regimes_ns])

    def request_snapshot(self) -> None:
        self._call("request_snapshot")

    def export(self, directory, *, title: str = "tagstream live snapshot"):
        if self.proc is None:
            raise RuntimeError("nothing to export: start a measurement first")
        out = self._request(("export", str(directory), title), "exported")
        if isinstance(out, str):
            raise RuntimeError(out)
        return out


if __name__ == "__main__":
    main(int(sys.argv[1]))
