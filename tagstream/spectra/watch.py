"""A watched folder of Andor SIF files as a live spectra source.

Andor Solis can save each acquisition (one spectrum or a kinetic series) as a new SIF file. The
SifFolderWatcher picks up the files that appear in a folder, reads them (tagstream.spectra.read_sif)
once they have stopped growing, and puts their frames on the photon clock: the k-th frame seen (files
in the order they appeared, frames in file order) starts at the k-th frame-trigger tag of the camera's
trigger channel, and lasts the file's exposure time. Frames wait until their trigger has arrived.

    w = SifFolderWatcher(folder, on_frames=acc.add)      # acc: e.g. tagstream.app SpectraAccumulator
    w.poll(trigger_ps)     # periodically, with all frame-trigger tags so far (int64, ascending)

No Qt and no thread here: the caller decides when to poll (the live app polls from a worker thread).
Files already in the folder when watching starts are skipped unless existing=True. A file that cannot
be read after it has settled, or whose wavelength calibration or pixel count differs from the first
file's, is skipped and reported through on_error (one line naming the file and what to do).
Frame triggers closer together than the files' exposure time cannot be one frame each (a camera does not
start a frame before the last one ended): the frames would be placed on the wrong photons, so this is
said once in `warnings` and through on_error (extra tags on the trigger channel, or the wrong channel).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from tagstream.errors import SpectraFileError


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since_s: float      # monotonic time when size/mtime were last seen changing
    tries: int = 0


class SifFolderWatcher:
    def __init__(self, folder, on_frames: Callable[[np.ndarray, np.ndarray], None] | None = None, *,
                 pattern: str = "*.sif", settle_s: float = 0.5, existing: bool = False, max_tries: int = 5,
                 on_error: Callable[[str], None] | None = None, clock=time.monotonic) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise SpectraFileError("not a folder: choose the folder Andor Solis saves the SIF files to",
                                   path=self.folder)
        self.on_frames, self.on_error = on_frames, on_error
        self.pattern, self.settle_s, self.max_tries = pattern, float(settle_s), int(max_tries)
        self.clock = clock
        self._pending_files: dict[Path, _Seen] = {}
        self._done: set[Path] = set() if existing else {p for p in self.folder.glob(pattern) if p.is_file()}
        self.files: list[Path] = []                  # files read, in order
        self.wavelength_nm: np.ndarray | None = None
        self.exposure_s: float | None = None
        self._frames: list[np.ndarray] = []          # frames read but not yet on the clock
        self.n_frames_read = 0
        self.n_frames_placed = 0
        self.warnings: list[str] = []                # said once each (also through on_error)
        self._n_checked = 0                          # frame triggers checked against the exposure
        self._n_short = 0                            # trigger gaps shorter than the exposure
        self._min_gap_ps: int | None = None

    # ------------------------------------------------------------------------------------------
    def poll(self, trigger_ps=None) -> int:
        """Look for new / settled files, read them, and hand every frame whose trigger has arrived to
        on_frames(frame_start_ps int64[n], frames_adu float[n, n_pixels]). Returns the frames handed over."""
        self._scan()
        trig = np.zeros(0, np.int64) if trigger_ps is None else np.asarray(trigger_ps, np.int64)
        self._check_gaps(trig)
        return self._place(trig)

    def _check_gaps(self, trigger_ps: np.ndarray) -> None:
        """Warn (once) when frame triggers come closer than the exposure time (checks the new ones only)."""
        if self.exposure_s is None or trigger_ps.size < 2:
            return
        lo = max(self._n_checked - 1, 0)
        gaps = np.diff(trigger_ps[lo:])
        self._n_checked = int(trigger_ps.size)
        if not gaps.size:
            return
        exposure_ps = self.exposure_s * 1e12
        short = gaps < exposure_ps * (1 - 1e-6)
        self._n_short += int(short.sum())
        if short.any():
            g = int(gaps[short].min())
            self._min_gap_ps = g if self._min_gap_ps is None else min(self._min_gap_ps, g)
        if self._n_short and not self.warnings:
            msg = (f"SIF folder {self.folder}: frame triggers come {self._min_gap_ps / 1e9:.4g} ms apart, less than "
                   f"the {self.exposure_s * 1e3:.4g} ms exposure of the SIF files ({self._n_short} of "
                   f"{self._n_checked - 1} trigger gaps): frames are placed on the wrong photons — check the "
                   "camera-frame channel (extra tags on it?) and the exposure saved by Solis")
            self.warnings.append(msg)
            if self.on_error is not None:
                self.on_error(msg)

    @property
    def n_waiting(self) -> int:
        """Frames read whose trigger has not arrived yet."""
        return self.n_frames_read - self.n_frames_placed

    def _scan(self) -> None:
        now = self.clock()
        found = sorted((p for p in self.folder.glob(self.pattern) if p.is_file() and p not in self._done),
                       key=lambda p: (p.stat().st_mtime_ns, p.name))
        for p in found:
            st = p.stat()
            seen = self._pending_files.get(p)
            if seen is None or (seen.size, seen.mtime_ns) != (st.st_size, st.st_mtime_ns):
                self._pending_files[p] = _Seen(st.st_size, st.st_mtime_ns, now, 0 if seen is None else seen.tries)
                continue
            if now - seen.since_s < self.settle_s:
                continue                                  # still being written?
            self._read(p, seen)

    def _read(self, p: Path, seen: _Seen) -> None:
        from tagstream.spectra import read_spectra

        try:
            series = read_spectra(p)
        except SpectraFileError as exc:
            seen.tries += 1
            seen.since_s = self.clock()
            if seen.tries >= self.max_tries:
                self._skip(p, f"{p}: {exc}; skipped (save it again as a complete SIF file)")
            return
        lam = series.wavelength_nm
        if self.wavelength_nm is None:
            if lam is None:
                self._skip(p, f"{p}: no wavelength calibration; skipped (calibrate the spectrograph in Solis)")
                return
            self.wavelength_nm, self.exposure_s = np.asarray(lam, np.float64), float(series.exposure_s)
        elif lam is None or len(lam) != len(self.wavelength_nm) or not np.allclose(lam, self.wavelength_nm,
                                                                                    atol=1e-3):
            self._skip(p, f"{p}: wavelength calibration differs from {self.files[0].name}'s (grating or "
                          "centre moved?); skipped — start a new run for the new setting")
            return
        elif abs(series.exposure_s - self.exposure_s) > 1e-9 * max(self.exposure_s, 1.0):
            self._skip(p, f"{p}: exposure {series.exposure_s} s differs from {self.exposure_s} s of "
                          f"{self.files[0].name}; skipped — start a new run for the new exposure")
            return
        self._done.add(p)
        self._pending_files.pop(p, None)
        self.files.append(p)
        self._frames.append(np.asarray(series.counts, np.float64))
        self.n_frames_read += series.n_frames

    def _skip(self, p: Path, message: str) -> None:
        self._done.add(p)
        self._pending_files.pop(p, None)
        if self.on_error is not None:
            self.on_error(message)

    def _place(self, trigger_ps: np.ndarray) -> int:
        n_new = min(int(trigger_ps.size), self.n_frames_read) - self.n_frames_placed
        if n_new <= 0:
            return 0
        frames = np.concatenate(self._frames) if len(self._frames) > 1 else self._frames[0]
        start = trigger_ps[self.n_frames_placed:self.n_frames_placed + n_new]
        self._frames = [frames[n_new:]] if n_new < len(frames) else []
        self.n_frames_placed += n_new
        if self.on_frames is not None:
            self.on_frames(start, frames[:n_new])
        return n_new
