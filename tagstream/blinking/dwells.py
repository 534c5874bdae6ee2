"""Dwell times from grouped intensity levels, and log-binned dwell histograms.

A dwell is a maximal run of consecutive levels whose grouped states fall in the same category: the dimmest
state is OFF, the brightest ON, every state in between grey (with one state there is only ON). The first and
the last dwell of a recording are censored (the switch that started / ended them was not observed): they are
listed but kept out of the fits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CATEGORIES = ("on", "grey", "off")


def state_categories(n_states: int) -> np.ndarray:
    """Category index (0 on, 1 grey, 2 off) of each grouped state (0 = dimmest ... n_states - 1 = brightest)."""
    cat = np.full(int(n_states), 1, np.int8)
    if n_states >= 1:
        cat[-1] = 0
    if n_states >= 2:
        cat[0] = 2
    return cat


@dataclass(frozen=True)
class Dwells:
    """Dwells in time order: start/end (ps), category (0 on, 1 grey, 2 off), censored flag."""

    start_ps: np.ndarray
    end_ps: np.ndarray
    category: np.ndarray
    censored: np.ndarray

    @property
    def duration_s(self) -> np.ndarray:
        return (self.end_ps - self.start_ps).astype(np.float64) * 1e-12

    def __len__(self) -> int:
        return int(self.start_ps.shape[0])

    def of(self, name: str, include_censored: bool = False) -> np.ndarray:
        """Durations (s) of the dwells of one category ("on", "grey", "off")."""
        sel = self.category == CATEGORIES.index(name)
        if not include_censored:
            sel &= ~self.censored
        return self.duration_s[sel]


def dwells_from_levels(start_ps, end_ps, state, n_states: int) -> Dwells:
    """Merge consecutive levels of one category into dwells (levels: contiguous, in time order)."""
    start = np.asarray(start_ps, np.int64)
    end = np.asarray(end_ps, np.int64)
    cat = state_categories(n_states)[np.asarray(state, np.int64)] if start.size else np.zeros(0, np.int8)
    if start.size == 0:
        e = np.zeros(0, np.int64)
        return Dwells(e, e, np.zeros(0, np.int8), np.zeros(0, bool))
    first = np.concatenate(([0], np.flatnonzero(np.diff(cat) != 0) + 1))
    last = np.concatenate((first[1:] - 1, [start.size - 1]))
    censored = np.zeros(first.size, bool)
    censored[0] = censored[-1] = True
    return Dwells(start[first], end[last], cat[first].astype(np.int8), censored)


def log_edges(values, per_decade: int = 5) -> np.ndarray:
    """Log-spaced edges, `per_decade` per decade, on whole decades covering the positive values."""
    v = np.asarray(values, np.float64)
    v = v[v > 0]
    if v.size == 0:
        return np.zeros(0)
    lo = np.floor(np.log10(v.min()))
    hi = max(np.ceil(np.log10(v.max())), lo + 1)
    if np.log10(v.max()) == hi:
        hi += 1.0 / per_decade
    return 10.0 ** np.linspace(lo, hi, int(round((hi - lo) * per_decade)) + 1)


def log_histogram(values, per_decade: int = 5, edges=None):
    """(edges, counts, density, density_err): density = counts / (n * width), the pdf estimate normalised by all
    values; Poisson error sqrt(counts) / (n * width)."""
    v = np.asarray(values, np.float64)
    e = log_edges(v, per_decade) if edges is None else np.asarray(edges, np.float64)
    if e.size < 2:
        return e, np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    c, _ = np.histogram(v, e)
    w = np.diff(e) * max(v.size, 1)
    return e, c.astype(np.int64), c / w, np.sqrt(c) / w
