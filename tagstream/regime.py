"""Regime: one average-lifetime range [lo_ns, hi_ns), parsed once at the edges (CLI, settings, API).

A Regime is a (lo_ns, hi_ns) tuple, so it compares equal to a plain (40.0, 50.0), and it knows its
four spellings, so nobody formats bounds by hand:

    r = Regime(40, 50)
    r.label     "40-50"            JSON regimes[i].label, fit keys, text summaries ("regime 40-50 ns")
    r.file_tag  "40-50ns"          file names (decay_40-50ns.parquet) and the `regime` column of tables
    r.column    "regime_40-50ns"   prefix of the batch summary columns (regime_40-50ns_n_photons)
    r.display   "40–50 ns"         GUI legends and the PNG report
"""

from __future__ import annotations

from typing import Iterable, NamedTuple


class Regime(NamedTuple):
    lo_ns: float
    hi_ns: float

    @property
    def label(self) -> str:
        return f"{self.lo_ns:g}-{self.hi_ns:g}"

    @property
    def file_tag(self) -> str:
        f = lambda v: f"{v:g}".replace(".", "p")  # noqa: E731 - '.' is awkward in file names
        return f"{f(self.lo_ns)}-{f(self.hi_ns)}ns"

    @property
    def column(self) -> str:
        return "regime_" + self.file_tag

    @property
    def display(self) -> str:
        return f"{self.lo_ns:g}–{self.hi_ns:g} ns"


def parse_regimes(regimes: str | Iterable) -> tuple[Regime, ...]:
    """"40-50,50-60" or [(40, 50), ...] -> Regimes; ValueError for a malformed or empty range."""
    if isinstance(regimes, str):
        out = []
        for part in regimes.split(","):
            part = part.strip()
            if not part:
                continue
            lo, sep, hi = part.partition("-")
            if not sep:
                raise ValueError(f"regime {part!r} is not LO-HI (ns)")
            try:
                out.append((float(lo), float(hi)))
            except ValueError:
                raise ValueError(f"regime {part!r} is not LO-HI (ns)") from None
        regimes = out
    res = []
    for lo, hi in regimes:
        r = Regime(float(lo), float(hi))
        if not r.hi_ns > r.lo_ns:
            raise ValueError(f"regime {r.lo_ns}-{r.hi_ns} ns: upper bound must exceed lower bound")
        res.append(r)
    return tuple(res)
