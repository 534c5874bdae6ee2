"""tagstream.analysis: Poisson maximum-likelihood decay fits (single, band-edge + trap, global).

    from tagstream.analysis import fit_decay, fit_decay_global, IRF, emission_fractions

The fitting stack (scipy) is imported on first use of these names, so that importing a light module
of this package (e.g. tagstream.analysis.fit_options for the CLI's --help) stays cheap.
"""

from tagstream.lazy import lazy_getattr

_LAZY = {"DecayFit": "decay_fit", "GlobalDecayFit": "decay_fit", "decay_model_counts": "decay_fit",
         "deviance_residuals": "decay_fit", "emission_fractions": "decay_fit", "fit_decay": "decay_fit",
         "fit_decay_global": "decay_fit", "IRF": "irf"}

__getattr__ = lazy_getattr("tagstream.analysis", _LAZY)


__all__ = sorted(_LAZY)
