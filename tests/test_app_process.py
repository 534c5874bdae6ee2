"""The live engine in its own process (tagstream.app.live_process): the window's sources run in a child
that never imports Qt; recording, data-loss reporting and a replay's end reach the window through it;
the child ends with the window and dies with its parent (no orphans, no hang at close)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from test_app import WAIT_MS, win  # noqa: E402,F401  (the window fixture)
from tagstream.app.engine import Recipe  # noqa: E402
from tagstream.app.status import RED  # noqa: E402
from tagstream.io import open_tags  # noqa: E402
from tagstream.pipeline import analyze_file  # noqa: E402
from tagstream.sources import read_meta  # noqa: E402

REC = Path(__file__).resolve().parents[1] / "fixtures" / "qd_demo.qutag"
pytestmark = pytest.mark.skipif(not REC.is_file(), reason="fixtures/qd_demo.qutag absent")


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def no_fits(win) -> None:
    win.fit_box.setCurrentIndex(win.fit_box.findText("no fits"))
    assert win.fit_box.currentData() is None


def test_the_windows_sources_run_in_a_child_without_qt_that_ends_with_the_window(qtbot, win):
    no_fits(win)
    win.replay(str(REC), speed=1e6)
    c = win.controller
    qtbot.waitUntil(lambda: c.finished and c.complete and c.last_drawn.results.final, timeout=WAIT_MS)
    e = c.engine
    assert c.remote and e.child_pid != os.getpid() and alive(e.child_pid)
    assert e.child_imported_qt is False
    assert not any(t.name in ("tagstream-acquisition", "tagstream-analysis", "tagstream-snapshots")
                   for t in threading.enumerate())           # the pipeline's threads are in the child
    res = c.last_drawn.results
    off = analyze_file(REC, win.setup_from_controls(), win.config_from_controls())
    assert res.final and res.n_records == off.n_records
    np.testing.assert_array_equal(res.trace.counts, off.trace.counts)
    assert "finished" in win.st_state.text() and win.start_btn.text() == "Start"
    pid = e.child_pid
    win.toggle()                                             # Start again: the same (warm) child serves it
    qtbot.waitUntil(lambda: c.finished and c.complete and c.last_drawn.results.final, timeout=WAIT_MS)
    assert c.engine is e and e.child_pid == pid and c.last_drawn.results.n_records == off.n_records
    t = time.monotonic()
    win.close()                                              # the window closes at once, the child ends
    assert time.monotonic() - t < 15 and e.proc.poll() is not None and not alive(pid)


def test_recording_and_data_loss_through_the_child(qtbot, win, tmp_path):
    no_fits(win)
    rec = tmp_path / "copy.qutag"
    c = win.controller
    c.start(Recipe("live_sources:lossy_replay", {"path": str(REC), "speed": 1e6}), win.setup_from_controls(),
            win.config_from_controls(), record_to=rec, fit=None)
    assert c.remote
    qtbot.waitUntil(lambda: c.finished and c.complete and c.last_drawn.results.final, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: win.st_loss.text().startswith("DATA LOST"), timeout=WAIT_MS)
    assert RED in win.st_loss.styleSheet()
    c.stop()
    st = c.session.status()
    assert st.data_lost and st.recording_path == str(rec)
    reader = open_tags(rec)
    assert reader.n_records == st.recording_tags == st.tags_analyzed == c.last_drawn.results.n_records > 100_000
    meta = read_meta(rec)
    assert meta["complete"] and meta["data_lost"] is True
    assert c.pipeline.snapshot().n_records == reader.n_records        # the child's pipeline, asked
    assert c.pipeline.config == win.config_from_controls()


def test_a_source_that_cannot_start_says_so(qtbot, win, tmp_path):
    win.replay(str(tmp_path / "absent.qutag"), speed=1e6)
    assert "could not start" in win.banner.text()
    assert not win.controller.running


def test_the_child_dies_with_its_parent(tmp_path):
    """The GUI process killed (crash, kill -9): its live-engine child does not stay behind."""
    script = textwrap.dedent(f"""
        import os, sys, time
        from tagstream.app.live_process import RemoteEngine
        from tagstream.app.recipes import recipe
        from tagstream.pipeline import AnalysisConfig
        from tagstream.setup import Setup
        e = RemoteEngine(fit_interval_s=None)
        e.start(recipe("simulated_camera", seed=1, speed=1.0), Setup(), AnalysisConfig(), fit=None)
        print(e.child_pid, flush=True)
        time.sleep(600)
    """)
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(p.stdout.readline())
        assert alive(pid)
        p.kill()
        p.wait(10)
        t = time.monotonic()
        while alive(pid) and time.monotonic() - t < 10:
            time.sleep(0.05)
        assert not alive(pid)
    finally:
        p.kill()


def test_the_first_start_does_not_wait_for_the_engine_process(qtbot, tmp_path):
    """The app starts its engine process with the window (warm_engine): by the first Start the child has
    imported the engine and loaded the compiled kernels, so Start (which blocks the GUI thread until the
    child has started the session) is short; the same child serves it. Cold it blocked 2.2-3.1 s."""
    from PyQt6 import QtCore

    from tagstream.app.window import MainWindow

    w = MainWindow(settings=QtCore.QSettings(str(tmp_path / "s.ini"), QtCore.QSettings.Format.IniFormat),
                   fit_interval_s=None, warm_engine=True)
    qtbot.addWidget(w)
    w.show()
    c = w.controller
    try:
        qtbot.waitUntil(lambda: c.remote and c.engine.warm_s is not None, timeout=WAIT_MS)
        e, pid = c.engine, c.engine.proc.pid
        t = time.monotonic()
        w.start()                                            # the default source: the simulated QD, in the child
        took = time.monotonic() - t
        assert c.remote and c.engine is e and e.child_pid == pid and c.running
        assert took < 1.0, took                              # measured 0.06-0.11 s at load 4
        qtbot.waitUntil(lambda: c.last_drawn is not None, timeout=WAIT_MS)
    finally:
        c.shutdown()
        w.close()
