"""argparse types that check the range where an option enters: `--bin-ms 1e-9` stops at parsing with
"argument --bin-ms: must be between 0.001 and 1e+07 ms (...), got 1e-09", never deep inside a stage.

    p.add_argument("--bin-ms", type=limited("trace_bin_ms"))       # limits from tagstream.validate
    p.add_argument("--sync", type=channel)
    p.add_argument("--sync", type=channel_or_none)    # ... or "none"
"""

from __future__ import annotations

import argparse

from tagstream.validate import LIMITS, number_problem


def _parse(text: str, integer: bool):
    t = text.strip()
    try:
        return int(t) if integer else float(t)
    except ValueError:
        if integer:
            try:   # "1e3" is a fine way to write 1000
                f = float(t)
            except ValueError:
                f = None
            if f is not None and f == f and abs(f) != float("inf") and f.is_integer():
                return int(f)
        raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if integer else 'a number'}") from None


def number(lo=None, hi=None, unit: str = "", integer: bool = False):
    """An argparse type: a finite int/float in [lo, hi]."""
    def convert(text: str):
        v = _parse(text, integer)
        why = number_problem(v, lo, hi, integer, unit)
        if why is not None:
            raise argparse.ArgumentTypeError(why)
        return v
    convert.__name__ = "integer" if integer else "number"
    return convert


def limited(key: str, integer: bool = False):
    """An argparse type with the limits of tagstream.validate.LIMITS[key]."""
    lo, hi, unit = LIMITS[key]
    return number(lo, hi, unit, integer)


channel = limited("channel", integer=True)


def channel_or_none(text: str):
    """A channel number, or "none" (no such channel: `--sync none` for CW/HBT or T3, `--spad-b none`)."""
    return "none" if text.strip().lower() == "none" else channel(text)
