"""Decay-histogram models over one laser period: exact bin integrals, periodic tails, IRF convolution.

Every shape here is the expected *fraction* of one component's emitted photons that lands in each
histogram bin, in steady state under periodic excitation (period T): photons of earlier pulses
(the 1/(1 - e^(-T/tau)) tail) are included, so a shape sums to 1 over a full period. A component
with n emitted photons then contributes n * shape counts, and n_i / sum(n_j) is the seed's emission
fraction A_i*tau_i / sum(A_j*tau_j).

Times are in ps. Bins are given by their edges (n + 1 values, the last one = period_ps).
"""

from __future__ import annotations

import numpy as np
from numpy import fft as sfft   # numpy.fft (pocketfft, as scipy.fft): scipy.fft costs ~0.1 s more to import
from scipy import special

from tagstream.errors import AnalysisError


def histogram_edges_ps(t_ps: np.ndarray, period_ps: float) -> np.ndarray:
    """Bin edges (float64, n + 1) from left edges t_ps over one period [0, period_ps).

    The bins must start at 0 and be uniform; only the last bin may be shorter (when period_ps is not
    a multiple of the bin width). Raises AnalysisError otherwise.
    """
    t = np.asarray(t_ps)
    if t.ndim != 1 or t.size < 2:
        raise AnalysisError(f"decay histogram needs a 1-D t_ps with >= 2 bins, got shape {t.shape}")
    w = np.diff(t)
    if t[0] != 0 or np.any(w <= 0) or np.any(w != w[0]):
        raise AnalysisError("decay histogram t_ps must be uniform left bin edges starting at 0 ps")
    if not (t[-1] < period_ps <= t[-1] + w[0]):
        raise AnalysisError(
            f"decay histogram covers [0, {t[-1] + w[0]}) ps but the period is {period_ps} ps: "
            "t_ps must span exactly one laser period")
    return np.append(t.astype(np.float64), float(period_ps))


def exp_shape(edges_ps: np.ndarray, tau_ps: float, start_ps: float, period_ps: float) -> np.ndarray:
    """Fraction per bin of a periodic single-exponential decay (lifetime tau_ps) starting at start_ps.

    Exact bin integrals: with u = time since the latest pulse in [0, T), the steady-state cumulative
    H(u) = (1 - e^(-u/tau)) / (1 - e^(-T/tau)); a bin [a, b) collects H_ext(u_a + w) - H(u_a), where
    H_ext(u) = floor(u/T) + H(u mod T) handles a bin that contains the pulse. O(n).
    """
    T = float(period_ps)
    a = edges_ps[:-1]
    w = np.diff(edges_ps)
    ua = np.mod(a - start_ps, T)
    ub = ua + w
    norm_ = -np.expm1(-T / tau_ps)

    def h(u):
        return -np.expm1(-u / tau_ps) / norm_

    wraps = np.floor(ub / T)
    return wraps + h(ub - wraps * T) - h(ua)


def exp_gauss_shape(edges_ps: np.ndarray, tau_ps: float, start_ps: float, sigma_ps: float,
                    period_ps: float, tail_ps: float = 0.0) -> np.ndarray:
    """Fraction per bin of a periodic exponential decay convolved with a Gaussian IRF (analytic).

    Gaussian mean start_ps, width sigma_ps (sigma << period). The single-pulse CDF is
    G(u) = Phi(u/s) - exp(-u/tau + s^2/(2 tau^2)) Phi(u/s - s/tau); bins take G differences for the
    latest pulse and its neighbour, plus the closed-form geometric sum of all earlier pulses. Smooth
    in start_ps and sigma_ps even for an IRF narrower than a bin (no discretised kernel).
    tail_ps > 0: exponentially modified Gaussian IRF, via exp(tau) * exp(tail) = (tau S_tau -
    tail S_tail) / (tau - tail). A numba kernel (tagstream.kernels.decay).
    """
    return exp_gauss_shape_grad(edges_ps, tau_ps, start_ps, sigma_ps, period_ps, tail_ps)[0]


def exp_gauss_shape_grad(edges_ps: np.ndarray, tau_ps: float, start_ps: float, sigma_ps: float,
                         period_ps: float, tail_ps: float = 0.0) -> np.ndarray:
    """exp_gauss_shape and its analytic derivatives: rows (shape, d/d tau_ps, d/d start_ps,
    d/d sigma_ps, d/d tail_ps), shape (5, n bins). The decay fits' Jacobian (no finite differences)."""
    from tagstream.kernels.decay import exp_gauss_shape_grad as kernel

    edges = np.ascontiguousarray(edges_ps, dtype=np.float64)
    out = np.zeros((5, edges.size - 1))
    kernel(edges, float(tau_ps), float(start_ps), float(sigma_ps), float(period_ps), out)
    if tail_ps > 0:
        if abs(tau_ps - tail_ps) < 1e-6 * tau_ps:
            tail_ps = tau_ps * (1 - 1e-6)
        b = np.zeros_like(out)
        kernel(edges, float(tail_ps), float(start_ps), float(sigma_ps), float(period_ps), b)
        a, t, d = out, float(tail_ps), float(tau_ps) - float(tail_ps)
        shape = (tau_ps * a[0] - t * b[0]) / d
        out = np.stack([shape, (a[0] + tau_ps * a[1] - shape) / d, (tau_ps * a[2] - t * b[2]) / d,
                        (tau_ps * a[3] - t * b[3]) / d, (shape - b[0] - t * b[1]) / d])
    return out


def exp_gauss_shape_numpy(edges_ps: np.ndarray, tau_ps: float, start_ps: float, sigma_ps: float,
                          period_ps: float, tail_ps: float = 0.0) -> np.ndarray:
    """The same model as exp_gauss_shape in plain numpy/scipy.special (slow reference of the numba
    kernel, for the tests and bench/bench_fit_speed.py)."""
    if tail_ps > 0:
        if abs(tau_ps - tail_ps) < 1e-6 * tau_ps:
            tail_ps = tau_ps * (1 - 1e-6)
        a = exp_gauss_shape_numpy(edges_ps, tau_ps, start_ps, sigma_ps, period_ps)
        b = exp_gauss_shape_numpy(edges_ps, tail_ps, start_ps, sigma_ps, period_ps)
        return (tau_ps * a - tail_ps * b) / (tau_ps - tail_ps)
    T = float(period_ps)
    a = edges_ps[:-1]
    w = np.diff(edges_ps)
    ua = np.mod(a - start_ps + 0.5 * T, T) - 0.5 * T
    ub = ua + w
    c = 0.5 * (sigma_ps / tau_ps) ** 2

    def emod(u):  # exp(-u/tau + s^2/2tau^2) Phi(u/s - s/tau), overflow-safe
        return np.exp(-u / tau_ps + c + special.log_ndtr(u / sigma_ps - sigma_ps / tau_ps))

    def gdiff(u1, u2):  # G(u2) - G(u1), using upper tails where u1 > 0 for precision
        pos = u1 > 0
        phi = np.where(pos, special.ndtr(-u1 / sigma_ps) - special.ndtr(-u2 / sigma_ps),
                       special.ndtr(u2 / sigma_ps) - special.ndtr(u1 / sigma_ps))
        return phi - (emod(u2) - emod(u1))

    q = -np.expm1(-T / tau_ps)
    earlier = np.exp(np.minimum(c - (ua + T) / tau_ps, 700.0)) * (-np.expm1(-w / tau_ps)) / q
    return gdiff(ua, ub) + gdiff(ua - T, ub - T) + earlier


def _hurwitz_tail(u_ps, alpha, t0_ps, period_ps):
    """Density sum over earlier pulses, sum_{k>=1} h(u + kT), h(t) = (a-1)/t0 (1 + t/t0)^-a."""
    s = period_ps / t0_ps
    x = 1.0 + u_ps / t0_ps
    return (alpha - 1.0) / t0_ps * s ** (-alpha) * special.zeta(alpha, x / s + 1.0)


def powerlaw_shape(edges_ps: np.ndarray, alpha: float, t0_ps: float, start_ps: float,
                   period_ps: float) -> np.ndarray:
    """Fraction per bin of a periodic power-law (delayed-emission) decay, h(t) ~ (1 + t/t0)^-alpha.

    h is normalised to 1 over [0, inf) (needs alpha > 1). The latest pulse is integrated exactly
    (its CDF is 1 - (1 + t/t0)^(1 - alpha)); earlier pulses sum to a smooth Hurwitz-zeta density,
    integrated per bin by Simpson's rule. A bin containing the pulse is split at the pulse.
    """
    T = float(period_ps)
    a = edges_ps[:-1]
    w = np.diff(edges_ps)
    ua = np.mod(a - start_ps, T)
    ub = ua + w

    def cdf(u):
        return -np.expm1((1.0 - alpha) * np.log1p(u / t0_ps))

    def piece(u1, u2):  # 0 <= u1 <= u2 <= T
        mid = 0.5 * (u1 + u2)
        tail = (u2 - u1) / 6.0 * (_hurwitz_tail(u1, alpha, t0_ps, T) + 4.0 * _hurwitz_tail(mid, alpha, t0_ps, T)
                                  + _hurwitz_tail(u2, alpha, t0_ps, T))
        return cdf(u2) - cdf(u1) + tail

    wrap = ub > T
    out = piece(ua, np.minimum(ub, T))
    if np.any(wrap):
        out[wrap] += piece(np.zeros(int(wrap.sum())), ub[wrap] - T)
    return out


def gaussian_kernel(n_bins: int, bin_ps: float, sigma_ps: float, tail_ps: float = 0.0) -> np.ndarray:
    """IRF probability per bin offset (circular, length n_bins), centred on offset 0.

    Offset j covers [j*w - w/2, j*w + w/2) (offsets above n/2 are negative, wrapped). tail_ps > 0 makes
    it an exponentially modified Gaussian (Gaussian mean at 0, exponential tail of tail_ps).
    Normalised to sum 1.
    """
    j = np.arange(n_bins, dtype=np.float64)
    d = np.where(j < (n_bins + 1) // 2, j, j - n_bins) * bin_ps
    lo, hi = d - 0.5 * bin_ps, d + 0.5 * bin_ps
    if tail_ps > 0:
        K = tail_ps / sigma_ps
        p = _emg_cdf(hi / sigma_ps, K) - _emg_cdf(lo / sigma_ps, K)
    else:
        p = special.ndtr(hi / sigma_ps) - special.ndtr(lo / sigma_ps)
    p = np.clip(p, 0.0, None)
    return p / p.sum()


def _emg_cdf(z: np.ndarray, K: float) -> np.ndarray:
    """CDF of the standard exponentially modified Gaussian (scipy.stats.exponnorm's formula, without
    importing scipy.stats, ~1 s): Phi(z) - exp(1/(2K^2) - z/K + log Phi(z - 1/K))."""
    inv = 1.0 / K
    return special.ndtr(z) - np.exp(inv * (0.5 * inv - z) + special.log_ndtr(z - inv))


def measured_kernel(irf_counts: np.ndarray, background_per_bin: float = 0.0) -> np.ndarray:
    """IRF probability per bin from a measured IRF histogram (same bins as the data), sum 1."""
    p = np.clip(np.asarray(irf_counts, dtype=np.float64) - background_per_bin, 0.0, None)
    s = p.sum()
    if not np.isfinite(s) or s <= 0:
        raise AnalysisError("measured IRF histogram has no counts above its background")
    return p / s


def kernel_fft(kernel: np.ndarray) -> np.ndarray:
    """rFFT of an IRF kernel, for circular_convolve."""
    return sfft.rfft(kernel)


def circular_convolve(shape: np.ndarray, kernel_ft: np.ndarray) -> np.ndarray:
    """Circular convolution over one period (periodic excitation makes the response periodic)."""
    out = sfft.irfft(sfft.rfft(shape) * kernel_ft, n=shape.shape[0])
    return np.maximum(out, 0.0)  # FFT round-off can leave -1e-17 where the true value is 0
