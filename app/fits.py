"""Regime decay fits for display (no Qt): tagstream.analysis.fit_decay on each regime's decay,
cropped to one laser period. Run off the GUI thread (the controller's snapshot worker) at a low rate.

    fits = fit_regimes(results)    # one DecayFit or None per regime (None: too few photons / failed)
"""

from __future__ import annotations

import math

from tagstream.analysis import fit_decay
from tagstream.errors import AnalysisError


def fit_regimes(res, model: str = "single", min_photons: int = 200) -> list:
    """One DecayFit (or None) per regime of a Results; fits use the measured laser period."""
    out = []
    P = res.laser_period_ps
    d = res.decay.bin_ps
    for r in res.regimes:
        if not P or not d or r.n_photons < min_photons:
            out.append(None)
            continue
        k = min(int(math.ceil(P / d)), r.t_ps.shape[0])  # last bin may pass P
        try:
            out.append(fit_decay(r.t_ps[:k], r.counts[:k], P, model))
        except AnalysisError:
            out.append(None)
    return out
