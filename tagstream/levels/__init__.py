"""tagstream.levels: intensity levels by change-point analysis on photon arrival times.

find_change_points / ChangePointDetector (Watkins & Yang test, streaming), levels_from_change_points,
group_levels (AHC + BIC), level_lifetimes / mle_lifetime_ps, level_flid, on_state, analyze_levels.
"""

from .cpa import ChangePointDetector, find_change_points, wlr_scan
from .critical_values import CONFIDENCE_LEVELS, critical_value, critical_values
from .grouping import Grouping, group_levels
from .levels import (LevelAnalysis, Levels, analyze_levels, level_flid, level_lifetimes, levels_from_change_points,
                     mle_lifetime_ps, on_state)

__all__ = [
    "CONFIDENCE_LEVELS", "ChangePointDetector", "Grouping", "LevelAnalysis", "Levels", "analyze_levels",
    "critical_value", "critical_values", "find_change_points", "group_levels", "level_flid", "level_lifetimes",
    "levels_from_change_points", "mle_lifetime_ps", "on_state", "wlr_scan",
]
