"""Numba kernels of the decay fits: the periodic exponential decay convolved with a Gaussian IRF with
its derivatives (exp_gauss_shape_grad), and the sparse-bin deviance expectation (deviance_moments).

The decay fits evaluate this shape (and its derivatives in lifetime, IRF shift and IRF width) at every
solver step for every component, so it is one fused loop over the bins: the analytic derivatives
share the exponentials and error functions of the value (no finite differences, no temporaries).

Single-pulse CDF (Gaussian mean 0, width s, lifetime tau), x = u/s, z = x - s/tau:
    G(u) = Phi(x) - E(u),   E(u) = exp(-u/tau + s^2/(2 tau^2)) Phi(z)   (overflow-safe via log Phi)
    dG/du = E/tau,   dG/dtau = -E (u - s^2/tau)/tau^2 - phi(x) s/tau^2,   dG/ds = phi(x)/tau - E s/tau^2
(using exp(-u/tau + s^2/2tau^2) phi(z) = phi(x)). A bin [a, a + w) collects G differences for the
latest pulse and the next one, plus the geometric sum over all earlier pulses (tagstream.analysis.
decay_models.exp_gauss_shape documents the model).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_SQRT1_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_FAR = 40.0  # |x| beyond which Phi(x) is 0 or 1 and phi(x) = 0 in double precision


@njit(cache=True, nogil=True)
def log_ndtr(z):
    """log Phi(z), accurate in both tails (asymptotic series below z = -30, where erfc underflows)."""
    if z > 0.0:
        return math.log1p(-0.5 * math.erfc(z * _SQRT1_2))
    if z > -30.0:
        return math.log(0.5 * math.erfc(-z * _SQRT1_2))
    r = 1.0 / (z * z)
    s, term = 1.0, 1.0
    for k in range(1, 9):  # 1 - 1/z^2 + 3/z^4 - 15/z^6 ...: terms < 1e-16 at |z| >= 30
        term *= -(2 * k - 1) * r
        s += term
    return -0.5 * z * z - math.log(-z) - 0.5 * math.log(2.0 * math.pi) + math.log(s)


@njit(cache=True, nogil=True)
def _point(u, tau, s, c):
    """(Phi(x) or its complement, E(u), phi(x)) at one time u; upper tail flag chosen by the caller."""
    x = u / s
    if x > _FAR:
        z = x - s / tau
        e = math.exp(-u / tau + c) if z > _FAR else math.exp(-u / tau + c + log_ndtr(z))
        return e, 0.0
    if x < -_FAR:
        return 0.0, 0.0
    e = math.exp(min(-u / tau + c + log_ndtr(x - s / tau), 700.0))
    return e, math.exp(-0.5 * x * x) * _INV_SQRT_2PI


@njit(cache=True, nogil=True)
def _phi_diff(u1, u2, s):
    """Phi(u2/s) - Phi(u1/s), from the upper tails when u1 > 0 (precision far after the pulse)."""
    x1, x2 = u1 / s, u2 / s
    if x1 > _FAR or x2 < -_FAR:
        return 0.0
    if u1 > 0.0:
        return 0.5 * (math.erfc(x1 * _SQRT1_2) - math.erfc(x2 * _SQRT1_2))
    return 0.5 * (math.erfc(-x2 * _SQRT1_2) - math.erfc(-x1 * _SQRT1_2))


@njit(cache=True, nogil=True)
def exp_gauss_shape_grad(edges_ps, tau_ps, start_ps, sigma_ps, period_ps, out):
    """out[0, k]: fraction of the photons in bin k; out[1..3, k]: its derivatives by tau_ps, start_ps
    and sigma_ps. edges_ps: n + 1 bin edges over one period; out: (>= 4, n) float64 (rows 0-3 written)."""
    T, tau, s = period_ps, tau_ps, sigma_ps
    c = 0.5 * (s / tau) ** 2
    q = -math.expm1(-T / tau)
    dq = -(T / (tau * tau)) * math.exp(-T / tau)        # d q / d tau
    inv_tau, inv_tau2 = 1.0 / tau, 1.0 / (tau * tau)
    n = edges_ps.shape[0] - 1
    for k in range(n):
        a = edges_ps[k]
        w = edges_ps[k + 1] - a
        v = a - start_ps + 0.5 * T
        ua = v - T * math.floor(v / T) - 0.5 * T
        val = 0.0
        d_tau = 0.0
        d_start = 0.0
        d_s = 0.0
        for j in range(2):  # the latest pulse, then the next one (its rise may leak into the bin)
            u1 = ua - j * T
            u2 = u1 + w
            e1, p1 = _point(u1, tau, s, c)
            e2, p2 = _point(u2, tau, s, c)
            val += _phi_diff(u1, u2, s) - (e2 - e1)
            d_tau += (-e2 * (u2 - s * s * inv_tau) - p2 * s + e1 * (u1 - s * s * inv_tau) + p1 * s) * inv_tau2
            d_start += -(e2 - e1) * inv_tau
            d_s += (p2 - p1) * inv_tau - (e2 - e1) * s * inv_tau2
        m = -math.expm1(-w / tau)
        L = c - (ua + T) / tau
        if L < 700.0:  # all earlier pulses: sum_k>=1 exp(c - (ua + kT)/tau) (1 - e^-w/tau)
            earlier = math.exp(L) * m / q
            dL = -s * s * inv_tau2 * inv_tau + (ua + T) * inv_tau2
            dm = -(w * inv_tau2) * math.exp(-w / tau)
            val += earlier
            d_tau += earlier * (dL + dm / m - dq / q)
            d_start += earlier * inv_tau
            d_s += earlier * s * inv_tau2
        else:
            val += math.exp(700.0) * m / q
        out[0, k] = val
        out[1, k] = d_tau
        out[2, k] = d_start
        out[3, k] = d_s


@njit(cache=True, nogil=True)
def deviance_moments(mu, n_max, mu_exact, out_e, out_v):
    """Per bin, mean and variance of the Poisson deviance 2 (mu - n + n ln(n/mu)), n ~ Poisson(mu):
    exact sums over n < n_max for mu <= mu_exact (pmf by the recurrence p(n+1) = p(n) mu/(n+1)), the
    asymptotic 1 + 1/(6 mu), 2 + 2/mu above."""
    for k in range(mu.shape[0]):
        m = mu[k]
        if m > mu_exact:
            out_e[k] = 1.0 + 1.0 / (6.0 * m)
            out_v[k] = 2.0 + 2.0 / m
            continue
        lm = math.log(m)
        p = math.exp(-m)
        e = 0.0
        e2 = 0.0
        for n in range(n_max):
            d = 2.0 * (m - n + (n * (math.log(n) - lm) if n > 0 else 0.0))
            e += p * d
            e2 += p * d * d
            p *= m / (n + 1)
        out_e[k] = e
        out_v[k] = max(e2 - e * e, 0.0)


__all__ = ["deviance_moments", "exp_gauss_shape_grad", "log_ndtr", "np"]
