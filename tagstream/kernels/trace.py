"""Numba kernels for the binned traces: per-bin sufficient statistics and their re-selection.

Per trace bin b we keep counts of detector A and B, the number of referenced photons n_ref[b] and
their microtime sum sum_micro_ps[b], and (append-only, in time order) each referenced photon's
decay-bin index. Because photons arrive in time order the photons of bin b are the slice
[cumsum(n_ref)[b-1], cumsum(n_ref)[b]) of that store: any selection of bins can later be summed
into a decay histogram without re-reading the file.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(nogil=True, cache=True)
def accumulate_bins(t, which, micro, origin_ps, bin_ps, decay_bin_ps, n_decay,
                    counts_a, counts_b, n_ref, sum_micro, out_idx):
    """Add photons to per-bin arrays (sized by the caller to cover every bin of this batch).

    Writes the decay-bin index (uint16, clipped to n_decay - 1) of each referenced photon to
    out_idx and returns how many were written. O(n).
    """
    m = 0
    for i in range(t.shape[0]):
        b = (t[i] - origin_ps) // bin_ps
        if which[i] == 0:
            counts_a[b] += 1
        else:
            counts_b[b] += 1
        mu = micro[i]
        if mu >= 0:
            n_ref[b] += 1
            sum_micro[b] += mu
            d = mu // decay_bin_ps
            if d >= n_decay:
                d = n_decay - 1
            out_idx[m] = d
            m += 1
    return m


@njit(nogil=True, cache=True)
def count_in_intervals(t, which, edges, counts_a, counts_b, state):
    """Count photons per interval [edges[k], edges[k+1]) (frame-aligned bins).

    state[0] is the current interval index (carried across chunks; edges must already include
    every edge up to the batch's last photon). Photons before edges[0] are skipped. O(n + k).
    """
    k = state[0]
    ne = edges.shape[0]
    for i in range(t.shape[0]):
        ti = t[i]
        if ne == 0 or ti < edges[0]:
            continue
        while k + 1 < ne and ti >= edges[k + 1]:
            k += 1
        if which[i] == 0:
            counts_a[k] += 1
        else:
            counts_b[k] += 1
    state[0] = k


@njit(nogil=True, cache=True)
def sum_selected_decays(idx, offsets, selected_bins, n_decay, out):
    """out[d] += number of photons with decay index d in the selected trace bins. O(photons)."""
    for s in range(selected_bins.shape[0]):
        b = selected_bins[s]
        for p in range(offsets[b], offsets[b + 1]):
            out[idx[p]] += 1


@njit(nogil=True, cache=True)
def sums_from(idx, offsets, first_decay_bin, decay_bin_ps, out_n, out_sum):
    """Per trace bin: count and sum of decay-bin centres (ps) of photons at decay index >= first.

    Used by the per-bin maximum-likelihood lifetime (photons after the decay's time zero).
    """
    nb = offsets.shape[0] - 1
    for b in range(nb):
        n = 0
        s = 0.0
        for p in range(offsets[b], offsets[b + 1]):
            d = idx[p]
            if d >= first_decay_bin:
                n += 1
                s += (d + 0.5) * decay_bin_ps
        out_n[b] = n
        out_sum[b] = s


def nice_bin_ps(min_ps: float) -> int:
    """Smallest value of the 1-2-5 series (ps) that is >= min_ps."""
    v = 1
    while True:
        for m in (1, 2, 5):
            if v * m >= min_ps:
                return v * m
        v *= 10
        if v > 10**15:
            return v


__all__ = ["accumulate_bins", "count_in_intervals", "sum_selected_decays", "sums_from", "nice_bin_ps", "np"]
