"""Change points of the photon rate, found on the arrival times themselves (no binning).

Method: Watkins & Yang, J. Phys. Chem. B 109, 617 (2005). For a segment of n inter-photon intervals
between photons lo and hi, V_k = (t[lo+k] - t[lo]) / (t[hi] - t[lo]) and the log-likelihood ratio of
"rate change after k intervals" is standardised with its exact null mean and variance (V_k ~ Beta(k, n-k))
and weighted (Henderson, Biometrika 77, 835 (1990)):

    L_k = [-2k ln V_k + 2k u_k - 2(n-k) ln(1-V_k) + 2(n-k) u'_k] / s_k + 0.5 ln(4k(n-k)/n^2)
    u_k = -sum_{j=k}^{n-1} 1/j,  u'_k = u_{n-k},  v_k = sum_{j=k}^{n-1} 1/j^2,
    s_k^2 = 4k^2 v_k + 4(n-k)^2 v_{n-k} - 8k(n-k)(pi^2/6 - v_1)

exactly as in Haw Yang's reference program (PrincetonUniversity/OriginalChangePoint-Poisson, FindCP.c).
max_k L_k > tau_a(n) (tables in critical_values.py) marks a change point at photon lo + k_max (the first
photon of the new level). Segments are split recursively (binary segmentation). As in the reference
program's main.c, a search covers at most 1000 intervals: windows run left to right, each next window
starting at the last change point found, or 200 photons before the end of a window without one. Finally
every change point is re-tested once (left to right) on the segment between its neighbours (at most
max_segment intervals around it) and dropped or moved, as the reference program's CheckCP does.
Differences from the reference program: no confidence-region (tau_b) bounds are used for the recursion
(segments split at the change point itself, as in Full_SMS), and its extra burst search is not done.

The scan is a numba kernel; ChangePointDetector processes a stream chunk by chunk with bounded memory
and gives exactly the same change points as find_change_points on the whole recording.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .critical_values import MAX_N, critical_values

OVERLAP = 200          # photons a window without change point is re-examined by the next one (main.c NA_OVERLAP)


def _harmonic_tables(n_max: int) -> tuple[np.ndarray, np.ndarray]:
    """H[j] = sum_{i<=j} 1/i, H2[j] = sum_{i<=j} 1/i^2, j = 0..n_max."""
    j = np.arange(1, n_max + 1, dtype=np.float64)
    h = np.zeros(n_max + 1)
    h2 = np.zeros(n_max + 1)
    h[1:] = np.cumsum(1.0 / j)
    h2[1:] = np.cumsum(1.0 / (j * j))
    return h, h2


@njit(nogil=True, cache=True)
def wlr_scan(t, lo, hi, h, h2):
    """Weighted standardised log-likelihood ratio over a segment [lo, hi] of int64 times t.

    Returns (k_max, L_max): the best split (photon lo + k_max starts the new level) and its statistic.
    k_max = 0 when the segment is too short (n < 2) or has zero length in time.
    """
    n = hi - lo
    if n < 2:
        return 0, -np.inf
    total = float(t[hi] - t[lo])
    if total <= 0.0:
        return 0, -np.inf
    eps = 0.5 / total                     # times are integer ps: keep V_k inside (0, 1) for equal tags
    nl = float(n)
    hn = h[n - 1]
    h2n = h2[n - 1]
    term = math.pi * math.pi / 6.0 - h2n
    k_best = 0
    l_best = -np.inf
    for k in range(1, n):
        kl = float(k)
        v = float(t[lo + k] - t[lo]) / total
        if v < eps:
            v = eps
        elif v > 1.0 - eps:
            v = 1.0 - eps
        u = -(hn - h[k - 1])
        u1 = -(hn - h[n - k - 1])
        v2 = h2n - h2[k - 1]
        v21 = h2n - h2[n - k - 1]
        s2 = 4.0 * kl * kl * v2 + 4.0 * (nl - kl) * (nl - kl) * v21 - 8.0 * kl * (nl - kl) * term
        if s2 <= 0.0:
            continue
        llr = (-2.0 * kl * math.log(v) + 2.0 * kl * u - 2.0 * (nl - kl) * math.log(1.0 - v)
               + 2.0 * (nl - kl) * u1) / math.sqrt(s2) + 0.5 * math.log(4.0 * kl * (nl - kl) / (nl * nl))
        if llr > l_best:
            l_best = llr
            k_best = k
    return k_best, l_best


@njit(nogil=True, cache=True)
def _split_window(t, lo, hi, h, h2, crit, out, n_out):
    """Binary segmentation of [lo, hi]; appends change points (local indices) to out. Returns n_out."""
    stack = np.empty((2 * (hi - lo) + 4, 2), dtype=np.int64)
    stack[0, 0] = lo
    stack[0, 1] = hi
    top = 1
    while top > 0:
        top -= 1
        a = stack[top, 0]
        b = stack[top, 1]
        k, llr = wlr_scan(t, a, b, h, h2)
        if k > 0 and llr > crit[b - a]:
            c = a + k
            out[n_out] = c
            n_out += 1
            stack[top, 0] = c          # right part first on the stack so the left part is done first
            stack[top, 1] = b
            stack[top + 1, 0] = a
            stack[top + 1, 1] = c
            top += 2
    return n_out


class ChangePointDetector:
    """Streaming change-point detection: feed(times_ps) repeatedly, then finalize() -> change points.

    times_ps: non-decreasing int64 photon arrival times (one detector channel or merged channels).
    Change points are global photon indices (photon c is the first of a new level), increasing.
    Memory: the unprocessed tail of the stream (about 2 * max_segment photons) plus the results.
    """

    def __init__(self, confidence: float = 0.95, max_segment: int = MAX_N, overlap: int = OVERLAP) -> None:
        if not 50 <= max_segment <= MAX_N:
            raise ValueError(f"max_segment must be within 50..{MAX_N}")
        if not 0 <= overlap < max_segment // 2:
            raise ValueError("overlap must be >= 0 and below max_segment / 2")
        self.confidence = confidence
        self.max_segment = int(max_segment)
        self.overlap = int(overlap)
        self._crit = critical_values(confidence, self.max_segment)
        self._h, self._h2 = _harmonic_tables(self.max_segment + 1)
        self._buf = np.empty(0, dtype=np.int64)
        self._base = 0                # global index of _buf[0]
        self._n = 0                   # photons seen
        self._win_lo = 0              # global start of the next detection window
        self._pending: list[int] = []  # detected, not yet re-tested
        self._prev_kept = 0           # last accepted change point (0 = start of stream)
        self._kept: list[int] = []
        self._last_t = None
        self._finalized = False
        self._done = False

    # -- input -------------------------------------------------------------------------------------
    def feed(self, times_ps) -> None:
        if self._finalized:
            raise RuntimeError("ChangePointDetector.feed() after finalize()")
        t = np.ascontiguousarray(times_ps, dtype=np.int64)
        if t.size == 0:
            return
        if np.any(np.diff(t) < 0) or (self._last_t is not None and t[0] < self._last_t):
            raise ValueError("photon times must be non-decreasing")
        self._last_t = int(t[-1])
        self._buf = np.concatenate([self._buf, t])
        self._n += t.size
        self._run(final=False)

    def finalize(self) -> np.ndarray:
        """Process the rest of the stream; returns all change points (int64 global photon indices)."""
        if not self._finalized:
            self._run(final=True)
            self._finalized = True
        return np.asarray(self._kept, dtype=np.int64)

    @property
    def kept(self) -> list[int]:
        """Change points accepted so far (global photon indices, increasing; read-only by convention).
        Later change points are always > `base`."""
        return self._kept

    @property
    def base(self) -> int:
        """Global index of the oldest photon still held: no later change point can be at or before it."""
        return self._base

    # -- internals ---------------------------------------------------------------------------------
    def _run(self, final: bool) -> None:
        m = self.max_segment
        last = self._n - 1
        # detection windows [win_lo, win_lo + m - 1] (m - 1 intervals), as in the reference main.c
        while not self._done:
            hi = self._win_lo + m - 1
            if hi < last:
                found = self._detect(self._win_lo, hi)
                self._win_lo = max(found) if found else hi - self.overlap
            elif final:                      # the last window reaches the end of the stream
                self._detect(self._win_lo, min(hi, last))
                self._done = True
            else:                            # wait: whether this window is the last depends on more data
                break
        self._check(final)
        self._trim()

    def _detect(self, lo: int, hi: int) -> list[int]:
        if hi - lo < 2:
            return []
        out = np.empty(hi - lo + 1, dtype=np.int64)
        b = self._base
        n_out = _split_window(self._buf, lo - b, hi - b, self._h, self._h2, self._crit, out, 0)
        found = sorted(int(c) + b for c in out[:n_out])
        self._pending.extend(found)
        return found

    def _check(self, final: bool) -> None:
        half = self.max_segment // 2
        b = self._base
        while self._pending:
            cp = self._pending[0]
            if len(self._pending) > 1:
                nxt = self._pending[1]
            elif final:
                nxt = self._n - 1
            else:
                break
            lo = max(self._prev_kept, cp - half)
            hi = min(nxt, cp + half)
            k, llr = wlr_scan(self._buf, lo - b, hi - b, self._h, self._h2)
            self._pending.pop(0)
            if k > 0 and llr > self._crit[hi - lo]:
                new = lo + k
                self._kept.append(new)
                self._prev_kept = new

    def _trim(self) -> None:
        """Drop photons no later window or re-test can touch (indices are bounded below, see _check)."""
        half = self.max_segment // 2
        keep_from = min(self._win_lo, max(self._prev_kept, self._win_lo - half))
        if self._pending:
            keep_from = min(keep_from, max(self._prev_kept, self._pending[0] - half))
        if keep_from > self._base:
            self._buf = self._buf[keep_from - self._base:].copy()
            self._base = keep_from


def find_change_points(times_ps, confidence: float = 0.95, max_segment: int = MAX_N,
                       overlap: int = OVERLAP) -> np.ndarray:
    """Change points (global photon indices, increasing) of a whole recording's photon times."""
    det = ChangePointDetector(confidence, max_segment, overlap)
    det.feed(times_ps)
    return det.finalize()
