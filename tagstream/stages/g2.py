"""g2 stage: cross-correlation histogram tau = t(B) - t(A) over [lo, hi), streamed with a look-back
tail of the photons within reach of the last one (bounded by rate x window).

The histogram is accumulated at a base bin width; tagstream.results re-bins it for display and
integrates the peaks. The setup's per-channel delays shift tau: tau = (tB + dB) - (tA + dA).
"""

from __future__ import annotations

import numpy as np

from tagstream.kernels.g2 import g2_pairs
from tagstream.stages.microtime import PhotonBatch


class G2Stage:
    def __init__(self, window_ps: int, bin_ps: int, delta_ps: int = 0, t_from_ps: float = -np.inf) -> None:
        """window_ps: half-width W, rounded up to a whole number of bins; bin_ps: base bin width;
        delta_ps = dB - dA (per-channel delays); pairs whose later photon is before t_from_ps are
        not counted (used when the window is only known once the laser period is)."""
        if bin_ps <= 0 or window_ps <= 0:
            raise ValueError("g2 window and bin must be > 0 ps")
        self.bin_ps = int(bin_ps)
        self.half_bins = int(-(-int(window_ps) // self.bin_ps))
        self.window_ps = self.half_bins * self.bin_ps
        self.delta_ps = int(delta_ps)
        self.lo = -self.window_ps - self.delta_ps
        self.hi = self.window_ps - self.delta_ps
        self.reach = max(self.hi, -self.lo)
        self.t_from = int(t_from_ps) if np.isfinite(t_from_ps) else np.iinfo(np.int64).min
        self.hist = np.zeros(2 * self.half_bins, np.int64)
        self.tail_t = np.zeros(0, np.int64)
        self.tail_w = np.zeros(0, np.uint8)
        self.n_a = 0
        self.n_b = 0
        self.first_ps: int | None = None
        self.last_ps: int | None = None

    def update(self, batch: PhotonBatch) -> None:
        n = batch.t_ps.shape[0]
        if n == 0:
            return
        i0 = int(np.searchsorted(batch.t_ps, self.t_from, side="left"))
        nb = int(np.count_nonzero(batch.which[i0:]))
        self.n_b += nb
        self.n_a += n - i0 - nb
        if self.first_ps is None and i0 < n:
            self.first_ps = int(batch.t_ps[i0])
        self.last_ps = int(batch.t_ps[-1])
        t = np.concatenate((self.tail_t, batch.t_ps))
        w = np.concatenate((self.tail_w, batch.which))
        g2_pairs(t, w, self.tail_t.shape[0], self.t_from, self.lo, self.hi, self.bin_ps, self.hist)
        keep = np.searchsorted(t, t[-1] - self.reach, side="left")
        self.tail_t, self.tail_w = t[keep:].copy(), w[keep:].copy()

    def stats_copy(self) -> dict:
        return dict(base_bin_ps=self.bin_ps, window_ps=self.window_ps, delta_ps=self.delta_ps,
                    hist=self.hist.copy(), n_a=self.n_a, n_b=self.n_b,
                    first_ps=self.first_ps, last_ps=self.last_ps,
                    t_from_ps=None if self.t_from == np.iinfo(np.int64).min else self.t_from)
