"""The live window, offscreen (pytest-qt): simulated source -> plots, drags -> pipeline selection,
recording -> file that reads back, replay, errors from worker threads, settings, screenshot."""

from __future__ import annotations

import os
import resource
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from PyQt6 import QtCore  # noqa: E402

from tagstream.app.camera import SimulatedCameraSource  # noqa: E402
from tagstream.app.spectra_model import SpectraAccumulator  # noqa: E402
from tagstream.app.views.decays import one_period, positive_or_nan  # noqa: E402
from tagstream.app.window import MainWindow  # noqa: E402
from tagstream.io import open_tags  # noqa: E402
from tagstream.pipeline import analyze_file  # noqa: E402
from tagstream.sources import read_meta  # noqa: E402

WAIT_MS = 60_000


@pytest.fixture
def win(qtbot, tmp_path):
    settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    w = MainWindow(settings=settings, fit_interval_s=0.3)
    qtbot.addWidget(w)
    w.show()
    yield w
    w.controller.shutdown()
    # every thread the app started has ended (a leaked snapshot thread once spun on a core forever)
    leaked = [t.name for t in threading.enumerate() if t.name.startswith("tagstream-") and t.is_alive()]
    assert not leaked, f"threads left running after the window closed: {leaked}"


def finite_source(duration_s: float, seed: int = 1):
    """The simulated QD with camera, as fast as possible, ending after duration_s of stream time."""
    src = SimulatedCameraSource(seed=seed, speed=None, duration_s=duration_s, chunk_s=0.2)
    p = src.params
    acc = SpectraAccumulator(src.wavelength_nm, p.exposure_s, baseline_adu=p.baseline_adu)
    src.on_frames = acc.add
    return src, acc


def wait_done(qtbot, w):
    """Until the finite source is done, every tag analysed and the last snapshot drawn."""
    c = w.controller

    def done():
        st = c.session.status()
        b = c.last_drawn
        return (st.source_finished and st.analysis_lag_tags == 0 and not any(t.is_alive() for t in c.session.threads)
                and b is not None and b.results.n_records == st.tags_analyzed and c.complete)

    qtbot.waitUntil(done, timeout=WAIT_MS)
    return c.last_drawn


def curve_y(item) -> np.ndarray:
    """The data given to a curve (before any log-axis transform)."""
    return np.asarray(item.getOriginalDataset()[1], dtype=np.float64)


def assert_same(a, b):
    np.testing.assert_array_equal(np.asarray(a, np.float64), np.asarray(b, np.float64))


def test_starts_on_simulated_source_and_plots_fill(qtbot, win):
    assert win.source_box.currentData() == "simulated"  # the default source
    win.speed.setValue(30.0)
    win.start()
    c = win.controller
    qtbot.waitUntil(lambda: c.last_drawn is not None and c.last_drawn.results.trace.counts.size > 20,
                    timeout=WAIT_MS)
    # while running, the status bar shows per-channel rates (rates are over the last second: read them live)
    qtbot.waitUntil(lambda: "ch1" in win.st_rates.text() and "ch5" in win.st_rates.text(), timeout=WAIT_MS)
    win.stop()
    qtbot.waitUntil(lambda: c.complete, timeout=WAIT_MS)   # every panel shows the last snapshot
    b = c.last_drawn
    res = b.results
    v = win.views
    # the open last bin is not drawn; the live traces scroll (the last window_s seconds)
    n = res.trace.counts.size - 1
    t_all = res.trace.bin_start_ps[:n] * 1e-12
    window_s = v["intensity"].window_s
    first = 0 if window_s is None else int(np.sum(t_all < t_all[-1] - window_s))
    n = slice(first, n)
    t = v["intensity"].curve_sum.getOriginalDataset()[0]
    assert_same(t, res.trace.bin_start_ps[n] * 1e-12)
    assert_same(curve_y(v["intensity"].curve_sum), res.trace.counts[n])
    assert_same(curve_y(v["intensity"].curve_a), res.trace.counts_a[n])
    assert_same(curve_y(v["intensity"].curve_b), res.trace.counts_b[n])
    assert curve_y(v["intensity"].curve_sum).max() > 100          # a bright QD at 100 ms bins
    assert v["intensity"].threshold.value() == pytest.approx(res.trace.on_threshold)
    np.testing.assert_array_equal(curve_y(v["lifetime"].curve_all), res.trace.lifetime_ns[n])
    assert np.isfinite(curve_y(v["lifetime"].curve_all)).sum() > 10
    assert_same(curve_y(v["histogram"].curve_on), res.flid.on_lifetime_hist)
    np.testing.assert_array_equal(v["flid"].image.image, res.flid.hist.T)      # colour = trace bins per cell
    assert res.g2 is not None and res.g2.counts.sum() > 0
    assert_same(curve_y(v["g2"].curve), res.g2.normalized)
    assert v["g2"].text.startswith("g²(0) =") and f"{res.g2.g2_zero:.3f}" in v["g2"].text
    s = one_period(res, res.decay.t_ps)
    assert_same(curve_y(v["decays"].total), positive_or_nan(res.decay.counts[s]))
    assert b.spectra is not None and b.spectra.n_frames >= 5
    assert_same(curve_y(v["spectra"].latest), b.spectra.latest)
    assert win.st_loss.text() == "no data loss"


def test_dragging_a_regime_and_the_threshold_recompute_in_the_pipeline(qtbot, win):
    src, acc = finite_source(12.0)
    win.start(source=src, spectra=acc)
    before = wait_done(qtbot, win)
    c = win.controller
    dec = win.views["decays"]
    old_curve = curve_y(dec.curves[0])
    old = before.results
    region = win.views["histogram"].regions[0]
    region.setRegion((36.0, 46.0))           # the user's drag ...
    region.sigRegionChangeFinished.emit(region)  # ... ends
    new_regimes = ((36.0, 46.0),) + tuple(r.range_ns for r in old.regimes[1:])
    qtbot.waitUntil(lambda: c.last_drawn.results.selection.regimes_ns == new_regimes, timeout=WAIT_MS)
    assert c.pipeline.snapshot().selection.regimes_ns == new_regimes
    expect = old.reselect(regimes_ns=new_regimes)
    s = one_period(expect, expect.regimes[0].t_ps)
    assert expect.regimes[0].n_photons != old.regimes[0].n_photons
    assert_same(curve_y(dec.curves[0]), positive_or_nan(expect.regimes[0].fit_counts[s]))  # the fitted decay
    assert not np.array_equal(np.nan_to_num(curve_y(dec.curves[0])), np.nan_to_num(old_curve))
    np.testing.assert_array_equal(c.last_drawn.results.trace.regime, expect.trace.regime)
    # the lifetime trace's regime band follows
    assert win.views["lifetime"].bands[0].getRegion() == pytest.approx((36.0, 46.0))
    # the fits (computed off the GUI thread) follow the new selection
    qtbot.waitUntil(lambda: c.last_drawn.fits is not None and c.last_drawn.results.selection.regimes_ns == new_regimes,
                    timeout=3 * WAIT_MS)   # a global fit with the fast component takes ~6 s unloaded
    fit0 = c.last_drawn.fits[0]
    assert fit0 is not None and fit0.counts.sum() == expect.regimes[0].fit_counts[s].sum()
    # the threshold line
    line = win.views["intensity"].threshold
    line.setValue(250.0)
    line.sigPositionChangeFinished.emit(line)
    qtbot.waitUntil(lambda: c.last_drawn.results.trace.on_threshold == 250.0, timeout=WAIT_MS)
    exp2 = expect.reselect(on_threshold=250.0)
    np.testing.assert_array_equal(c.last_drawn.results.trace.on, exp2.trace.on)
    assert c.pipeline.snapshot().selection.on_threshold == 250.0
    # regimes are remembered
    assert win.settings.value("regimes").startswith("36-46,")


def test_record_stop_reads_back_the_analysed_tags_and_replays(qtbot, win, tmp_path):
    rec = tmp_path / "run.qutag"
    win.record_path.setText(str(rec))
    win.record.setChecked(True)
    src, acc = finite_source(4.0, seed=2)
    win.start(source=src, spectra=acc)
    b = wait_done(qtbot, win)
    # the finite source is done: the recording is closed, so no "● REC" any more
    assert win.st_rec.text().startswith("recorded run.qutag")
    win.stop()
    assert not win.record.isChecked()        # never records twice into one file
    live = win.controller.pipeline.snapshot()
    reader = open_tags(rec)
    assert reader.n_records == live.n_records == b.results.n_records > 10_000
    assert len(reader.read_all()) == live.n_records
    meta = read_meta(rec)
    assert meta["complete"] and meta["n_records"] == live.n_records
    off = analyze_file(rec, win.setup_from_controls(), win.config_from_controls())
    np.testing.assert_array_equal(off.trace.counts, live.trace.counts)
    np.testing.assert_array_equal(off.decay.counts, live.decay.counts)
    np.testing.assert_array_equal(off.g2.counts, live.g2.counts)
    # opening the recording replays it through the same pipeline (setup from the sidecar)
    win.ch["spad_a"].setValue(7)
    win.replay(str(rec), speed=1000.0)
    assert win.ch["spad_a"].value() == 1
    rb = wait_done(qtbot, win)
    assert rb.results.n_records == live.n_records
    np.testing.assert_array_equal(rb.results.trace.counts, live.trace.counts)
    np.testing.assert_array_equal(rb.results.g2.counts, live.g2.counts)


def test_worker_errors_reach_the_window_and_display_goes_on(qtbot, win, tmp_path):
    """A recording that fails part-way (file size limit -> EFBIG, like a full disk): the user is told
    at once, the display keeps updating."""
    rec = tmp_path / "big.qutag"
    win.record_path.setText(str(rec))
    win.record.setChecked(True)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, hard))
    try:
        src, acc = finite_source(6.0, seed=3)
        win.start(source=src, spectra=acc)
        qtbot.waitUntil(lambda: win.banner.isVisible(), timeout=WAIT_MS)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert "File too large" in win.banner.text() or "record" in win.banner.text().lower()
    b = wait_done(qtbot, win)
    assert b.results.n_records == win.controller.session.status().tags_acquired  # analysis went on
    assert "ERROR" in win.log.toPlainText()
    # any worker thread's message arrives through the Qt signal
    t = threading.Thread(target=win.controller._report, args=("test message from a worker",))
    t.start()
    t.join()
    qtbot.waitUntil(lambda: "test message from a worker" in win.banner.text(), timeout=5000)


def test_settings_are_remembered(qtbot, tmp_path):
    path = str(tmp_path / "s.ini")
    s = QtCore.QSettings(path, QtCore.QSettings.Format.IniFormat)
    w = MainWindow(settings=s)
    qtbot.addWidget(w)
    w.bin_ms.setValue(20.0)
    w.ch["frame"].setValue(0)
    w.divider.setValue(10)
    w.speed.setValue(3.0)
    w.record_path.setText(str(tmp_path / "x.qutag"))
    w.close()
    w2 = MainWindow(settings=QtCore.QSettings(path, QtCore.QSettings.Format.IniFormat))
    qtbot.addWidget(w2)
    assert w2.bin_ms.value() == 20.0 and w2.speed.value() == 3.0
    assert w2.setup_from_controls().frame is None and w2.setup_from_controls().sync_divider == 10
    assert w2.record_path.text() == str(tmp_path / "x.qutag")
    assert w2.config_from_controls().trace_bin_ms == 20.0
    w2.close()   # qtbot closes only widgets still alive at teardown (weak refs): release the GC guard here


def test_export_snapshot_and_screenshot(qtbot, win, tmp_path):
    src, acc = finite_source(10.0, seed=4)
    win.start(source=src, spectra=acc)
    wait_done(qtbot, win)
    c = win.controller
    qtbot.waitUntil(lambda: c.last_drawn.fits is not None and any(f is not None for f in c.last_drawn.fits),
                    timeout=3 * WAIT_MS)   # the global fit with the fast component: ~6 s unloaded, far more on a fresh CI
    qtbot.wait(200)
    written = win.export_snapshot(str(tmp_path / "exp"))
    names = {Path(p).name for p in written}
    assert "trace.parquet" in names and "g2.parquet" in names and "report.png" in names
    import polars as pl

    tr = pl.read_parquet(next(p for p in written if Path(p).name == "trace.parquet"))
    assert tr["counts"].to_numpy().tolist() == c.pipeline.snapshot().trace.counts.tolist()
    win.resize(1920, 1080)
    qtbot.wait(300)
    img = win.grab().toImage()
    out = tmp_path / "window.png"
    assert img.save(str(out))
    d = os.environ.get("TAGSTREAM_SCREENSHOT_DIR")
    if d:
        Path(d).mkdir(parents=True, exist_ok=True)
        shutil.copy(out, Path(d) / "tagstream_live_window.png")
        shutil.copy(next(p for p in written if Path(p).name == "report.png"), Path(d) / "tagstream_live_report.png")
    assert img.width() == 1920 and img.height() == 1080
    px = np.array([img.pixel(x, y) for x in range(0, 1920, 37) for y in range(0, 1080, 29)])
    assert len(np.unique(px)) > 50  # plots with data, not a blank window


def test_garbage_is_collected_only_in_the_gui_thread_while_a_window_is_open(qtbot, tmp_path):
    import gc

    settings = QtCore.QSettings(str(tmp_path / "s.ini"), QtCore.QSettings.Format.IniFormat)
    a = MainWindow(settings=settings)
    qtbot.addWidget(a)
    b = MainWindow(settings=settings)
    qtbot.addWidget(b)
    assert not gc.isenabled()            # worker threads never run the cyclic collector now
    a.close()
    assert not gc.isenabled()            # another window is still open
    b.close()
    assert gc.isenabled()                # back to automatic collection


def test_the_readme_screenshot_shows_the_full_fit(qtbot, tmp_path, monkeypatch):
    """app/screenshot.py (docs/screenshot.png) grabs the window only once the full fit is drawn: it once
    grabbed a finished stream whose fit table still showed an early preview round's 'no laser period'."""
    from tagstream.app import screenshot

    seen = {}
    grab = MainWindow.grab

    def grab_and_look(self, *a):
        t = self.fit_table
        seen["preview"] = self.controller.preview
        seen["tau_be"] = [t.item(i, 2).text() for i in range(t.rowCount())]
        return grab(self, *a)

    monkeypatch.setattr(MainWindow, "grab", grab_and_look)
    out = tmp_path / "shot.png"
    assert screenshot.main(["--out", str(out), "--seconds", "8", "--size", "1366x768"]) == 0
    assert out.stat().st_size > 50_000 and seen["preview"] is False
    assert len(seen["tau_be"]) == 3 and all("+" in s and "−" in s for s in seen["tau_be"]), seen   # 34.5 +0.6 −0.6
