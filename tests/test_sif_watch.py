"""The watched-folder SIF source: real Andor SIF files (../shared/real) appearing in a folder are read
once settled and their frames placed on the photon clock at the frame-trigger tags, in order."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from conftest import REAL, requires_real
from tagstream.errors import SpectraFileError
from tagstream.spectra import read_sif
from tagstream.spectra.watch import SifFolderWatcher

KINETIC = REAL / "kinetic_series_20frames.sif"      # 20 frames, 1024 px, 3 s exposure
SINGLE = REAL / "ixon888_single_spectrum.sif"        # 1 frame, another grating position


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def collector():
    got: list[tuple[np.ndarray, np.ndarray]] = []
    return got, lambda start, frames: got.append((np.array(start), np.array(frames)))


@requires_real
def test_new_files_go_on_the_clock_at_the_frame_triggers(tmp_path):
    ref = read_sif(KINETIC)                        # the maintained third-party reader (sif_parser) via read_sif
    (tmp_path / "old.sif").write_bytes(KINETIC.read_bytes())   # already there: not this run's
    clock = Clock()
    got, on_frames = collector()
    errors: list[str] = []
    w = SifFolderWatcher(tmp_path, on_frames, settle_s=0.5, clock=clock, on_error=errors.append)
    trig = np.arange(1, 31, dtype=np.int64) * 3_100_000_000_000        # 30 triggers, 3.1 s apart
    shutil.copy(KINETIC, tmp_path / "acq_001.sif")
    assert w.poll(trig) == 0                        # just appeared: wait until it stops growing
    clock.t = 0.6
    assert w.poll(trig) == 20
    start, frames = got[0]
    np.testing.assert_array_equal(start, trig[:20])
    np.testing.assert_array_equal(frames, ref.counts)
    np.testing.assert_array_equal(w.wavelength_nm, ref.wavelength_nm)
    assert w.exposure_s == ref.exposure_s == 3.0
    # a second acquisition: only 10 triggers left for its 20 frames; the rest wait for theirs
    shutil.copy(KINETIC, tmp_path / "acq_002.sif")
    clock.t = 1.0
    w.poll(trig)
    clock.t = 1.6
    assert w.poll(trig) == 10 and w.n_waiting == 10
    np.testing.assert_array_equal(got[1][0], trig[20:30])
    np.testing.assert_array_equal(got[1][1], ref.counts[:10])
    more = np.concatenate([trig, trig[-1] + np.arange(1, 11) * 3_100_000_000_000])
    assert w.poll(more) == 10 and w.n_waiting == 0
    np.testing.assert_array_equal(got[2][0], more[30:40])
    np.testing.assert_array_equal(got[2][1], ref.counts[10:])
    assert [p.name for p in w.files] == ["acq_001.sif", "acq_002.sif"] and not errors


@requires_real
def test_a_file_being_written_is_read_once_complete_and_other_settings_are_refused(tmp_path):
    clock = Clock()
    got, on_frames = collector()
    errors: list[str] = []
    w = SifFolderWatcher(tmp_path, on_frames, settle_s=0.5, clock=clock, on_error=errors.append)
    data = KINETIC.read_bytes()
    part = tmp_path / "growing.sif"
    part.write_bytes(data[: len(data) // 3])        # Solis still writing
    w.poll(np.zeros(0, np.int64))
    clock.t = 0.6
    w.poll(np.zeros(0, np.int64))                   # settled but truncated: retried, not given up at once
    assert not errors and w.n_frames_read == 0
    part.write_bytes(data)                          # complete now
    clock.t = 0.7
    w.poll()
    clock.t = 1.3
    trig = np.arange(20, dtype=np.int64) * 4_000_000_000_000
    assert w.poll(trig) == 20 and not errors
    # another grating position (different calibration) is refused with one line naming the file
    shutil.copy(SINGLE, tmp_path / "other.sif")
    clock.t = 2.0
    w.poll(trig)
    clock.t = 2.6
    w.poll(trig)
    assert len(errors) == 1 and "other.sif" in errors[0] and "calibration differs" in errors[0]
    # a file that never becomes readable is skipped after max_tries
    (tmp_path / "junk.sif").write_bytes(b"not a sif file at all" * 10)
    for k in range(12):
        clock.t = 3.0 + 0.6 * k
        w.poll(trig)
    assert len(errors) == 2 and "junk.sif" in errors[1] and "skipped" in errors[1]


@requires_real
def test_frame_triggers_closer_than_the_exposure_are_warned_about_once(tmp_path):
    clock = Clock()
    got, on_frames = collector()
    errors: list[str] = []
    w = SifFolderWatcher(tmp_path, on_frames, settle_s=0.5, clock=clock, on_error=errors.append)
    ok = np.arange(1, 6, dtype=np.int64) * 3_000_000_000_000           # exactly the 3 s exposure apart
    assert w.poll(ok) == 0 and not w.warnings                           # exposure not known yet: no check
    shutil.copy(KINETIC, tmp_path / "acq_001.sif")
    w.poll(ok)
    clock.t = 0.6
    assert w.poll(ok) == 5 and not w.warnings and not errors
    close = np.concatenate([ok, ok[-1] + np.arange(1, 4) * 1_000_000_000_000])   # then 1 s apart
    w.poll(close)
    assert len(w.warnings) == 1 and errors == w.warnings
    assert "1000 ms apart" in errors[0] and "3000 ms exposure" in errors[0] and "(3 of 7 trigger gaps)" in errors[0]
    more = np.concatenate([close, close[-1] + np.arange(1, 3) * 500_000_000_000])
    w.poll(more)
    assert len(errors) == 1                                            # said once
    assert w.n_frames_placed == 10                                     # the frames still go on the clock


def test_not_a_folder(tmp_path):
    with pytest.raises(SpectraFileError, match="not a folder"):
        SifFolderWatcher(tmp_path / "missing")


@requires_real
def test_the_live_window_takes_spectra_from_a_watched_sif_folder(qtbot, tmp_path):
    """The simulated QD's stream (with its camera's frame-trigger tags, its own frames ignored) and a
    folder where a real SIF kinetic series appears: its 20 frames are drawn, placed at the triggers."""
    pytest.importorskip("pytestqt")
    import threading

    from PyQt6 import QtCore

    from tagstream.app.camera import SimulatedCameraSource
    from tagstream.app.window import MainWindow

    settings = QtCore.QSettings(str(tmp_path / "s.ini"), QtCore.QSettings.Format.IniFormat)
    win = MainWindow(settings=settings, fit_interval_s=None)
    qtbot.addWidget(win)
    win.show()
    folder = tmp_path / "solis"
    folder.mkdir()
    try:
        win.sif_folder.setText(str(folder))
        win.sif_watch.setChecked(True)
        src = SimulatedCameraSource(seed=3, speed=20.0, chunk_s=0.05)     # frame triggers on channel 3
        win.start(source=src)
        c = win.controller
        assert c.spectra is not None and c.spectra.watcher.folder == folder
        shutil.copy(KINETIC, folder / "acq_001.sif")
        qtbot.waitUntil(lambda: c.spectra.n_frames == 20, timeout=60_000)
        qtbot.waitUntil(lambda: c.last_drawn is not None and c.last_drawn.spectra is not None
                        and c.last_drawn.spectra.n_frames == 20, timeout=60_000)
        snap = c.last_drawn.spectra
        trig = c.last_drawn.results.frames.frame_start_ps
        np.testing.assert_array_equal(snap.frame_start_s, trig[:20] * 1e-12)
        qtbot.waitUntil(lambda: win.views["spectra"].latest.getOriginalDataset()[1] is not None, timeout=60_000)
        assert win.docks["spectra"].isVisibleTo(win)
        # the simulated camera triggers every 0.1 s, the SIF files say 3 s exposure: said in the status line
        qtbot.waitUntil(lambda: "SIF frame triggers closer than the exposure" in win.st_lag.text(), timeout=10_000)
        assert any("3000 ms exposure" in m for m in win.spectra_warnings())
        assert "3000 ms exposure" in win.log.toPlainText()
        win.stop()
        assert not any(t.name == "tagstream-sif-watch" and t.is_alive() for t in threading.enumerate())
    finally:
        win.controller.shutdown()
