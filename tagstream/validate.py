"""Range checks for user-given numbers (CLI options, TOML, config fields): one place for the limits,
one message style: the name, the value, the allowed range and what to do.

    check_number("--bin-ms", 1e-9, *LIMITS["trace_bin_ms"])  -> SetupError naming value and range
The limits are generous physical bounds (a 1 kHz - 10 GHz laser, 1 us - ~3 h trace bins, ...): a
value outside them is a typo or a unit mistake, never a measurement.
"""

from __future__ import annotations

import math
import numbers

from tagstream.errors import SetupError

# name: (lowest, highest, what the unit / range means) ; None = unbounded on that side
LIMITS: dict[str, tuple[float | None, float | None, str]] = {
    "trace_bin_ms": (1e-3, 1e7, "ms (1 us to ~2.8 h)"),
    "laser_period_ps": (100.0, 1e9, "ps (a 1 kHz to 10 GHz laser)"),
    "laser_mhz": (1e-3, 1e4, "MHz (1 kHz to 10 GHz)"),
    "microtime_offset_ps": (-1e9, 1e9, "ps (at most 1 ms either way)"),
    "g2_window_ps": (1, 1e10, "ps (up to 10 ms)"),
    "g2_bin_ps": (1, 1e9, "ps"),
    "decay_bin_ps": (1, 1e9, "ps"),
    "on_threshold": (0, 1e12, "counts per trace bin"),
    "t0_ps": (-1e9, 1e9, "ps from the laser sync (at most 1 ms either way)"),
    "level_states": (1, 20, "states"),
    "max_extrapolation_periods": (1e-3, 1e12, "laser periods"),
    "period_memory_pulses": (1, 1e15, "pulses"),
    "sync_divider": (1, 1_000_000, "laser pulses per sync tag"),
    "channel": (0, 65535, "a time-tagger channel number"),
    "reorder_window_ps": (0, 1e12, "ps (up to 1 s)"),
    "delay_ps": (-1e10, 1e10, "ps (at most 10 ms either way)"),
    "workers": (1, 1024, "processes"),
}

G2_MAX_BINS = 1 << 24   # 2 * window / bin: more would need GBs and is never a useful histogram


def _fmt(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def range_text(lo, hi) -> str:
    if lo is not None and hi is not None:
        return f"between {_fmt(lo)} and {_fmt(hi)}"
    return f">= {_fmt(lo)}" if lo is not None else f"<= {_fmt(hi)}"


def number_problem(value, lo=None, hi=None, integer: bool = False, unit: str = "") -> str | None:
    """Why `value` is not an allowed number (None if it is)."""
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return f"must be {kind}, got {value!r} ({type(value).__name__})"
    if integer and not isinstance(value, numbers.Integral):
        if not (math.isfinite(value) and float(value).is_integer()):
            return f"must be {kind}, got {value!r}"
    if not math.isfinite(value):
        return f"must be a finite number, got {value!r}"
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        return f"must be {range_text(lo, hi)}{' ' + unit if unit else ''}, got {_fmt(value)}"
    return None


def check_number(name: str, value, lo=None, hi=None, unit: str = "", integer: bool = False, hint: str = ""):
    """Return value if it is a finite number in [lo, hi]; else raise SetupError naming all three."""
    why = number_problem(value, lo, hi, integer, unit)
    if why is not None:
        raise SetupError(f"{name} {why}{'; ' + hint if hint else ''}")
    return int(value) if integer else value


def check_limit(name: str, value, key: str | None = None, integer: bool = False, hint: str = ""):
    """check_number with the LIMITS entry `key` (default: name)."""
    lo, hi, unit = LIMITS[key or name]
    return check_number(name, value, lo, hi, unit, integer, hint)
