"""The `.spectra.npz` file: EMCCD frames of a (simulated) recording and what is needed to use them.

Keys (format_version 1):
    frames_adu            float32 (n_frames, n_pixels)  camera counts per frame and pixel
    wavelength_coeffs_nm  float64 (k,)   lambda_nm(p) = sum_i c_i p^i, p = 0-based pixel
    exposure_s, cycle_time_s             float64 scalars
    frame_start_ps        int64 (n_frames,)  frame start times = the frame-trigger tags of the recording
    baseline_adu, em_gain, read_noise_adu, adu_per_electron   float64 scalars (mean ADU =
                          baseline + photoelectrons * em_gain * adu_per_electron)
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tagstream.atomic import atomic_path
from tagstream.errors import SpectraFileError

FORMAT_VERSION = 1
_SCALARS = ("exposure_s", "cycle_time_s", "baseline_adu", "em_gain", "read_noise_adu", "adu_per_electron")


@dataclass(frozen=True)
class SpectraFile:
    """Contents of a .spectra.npz file (see the module docstring for units)."""

    frames_adu: np.ndarray
    wavelength_coeffs_nm: np.ndarray
    frame_start_ps: np.ndarray
    exposure_s: float
    cycle_time_s: float
    baseline_adu: float
    em_gain: float
    read_noise_adu: float
    adu_per_electron: float
    format_version: int = FORMAT_VERSION

    @property
    def n_frames(self) -> int:
        return int(self.frames_adu.shape[0])

    def wavelengths_nm(self) -> np.ndarray:
        """Wavelength of each pixel centre."""
        p = np.arange(self.frames_adu.shape[1], dtype=np.float64)
        return np.polynomial.polynomial.polyval(p, self.wavelength_coeffs_nm)


def write_spectra_npz(path, frames_adu, wavelength_coeffs_nm, frame_start_ps, exposure_s, cycle_time_s,
                      baseline_adu, em_gain, read_noise_adu, adu_per_electron, overwrite: bool = False) -> Path:
    """Write a .spectra.npz atomically (temporary file + os.replace). FileExistsError if the file exists
    and overwrite is False."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists (pass overwrite=True to replace it)")
    frames = np.asarray(frames_adu, np.float32)
    starts = np.asarray(frame_start_ps, np.int64)
    if frames.ndim != 2 or starts.shape != (frames.shape[0],):
        raise ValueError(f"frames_adu must be (n_frames, n_pixels) and frame_start_ps (n_frames,), got "
                         f"{frames.shape} and {starts.shape}")
    data = {
        "format_version": np.int64(FORMAT_VERSION), "frames_adu": frames,
        "wavelength_coeffs_nm": np.asarray(wavelength_coeffs_nm, np.float64), "frame_start_ps": starts,
        "exposure_s": np.float64(exposure_s), "cycle_time_s": np.float64(cycle_time_s),
        "baseline_adu": np.float64(baseline_adu), "em_gain": np.float64(em_gain),
        "read_noise_adu": np.float64(read_noise_adu), "adu_per_electron": np.float64(adu_per_electron),
    }
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **data)
    return path


def read_spectra_npz(path) -> SpectraFile:
    """Read and check a .spectra.npz file; SpectraFileError says what is wrong."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise SpectraFileError("spectra file does not exist", path=path) from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise SpectraFileError(f"not a readable .spectra.npz file ({exc})", path=path) from None
    need = ("format_version", "frames_adu", "wavelength_coeffs_nm", "frame_start_ps") + _SCALARS
    missing = [k for k in need if k not in data]
    if missing:
        raise SpectraFileError(f"spectra file lacks key(s) {missing}", path=path)
    version = int(data["format_version"])
    if version != FORMAT_VERSION:
        raise SpectraFileError(f"spectra file format_version {version} is not supported (expected {FORMAT_VERSION})",
                               path=path)
    frames = data["frames_adu"]
    starts = data["frame_start_ps"]
    if frames.ndim != 2 or starts.ndim != 1 or starts.shape[0] != frames.shape[0]:
        raise SpectraFileError(f"frames_adu {frames.shape} and frame_start_ps {starts.shape} do not match",
                               path=path)
    if starts.size > 1 and np.any(np.diff(starts) <= 0):
        raise SpectraFileError("frame_start_ps is not strictly increasing", path=path)
    coeffs = np.asarray(data["wavelength_coeffs_nm"], np.float64).ravel()
    if coeffs.size < 2 or not np.all(np.isfinite(coeffs)):
        raise SpectraFileError("wavelength_coeffs_nm must hold at least 2 finite coefficients", path=path)
    return SpectraFile(frames_adu=frames.astype(np.float32, copy=False), wavelength_coeffs_nm=coeffs,
                       frame_start_ps=starts.astype(np.int64, copy=False),
                       **{k: float(data[k]) for k in _SCALARS}, format_version=version)
