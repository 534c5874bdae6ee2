"""tagstream.analysis: Poisson maximum-likelihood decay fits (single, band-edge + trap, global).

    from tagstream.analysis import fit_decay, fit_decay_global, IRF, emission_fractions
"""

from tagstream.analysis.decay_fit import (
    DecayFit,
    GlobalDecayFit,
    decay_model_counts,
    deviance_residuals,
    emission_fractions,
    fit_decay,
    fit_decay_global,
)
from tagstream.analysis.irf import IRF

__all__ = ["DecayFit", "GlobalDecayFit", "IRF", "decay_model_counts", "deviance_residuals",
           "emission_fractions", "fit_decay", "fit_decay_global"]
