"""Intensity-correlation stage: the exact cross-correlation of SPAD A and B on log-spaced lags (default 1 us to
10 s, 8 bins per decade), streamed, for the blinking timescales beyond the g2 histogram's ns window.

Counting (tagstream.kernels.correlation): both orders, A then B (lag t_B - t_A) and B then A, as sums of the
targets' ranks at t_start + each lag edge. A start photon is counted once every target photon within the largest lag
after it is known (its time + lag_max <= the last photon's time), starts are counted in blocks of at least lag_max, so the
stage holds the photons of the last 2-3 lag_max (10 s: ~3 MB per 10 kcounts/s). Counts are exact integers,
identical for any chunking. A snapshot counts the still-pending starts on copies of the sums: it is exactly
the correlation of the photons seen so far.

Normalisation (Laurence et al., Opt. Lett. 31, 829 (2006), as pycorrelate's): for lag bin [e_k, e_k+1) with
mid tau_k and width d_k, over the photon span [t0, t1], T = t1 - t0,
    expected_k = integral over the bin of n_start(tau) n_target(tau) / (T - tau) d tau
(midpoint rule, N_SUB = 32 points per bin: blinking makes the integrand curve over a wide bin) with
n_start(tau) the start photons before t1 - tau and n_target(tau) the targets after t0 + tau (both orders summed), so g2 = pairs / expected -> 1 for uncorrelated light at every lag; error sqrt(pairs) /
expected (Poisson counting error of the pairs: calibrated for uncorrelated light, a lower bound where
blinking makes the pairs of one photon correlated). With pulsed excitation the lags within ~10 laser periods
show the pulse comb (a log bin holds a whole number of peaks), as they physically do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tagstream.kernels.correlation import count_below, enumeration_edges, log_lag_edges_ps
from tagstream.stages.microtime import PhotonBatch

N_SUB = 32  # normalisation points per lag bin


class _Order:
    """One order (start detector s, target detector o): rank sums per lag edge, starts done."""

    def __init__(self, k: int) -> None:
        self.S = np.zeros(k, np.int64)
        self.done = 0     # global index of the next start photon to count


class CorrelationStage:
    def __init__(self, lag_min_s: float = 1e-6, lag_max_s: float = 10.0, per_decade: int = 8) -> None:
        self.edges_ps = log_lag_edges_ps(lag_min_s, lag_max_s, per_decade)
        self.per_decade = int(per_decade)
        self.lag_max_ps = int(self.edges_ps[-1])
        k = self.edges_ps.size
        e = self.edges_ps.astype(np.float64)
        # normalisation points: N_SUB midpoints per lag bin (the expectation is integrated over each bin)
        self.sub_ps = (e[:-1, None] + (np.arange(N_SUB) + 0.5)[None, :] / N_SUB * np.diff(e)[:, None]).ravel()
        self._buf = [np.zeros(0, np.int64), np.zeros(0, np.int64)]   # photons of A, B from global index _base
        self._base = [0, 0]
        self._n = [0, 0]
        self._orders = (_Order(k), _Order(k))  # 0: A then B, 1: B then A
        self._head = [np.zeros(self.sub_ps.size, np.int64), np.zeros(self.sub_ps.size, np.int64)]
        self.first_ps: int | None = None
        self.n_enum: int | None = None        # short-lag edges counted by enumeration (from the first photons' rate)
        self.last_ps: int | None = None       # last photon time: later photons have times >= it
        self._starts_before: int | None = None  # a time slice's end: later photons are targets only (add_targets)
        self._pool = None                     # one background thread: the streamed counts (nogil kernel) ...
        self._inflight = None                 # ... overlap the rest of the pipeline; at most one in flight

    def _wait(self) -> None:
        """Let the count in flight finish (its sums are complete after this)."""
        if self._inflight is not None:
            f, self._inflight = self._inflight, None
            f.result()

    # --- time slices (tagstream.slices): each slice counts the pairs of its own starts -------------------
    def start_slice(self, origin_ps: int, count_from_ps: int) -> None:
        """Photons come from count_from_ps on (lags are relative: nothing else to set)."""

    def lookahead_ps(self) -> int:
        """How far after the slice's end its starts need targets (add_targets)."""
        return self.lag_max_ps

    def add_targets(self, t_a: np.ndarray, t_b: np.ndarray, from_ps: int) -> None:
        """The photons of A and B (sorted) from the slice's end from_ps to lookahead_ps() after it: targets of
        the slice's starts only (not starts, not counted as photons). After the slice's last update."""
        self._wait()
        self._starts_before = int(from_ps)
        for d, td in ((0, t_a), (1, t_b)):
            if td.shape[0]:
                self._buf[d] = np.concatenate((self._buf[d], np.asarray(td, np.int64)))

    def update(self, batch: PhotonBatch) -> None:
        t = batch.t_ps
        if t.shape[0] == 0:
            return
        if self.first_ps is None:
            self.first_ps = int(t[0])
        self.last_ps = int(t[-1])
        if self.n_enum is None and t[-1] > t[0]:
            self.n_enum = enumeration_edges(self.edges_ps, t.shape[0] / ((t[-1] - t[0]) * 1e-12) / 2)
        head_end = self.first_ps + self.sub_ps
        for d in (0, 1):
            td = t[batch.which == d]
            if td.shape[0] == 0:
                continue
            if td[0] < head_end[-1]:  # photons within lag_max of the start: head counts
                self._head[d] += np.searchsorted(td, head_end, side="left")
            self._buf[d] = np.concatenate((self._buf[d], td))
            self._n[d] += td.shape[0]
        # count in blocks of >= lag_max of starts: each call indexes its targets over ~2 lag_max (not 1 + lag_max/chunk)
        up_to = self.last_ps - self.lag_max_ps
        if up_to - self._first_pending_ps() >= self.lag_max_ps:
            self._wait()
            jobs = self._count(up_to, self._orders, run=False)
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(1, thread_name_prefix="tagstream-correlation")
            self._inflight = self._pool.submit(lambda: [count_below(*j) for j in jobs])
            self._trim()

    def _first_pending_ps(self) -> int:
        t = []
        for d in (0, 1):
            i = self._orders[d].done - self._base[d]
            if i < self._buf[d].shape[0]:
                t.append(int(self._buf[d][i]))
        return min(t) if t else self.last_ps

    def _count(self, up_to_ps: int | None, orders, run: bool = True) -> list:
        """Count the pending starts with time <= up_to_ps (None: all) of both orders into `orders` (run=False:
        mark them counted and return the count_below calls to make; the buffers they read are never changed
        in place, only replaced)."""
        jobs = []
        for s, o in ((0, 1), (1, 0)):
            od = orders[s]
            b = self._buf[s]
            i0 = od.done - self._base[s]
            if up_to_ps is not None:
                i1 = int(np.searchsorted(b, up_to_ps, side="right"))
            elif self._starts_before is not None:
                i1 = int(np.searchsorted(b, self._starts_before, side="left"))
            else:
                i1 = b.shape[0]
            if i1 > i0:
                jobs.append((b[i0:i1], self._buf[o], self._base[o], self.edges_ps, self.n_enum or 0, od.S))
                od.done = self._base[s] + i1
        if run:
            for j in jobs:
                count_below(*j)
        return jobs

    def _trim(self) -> None:
        """Drop photons that are neither pending starts nor targets of one (t >= first pending start + e_0)."""
        for d in (0, 1):
            o = 1 - d
            i = self._orders[o].done - self._base[o]
            t_first = self._buf[o][i] if i < self._buf[o].shape[0] else self.last_ps  # later starts: >= last_ps
            reach = int(np.searchsorted(self._buf[d], t_first + self.edges_ps[0], side="left"))
            keep_from = min(self._orders[d].done, self._base[d] + reach)
            drop = keep_from - self._base[d]
            if drop > 0:
                self._buf[d] = self._buf[d][drop:].copy()
                self._base[d] = keep_from

    def finalize(self) -> None:
        self._wait()
        self._count(None, self._orders)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def stats(self) -> dict | None:
        """Pair counts per lag bin and order (pending starts counted on copies), and the normalisation's
        photon numbers; None before photons of both detectors."""
        if self.first_ps is None or min(self._n) == 0:
            return None
        self._wait()
        orders = []
        for od in self._orders:
            c = _Order(0)
            c.S, c.done = od.S.copy(), od.done
            orders.append(c)
        self._count(None, orders)
        # starts before t1 - tau: all minus those of the last tau (all within the buffers: the pending starts)
        t1 = self.last_ps
        n_before = []
        for d in (0, 1):
            b = self._buf[d]
            if self._starts_before is not None:   # a slice's own photons only
                b = b[: np.searchsorted(b, self._starts_before, side="left")]
            n_before.append(self._n[d] - (b.shape[0] - np.searchsorted(b, t1 - self.sub_ps, side="left")))
        return CorrelationStats(edges_ps=self.edges_ps.copy(), per_decade=self.per_decade, sub_ps=self.sub_ps,
                    pairs_ab=np.diff(orders[0].S), pairs_ba=np.diff(orders[1].S),
                    n_a=self._n[0], n_b=self._n[1], first_ps=self.first_ps, last_ps=t1,
                    a_before_end=np.asarray(n_before[0], np.int64), b_before_end=np.asarray(n_before[1], np.int64),
                    a_head=self._head[0].copy(), b_head=self._head[1].copy())


class CorrelationStats(dict):
    """CorrelationStage.stats(): a dict (derive_correlation's input) whose merge adds the next time slice's."""

    def merge(self, later: "CorrelationStats") -> "CorrelationStats":
        """Pairs and photons add; the head counts are this (the earlier) part's and the counts before the end the
        later one's plus all of this part's photons: exact when this part holds every photon within the largest
        lag of the first one, and the later one every photon within it of the last one (tagstream.slices)."""
        out = CorrelationStats(self)
        for k in ("pairs_ab", "pairs_ba", "n_a", "n_b"):
            out[k] = self[k] + later[k]
        out["last_ps"] = later["last_ps"]
        out["a_before_end"] = self["n_a"] + later["a_before_end"]
        out["b_before_end"] = self["n_b"] + later["b_before_end"]
        return out


@dataclass(frozen=True)
class IntensityCorrelation:
    """Normalised A-B intensity cross-correlation on log lag bins (both orders summed)."""

    lag_edges_s: np.ndarray
    lag_s: np.ndarray           # bin mid (arithmetic)
    pairs: np.ndarray           # pairs per bin, A->B plus B->A
    expected: np.ndarray        # for uncorrelated light (Laurence normalisation)
    g2: np.ndarray              # pairs / expected (NaN where expected is 0: lag beyond the recording)
    g2_err: np.ndarray          # sqrt(pairs) / expected (1 / expected for an empty bin)
    per_decade: int
    duration_s: float

    def to_json_dict(self) -> dict:
        ok = np.isfinite(self.g2)
        return {"lag_s": self.lag_s[ok].tolist(), "g2": self.g2[ok].tolist(), "g2_err": self.g2_err[ok].tolist(),
                "pairs": self.pairs[ok].astype(int).tolist(), "bins_per_decade": self.per_decade,
                "normalisation": "Laurence 2006: -> 1 for uncorrelated light"}

    def table(self):
        import polars as pl

        return pl.DataFrame({"lag_lo_s": self.lag_edges_s[:-1], "lag_hi_s": self.lag_edges_s[1:], "lag_s": self.lag_s,
                             "pairs": self.pairs, "expected": self.expected, "g2": self.g2, "g2_err": self.g2_err})


def derive_correlation(c: dict) -> IntensityCorrelation:
    """IntensityCorrelation from CorrelationStage.stats()."""
    e = c["edges_ps"].astype(np.float64)
    mid = 0.5 * (e[:-1] + e[1:])
    T = float(c["last_ps"] - c["first_ps"])
    span = T - c["sub_ps"]
    # targets after t0 + tau = all minus the head counts; midpoint rule over N_SUB points per bin
    dens = (c["a_before_end"] * (c["n_b"] - c["b_head"]).astype(np.float64)
            + c["b_before_end"] * (c["n_a"] - c["a_head"]).astype(np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        per_point = np.where(span > 0, dens / span, 0.0).reshape(mid.size, -1)
        expected = per_point.sum(axis=1) * np.diff(e) / per_point.shape[1]
        pairs = (c["pairs_ab"] + c["pairs_ba"]).astype(np.int64)
        g = np.where(expected > 0, pairs / expected, np.nan)
        err = np.where(expected > 0, np.sqrt(np.maximum(pairs, 1)) / expected, np.nan)
    return IntensityCorrelation(e / 1e12, mid / 1e12, pairs, expected, g, err, int(c["per_decade"]), T / 1e12)
