"""SpectralSeries: EMCCD spectra (frames x pixels) from an Andor SIF file or a simulator .spectra.npz."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tagstream.errors import SpectraFileError


@dataclass(frozen=True)
class SpectralSeries:
    """A kinetic series of spectra.

    counts:          float64 (n_frames, n_pixels), camera counts (ADU) incl. the baseline offset
    wavelength_nm:   float64 (n_pixels,) wavelength of each pixel, or None without calibration
    exposure_s:      exposure time of each frame (s); cycle_time_s: frame-to-frame period (s)
    frame_times_s:   (n_frames,) frame start times (s) if the file has them, else None
                     (simulator: frame_start_ps * 1e-12 on the photon-stream clock)
    frame_start_ps:  int64 (n_frames,) frame starts on the photon-stream clock if known (simulator)
    baseline_adu:    known camera offset (simulator) or None (estimate it: spectra.subtract_baseline)
    metadata:        JSON-serialisable extras (source file, camera, EM gain, calibration coefficients)
    """

    counts: np.ndarray
    wavelength_nm: np.ndarray | None
    exposure_s: float
    cycle_time_s: float
    frame_times_s: np.ndarray | None = None
    frame_start_ps: np.ndarray | None = None
    baseline_adu: float | None = None
    metadata: dict = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.counts.shape[0])

    @property
    def n_pixels(self) -> int:
        return int(self.counts.shape[1])


def read_spectra(path) -> SpectralSeries:
    """Read an Andor .sif or a simulator .spectra.npz into a SpectralSeries (by extension)."""
    p = Path(path)
    if p.name.lower().endswith(".npz"):
        return read_spectra_npz(p)
    if p.suffix.lower() == ".sif":
        return read_sif(p)
    raise SpectraFileError("unknown spectra file type (expected .sif or .spectra.npz)", path=p)


def read_spectra_npz(path) -> SpectralSeries:
    """Read a simulator `.spectra.npz` (contract in tagstream.simulate.spectra_file)."""
    from tagstream.simulate.spectra_file import read_spectra_npz as _read

    f = _read(path)
    return SpectralSeries(
        counts=f.frames_adu.astype(np.float64), wavelength_nm=f.wavelengths_nm(), exposure_s=f.exposure_s,
        cycle_time_s=f.cycle_time_s, frame_times_s=f.frame_start_ps * 1e-12, frame_start_ps=f.frame_start_ps,
        baseline_adu=f.baseline_adu,
        metadata={"source": str(path), "format": "tagstream-spectra-npz", "em_gain": f.em_gain,
                  "read_noise_adu": f.read_noise_adu, "adu_per_electron": f.adu_per_electron,
                  "wavelength_coeffs_nm": f.wavelength_coeffs_nm.tolist(), "pixel_origin": 0})


def _jsonable(v):
    if isinstance(v, bytes):
        return v.decode("latin-1")
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.generic,)):
        return v.item()
    return v


class _EOFGuard(io.FileIO):
    """Unbuffered file whose read(n > 0) raises EOFError at the end instead of returning b''."""

    def read(self, size=-1):
        b = super().read(size)
        if size is not None and size > 0 and not b:
            raise EOFError("unexpected end of file")
        return b


def read_sif(path) -> SpectralSeries:
    """Read an Andor SIF file with sif_parser: frames x pixels (rows summed), calibration, timing.

    The wavelength polynomial is evaluated at 1-based pixel numbers, as Andor (and sif_parser) do.
    Per-frame timestamps are kept only if they are not all zero (Andor writes zeros when it did not
    record them). Unreadable / truncated / non-SIF files raise SpectraFileError naming the file.
    """
    import sif_parser
    from sif_parser.utils import extract_calibration

    p = Path(path)
    if not p.is_file():
        raise SpectraFileError("spectra file does not exist", path=p)
    try:
        with _EOFGuard(p) as fh:  # sif_parser loops forever on a header cut short; the guard raises
            data, info = sif_parser.np_open(fh)
        data = np.asarray(data, dtype=np.float64)
        calib = extract_calibration(info)
    except Exception as exc:  # sif_parser raises many kinds on bad input
        raise SpectraFileError(f"not a readable Andor SIF file ({type(exc).__name__}: {exc})", path=p) from None
    n_frames = int(info.get("NumberOfFrames", data.shape[0]))
    if data.ndim != 3 or data.shape[0] != n_frames or data.size == 0:
        raise SpectraFileError(f"SIF data shape {data.shape} does not match {n_frames} frames", path=p)
    expected_end = int(info["offset"]) + data[0].size * 4 * n_frames
    if p.stat().st_size < expected_end:
        raise SpectraFileError(f"SIF file is truncated: {p.stat().st_size} bytes, image data needs "
                               f"{expected_end}", path=p)
    rows = data.shape[1]
    counts = data.sum(axis=1)  # full vertical binning (1 row) or summed image rows
    wl = None
    if calib is not None:
        calib = np.asarray(calib, dtype=np.float64)
        wl = calib[0] if calib.ndim == 2 else calib
        if wl.shape != (counts.shape[1],) or not np.all(np.isfinite(wl)) or np.all(wl == np.arange(1, wl.size + 1)):
            wl = None  # absent or identity calibration (x axis in pixels)
    ts = np.array([info.get(f"timestamp_of_{i}", 0) for i in range(n_frames)], dtype=np.float64)
    frame_times = ts * 1e-6 if np.any(ts != 0) else None  # Andor stores microseconds
    meta = {k: _jsonable(v) for k, v in info.items()
            if not k.startswith("timestamp_of_") and k not in ("tile", "size")}
    meta.update({"source": str(p), "format": "andor-sif", "summed_rows": rows, "pixel_origin": 1})
    return SpectralSeries(counts=counts, wavelength_nm=wl, exposure_s=float(info["ExposureTime"]),
                          cycle_time_s=float(info["CycleTime"]), frame_times_s=frame_times, metadata=meta)
