"""Spectra for display (no Qt): EMCCD frames -> baseline-subtracted spectral densities on a uniform
photon-energy grid, the recent frames (waterfall), and the per-regime spectra of the analysis product.

The conversions are tagstream.spectra's (subtract_baseline, to_energy). The per-regime spectra are
NOT computed here: they are the product's (tagstream.product / tagstream.analysis.regimes
spectra_results, one implementation for analyze, export and the app), only resampled onto the
display grid. The accumulator also keeps the raw frames, so that the product can analyse them
(series()).

    acc = SpectraAccumulator(wavelength_nm, exposure_s, baseline_adu=500.0)
    acc.add(frame_start_ps, frames_adu)          # live: SimulatedSource frames as they finish
    acc.series()                                 # a tagstream.spectra SpectralSeries (for the product)
    snap = acc.snapshot(results, analysis.spectra)   # SpectraSnapshot for the views
    snap = spectra_snapshot(series, results, analysis.spectra)   # offline: a SpectralSeries
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from tagstream.spectra.energy import subtract_baseline, to_energy


@dataclass(frozen=True)
class SpectraSnapshot:
    """energy_ev: uniform ascending grid (n_e,); frame_start_s (n,) on the photon clock; density_per_ev
    (n, n_e): counts per eV per frame (baseline removed) of the most recent frames (at most max_frames);
    latest: the last frame's density; regime_ranges_ns; regime_spectra (n_regimes, n_e): the product's
    mean density per frame of each regime (RegimeSpectrum.density) on this grid; regime_frames
    (n_regimes,): its frame weights summed (0: no spectrum yet); n_frames: frames seen in total."""

    energy_ev: np.ndarray
    frame_start_s: np.ndarray
    density_per_ev: np.ndarray
    latest: np.ndarray | None
    regime_ranges_ns: tuple
    regime_spectra: np.ndarray
    regime_frames: np.ndarray
    n_frames: int


class SpectraAccumulator:
    """Thread-safe: add() from the acquisition side, snapshot() from any thread. Keeps every frame's
    density on the energy grid (n_frames x n_pixels float32: 4 kB per 1024-pixel frame, 1.5 MB per
    hour at 10 frames/s)."""

    def __init__(self, wavelength_nm: np.ndarray, exposure_s: float, baseline_adu: float | None = None,
                 max_frames: int = 600) -> None:
        lam = np.asarray(wavelength_nm, dtype=np.float64)
        e, _ = to_energy(lam, np.zeros(lam.size))
        self.wavelength_nm = lam
        self.energy_ev = np.linspace(e[0], e[-1], lam.size)
        self.exposure_s = float(exposure_s)
        self.baseline_adu = baseline_adu
        self.max_frames = int(max_frames)
        self._lock = threading.Lock()
        self._start: list[np.ndarray] = []
        self._dens: list[np.ndarray] = []
        self._adu: list[np.ndarray] = []

    def convert(self, frames_adu: np.ndarray) -> np.ndarray:
        """(n, n_pixels) ADU -> (n, n_e) counts per eV on the uniform grid."""
        c = subtract_baseline(np.atleast_2d(frames_adu), self.baseline_adu)
        e, d = to_energy(self.wavelength_nm, c)
        return np.stack([np.interp(self.energy_ev, e, row) for row in d]).astype(np.float32) if len(d) else \
            np.zeros((0, self.energy_ev.size), np.float32)

    def add(self, frame_start_ps: np.ndarray, frames_adu: np.ndarray) -> None:
        if len(frame_start_ps) == 0:
            return
        d = self.convert(frames_adu)
        with self._lock:
            self._start.append(np.asarray(frame_start_ps, dtype=np.int64))
            self._dens.append(d)
            self._adu.append(np.atleast_2d(frames_adu).astype(np.float32))

    def _arrays(self):
        with self._lock:
            if len(self._start) > 1:
                self._start = [np.concatenate(self._start)]
                self._dens = [np.concatenate(self._dens)]
                self._adu = [np.concatenate(self._adu)]
            if not self._start:
                return (np.zeros(0, np.int64), np.zeros((0, self.energy_ev.size), np.float32),
                        np.zeros((0, self.wavelength_nm.size), np.float32))
            return self._start[0], self._dens[0], self._adu[0]

    def snapshot(self, results=None, regime_spectra=None) -> SpectraSnapshot:
        """regime_spectra: the product's tagstream.analysis.regimes.RegimeSpectra (None: none yet)."""
        start, dens, _ = self._arrays()
        return _snapshot(self.energy_ev, start, dens, results, regime_spectra, self.max_frames)

    def series(self):
        """The frames so far as a tagstream.spectra SpectralSeries on the photon clock (None without
        frames): what the analysis product takes."""
        from tagstream.spectra import SpectralSeries

        start, _, adu = self._arrays()
        if not len(start):
            return None
        cycle = float(np.median(np.diff(start))) * 1e-12 if len(start) > 1 else self.exposure_s
        return SpectralSeries(adu.astype(np.float64), self.wavelength_nm, self.exposure_s, cycle,
                              frame_times_s=start * 1e-12, frame_start_ps=start, baseline_adu=self.baseline_adu)

    @property
    def n_frames(self) -> int:
        return int(sum(len(s) for s in self._start))


def _snapshot(energy_ev, start_ps, dens, results, regime_spectra, max_frames) -> SpectraSnapshot:
    regimes = () if results is None else tuple(r.range_ns for r in results.regimes)
    spec = np.zeros((len(regimes), energy_ev.size))
    weight = np.zeros(len(regimes))
    if regime_spectra is not None and len(regime_spectra.spectra) == len(regimes):
        for i, rs in enumerate(regime_spectra.spectra):
            if rs is not None and rs.n_frames > 0:
                spec[i] = np.interp(energy_ev, rs.energy_ev, rs.density)   # display grid only
                weight[i] = rs.weight_sum
    recent = slice(max(0, len(start_ps) - max_frames), len(start_ps))
    return SpectraSnapshot(energy_ev, start_ps[recent] * 1e-12, dens[recent], dens[-1] if len(dens) else None,
                           regimes, spec, weight, int(len(start_ps)))


def spectra_snapshot(series, results=None, regime_spectra=None, max_frames: int | None = None) -> SpectraSnapshot:
    """A SpectraSnapshot from a tagstream.spectra SpectralSeries (replay with a spectra file). Frames
    are placed on the photon clock by series.frame_start_ps, else by the frame triggers in
    results.frames (tagstream.spectra.align_frames), else by cycle time. regime_spectra: the
    product's RegimeSpectra."""
    from tagstream.spectra.timing import align_frames

    acc = SpectraAccumulator(series.wavelength_nm, series.exposure_s, series.baseline_adu,
                             max_frames=max_frames or series.n_frames)
    start = series.frame_start_ps
    if start is None and results is not None and results.frames is not None:
        start = align_frames(series.n_frames, series.exposure_s, series.cycle_time_s,
                             trigger_ps=results.frames.frame_start_ps, allow_mismatch=True).start_ps
    if start is None:
        acc.add(np.round(np.arange(series.n_frames) * series.cycle_time_s * 1e12).astype(np.int64), series.counts)
        return acc.snapshot(None)
    n = min(len(start), series.n_frames)
    acc.add(np.asarray(start[:n], dtype=np.int64), series.counts[:n])
    return acc.snapshot(results, regime_spectra)
