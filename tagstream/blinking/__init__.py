"""tagstream.blinking: ON/OFF (and grey) dwell-time statistics from grouped levels, with power-law fits by
maximum likelihood (Clauset, Shalizi & Newman 2009): dwells_from_levels, fit_power_law, blinking_from_levels."""

from .analysis import BlinkingResult, StateBlinking, blinking_from_dwells, blinking_from_levels
from .dwells import CATEGORIES, Dwells, dwells_from_levels, log_edges, log_histogram, state_categories
from .powerlaw import (CutoffFit, PowerLawFit, bootstrap_alpha, fit_cutoff, fit_power_law, gen_expint, ks_distance,
                       ks_t_min, power_law_mle)

__all__ = ["BlinkingResult", "CATEGORIES", "CutoffFit", "Dwells", "PowerLawFit", "StateBlinking",
           "blinking_from_dwells", "blinking_from_levels", "bootstrap_alpha", "dwells_from_levels", "fit_cutoff",
           "fit_power_law", "gen_expint", "ks_distance", "ks_t_min", "log_edges", "log_histogram", "power_law_mle",
           "state_categories"]
