"""Baseline subtraction and conversion of spectra from wavelength (nm) to photon energy (eV)."""

from __future__ import annotations

import numpy as np

from tagstream.errors import AnalysisError

HC_EV_NM = 1239.841984  # h*c in eV*nm


def subtract_baseline(counts: np.ndarray, baseline_adu: float | np.ndarray | None = None) -> np.ndarray:
    """Counts minus the camera offset (float64, same shape).

    baseline_adu: a known offset (scalar or per frame), or None to estimate it per frame as the median
    over pixels (valid when the emission covers less than half of the pixels, as for a single QD line).
    """
    c = np.asarray(counts, dtype=np.float64)
    if baseline_adu is None:
        b = np.median(c, axis=-1, keepdims=True)
    else:
        b = np.asarray(baseline_adu, dtype=np.float64)
        if b.ndim == 1 and c.ndim == 2:
            b = b[:, None]
    return c - b


def to_energy(wavelength_nm: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spectra per pixel -> spectral density per eV, on ascending photon energy.

    counts (..., n_pixels) are counts per pixel. Per-nm density I(lambda) = counts / |d lambda/d pixel|;
    per-eV density I(E) = I(lambda) * lambda^2 / (h c) (the Jacobian |d lambda / d E|). Returns
    (energy_ev ascending (n_pixels,), density_per_ev (..., n_pixels)); summing density * |dE/dpixel|
    gives back the counts.
    """
    if wavelength_nm is None:
        raise AnalysisError("spectra have no wavelength calibration: cannot convert to photon energy")
    lam = np.asarray(wavelength_nm, dtype=np.float64)
    c = np.asarray(counts, dtype=np.float64)
    if c.shape[-1] != lam.size or lam.size < 2 or np.any(lam <= 0):
        raise AnalysisError(f"wavelength_nm ({lam.size}) must be positive and match the pixels ({c.shape[-1]})")
    dlam = np.abs(np.gradient(lam))
    dens = c / dlam * lam**2 / HC_EV_NM
    energy = HC_EV_NM / lam
    order = np.argsort(energy)
    return energy[order], dens[..., order]


def energy_bin_widths_ev(energy_ev: np.ndarray) -> np.ndarray:
    """Width in eV of each pixel on an energy axis from to_energy (for integrating densities)."""
    return np.abs(np.gradient(np.asarray(energy_ev, dtype=np.float64)))
