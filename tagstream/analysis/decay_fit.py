"""Poisson maximum-likelihood fits of decay histograms: single exponential, band-edge + trap, global.

Model per bin k (counts):  mu_k = bg_per_bin * w_k/w + sum_c n_c * shape_c[k]
where shape_c is the periodic, IRF-convolved, bin-integrated decay of component c normalised to 1 over
a period (tagstream.analysis.decay_models). n_c is thus the number of photons component c emits per
histogram, and the emission fraction f_c = n_c / sum n_j equals the seed's A_c tau_c / sum A_j tau_j.

Estimator: minimise the Poisson deviance D = 2 sum[mu - n + n ln(n/mu)] (= -2 ln L + const) by
projected Levenberg-Marquardt Fisher scoring (bounds respected), analytic derivatives of mu for the
linear parameters and central differences for the others. Errors: inverse Fisher information
(the Gauss-Newton Hessian of -ln L) at the optimum; optional profile-likelihood 68 % intervals
(Delta D = 1). Goodness of fit: reduced deviance D / dof (~1 for a good fit).

Parameter names (units in names; lifetimes in ns):
  single:   n_photons, tau_ns
  be_trap:  n_be, tau_be_ns, n_trap, tau_trap_ns
  delayed:  n_delayed, alpha_delayed, t0_delayed_ns   (optional power-law (1 + t/t0)^-alpha)
  always:   bg_per_bin (counts per full-width bin), irf_shift_ps (+ irf_sigma_ps, irf_tail_ps)
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
from scipy import special

from tagstream.analysis import decay_models as dm
from tagstream.analysis.blas import one_blas_thread
from tagstream.analysis.cancel import check as _cancelled
from tagstream.analysis.irf import IRF
from tagstream.errors import AnalysisError

NS = 1000.0  # ps per ns

_COMP_PARAMS = {
    "single": ("n_photons", "tau_ns"),
    "be": ("n_be", "tau_be_ns"),
    "trap": ("n_trap", "tau_trap_ns"),
    "delayed": ("n_delayed", "alpha_delayed", "t0_delayed_ns"),
    "fast": ("n_fast", "tau_fast_ns"),   # optional: grey/OFF-state and biexciton photons (one shared lifetime)
    "xx": ("xx_ratio", "tau_xx_ns"),     # optional: biexciton photons, xx_ratio x the exciton photons (shared)
    "grey": ("n_grey", "tau_grey_ns"),   # optional: a second fast exponential (grey-state photons; shared lifetime)
}
_EXCITON = ("single", "be", "trap")  # the components whose photons the biexciton amplitude follows
_LINEAR = {"n_photons", "n_be", "n_trap", "n_delayed", "n_fast", "n_grey", "bg_per_bin"}
_NOT_IN_FRACTIONS = ("fast", "xx", "grey")  # fractions are of the band-edge / trap (/ delayed) photons
MODELS = ("single", "be_trap")


def _components(model: str, delayed: bool, fast: bool = False, xx: bool = False,
                grey: bool = False) -> tuple[str, ...]:
    if model == "single":
        comps = ("single",)
    elif model == "be_trap":
        comps = ("be", "trap")
    else:
        raise AnalysisError(f"unknown decay model {model!r}; choose one of {MODELS}")
    return comps + (("delayed",) if delayed else ()) + (("fast",) if fast else ()) + (("xx",) if xx else ()) \
        + (("grey",) if grey else ())


# ----------------------------------------------------------------------------------------- datasets
class _Dataset:
    """One histogram with its bins, fit range, IRF and components; evaluates mu and d mu / d param."""

    def __init__(self, t_ps, counts, period_ps, fit_range_ps, irf: IRF, comps):
        self.edges = dm.histogram_edges_ps(t_ps, period_ps)
        c = np.asarray(counts)
        if c.shape != np.shape(t_ps):
            raise AnalysisError(f"counts shape {c.shape} differs from t_ps shape {np.shape(t_ps)}")
        c = c.astype(np.float64)
        if not np.all(np.isfinite(c)) or np.any(c < 0):
            raise AnalysisError("decay histogram counts must be finite and >= 0")
        self.t_ps = np.asarray(t_ps, dtype=np.int64)
        self.counts = c
        self.period_ps = float(period_ps)
        self.w = float(self.edges[1] - self.edges[0])
        self.rel_w = np.diff(self.edges) / self.w
        lo, hi = (0.0, self.period_ps) if fit_range_ps is None else map(float, fit_range_ps)
        if not hi > lo:
            raise AnalysisError(f"fit range {fit_range_ps} ps: stop must exceed start")
        # periodic: bins whose left edge lies in [lo, hi) modulo the period (a range may wrap)
        self.mask = np.mod(self.t_ps - lo, self.period_ps) < min(hi - lo, self.period_ps)
        if self.mask.sum() < 3:
            raise AnalysisError(f"fit range {fit_range_ps} ps holds fewer than 3 histogram bins")
        self.n = c[self.mask]
        if self.n.sum() <= 0:
            raise AnalysisError("decay histogram has no counts in the fit range")
        self.irf = irf
        self.comps = tuple(comps)
        n_bins = self.t_ps.size
        self._kft = None
        self.start_offset = 0.0
        if irf.kind == "measured":
            if irf.counts is None or irf.counts.shape != self.t_ps.shape:
                raise AnalysisError("measured IRF must be a histogram on the same bins as the data")
            self._kft = dm.kernel_fft(dm.measured_kernel(irf.counts, irf.background_per_bin))
            self.start_offset = 0.5 * self.w  # IRF mass in bin j = arrival at the bin centre
        elif irf.kind in ("gaussian", "emg"):
            if "delayed" in self.comps and not (irf.fit_sigma or irf.fit_tail):
                self._kft = dm.kernel_fft(dm.gaussian_kernel(n_bins, self.w, irf.sigma_ps, irf.tail_ps))
        elif irf.kind != "delta":
            raise AnalysisError(f"unknown IRF kind {irf.kind!r}")

    def local_names(self) -> list[str]:
        names = []
        for comp in self.comps:
            names.extend(_COMP_PARAMS[comp])
        names.append("bg_per_bin")
        names.extend(self.irf.param_names())
        return names

    def _kernel_ft(self, p):
        if self._kft is not None or self.irf.kind == "delta" or "delayed" not in self.comps:
            return self._kft
        return dm.kernel_fft(dm.gaussian_kernel(self.t_ps.size, self.w, p["irf_sigma_ps"],
                                                p.get("irf_tail_ps", 0.0)))

    def shape(self, comp, p, kft=None):
        if comp != "delayed" and self.irf.kind in ("gaussian", "emg"):  # analytic convolution, no kernel
            return self._exp_gauss(comp, p)[0]
        start = p["irf_shift_ps"] + self.start_offset
        if comp == "delayed":
            s = dm.powerlaw_shape(self.edges, p["alpha_delayed"], p["t0_delayed_ns"] * NS, start, self.period_ps)
        else:
            s = dm.exp_shape(self.edges, p[_COMP_PARAMS[comp][1]] * NS, start, self.period_ps)
        if kft is None:
            kft = self._kernel_ft(p)
        return s if kft is None else dm.circular_convolve(s, kft)

    def _exp_gauss(self, comp, p):
        """(shape, d/d tau_ps, d/d start, d/d sigma, d/d tail) of an exponential component (cached)."""
        return _exp_gauss_cached(self.t_ps.size, self.w, self.period_ps, float(p[_COMP_PARAMS[comp][1]] * NS),
                                 float(p["irf_shift_ps"] + self.start_offset), float(p["irf_sigma_ps"]),
                                 float(p.get("irf_tail_ps", 0.0)))

    def shapes(self, p):
        kft = self._kernel_ft(p)
        return {c: self.shape(c, p, kft) for c in self.comps}

    def amplitude(self, comp, p):
        """Photons of a component: its n_* parameter; the biexciton's is xx_ratio x the exciton photons."""
        if comp == "xx":
            return p["xx_ratio"] * sum(p[_COMP_PARAMS[c][0]] for c in self.comps if c in _EXCITON)
        return p[_COMP_PARAMS[comp][0]]

    def mu(self, p, shapes=None):
        shapes = self.shapes(p) if shapes is None else shapes
        out = p["bg_per_bin"] * self.rel_w
        for c in self.comps:
            out = out + self.amplitude(c, p) * shapes[c]
        return out

    def dmu(self, name, p, shapes):
        """d mu / d name over all bins: analytic for the linear parameters and for the exponential
        components with a Gaussian/EMG IRF (the numba kernel's derivatives), central differences otherwise."""
        if name == "bg_per_bin":
            return self.rel_w.copy()
        if name == "xx_ratio":
            return self.amplitude("xx", {**p, "xx_ratio": 1.0}) * shapes["xx"]
        for c in self.comps:
            if name == _COMP_PARAMS[c][0]:
                return shapes[c] + (p["xx_ratio"] * shapes["xx"] if c in _EXCITON and "xx" in self.comps else 0.0)
        v = p[name]
        h = 1e-5 * abs(v) + (1e-4 if name.endswith("_ns") or name == "alpha_delayed" else 1e-2)
        affected = [c for c in self.comps if name in _COMP_PARAMS[c]] or list(self.comps)
        out = np.zeros_like(self.counts)
        pp, pm = dict(p), dict(p)
        pp[name], pm[name] = v + h, v - h
        kp = km = None
        for c in affected:
            amp = self.amplitude(c, p)
            if amp == 0:
                continue
            row = _GRAD_ROW.get(name if name.startswith("irf_") else "tau") \
                if c != "delayed" and self.irf.kind in ("gaussian", "emg") else None
            if row is not None:
                out += (amp * (NS if row == 1 else 1.0)) * self._exp_gauss(c, p)[row]
                continue
            if kp is None:
                kp, km = self._kernel_ft(pp), self._kernel_ft(pm)
            out += amp * (self.shape(c, pp, kp) - self.shape(c, pm, km)) / (2 * h)
        return out


_GRAD_ROW = {"tau": 1, "irf_shift_ps": 2, "irf_sigma_ps": 3, "irf_tail_ps": 4}  # rows of exp_gauss_shape_grad


@functools.lru_cache(maxsize=64)
def _exp_gauss_cached(n_bins, w_ps, period_ps, tau_ps, start_ps, sigma_ps, tail_ps):
    """exp_gauss_shape_grad on uniform bins from 0 (read-only): a solver step evaluates each component
    once for its value and Jacobian, and the regimes of a global fit share their lifetimes and IRF."""
    edges = np.append(np.arange(n_bins, dtype=np.float64) * w_ps, period_ps)
    g = dm.exp_gauss_shape_grad(edges, tau_ps, start_ps, sigma_ps, period_ps, tail_ps)
    g.flags.writeable = False
    return g


# ------------------------------------------------------------------------------------ the problem
def deviance_residuals(counts: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Poisson deviance residuals sign(n - mu) sqrt(2 (mu - n + n ln(n/mu))); their squares sum to D."""
    n = np.asarray(counts, dtype=np.float64)
    mu = np.maximum(np.asarray(mu, dtype=np.float64), 1e-300)
    d = 2.0 * (mu - n + special.xlogy(n, n) - special.xlogy(n, mu))
    return np.sign(n - mu) * np.sqrt(np.clip(d, 0.0, None))


@dataclass(frozen=True)
class _SolveInfo:
    success: bool
    message: str
    nit: int


class _Problem:
    """Datasets + a global parameter vector (shared or per-dataset names, free or fixed)."""

    def __init__(self, datasets, labels, method):
        self.ds = datasets
        self.labels = labels
        self.method = method
        self.names: list[str] = []      # global free+fixed parameter names
        self.lo: list[float] = []
        self.hi: list[float] = []
        self.x0: list[float] = []
        self.maps: list[dict[str, int]] = [dict() for _ in datasets]

    def add(self, gname, x0, lo, hi, users):
        """Add a global parameter gname used as local name by [(dataset index, local name)]."""
        self.names.append(gname)
        self.x0.append(float(x0))
        self.lo.append(lo)
        self.hi.append(hi)
        for d, lname in users:
            self.maps[d][lname] = len(self.names) - 1

    def local(self, x, d):
        return {ln: x[i] for ln, i in self.maps[d].items()}

    def _per_dataset(self, x, d):
        p = self.local(x, d)
        shapes = self.ds[d].shapes(p)
        return p, shapes, self.ds[d].mu(p, shapes)

    def residuals(self, x):
        out = []
        for d, ds in enumerate(self.ds):
            _, _, mu = self._per_dataset(x, d)
            mu = mu[ds.mask]
            if self.method == "mle":
                out.append(deviance_residuals(ds.n, mu))
            else:
                out.append((ds.n - mu) / np.sqrt(np.maximum(ds.n, 1.0)))
        return np.concatenate(out)

    def jac_mu(self, x, free):
        """Per dataset: (mu over the fit range, d mu / d x[free] as (n_fit, n_free))."""
        res = []
        for d, ds in enumerate(self.ds):
            p, shapes, mu = self._per_dataset(x, d)
            J = np.zeros((int(ds.mask.sum()), len(free)))
            for j, gi in enumerate(free):
                for ln, i in self.maps[d].items():
                    if i == gi:
                        J[:, j] += self._chain(d, ln) * ds.dmu(ln, p, shapes)[ds.mask]
            res.append((mu[ds.mask], J))
        return res

    def _chain(self, d, lname):
        """d (local lname) / d (its global parameter): 1 here; _FractionTied overrides it."""
        return 1.0

    def objective(self, x):
        """Deviance (mle) or Neyman chi-square (lsq) over all fit ranges (inf where the model overflows)."""
        with np.errstate(over="ignore", invalid="ignore"):
            v = float(np.sum(self.residuals(x) ** 2))
        return v if np.isfinite(v) else np.inf

    def _weights(self, ds, mu):
        return 1.0 / mu if self.method == "mle" else 1.0 / np.maximum(ds.n, 1.0)

    def gradient_and_information(self, x, free):
        """Gradient of objective/2 and its Fisher (Gauss-Newton) matrix over x[free]."""
        g = np.zeros(len(free))
        H = np.zeros((len(free), len(free)))
        with np.errstate(over="ignore", invalid="ignore"):   # not finite: solve() says so (no RuntimeWarning)
            for ds, (mu, J) in zip(self.ds, self.jac_mu(x, free)):
                mu = np.maximum(mu, 1e-300)
                wgt = self._weights(ds, mu)
                g += J.T @ ((mu - ds.n) * wgt)
                H += J.T @ (J * wgt[:, None])
        return g, H

    def solve(self, x0, free, max_iter=1000):
        """Minimise over x[free] (the rest held at x0) by projected Levenberg-Marquardt Fisher scoring.

        Each step solves (H + lam diag H) d = -g with H the Fisher information; parameters at a bound
        whose gradient pushes outward are held. Returns (x, objective, info) with info.success/message.
        BLAS runs on one thread (tagstream.analysis.blas: small matrices, a second thread only waits).
        """
        one_blas_thread()
        x = np.asarray(x0, dtype=np.float64).copy()
        free = np.asarray(list(free), dtype=np.int64)
        lo = np.array([self.lo[i] for i in free])
        hi = np.array([self.hi[i] for i in free])
        x[free] = np.clip(x[free], lo, hi)
        F = self.objective(x)
        lam, success, message, it, stalled = 1e-3, False, "maximum number of iterations reached", 0, 0
        for it in range(1, max_iter + 1):
            _cancelled()        # raises Cancelled when another thread abandoned this fit (tagstream.analysis.cancel)
            g, H = self.gradient_and_information(x, free)
            if not (np.all(np.isfinite(g)) and np.all(np.isfinite(H))):   # LAPACK may never return on NaN/inf
                success, message = False, "numerical overflow (the model's derivatives are not finite here)"
                break
            xf = x[free]
            act = ~(((xf <= lo) & (g > 0)) | ((xf >= hi) & (g < 0)))
            ga, Ha = g[act], H[np.ix_(act, act)]
            dH = np.diag(Ha).copy()
            dH[dH <= 0] = 1.0
            try:  # Newton decrement: expected decrease of objective/2 at a full step
                dec = float(ga @ np.linalg.lstsq(Ha, ga, rcond=1e-12)[0])
            except np.linalg.LinAlgError:
                dec = np.inf
            if dec < 1e-9 * max(1.0, len(free)):
                success, message = True, "converged (Newton decrement below tolerance)"
                break
            improved = False
            for _ in range(40):
                A = Ha + lam * np.diag(dH)
                try:
                    step = np.linalg.solve(A, -ga)
                except np.linalg.LinAlgError:
                    step = np.linalg.lstsq(A, -ga, rcond=1e-12)[0]
                xn = x.copy()
                xn[free[act]] = np.clip(xf[act] + step, lo[act], hi[act])
                Fn = self.objective(xn)
                if np.isfinite(Fn) and Fn <= F:
                    improved = True
                    break
                lam *= 10.0
            if not improved:
                success, message = _stall_verdict(dec, len(free))
                break
            tiny = F - Fn < 1e-10 * max(1.0, abs(F))
            stalled = stalled + 1 if tiny else 0
            done = (tiny and lam < 1.0) or stalled >= 5  # (a kink in mu, e.g. a delta IRF at a bin edge)
            x, F = xn, Fn
            lam = max(lam / 10.0, 1e-9)
            if done:
                g, H = self.gradient_and_information(x, free)
                success, message = _stall_verdict(_decrement(g, H, x[free], lo, hi), len(free))
                break
        return x, F, _SolveInfo(success, message, it)

    def covariance(self, x, free):
        """Inverse Fisher information (mle) or inverse J^T W J (lsq) over x[free]; None when singular
        (a parameter the data do not determine: no error bar is then honest)."""
        _, info = self.gradient_and_information(x, free)
        d = np.sqrt(np.clip(np.diag(info), 0, None))
        if np.any(d <= 0) or not np.all(np.isfinite(info)):
            return None
        corr = info / np.outer(d, d)
        if np.linalg.cond(corr) > 1e12:
            return None
        return np.linalg.inv(corr) / np.outer(d, d)


class _FractionTied(_Problem):
    """A solved problem with dataset d's trap fraction held at f: its n_be global parameter becomes the
    band-edge + trap total X (n_be = (1 - f) X, n_trap = f X); n_trap's own parameter is unused (the
    profile likelihood of a fraction)."""

    def __init__(self, base: _Problem, d: int, f: float):
        super().__init__(base.ds, base.labels, base.method)
        self.names, self.lo, self.hi, self.x0 = base.names, base.lo, base.hi, base.x0
        self.maps = [dict(m) for m in base.maps]
        self.d, self.f = d, f
        self.maps[d]["n_trap"] = base.maps[d]["n_be"]

    def local(self, x, d):
        p = super().local(x, d)
        if d == self.d:
            total = p["n_be"]
            p["n_be"], p["n_trap"] = (1.0 - self.f) * total, self.f * total
        return p

    def _chain(self, d, lname):
        if d != self.d:
            return 1.0
        return {"n_be": 1.0 - self.f, "n_trap": self.f}.get(lname, 1.0)


def _profile_fraction(problem: _Problem, x, free, d, sigma, dev_min, level=1.0):
    """Profile-likelihood interval of dataset d's trap fraction n_trap / (n_be + n_trap)."""
    i_be, i_tr = problem.maps[d]["n_be"], problem.maps[d]["n_trap"]
    total = x[i_be] + x[i_tr]
    f_hat = x[i_tr] / total
    others = [i for i in free if i != i_tr]

    def ddev(f):
        xx = x.copy()
        xx[i_be] = total
        _, dv, _ = _FractionTied(problem, d, f).solve(xx, others)
        return min(dv - dev_min - level, 1e6) if np.isfinite(dv) else 1e6

    out = []
    for sgn in (-1.0, 1.0):
        step = sigma if np.isfinite(sigma) and sigma > 0 else 0.05
        a, fa = f_hat, -level
        val = np.nan
        for _ in range(12):
            b = min(max(a + sgn * step, 0.0), 1.0)
            fb = ddev(b)
            if fb > 0:
                val = _profile_root(ddev, a, fa, b, fb, level)
                break
            if b in (0.0, 1.0):
                val = b
                break
            a, fa = b, fb
            step *= 2.0
        out.append(float(val))
    return tuple(out)


def _decrement(g, H, xf, lo, hi):
    """Newton decrement (expected decrease of objective/2) over the parameters not held at a bound."""
    if not (np.all(np.isfinite(g)) and np.all(np.isfinite(H))):
        return float("inf")
    act = ~(((xf <= lo) & (g > 0)) | ((xf >= hi) & (g < 0)))
    ga, Ha = g[act], H[np.ix_(act, act)]
    try:
        return float(ga @ np.linalg.lstsq(Ha, ga, rcond=1e-12)[0])
    except np.linalg.LinAlgError:
        return float("inf")


def _stall_verdict(dec, n_free):
    """A solver that cannot decrease the objective any more converged only if the gradient is ~0."""
    if dec < 1e-3 * max(1.0, n_free):
        return True, "converged (objective change below tolerance)"
    return False, f"stalled with a non-zero gradient (a full Newton step would still lower the deviance by {2 * dec:.2g})"


def deviance_expectation(mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per bin, the mean and variance of the Poisson deviance 2 (mu - n + n ln(n/mu)) for n ~ Poisson(mu).

    For sparse bins these are far from the chi-square values (1, 2): E -> 0 as mu -> 0. Exact sums over
    n for mu <= 50, the asymptotic 1 + 1/(6 mu), 2 + 2/mu (approximately) above. Used by the adequacy test.
    """
    from tagstream.kernels.decay import deviance_moments

    mu = np.ascontiguousarray(np.maximum(np.asarray(mu, dtype=np.float64), 1e-12))
    E, V = np.empty_like(mu), np.empty_like(mu)
    deviance_moments(mu, 160, 50.0, E, V)
    return E, V


def adequacy(counts: np.ndarray, mu: np.ndarray, n_free: int) -> tuple[float, float, float]:
    """(deviance, its expectation under the fitted model, z). z = (D - E[D]) / sd(D), E[D] = sum of the
    per-bin expectations minus the number of fitted parameters; z > 3 means the data reject the model."""
    D = float(np.sum(deviance_residuals(counts, mu) ** 2))
    E, V = deviance_expectation(mu)
    expect = float(E.sum()) - n_free
    z = (D - expect) / math.sqrt(max(float(V.sum()), 1e-12))
    return D, expect, z


ADEQUACY_Z_MAX = 3.0  # fits with adequacy_z above this are flagged "rejected by the data"


# ------------------------------------------------------------------------------------------ results
@dataclass(frozen=True)
class DecayFit:
    """Result of one decay fit (or one regime's view of a global fit).

    params / errors: every model parameter (units in names); errors are 1-sigma from the inverse
    Fisher information (nan for fixed parameters). intervals: profile-likelihood 68 % intervals for
    the parameters asked for. fractions / fraction_errors: emitted-photon fraction per component.
    residuals: deviance residuals over the full period (nan outside the fit range).
    model_counts: expected counts over the full period. reduced_deviance = deviance / dof.
    """

    model: str
    components: tuple[str, ...]
    params: dict[str, float]
    errors: dict[str, float]
    fixed: tuple[str, ...]
    fractions: dict[str, float]
    fraction_errors: dict[str, float]
    deviance: float
    dof: int
    reduced_deviance: float
    t_ps: np.ndarray
    counts: np.ndarray
    model_counts: np.ndarray
    fit_mask: np.ndarray
    residuals: np.ndarray
    method: str
    success: bool
    message: str
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    covariance: np.ndarray | None = None
    free: tuple[str, ...] = ()
    expected_deviance: float = float("nan")
    adequacy_z: float = float("nan")
    fit_ok: bool = False
    warnings: tuple[str, ...] = ()

    def lifetimes_ns(self) -> dict[str, float]:
        """Lifetime per exponential component (ns)."""
        return {c: self.params[_COMP_PARAMS[c][1]] for c in self.components if c != "delayed"}

    def to_json_dict(self) -> dict:
        """JSON-serialisable summary (arrays as lists)."""
        return {
            "model": self.model, "components": list(self.components), "params": self.params,
            "errors": {k: (None if not math.isfinite(v) else v) for k, v in self.errors.items()},
            "fixed": list(self.fixed), "fractions": self.fractions, "fraction_errors": self.fraction_errors,
            "intervals": {k: list(v) for k, v in self.intervals.items()},
            "deviance": self.deviance, "dof": self.dof, "reduced_deviance": self.reduced_deviance,
            "method": self.method, "success": self.success, "message": self.message,
            "expected_deviance": _jnum(self.expected_deviance), "adequacy_z": _jnum(self.adequacy_z),
            "fit_ok": self.fit_ok, "warnings": list(self.warnings),
            "t_ps": self.t_ps.tolist(), "counts": self.counts.tolist(),
            "model_counts": self.model_counts.tolist(),
            "residuals": [None if not math.isfinite(v) else v for v in self.residuals.tolist()],
        }


@dataclass(frozen=True)
class GlobalDecayFit:
    """Joint fit of several regimes' histograms. fits[label] is each regime's DecayFit (errors from the
    joint covariance); params/errors use global names: shared names as is, others as 'name[label]'."""

    fits: dict[str, DecayFit]
    shared: tuple[str, ...]
    params: dict[str, float]
    errors: dict[str, float]
    deviance: float
    dof: int
    reduced_deviance: float
    success: bool
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    covariance: np.ndarray | None = None
    free: tuple[str, ...] = ()
    message: str = ""
    expected_deviance: float = float("nan")
    adequacy_z: float = float("nan")
    fit_ok: bool = False
    warnings: tuple[str, ...] = ()
    nuisance_fits: dict[str, DecayFit] = field(default_factory=dict)  # the nuisance_histograms' views (not regimes)
    total_deviance: float = float("nan")  # the minimised deviance: `deviance` + the nuisance histograms' (likelihood ratios)
    _solved: tuple | None = field(default=None, repr=False, compare=False)  # (problem, x, free, inner, err, dev)

    def with_profile_intervals(self, names: Sequence[str] = ("tau_be_ns", "tau_trap_ns")) -> "GlobalDecayFit":
        """A copy with profile-likelihood 68 % intervals (Delta deviance = 1, every other parameter
        re-fitted) of the free, determined parameters among `names` (global names, or
        'trap_fraction[label]' for a regime's trap photon fraction, profiled with n_be + n_trap free). Without an error
        bar (fit failed, singular information) a parameter gets no interval; `intervals` says so by its
        absence. Costs two root searches of re-fits per parameter."""
        if self._solved is None or self.covariance is None:
            return self
        prob, x, free, inner, err, dev = self._solved
        out = dict(self.intervals)
        for name in names:
            lo = hi = math.nan
            if name in out:
                continue
            if name.startswith("trap_fraction[") and name[14:-1] in self.fits:
                lab = name[14:-1]
                d = list(self.fits).index(lab)
                m = prob.maps[d]
                # both amplitudes determined, or one at its 0 bound (a fraction at 0 or 1): then the interval
                # is one-sided, [0, hi] or [lo, 1] (where Delta deviance <= 1 inside the allowed range)
                if {"n_be", "n_trap"} <= set(m) and {m["n_be"], m["n_trap"]} <= set(free) \
                        and (m["n_be"] in inner or m["n_trap"] in inner):
                    lo, hi = _profile_fraction(prob, x, free, d, self.fits[lab].fraction_errors["trap"], dev)
            elif name in prob.names and prob.names.index(name) in inner:
                gi = prob.names.index(name)
                lo, hi = _profile(prob, x, free, gi, err[gi], dev)
            if math.isfinite(lo) and math.isfinite(hi):
                out[name] = (lo, hi)
        return dataclasses.replace(self, intervals=out)

    def to_json_dict(self) -> dict:
        return {"shared": list(self.shared), "params": self.params, "message": self.message,
                "expected_deviance": _jnum(self.expected_deviance), "adequacy_z": _jnum(self.adequacy_z),
                "fit_ok": self.fit_ok, "warnings": list(self.warnings),
                "errors": {k: (None if not math.isfinite(v) else v) for k, v in self.errors.items()},
                "intervals": {k: list(v) for k, v in self.intervals.items()},
                "deviance": self.deviance, "dof": self.dof, "reduced_deviance": self.reduced_deviance,
                "success": self.success, "fits": {k: f.to_json_dict() for k, f in self.fits.items()},
                "nuisance_fits": {k: {"n_photons": float(f.counts.sum()), "deviance": f.deviance,
                                      "expected_deviance": _jnum(f.expected_deviance),
                                      "adequacy_z": _jnum(f.adequacy_z)} for k, f in self.nuisance_fits.items()}}


def _jnum(v):
    return None if v is None or not math.isfinite(v) else float(v)


def emission_fractions(amplitudes: Sequence[float], taus_ns: Sequence[float],
                       covariance: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fractions of emitted photons f_i = A_i tau_i / sum_j A_j tau_j, with delta-method errors.

    covariance: optional covariance of the parameter vector (A_1..A_m, tau_1..tau_m), in that order.
    Returns (fractions, errors); errors are nan without a covariance.
    """
    A = np.asarray(amplitudes, dtype=np.float64)
    tau = np.asarray(taus_ns, dtype=np.float64)
    y = A * tau
    S = y.sum()
    f = y / S
    if covariance is None:
        return f, np.full_like(f, np.nan)
    m = A.size
    G = np.zeros((m, 2 * m))  # d f_i / d (A, tau)
    for i in range(m):
        for j in range(m):
            dfi_dyj = ((i == j) * S - y[i]) / S**2
            G[i, j] = dfi_dyj * tau[j]
            G[i, m + j] = dfi_dyj * A[j]
    var = np.einsum("ij,jk,ik->i", G, np.asarray(covariance, dtype=np.float64), G)
    return f, np.sqrt(np.clip(var, 0, None))


# ------------------------------------------------------------------------------------------ fitting
# the nuisance lifetimes' ranges (ns). With the grey component the fast one ends where it starts (3 ns),
# with the biexciton component it starts where that one ends (2 ns): two components of one lifetime
# would make the information matrix singular
XX_BOUNDS_NS = (0.05, 2.0)
FAST_BOUNDS_NS = (0.05, 20.0)
GREY_BOUNDS_NS = (3.0, 25.0)
_BOUNDS = {
    "n": (0.0, np.inf), "bg_per_bin": (0.0, np.inf), "alpha_delayed": (1.05, 10.0),
}


def _bounds(name, period_ps, w_ps):
    if name.startswith("n_") or name == "bg_per_bin":
        return 0.0, np.inf
    if name == "alpha_delayed":
        return 1.05, 10.0
    if name == "tau_fast_ns":
        return FAST_BOUNDS_NS
    if name == "tau_grey_ns":
        return GREY_BOUNDS_NS
    if name == "tau_xx_ns":
        return XX_BOUNDS_NS
    if name == "xx_ratio":
        return 0.0, 0.2
    if name.endswith("_ns"):
        return 1e-3 * w_ps / NS, 100.0 * period_ps / NS
    if name == "irf_shift_ps":
        return -0.5 * period_ps, 1.5 * period_ps
    return 0.1 * w_ps, 0.05 * period_ps  # irf_sigma_ps, irf_tail_ps (<< period; below ~w/10 a bin cannot tell)


def _rise_index(x: np.ndarray, frac: float = 0.5) -> tuple[int, int]:
    """(peak bin, first bin of the rise above frac x peak), walking back from the peak circularly."""
    i_peak = int(np.argmax(x))
    level = frac * x[i_peak]
    i, n = i_peak, x.size
    for _ in range(n - 1):
        if x[(i - 1) % n] <= level:
            break
        i -= 1
    return i_peak, i % n


def _rough_guess(ds: _Dataset) -> dict[str, float]:
    """Periodic heuristic start: background, total signal, rise time (the pulse) and a mean-delay lifetime.

    The histogram is treated as a circle (the rise may sit at the very end or start of the period)."""
    n = ds.counts
    k = 3 if n.size >= 30 else 1
    smooth = np.convolve(np.concatenate([n[-k:], n, n[:k]]), np.ones(k) / k, mode="same")[k:-k]
    sel = smooth[ds.mask]
    bg = float(np.mean(np.sort(sel)[: max(1, sel.size // 5)]))
    x = np.where(ds.mask, smooth - bg, -np.inf) if ds.mask.all() else np.where(ds.mask, smooth - bg, 0.0)
    i_peak, i_rise = _rise_index(np.where(np.isfinite(x), x, 0.0))
    shift = float(ds.edges[i_rise])
    if ds.irf.kind == "measured":
        ik = np.convolve(np.concatenate([ds.irf.counts[-k:], ds.irf.counts, ds.irf.counts[:k]]),
                         np.ones(k) / k, mode="same")[k:-k]
        shift -= float(ds.edges[_rise_index(ik - np.median(ik))[1]])
    t = np.mod(ds.edges[:-1] + 0.5 * ds.w - shift, ds.period_ps)
    sig = np.clip(n - bg, 0, None) * ds.mask
    tau_ps = float(np.sum(sig * t) / max(np.sum(sig), 1e-9))
    tau_ps = min(max(tau_ps, 2 * ds.w), 0.5 * ds.period_ps)
    n_sig = max(float(np.sum(np.clip(n - bg * ds.rel_w, 0, None))), 1.0)
    return {"bg_per_bin": bg, "n_total": n_sig, "irf_shift_ps": shift, "tau_ns": tau_ps / NS}


def _fill_initial(ds, model_comps, guess, initial):
    """Local initial values for a dataset (user `initial` wins)."""
    tau = guess["tau_ns"]
    vals = {"bg_per_bin": guess["bg_per_bin"], "irf_shift_ps": guess["irf_shift_ps"],
            "irf_sigma_ps": ds.irf.sigma_ps, "irf_tail_ps": ds.irf.tail_ps,
            "tau_ns": tau, "tau_be_ns": 0.8 * tau, "tau_trap_ns": 1.6 * tau,
            "alpha_delayed": 2.0, "t0_delayed_ns": tau, "tau_fast_ns": 3.0, "tau_grey_ns": 10.0,
            "xx_ratio": 0.005, "tau_xx_ns": 0.5}
    if ds.irf.shift_ps is not None:
        vals["irf_shift_ps"] = ds.irf.shift_ps
    ntot = guess["n_total"]
    share = {"single": 1.0, "be": 0.5, "trap": 0.5, "delayed": 0.1, "fast": 0.03, "grey": 0.02}
    norm_ = sum(share[c] for c in model_comps if c != "xx")
    for c in model_comps:
        if c == "xx":
            continue
        vals[_COMP_PARAMS[c][0]] = ntot * share[c] / norm_
    vals.update(initial or {})
    return vals


def _at_bound(problem: _Problem, x, i) -> bool:
    lo, hi = problem.lo[i], problem.hi[i]
    tol = 1e-9 * (1.0 + abs(x[i]))
    return bool(x[i] <= lo + tol or x[i] >= hi - tol)


def _finish(problem: _Problem, x, free, fixed_names, model, label_index=None):
    """DecayFits for every dataset of a solved problem (covariance from the joint problem).

    Parameters held at a bound (an amplitude at 0, an IRF width below the bin resolution) get no error
    bar and are left out of the covariance; a lifetime at a bound or a singular information matrix is
    a failure. Returns (fits, covariance over `inner`, errors by global index, failures, notes, inner)."""
    failures, notes = [], []
    bound = [i for i in free if _at_bound(problem, x, i)]
    for comp in ("fast", "xx", "grey"):  # an optional component the data do not need: its lifetime is undetermined
        amps = {m[_COMP_PARAMS[comp][0]] for m in problem.maps if _COMP_PARAMS[comp][0] in m}
        if amps and amps <= set(bound) | (set(range(len(problem.names))) - set(free)):
            for m in problem.maps:
                for ln in _COMP_PARAMS[comp][1:]:
                    if ln in m and m[ln] in free and m[ln] not in bound:
                        bound.append(m[ln])
                        notes.append(f"no {comp} component needed ({ln} undetermined)")
    for i in bound:
        name = problem.names[i]
        if any(n.startswith("no ") and name in n for n in notes):
            continue
        if name.startswith(("tau_fast", "tau_xx", "tau_grey")):  # a nuisance component: held at its bound, the rest is unaffected
            notes.append(f"{name} at its bound {x[i]:.3g} ns (held there)")
        elif name.split("[")[0].endswith("_ns") or name.startswith("alpha"):
            failures.append(f"{name} = {x[i]:.4g} sits on its bound {problem.lo[i]:.3g}..{problem.hi[i]:.3g}")
        elif name.startswith("irf_"):
            notes.append(f"{name} at its bound {x[i]:.3g} (not resolved by these bins; held there)")
        else:
            notes.append(f"{name} at 0 (no error bar)")
    inner = [i for i in free if i not in bound]
    cov = problem.covariance(x, inner) if inner else np.zeros((0, 0))
    if cov is None:
        failures.append("information matrix singular: some parameters are not determined by the data "
                        "(no error bars)")
    err_global = np.full(len(problem.names), np.nan)
    if cov is not None:
        err_global[inner] = np.sqrt(np.clip(np.diag(cov), 0, None))
    n_share = {}
    for d in range(len(problem.ds)):
        for i in problem.maps[d].values():
            n_share[i] = n_share.get(i, 0) + 1
    fits = []
    pos = {gi: j for j, gi in enumerate(inner)}
    for d, ds in enumerate(problem.ds):
        p = problem.local(x, d)
        mu = ds.mu(p)
        res = np.full(mu.shape, np.nan)
        if problem.method == "mle":
            res[ds.mask] = deviance_residuals(ds.n, mu[ds.mask])
        else:
            res[ds.mask] = (ds.n - mu[ds.mask]) / np.sqrt(np.maximum(ds.n, 1.0))
        local_free = [i for i in set(problem.maps[d].values()) if i in free]
        n_free_eff = sum(1.0 / n_share[i] for i in local_free)
        dev, expect, z = adequacy(ds.n, mu[ds.mask], n_free_eff)
        dof = int(ds.mask.sum()) - len(local_free)
        # fractions and their errors through the joint covariance
        fcomps = tuple(c for c in ds.comps if c not in _NOT_IN_FRACTIONS)
        amp_idx = [problem.maps[d].get(_COMP_PARAMS[c][0]) for c in fcomps]
        amps = np.array([p[_COMP_PARAMS[c][0]] for c in fcomps])
        total = amps.sum()
        fr = amps / total if total > 0 else np.full(amps.shape, np.nan)
        if cov is None:
            fr_err = np.full(len(fcomps), np.nan)
        else:
            G = np.zeros((len(fcomps), len(inner)))
            for i in range(len(fcomps)):
                for j, gi in enumerate(amp_idx):
                    if gi in pos and total > 0:
                        G[i, pos[gi]] += ((i == j) * total - amps[i]) / total**2
            fr_err = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", G, cov, G), 0, None))
            for i, gi in enumerate(amp_idx):  # a component at 0 photons: its fraction has no error bar
                if gi in bound:
                    fr_err[i] = np.nan
        fits.append(DecayFit(
            model=model, components=ds.comps, params={k: float(v) for k, v in p.items()},
            errors={ln: float(err_global[i]) for ln, i in problem.maps[d].items()},
            fixed=tuple(ln for ln, i in problem.maps[d].items() if i in fixed_names),
            fractions={c: float(f) for c, f in zip(fcomps, fr)},
            fraction_errors={c: float(e) for c, e in zip(fcomps, fr_err)},
            deviance=dev, dof=dof, reduced_deviance=dev / max(dof, 1), t_ps=ds.t_ps, counts=ds.counts,
            model_counts=mu, fit_mask=ds.mask, residuals=res, method=problem.method, success=True,
            message="", covariance=None, free=(), expected_deviance=expect, adequacy_z=z))
    return fits, cov, err_global, failures, notes, inner


def _verdict(sol: _SolveInfo, failures, notes, z):
    """(success, message, fit_ok, warnings) of a fit from its solver info, failures, notes and adequacy z."""
    success = bool(sol.success) and not failures
    msgs = ([] if sol.success else [sol.message]) + list(failures)
    warnings = list(msgs)
    adequate = math.isfinite(z) and z <= ADEQUACY_Z_MAX
    if not adequate:
        warnings.append(f"the data reject this model: deviance {z:+.1f} sd above its expectation "
                        "(unmodelled components, wrong IRF or background?)")
    warnings.extend(notes)
    message = "; ".join(msgs) if msgs else sol.message
    return success, message, success and adequate, tuple(warnings)


def _profile(problem: _Problem, x, free, gi, sigma, dev_min, level=1.0):
    """Profile-likelihood interval of parameter gi: where min over the others of D rises by `level`."""
    others = [i for i in free if i != gi]
    lo_b, hi_b = problem.lo[gi], problem.hi[gi]

    def ddev(v):
        xx = x.copy()
        xx[gi] = v
        _, dv, _ = problem.solve(xx, others)
        return min(dv - dev_min - level, 1e6) if np.isfinite(dv) else 1e6   # a failed re-fit: outside

    out = []
    for sgn in (-1.0, 1.0):
        step = sigma if np.isfinite(sigma) and sigma > 0 else 0.1 * abs(x[gi]) + 1e-3
        a, fa = x[gi], -level
        b = a + sgn * step
        val = np.nan
        for _ in range(12):
            b = min(max(b, lo_b), hi_b)
            fb = ddev(b)
            if fb > 0:
                val = _profile_root(ddev, a, fa, b, fb, level)
                break
            if b in (lo_b, hi_b):
                val = b
                break
            a, fa, b = b, fb, b + sgn * step
            step *= 2.0
        out.append(float(val))
    return tuple(out)


def _profile_root(f, a, fa, b, fb, level, tol=1e-3):
    """Root of f (= Delta deviance - level) between a (fa <= 0) and b (fb > 0): Illinois regula falsi on
    sqrt(Delta deviance), which is ~linear in the parameter near the optimum (2-4 re-fits, not brentq's ~7);
    stops when Delta deviance is within tol of level."""
    def g(fv):
        return math.sqrt(max(fv + level, 0.0)) - math.sqrt(level)

    ga, gb = g(fa), g(fb)
    v, side = b, 0
    for _ in range(40):
        v = b - gb * (b - a) / (gb - ga) if gb != ga else 0.5 * (a + b)
        if not min(a, b) < v < max(a, b):
            v = 0.5 * (a + b)
        fv = f(v)
        if abs(fv) < tol:
            break
        if fv > 0:
            b, gb = v, g(fv)
            if side == 1:
                ga *= 0.5
            side = 1
        else:
            a, ga = v, g(fv)
            if side == -1:
                gb *= 0.5
            side = -1
    return v


_IRF_NAMES = ("irf_shift_ps", "irf_sigma_ps", "irf_tail_ps")
# the global fit's starts of its nuisance lifetimes, one per lifetime split (the fast component's
# likelihood can be bimodal: a few ns, or ~20 ns taking band-edge photons), and its restarts
NUISANCE_STARTS = ({"tau_fast_ns": 3.0, "tau_xx_ns": 0.5, "tau_grey_ns": 10.0},
                   {"tau_fast_ns": 10.0, "tau_xx_ns": 0.3, "tau_grey_ns": 15.0},
                   {"tau_fast_ns": 6.0, "tau_xx_ns": 1.0, "tau_grey_ns": 7.0})


def fit_decay(t_ps, counts, period_ps, model: str = "single", *, irf: IRF | None = None,
              fit_range_ps: tuple[float, float] | None = None, delayed: bool = False,
              fixed: Mapping[str, float] | None = None, initial: Mapping[str, float] | None = None,
              method: str = "mle", profile: Sequence[str] = ()) -> DecayFit:
    """Fit one decay histogram by Poisson maximum likelihood.

    t_ps: int64 left bin edges over one laser period [0, period_ps); counts: int64 per bin.
    model: "single" (n_photons, tau_ns) or "be_trap" (n_be, tau_be_ns, n_trap, tau_trap_ns; the
    labels are ordered so that tau_trap_ns > tau_be_ns); delayed=True adds a power-law component.
    irf: tagstream.analysis.IRF (default: delta, fitted start). fit_range_ps: (start, stop) of the bins
    used (left edges, periodic: stop may pass the period); the IRF parameters are then fixed from a fit
    of the full period first. fixed: parameter values held fixed (e.g. {"tau_be_ns": 35.0}); initial:
    start values. method: "mle" (Poisson deviance, recommended) or "lsq" (Neyman chi-square, biased at
    low counts; kept for comparison). profile: parameter names to get profile-likelihood 68 % intervals.
    The start is a periodic rise estimate with restarts over the IRF shift.

    Example: fit = fit_decay(t_ps, counts, 1_000_000, "be_trap", fixed={"tau_be_ns": 35.0});
             fit.params["tau_trap_ns"], fit.fractions["trap"], fit.fraction_errors["trap"], fit.fit_ok
    """
    if method not in ("mle", "lsq"):
        raise AnalysisError(f"unknown fit method {method!r}; use 'mle' or 'lsq'")
    irf = irf or IRF.delta()
    comps = _components(model, delayed)
    ds = _Dataset(t_ps, counts, period_ps, fit_range_ps, irf, comps)
    fixed = dict(fixed or {})
    _check_names(fixed, initial, ds.local_names(), profile)
    if fit_range_ps is not None and not set(irf.param_names()) <= set(fixed):
        full = fit_decay(t_ps, counts, period_ps, model, irf=irf, delayed=delayed, fixed=fixed, initial=initial,
                         method=method)
        fixed.update({k: full.params[k] for k in irf.param_names() if k not in fixed})
        initial = {**full.params, **(initial or {})}
    guess = _rough_guess(ds)
    starts = []
    if model == "be_trap" and not ({"tau_be_ns", "tau_trap_ns"} <= set(initial or {}) | set(fixed)):
        # start from a single-exponential fit; try three lifetime splits, keep the best one
        sub_fixed = {k: v for k, v in fixed.items() if k.startswith("irf_") or k == "bg_per_bin"}
        single = fit_decay(t_ps, counts, period_ps, "single", irf=irf, fit_range_ps=fit_range_ps,
                           fixed=sub_fixed, method=method)
        ts = single.params["tau_ns"]
        base = {"bg_per_bin": single.params["bg_per_bin"]}
        base.update({k: single.params[k] for k in _IRF_NAMES if k in single.params})
        guess["n_total"] = single.params["n_photons"]
        for lo_f, hi_f in ((0.8, 1.6), (0.5, 1.2), (0.95, 3.0)):
            st = dict(base, tau_be_ns=fixed.get("tau_be_ns", lo_f * ts),
                      tau_trap_ns=hi_f * max(ts, fixed.get("tau_be_ns", 0.0)))
            st.update(initial or {})
            starts.append(st)
    elif "irf_shift_ps" not in fixed and "irf_shift_ps" not in (initial or {}) and irf.shift_ps is None:
        # restarts over the shift: the rise estimate and +-2 IRF widths (or bins) around it
        step = 2.0 * max(ds.w, irf.sigma_ps)
        starts = [dict(initial or {}, irf_shift_ps=guess["irf_shift_ps"] + k * step) for k in (0, -1, 1)]
    else:
        starts.append(dict(initial or {}))
    if delayed and not {"alpha_delayed", "t0_delayed_ns"} <= set(fixed):
        # the power law can mimic an exponential: try a small grid of shapes, keep the best likelihood
        tau0 = guess["tau_ns"]
        grid = [{"alpha_delayed": a, "t0_delayed_ns": f * tau0} for a, f in ((1.5, 0.5), (2.2, 0.5), (2.2, 2.0),
                                                                           (3.0, 2.0))]
        starts = [{**st, **g} for st in starts for g in ([{}] if initial else []) + grid]
    best = None
    for st in starts:
        prob = _Problem([ds], ["0"], method)
        vals = _fill_initial(ds, comps, guess, st)
        fit_flags = irf.fitted()
        fixed_idx = set()
        for name in ds.local_names():
            lo, hi = _bounds(name, ds.period_ps, ds.w)
            v = fixed.get(name, vals[name])
            prob.add(name, v, lo, hi, [(0, name)])
            if name in fixed or (name.startswith("irf_") and not fit_flags[name]):
                fixed_idx.add(len(prob.names) - 1)
        free = [i for i in range(len(prob.names)) if i not in fixed_idx]
        x, dev, sol = prob.solve(np.array(prob.x0), free)
        if best is None or dev < best[1]:
            best = (prob, dev, x, free, fixed_idx, sol)
    prob, dev, x, free, fixed_idx, sol = best
    if model == "be_trap" and x[prob.names.index("tau_trap_ns")] < x[prob.names.index("tau_be_ns")] \
            and not ({"tau_be_ns", "tau_trap_ns", "n_be", "n_trap"} & set(fixed)):
        for a, b in (("tau_be_ns", "tau_trap_ns"), ("n_be", "n_trap")):  # same model, labels in order
            ia, ib = prob.names.index(a), prob.names.index(b)
            x[ia], x[ib] = x[ib], x[ia]
    fits, cov, err, failures, notes, inner = _finish(prob, x, free, fixed_idx, model)
    fit = fits[0]
    if model == "be_trap" and fit.params["tau_trap_ns"] <= fit.params["tau_be_ns"]:
        failures.append("tau_trap <= tau_BE (labels fixed by the user's fixed values)")
    intervals = {}
    if cov is not None:
        for name in profile:
            gi = prob.names.index(name)
            if gi in inner:
                intervals[name] = _profile(prob, x, free, gi, err[gi], dev)
    success, message, ok, warnings = _verdict(sol, failures, notes, fit.adequacy_z)
    return DecayFit(**{**fit.__dict__, "success": success, "message": message,
                       "intervals": intervals, "covariance": cov, "fit_ok": ok, "warnings": warnings,
                       "free": tuple(prob.names[i] for i in free)})


def _check_names(fixed, initial, allowed, profile=()):
    for kind, names in (("fixed", fixed or {}), ("initial", initial or {}), ("profile", profile)):
        bad = [n for n in names if n.split("[")[0] not in allowed]
        if bad:
            raise AnalysisError(f"unknown {kind} parameter(s) {bad}; this model has {sorted(allowed)}")


def fit_decay_global(histograms: Mapping[str, tuple[np.ndarray, np.ndarray]], period_ps,
                     model: str = "be_trap", *, shared: Sequence[str] = ("tau_be_ns", "tau_trap_ns"),
                     single_regimes: Sequence[str] = (), irf: IRF | None = None,
                     fit_range_ps: tuple[float, float] | None = None, delayed: bool = False,
                     fixed: Mapping[str, float] | None = None, initial: Mapping[str, float] | None = None,
                     method: str = "mle", profile: Sequence[str] = (), fast: bool = False,
                     biexciton: bool = False, grey: bool = False,
                     nuisance_histograms: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None) -> GlobalDecayFit:
    """Fit several regimes' histograms jointly (the seed's Fig. 4 f-h analysis).

    histograms: {label: (t_ps, counts)} on the same bins and period. Names in `shared` (lifetimes,
    and always the IRF parameters) take one value for all regimes; every other parameter (amplitudes
    n_*, bg_per_bin, and lifetimes not shared) is per regime and called 'name[label]' in the result.
    single_regimes: regimes fitted with the band-edge component only (n_trap = 0), like the seed's
    short-lifetime regime. fast=True adds a fast exponential (shared tau_fast_ns in 0.05-20 ns, amplitude
    n_fast per regime) for grey/OFF-state and biexciton photons; fractions stay band edge vs trap.
    biexciton=True adds a sub-ns exponential (shared tau_xx_ns in 0.05-2 ns) whose photons are one shared
    ratio xx_ratio of each regime's band-edge + trap photons (a cascade: every regime's excitons bring the
    same share of biexciton photons), leaving the fast component (then 2-20 ns) to the grey/OFF-state photons.
    grey=True adds a second fast exponential (shared tau_grey_ns in 3-25 ns, amplitude n_grey per regime;
    the fast one then 0.05-3 ns): grey-state photons (~10 ns) apart from OFF-state and biexciton ones (~1 ns).
    nuisance_histograms: {label: (t_ps, counts)} fitted jointly with their own amplitudes and background
    and the shared lifetimes, but not regimes (no fractions, not in `fits` or the adequacy verdict; their
    views in `nuisance_fits`, a note where one rejects the model): e.g. the photons outside the regimes,
    whose grey / OFF photons determine tau_fast and tau_grey. fixed: values by local name (all regimes) or 'name[label]'; e.g.
    fixed={"tau_be_ns": 35.0} to fix the band edge from a separate single-exponential fit.
    The IRF parameters start from a single-exponential fit of the summed histogram (with restarts over
    the shift); with fit_range_ps they stay fixed at its full-period values.

    Example: g = fit_decay_global({"short": hs, "mid": hm, "long": hl}, 1_000_000,
                                  single_regimes=["short"]);  g.params["tau_trap_ns"],
             g.fits["long"].fractions["trap"], g.fit_ok, g.warnings
    """
    if model != "be_trap" and single_regimes:
        raise AnalysisError("single_regimes only applies to model='be_trap'")
    if not histograms:
        raise AnalysisError("fit_decay_global needs at least one histogram")
    irf = irf or IRF.delta()
    fixed = dict(fixed or {})
    initial = dict(initial or {})
    n_regimes = len(histograms)
    extra = dict(nuisance_histograms or {})
    if set(extra) & set(histograms):
        raise AnalysisError(f"nuisance histogram labels {sorted(set(extra) & set(histograms))} clash with the regimes'")
    histograms = {**histograms, **extra}
    labels = list(histograms)
    bad = [r for r in single_regimes if r not in histograms]
    if bad:
        raise AnalysisError(f"single_regimes {bad} are not among the histograms {labels}")
    datasets = []
    for lab in labels:
        t, c = histograms[lab]
        comps = _components(model, delayed, fast, biexciton, grey)
        if lab in single_regimes:
            comps = tuple(x for x in comps if x != "trap")
        try:
            datasets.append(_Dataset(t, c, period_ps, fit_range_ps, irf, comps))
        except AnalysisError as exc:
            raise AnalysisError(f"regime {lab!r}: {exc}") from None
    allowed = set()
    for ds in datasets:
        allowed |= set(ds.local_names())
    _check_names(fixed, initial, allowed, [p.split("[")[0] for p in profile])
    shared = set(shared) | set(irf.param_names()) | ({"tau_fast_ns"} if fast else set()) \
        | ({"xx_ratio", "tau_xx_ns"} if biexciton else set()) | ({"tau_grey_ns"} if grey else set())
    # start values: a single-exponential fit of the summed histogram, per-regime rough guesses
    t0 = datasets[0].t_ps
    if any(ds.t_ps.shape != t0.shape or np.any(ds.t_ps != t0) for ds in datasets):
        raise AnalysisError("all histograms of a global fit must share the same bins")
    total = sum(ds.counts for ds in datasets[:n_regimes])
    irf_fixed = {k: v for k, v in fixed.items() if k.startswith("irf_")}
    single = fit_decay(t0, total, period_ps, "single", irf=irf, fixed=irf_fixed, method=method)
    if fit_range_ps is not None:
        fixed.update({k: single.params[k] for k in irf.param_names() if k not in fixed})
        single = fit_decay(t0, total, period_ps, "single", irf=irf, fit_range_ps=fit_range_ps,
                           fixed={k: fixed[k] for k in irf.param_names()}, method=method)
    ts = single.params["tau_ns"]
    if single_regimes:
        sub = sum(datasets[labels.index(r)].counts for r in single_regimes)
        ts_be = fit_decay(t0, sub, period_ps, "single", irf=irf, fit_range_ps=fit_range_ps, method=method,
                          fixed={k: single.params[k] for k in irf.param_names()}).params["tau_ns"]
    else:
        ts_be = 0.8 * ts
    splits = ((ts_be, max(1.6 * ts, 1.3 * ts_be)), (ts_be, max(1.2 * ts, 1.1 * ts_be)), (0.6 * ts, 1.2 * ts))
    if {"tau_be_ns", "tau_trap_ns"} <= set(initial):  # started from a given solution: one start
        splits = splits[:1]

    def solve_from(start: dict):
        prob = _Problem(datasets, labels, method)
        fixed_idx = set()
        flags = irf.fitted()
        added: dict[str, int] = {}
        for d, (lab, ds) in enumerate(zip(labels, datasets)):
            g = _rough_guess(ds)
            vals = _fill_initial(ds, ds.comps, g, {})
            vals.update(start)
            vals.update({k: single.params[k] for k in _IRF_NAMES if k in single.params})
            for name in ds.local_names():
                gname = name if name in shared else f"{name}[{lab}]"
                v = initial.get(gname, initial.get(name, vals[name]))
                v = fixed.get(gname, fixed.get(name, v))
                if gname in added:
                    prob.maps[d][name] = added[gname]
                    continue
                lo, hi = _bounds(name, ds.period_ps, ds.w)
                if biexciton and name == "tau_fast_ns":  # above the biexciton's range: else the two can coincide
                    lo = _bounds("tau_xx_ns", ds.period_ps, ds.w)[1]
                if grey and name == "tau_fast_ns":  # below the grey component's range (the same reason)
                    hi = min(hi, _bounds("tau_grey_ns", ds.period_ps, ds.w)[0])
                prob.add(gname, v, lo, hi, [(d, name)])
                added[gname] = len(prob.names) - 1
                if gname in fixed or name in fixed or (name.startswith("irf_") and not flags[name]):
                    fixed_idx.add(added[gname])
        free = [i for i in range(len(prob.names)) if i not in fixed_idx]
        x, dev, sol = prob.solve(np.array(prob.x0), free)
        return prob, dev, x, free, fixed_idx, sol

    best = None
    for (tb, tt), nuis_start in zip(splits, NUISANCE_STARTS):  # each split with other nuisance lifetimes
        cand = solve_from({"tau_be_ns": tb, "tau_trap_ns": tt, **nuis_start})
        if best is None or cand[1] < best[1]:
            best = cand
    # the nuisance lifetimes (fast, biexciton) have shallow, sometimes multi-modal likelihoods: when the
    # best start did not converge or left tau_fast or tau_xx on their common 2 ns bound (where the two meet:
    # a local minimum seen on simulated blinking recordings), try other nuisance starts from its lifetimes
    # and keep the best likelihood (tau_xx at 0.05 ns or tau_fast at 20 ns are ordinary bound solutions)
    nuis = [n for n in ("tau_fast_ns", "tau_xx_ns", "tau_grey_ns") if n in best[0].names and n not in fixed and n not in initial]

    meets = ([XX_BOUNDS_NS[1]] if biexciton and fast else []) + ([GREY_BOUNDS_NS[0]] if grey and fast else [])

    def met(c):   # two nuisance lifetimes at the bound they share
        pb, xb = c[0], c[2]
        return any(n in pb.names and abs(xb[pb.names.index(n)] - m) < 1e-6 for n in nuis for m in meets)

    if nuis and (not best[5].success or met(best)):
        pb, xb = best[0], best[2]
        base = {n: xb[pb.names.index(n)] for n in ("tau_be_ns", "tau_trap_ns") if n in pb.names}
        for alt in NUISANCE_STARTS:
            cand = solve_from({**base, **{k: v for k, v in alt.items() if k in nuis}})
            if cand[1] < best[1] - 1e-6 or (cand[5].success and not best[5].success and cand[1] <= best[1] + 1e-6):
                best = cand
    prob, dev, x, free, fixed_idx, sol = best
    _order_global_labels(prob, x, fixed_idx, model)
    fits, cov, err, failures, notes, inner = _finish(prob, x, free, fixed_idx, model)
    if model == "be_trap" and "tau_be_ns" in prob.names and "tau_trap_ns" in prob.names \
            and x[prob.names.index("tau_trap_ns")] <= x[prob.names.index("tau_be_ns")]:
        failures.append(f"tau_trap {x[prob.names.index('tau_trap_ns')]:.3g} ns <= tau_BE "
                        f"{x[prob.names.index('tau_be_ns')]:.3g} ns: the regimes do not show a slower trap decay")
    nuisance_fits = {}
    if extra:   # the nuisance histograms constrain the shared lifetimes; the verdict stays the regimes'
        nuisance_fits = dict(zip(labels[n_regimes:], fits[n_regimes:]))
        for lab, f in nuisance_fits.items():
            if not f.adequacy_z <= ADEQUACY_Z_MAX:
                notes.append(f"the {lab} histogram rejects the model (adequacy z {f.adequacy_z:+.1f})")
        fits, datasets, labels = fits[:n_regimes], datasets[:n_regimes], labels[:n_regimes]
    dof = sum(int(ds.mask.sum()) for ds in datasets) - len(free)
    D, expect, z = adequacy(np.concatenate([ds.n for ds in datasets]),
                            np.concatenate([f.model_counts[f.fit_mask] for f in fits]), len(free))
    success, message, ok, warnings = _verdict(sol, failures, notes, z)
    fits = [DecayFit(**{**f.__dict__, "success": success, "message": message,
                        "fit_ok": ok and f.adequacy_z <= ADEQUACY_Z_MAX,
                        "warnings": tuple(warnings) + (() if f.adequacy_z <= ADEQUACY_Z_MAX else (
                            f"this regime's histogram rejects the fit: deviance {f.adequacy_z:+.1f} sd above "
                            "its expectation",))}) for f in fits]
    intervals = {}
    for name in profile:
        if name not in prob.names:
            raise AnalysisError(f"profile parameter {name!r} not in the global fit ({prob.names})")
        gi = prob.names.index(name)
        if gi in inner and cov is not None:
            intervals[name] = _profile(prob, x, free, gi, err[gi], dev)
    return GlobalDecayFit(
        fits=dict(zip(labels, fits)), shared=tuple(sorted(shared)),
        params={n: float(v) for n, v in zip(prob.names, x)},
        errors={n: float(e) for n, e in zip(prob.names, err)},
        deviance=D if extra else dev, dof=dof, reduced_deviance=(D if extra else dev) / max(dof, 1), success=success,
        intervals=intervals, covariance=cov, free=tuple(prob.names[i] for i in free), message=message,
        expected_deviance=expect, adequacy_z=z, fit_ok=ok, warnings=warnings, nuisance_fits=nuisance_fits, total_deviance=dev,
        _solved=(prob, x, free, inner, err, dev))


def _order_global_labels(prob: _Problem, x, fixed_idx, model) -> None:
    """Swap the band-edge and trap labels in place when the fit put tau_trap below tau_BE and the model
    is symmetric in them (shared free lifetimes, every regime with both free amplitudes): the same
    solution, labelled so that tau_trap > tau_BE (fractions become 1 - f)."""
    if model != "be_trap" or not {"tau_be_ns", "tau_trap_ns"} <= set(prob.names):
        return
    ib, it = prob.names.index("tau_be_ns"), prob.names.index("tau_trap_ns")
    if x[it] >= x[ib]:
        return
    pairs = [(ib, it)]
    for m in prob.maps:
        if "n_be" not in m or "n_trap" not in m:
            return  # a band-edge-only regime: not symmetric
        pairs.append((m["n_be"], m["n_trap"]))
    if any(i in fixed_idx for pair in pairs for i in pair):
        return
    for a, b in pairs:
        x[a], x[b] = x[b], x[a]


def decay_model_counts(t_ps, period_ps, params: Mapping[str, float], model: str = "single", *,
                       irf: IRF | None = None, delayed: bool = False) -> np.ndarray:
    """Expected counts per bin (float64) of a model with the given parameters (names as in fit_decay).

    Missing bg_per_bin defaults to 0, missing IRF parameters to the IRF's own values. Useful to draw
    test histograms (rng.poisson(decay_model_counts(...))) and to plot fitted components.
    """
    irf = irf or IRF.delta()
    comps = _components(model, delayed)
    ds = _Dataset(t_ps, np.ones(np.shape(t_ps)), period_ps, None, irf, comps)
    p = {"bg_per_bin": 0.0, "irf_shift_ps": irf.shift_ps or 0.0, "irf_sigma_ps": irf.sigma_ps,
         "irf_tail_ps": irf.tail_ps}
    p.update(params)
    missing = [n for n in ds.local_names() if n not in p]
    if missing:
        raise AnalysisError(f"decay_model_counts: missing parameter(s) {missing}")
    return ds.mu(p)
