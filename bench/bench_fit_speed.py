"""Speed of the regime decay fits (the numba shape kernel with analytic derivatives) vs the previous
arithmetic (numpy/scipy.special shape, central-difference derivatives, nothing cached), in one run.

    python bench/bench_fit_speed.py                       # fixtures/qd_demo.qutag, default global fit
    python bench/bench_fit_speed.py REC --repeat 3

Prints the time of reading + analysing the recording without fits (the reference the fits are
compared with), of fit_results (without and with the profile-likelihood intervals) with the kernel and
with the numpy reference, their ratios, and the
largest relative difference of the fitted numbers (lifetimes, errors, fractions, deviance) between the two.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from tagstream.analysis import decay_fit, decay_models as dm
from tagstream.analysis.fit_options import FitOptions
from tagstream.analysis.regimes import fit_results
from tagstream.product import AnalysisOptions, analyze_recording

DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "qd_demo.qutag"


class _NumpyShapeGrad:
    """The previous implementation's cost: a numpy shape per request, central differences for a
    derivative row (tau, start, sigma, tail), nothing cached (rows as exp_gauss_shape_grad's)."""

    def __init__(self, n_bins, w_ps, period_ps, tau_ps, start_ps, sigma_ps, tail_ps):
        self.edges = np.append(np.arange(n_bins, dtype=np.float64) * w_ps, period_ps)
        self.period_ps = period_ps
        self.args = [tau_ps, start_ps, sigma_ps, tail_ps]

    def _shape(self, args):
        return dm.exp_gauss_shape_numpy(self.edges, args[0], args[1], args[2], self.period_ps, args[3])

    def __getitem__(self, row):
        if row == 0:
            return self._shape(self.args)
        i = row - 1
        h = (1e-5 * self.args[0] + 0.1, 1e-5 * abs(self.args[1]) + 1e-2, 1e-5 * self.args[2] + 1e-2,
             1e-5 * self.args[3] + 1e-2)[i]
        ap, am = list(self.args), list(self.args)
        ap[i] += h
        am[i] -= h
        return (self._shape(ap) - self._shape(am)) / (2 * h)


def _numbers(rf):
    g = rf.global_fit
    out = {k: v for k, v in g.params.items()}
    out.update({f"err {k}": v for k, v in g.errors.items() if np.isfinite(v)})
    out["deviance"] = g.deviance
    for i, f in enumerate(rf.fits):
        if f is not None:
            out.update({f"{i} f_{k}": v for k, v in f.fractions.items()})
            out.update({f"{i} err f_{k}": v for k, v in f.fraction_errors.items() if np.isfinite(v)})
    return out


def _time_fits(res, repeat, options=None):
    best = np.inf
    for _ in range(repeat):
        decay_fit._exp_gauss_cached.cache_clear()
        t = time.perf_counter()
        rf = fit_results(res, "global", options=options)
        best = min(best, time.perf_counter() - t)
    return best, rf


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("recording", nargs="?", default=str(DEMO))
    ap.add_argument("--repeat", type=int, default=2, help="best of this many runs of each")
    a = ap.parse_args()
    analyze_recording(a.recording, AnalysisOptions(fit=None, spectra_sidecar=False))   # numba caches warm
    t = time.perf_counter()
    an = analyze_recording(a.recording, AnalysisOptions(fit=None, spectra_sidecar=False))
    t_read = time.perf_counter() - t
    res = an.results
    fit_results(res, "global")   # warm (first call loads the kernel)
    plain = FitOptions(profile_intervals=False)
    t_new, rf_new = _time_fits(res, a.repeat, plain)
    t_new_p, _ = _time_fits(res, a.repeat)
    kernel = decay_fit._exp_gauss_cached
    try:
        decay_fit._exp_gauss_cached = _NumpyShapeGrad
        _NumpyShapeGrad.cache_clear = staticmethod(lambda: None)
        t_old, rf_old = _time_fits(res, a.repeat, plain)
        t_old_p, _ = _time_fits(res, 1)
    finally:
        decay_fit._exp_gauss_cached = kernel
    new, old = _numbers(rf_new), _numbers(rf_old)
    worst = max(((abs(new[k] - old[k]) / max(abs(old[k]), 1e-300), k) for k in old if k in new), default=(0, ""))
    print(f"{a.recording}: {len(res.regimes)} regimes, {sum(int(r.fitted_counts.sum()) for r in res.regimes)} "
          f"fit photons")
    print(f"read + analyse without fits      {t_read:7.2f} s")
    for what, tn, to in (("fits", t_new, t_old), ("fits + profile intervals", t_new_p, t_old_p)):
        print(f"{what:25s} numba kernel {tn:6.2f} s ({tn / t_read:5.1f} x the read), numpy reference "
              f"{to:6.2f} s ({to / t_read:5.1f} x): {to / tn:.1f} x faster")
    print(f"largest relative difference of the fitted numbers {worst[0]:.1e} ({worst[1]})")


if __name__ == "__main__":
    main()
