"""Numba kernel of the exact log-binned intensity cross-correlation of two photon streams.

For lag edges e_0 < ... < e_K (ps) the kernel accumulates, for every "start" photon s of one detector,
    S[k] += #(target photons with t < t_s + e_k)
with one pointer per edge that only moves forward (start photons come in time order, so t_s + e_k grows).
The pairs with lag t_target - t_s in [e_k, e_k+1) are then exactly S[k+1] - S[k]. Cost O(K (N_start + N_target)),
half the pointer work of a two-pointers-per-bin correlator (pycorrelate.pcorrelate), and no per-photon vector
add. Pointers are global target indices, so the caller may hand the targets in pieces (`t_base`: global index
of targets[0]) as long as every target the pointers may still pass is in the piece.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(nogil=True, cache=True)
def count_below(starts, targets, t_base, edges_ps, ptr, S):
    """For each start photon (sorted int64 ps) and edge k: advance ptr[k] (global target index) to the first
    target with t >= t_start + edges_ps[k] and add it to S[k]. targets: sorted int64, global indices
    t_base .. t_base + len - 1; every target >= t_start + edges_ps[K] must exist beyond the piece or not at all."""
    n_end = t_base + targets.shape[0]
    K = edges_ps.shape[0]
    for i in range(starts.shape[0]):
        t = starts[i]
        for k in range(K):
            j = ptr[k]
            x = t + edges_ps[k]
            while j < n_end and targets[j - t_base] < x:
                j += 1
            ptr[k] = j
            S[k] += j


def log_lag_edges_ps(lag_min_s: float = 1e-6, lag_max_s: float = 10.0, per_decade: int = 8) -> np.ndarray:
    """Log-spaced lag edges in whole ps, `per_decade` per decade from lag_min_s to (at least) lag_max_s."""
    if not (0 < lag_min_s < lag_max_s) or per_decade < 1:
        raise ValueError("lag edges need 0 < lag_min_s < lag_max_s and per_decade >= 1")
    n = int(np.ceil(np.log10(lag_max_s / lag_min_s) * per_decade - 1e-9))
    e = np.unique(np.round(lag_min_s * 10.0 ** (np.arange(n + 1) / per_decade) * 1e12).astype(np.int64))
    if e[0] < 1:
        raise ValueError("lag edges must be >= 1 ps")
    return e
