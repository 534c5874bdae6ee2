"""Live spectra from a folder Andor Solis saves SIF files to (tagstream.spectra.watch.SifFolderWatcher),
for the live controller: the same interface as the simulated camera's SpectraAccumulator (snapshot(),
series(), n_frames), plus close().

A thread ("tagstream-sif-watch") polls the folder every poll_s and places new frames on the photon
clock at the frame-trigger tags of the newest snapshot (frame_triggers() -> int64 array). The
accumulator is made when the first file gives the wavelength calibration and exposure.
"""

from __future__ import annotations

import threading
from typing import Callable

import numpy as np

from tagstream.app.spectra_model import SpectraAccumulator
from tagstream.spectra.watch import SifFolderWatcher


class WatchedSifSpectra:
    def __init__(self, folder, frame_triggers: Callable[[], np.ndarray | None], *, poll_s: float = 0.5,
                 settle_s: float = 0.5, on_error: Callable[[str], None] | None = None) -> None:
        self.watcher = SifFolderWatcher(folder, self._add, settle_s=settle_s, on_error=on_error)
        self.frame_triggers, self.poll_s, self.on_error = frame_triggers, float(poll_s), on_error
        self.acc: SpectraAccumulator | None = None
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tagstream-sif-watch", daemon=True)
        self._thread.start()

    def _add(self, start_ps: np.ndarray, frames_adu: np.ndarray) -> None:
        if self.acc is None:
            w = self.watcher
            self.acc = SpectraAccumulator(w.wavelength_nm, w.exposure_s, baseline_adu=None)
        self.acc.add(start_ps, frames_adu)

    def poll(self) -> int:
        trig = self.frame_triggers()
        return self.watcher.poll(np.zeros(0, np.int64) if trig is None else trig)

    def _run(self) -> None:
        while not self._halt.wait(self.poll_s):
            try:
                self.poll()
            except Exception as exc:   # keep watching; say what happened
                if self.on_error is not None:
                    self.on_error(f"SIF folder {self.watcher.folder}: {type(exc).__name__}: {exc}")

    def close(self) -> None:
        """End the polling thread (the session stopped)."""
        self._halt.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(5)

    # -- the SpectraAccumulator interface ---------------------------------------------------------
    def snapshot(self, *args, **kwargs):
        return None if self.acc is None else self.acc.snapshot(*args, **kwargs)

    def series(self):
        return None if self.acc is None else self.acc.series()

    @property
    def warnings(self) -> list[str]:
        """What the watcher found wrong with the frame triggers (shown in the status line)."""
        return self.watcher.warnings

    @property
    def n_frames(self) -> int:
        return 0 if self.acc is None else self.acc.n_frames
