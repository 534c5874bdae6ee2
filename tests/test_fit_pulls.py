"""Calibrated decay-fit errors: pulls (fit - truth) / error over simulator seeds at the seed's settings
(bench/bench_fit_pulls.py's one_seed: 25 s, blinking, t0 0, 100 ms bins, regimes 40-50/50-60/60-70), for
the error tagstream quotes by default (tagstream.analysis.regimes.quoted: the profile-likelihood interval's
half on the truth's side).

Slow (~25 s at load 2). With n = 20 seeds the mean of calibrated pulls scatters by 1/sqrt(20) = 0.22 and their
width by ~0.16, so the test allows |mean| < 0.7 and width 0.65-1.45 (3 standard errors: it fails by
chance about once in a hundred runs); the issue's target (|mean| < 0.3, width 0.8-1.2) is read off the
bench's table."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "bench_fit_pulls.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_fit_pulls", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_pulls_are_calibrated_over_20_seeds():
    from tagstream.analysis.fit_options import FitOptions

    b = _bench()
    rows = [b.one_seed(s, 25.0, True, 0.0, FitOptions()) for s in range(100, 120)]
    assert sum(r["fit_ok"] for r in rows) >= 18
    # the errors tagstream quotes (profile intervals); the covariance rows are printed by the bench only
    keys = {k for r in rows for k in r if k not in ("fit_ok", "success", "z") and "(covariance)" not in k
            and not k.startswith("_")}   # _tau_*: the fitted lifetimes, printed by the bench
    assert {"tau_be", "tau_trap"} <= keys and sum(k.startswith("trap_fraction") for k in keys) == 3
    for k in sorted(keys):
        v = np.array([r[k] for r in rows if k in r and np.isfinite(r[k])])
        assert v.size >= 15, k
        m, w = v.mean(), v.std(ddof=1)
        assert abs(m) < 3.0 / np.sqrt(v.size) and 0.65 < w < 1.45, (k, m, w)
