"""Peak energy and FWHM of emission spectra: Gaussian fit (with errors) or a robust half-maximum estimate."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


@dataclass(frozen=True)
class PeakFit:
    """Peak position and width of a spectrum (eV); errors are 1 sigma (nan if unavailable).
    method: "gaussian" (Gaussian + constant, least squares) or "halfmax" (robust estimate)."""

    peak_ev: float
    peak_err_ev: float
    fwhm_ev: float
    fwhm_err_ev: float
    amplitude: float
    offset: float
    method: str
    success: bool

    def to_json_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in self.__dict__.items()}


def _gauss(e, amp, mu, sigma, off):
    return amp * np.exp(-0.5 * ((e - mu) / sigma) ** 2) + off


def halfmax_peak(energy_ev: np.ndarray, density: np.ndarray, smooth_px: int = 3) -> PeakFit:
    """Robust estimate: maximum of the (boxcar-smoothed) spectrum, FWHM from linear interpolation of
    the half-maximum crossings, peak = centre of those crossings. No errors (nan)."""
    e = np.asarray(energy_ev, dtype=np.float64)
    y = np.asarray(density, dtype=np.float64)
    ys = np.convolve(y, np.ones(smooth_px) / smooth_px, mode="same") if smooth_px > 1 else y
    i = int(np.argmax(ys))

    def crossings(base):
        half = base + 0.5 * (ys[i] - base)
        lo = i
        while lo > 0 and ys[lo] > half:
            lo -= 1
        hi = i
        while hi < ys.size - 1 and ys[hi] > half:
            hi += 1
        return half, lo, hi

    base = float(np.median(ys))
    half, lo, hi = crossings(base)
    # refine the baseline from the pixels away from the line (> 1.5 FWHM from the peak), if enough
    width = abs(e[hi] - e[lo])
    away = np.abs(e - e[i]) > 1.5 * width
    if away.sum() >= 10:
        base = float(np.median(ys[away]))
        half, lo, hi = crossings(base)
    ok = ys[lo] <= half and ys[hi] <= half and ys[i] > base
    if not ok:
        return PeakFit(float(e[i]), math.nan, math.nan, math.nan, float(ys[i] - base), base, "halfmax", False)

    def cross(j0, j1):  # interpolate the half-max crossing between pixels j0 (below) and j1 (above)
        return e[j0] + (half - ys[j0]) * (e[j1] - e[j0]) / (ys[j1] - ys[j0])

    left, right = cross(lo, lo + 1), cross(hi, hi - 1)
    return PeakFit(0.5 * (left + right), math.nan, abs(right - left), math.nan, float(ys[i] - base), base,
                   "halfmax", True)


def fit_peak(energy_ev: np.ndarray, density: np.ndarray, density_err: np.ndarray | None = None,
             window_fwhm: float = 3.0) -> PeakFit:
    """Gaussian + constant fit of a spectrum on an energy axis (eV).

    Starts from halfmax_peak and fits the pixels within window_fwhm x FWHM of the peak. density_err:
    per-pixel 1-sigma errors (absolute), else errors are scaled by the residual scatter. Falls back to
    the robust estimate (success=False) if the fit fails.
    """
    e = np.asarray(energy_ev, dtype=np.float64)
    y = np.asarray(density, dtype=np.float64)
    rough = halfmax_peak(e, y)
    if not rough.success:
        return rough
    sel = np.abs(e - rough.peak_ev) <= window_fwhm * rough.fwhm_ev
    if sel.sum() < 6:
        return rough
    p0 = [rough.amplitude, rough.peak_ev, rough.fwhm_ev / FWHM_PER_SIGMA, rough.offset]
    sig = None if density_err is None else np.asarray(density_err, dtype=np.float64)[sel]
    from scipy import optimize   # lazy: ~0.5 s to import

    try:
        popt, pcov = optimize.curve_fit(_gauss, e[sel], y[sel], p0=p0, sigma=sig,
                                        absolute_sigma=sig is not None, maxfev=5000)
    except (RuntimeError, ValueError, optimize.OptimizeWarning):
        return PeakFit(**{**rough.__dict__, "success": False})
    perr = np.sqrt(np.clip(np.diag(pcov), 0, None)) if np.all(np.isfinite(pcov)) else np.full(4, np.nan)
    amp, mu, s, off = popt
    if not (amp > 0 and np.min(e) < mu < np.max(e)):
        return PeakFit(**{**rough.__dict__, "success": False})
    return PeakFit(float(mu), float(perr[1]), float(FWHM_PER_SIGMA * abs(s)), float(FWHM_PER_SIGMA * perr[2]),
                   float(amp), float(off), "gaussian", True)


def peak_trace(energy_ev: np.ndarray, densities: np.ndarray, min_peak_snr: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Peak energy (eV) and its error per frame (rows of densities); nan where the frame's peak is not
    min_peak_snr times above the pixel noise (estimated from the median absolute deviation)."""
    d = np.atleast_2d(np.asarray(densities, dtype=np.float64))
    peak = np.full(d.shape[0], np.nan)
    err = np.full(d.shape[0], np.nan)
    for i, row in enumerate(d):
        noise = 1.4826 * np.median(np.abs(row - np.median(row)))
        if noise > 0 and (np.max(row) - np.median(row)) < min_peak_snr * noise:
            continue
        f = fit_peak(energy_ev, row)
        if f.success:
            peak[i], err[i] = f.peak_ev, f.peak_err_ev
    return peak, err
