"""Spectra per lifetime regime, the reconstructed trap-emission spectrum, and spectrum-lifetime correlation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tagstream.errors import AnalysisError
from tagstream.spectra.energy import energy_bin_widths_ev
from tagstream.spectra.peaks import PeakFit, fit_peak
from tagstream.spectra.timing import FrameTiming


@dataclass(frozen=True)
class RegimeSpectrum:
    """Weighted mean spectrum of the frames in a regime (density per eV on energy_ev).

    density_err: standard error of the weighted mean from the frame-to-frame scatter (nan with < 2
    frames). weight_sum: sum of frame weights (= frames' exposure fractions inside the regime);
    n_frames: frames with weight > 0. peak: Gaussian peak fit (with errors)."""

    energy_ev: np.ndarray
    density: np.ndarray
    density_err: np.ndarray
    weight_sum: float
    n_frames: int
    peak: PeakFit | None

    def to_json_dict(self) -> dict:
        return {"energy_ev": self.energy_ev.tolist(), "density": self.density.tolist(),
                "density_err": [None if not np.isfinite(v) else v for v in self.density_err.tolist()],
                "weight_sum": self.weight_sum, "n_frames": self.n_frames,
                "peak": None if self.peak is None else self.peak.to_json_dict()}


def weighted_mean_spectrum(densities: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Weighted mean over frames (rows) and its standard error (sum w^2 (x - m)^2 / (sum w)^2, scaled by
    n/(n-1)). Returns (mean, err, weight_sum, n_frames_used)."""
    d = np.asarray(densities, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if d.shape[0] != w.size:
        raise AnalysisError(f"{w.size} weights for {d.shape[0]} frames")
    used = w > 0
    n = int(used.sum())
    W = float(w.sum())
    if n == 0 or W <= 0:
        nan = np.full(d.shape[1], np.nan)
        return nan, nan, 0.0, 0
    mean = w @ d / W
    if n < 2:
        return mean, np.full(d.shape[1], np.nan), W, n
    var = (w[used, None] ** 2 * (d[used] - mean) ** 2).sum(axis=0) / W**2 * n / (n - 1)
    return mean, np.sqrt(var), W, n


def regime_spectrum(energy_ev: np.ndarray, densities: np.ndarray, weights: np.ndarray,
                    min_weight: float = 0.0) -> RegimeSpectrum:
    """Mean spectrum of a regime from per-frame densities and overlap weights (timing.overlap_weights).

    Frames with weight <= min_weight are left out (e.g. min_weight=0.5 keeps frames mostly inside)."""
    w = np.where(np.asarray(weights, dtype=np.float64) > min_weight, weights, 0.0)
    mean, err, W, n = weighted_mean_spectrum(densities, w)
    peak = fit_peak(energy_ev, mean, err if n >= 2 else None) if n > 0 else None
    return RegimeSpectrum(np.asarray(energy_ev, dtype=np.float64), mean, err, W, n, peak)


def _normalised(energy_ev, s, err):
    area = float(np.sum(s * energy_bin_widths_ev(energy_ev)))
    if not area > 0:
        raise AnalysisError("spectrum has no positive area (baseline not subtracted?)")
    return s / area, (None if err is None else np.asarray(err) / area)


def trap_spectrum(energy_ev: np.ndarray, s_regime: np.ndarray, s_band_edge: np.ndarray, f_trap: float,
                  f_trap_err: float = 0.0, err_regime: np.ndarray | None = None,
                  err_band_edge: np.ndarray | None = None, f_ref: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Trap-emission spectrum T from a regime's spectrum S = (1 - f) B + f T and a reference regime's
    S_ref = (1 - f_ref) B + f_ref T with a smaller trap fraction (both normalised to unit area):
    T = ((1 - f_ref) S - (1 - f) S_ref) / (f - f_ref); with a band-edge-only reference (f_ref = 0)
    that is the seed's (S - (1 - f) S_band_edge) / f.

    f_trap: the regime's trap emission fraction from the decay fit (fraction of emitted photons).
    Returns (trap density per eV, 1-sigma error per pixel propagated from the spectra errors and
    f_trap_err; f_ref is taken as exact).
    """
    if not 0 < f_trap <= 1:
        raise AnalysisError(f"trap fraction must be in (0, 1], got {f_trap}")
    if not 0 <= f_ref < f_trap:
        raise AnalysisError(f"reference trap fraction must be in [0, {f_trap:g}), got {f_ref}")
    r, er = _normalised(energy_ev, np.asarray(s_regime, float), err_regime)
    b, eb = _normalised(energy_ev, np.asarray(s_band_edge, float), err_band_edge)
    d = f_trap - f_ref
    trap = ((1 - f_ref) * r - (1 - f_trap) * b) / d
    var = ((1 - f_ref) * (b - r) / d**2 * f_trap_err) ** 2  # d trap / d f
    if er is not None:
        var = var + ((1 - f_ref) / d * er) ** 2
    if eb is not None:
        var = var + ((1 - f_trap) / d * eb) ** 2
    return trap, np.sqrt(var)


def compare_spectra(a: np.ndarray, a_err: np.ndarray, b: np.ndarray, b_err: np.ndarray,
                    mask: np.ndarray | None = None) -> tuple[float, int, float]:
    """Consistency of two spectra on the same axis: (chi2, dof, p-value) of a - b with errors combined."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    v = np.asarray(a_err, float) ** 2 + np.asarray(b_err, float) ** 2
    ok = np.isfinite(a) & np.isfinite(b) & (v > 0)
    if mask is not None:
        ok &= np.asarray(mask, bool)
    chi2 = float(np.sum((a[ok] - b[ok]) ** 2 / v[ok]))
    dof = int(ok.sum())
    from scipy import special   # chi2 survival without scipy.stats (~1 s to import)

    return chi2, dof, float(special.chdtrc(dof, chi2)) if dof else float("nan")


def lifetime_per_frame(timing: FrameTiming, bin_start_ps: np.ndarray, bin_ps: int, lifetime_ns: np.ndarray,
                       bin_weights: np.ndarray | None = None) -> np.ndarray:
    """Average lifetime (ns) during each frame's exposure: the mean over trace bins weighted by overlap
    x bin_weights (e.g. photon counts); bins with nan lifetime (OFF / empty) are skipped; nan if none."""
    st = np.asarray(bin_start_ps, dtype=np.int64)
    lt = np.asarray(lifetime_ns, dtype=np.float64)
    bw = np.ones_like(lt) if bin_weights is None else np.asarray(bin_weights, dtype=np.float64)
    out = np.full(timing.start_ps.size, np.nan)
    for i, (a, b) in enumerate(zip(timing.start_ps, timing.stop_ps)):
        j0 = max(int(np.searchsorted(st, a, side="right")) - 1, 0)
        j1 = int(np.searchsorted(st, b, side="left"))
        s = st[j0:j1]
        ov = np.clip(np.minimum(s + bin_ps, b) - np.maximum(s, a), 0, None) * bw[j0:j1]
        ok = np.isfinite(lt[j0:j1]) & (ov > 0)
        if ok.any():
            out[i] = float(np.sum(ov[ok] * lt[j0:j1][ok]) / np.sum(ov[ok]))
    return out


@dataclass(frozen=True)
class Correlation:
    """Correlation of the spectral peak trace with the lifetime trace (per frame)."""

    pearson_r: float
    pearson_p: float
    spearman_r: float
    spearman_p: float
    n_frames: int
    slope_ev_per_ns: float


def spectrum_lifetime_correlation(peak_ev: np.ndarray, lifetime_ns: np.ndarray) -> Correlation:
    """Pearson and Spearman correlation of per-frame peak energy and lifetime (frames with both finite)
    and the least-squares slope (eV per ns; the seed sees a redshift, i.e. a negative slope)."""
    x = np.asarray(lifetime_ns, float)
    y = np.asarray(peak_ev, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        raise AnalysisError(f"need >= 3 frames with both a peak energy and a lifetime, have {int(ok.sum())}")
    from scipy import stats

    pr = stats.pearsonr(x[ok], y[ok])
    sr = stats.spearmanr(x[ok], y[ok])
    slope = float(np.polyfit(x[ok], y[ok], 1)[0])
    return Correlation(float(pr[0]), float(pr[1]), float(sr[0]), float(sr[1]), int(ok.sum()), slope)
