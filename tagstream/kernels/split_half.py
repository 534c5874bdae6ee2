"""Numba kernels of the split-half cross-selection of lifetime regimes (tagstream.results).

The photons of a trace bin (a slice of the trace store, in time order) are split by their position
in the bin: even positions are half 0, odd positions half 1. Given the emitter's state the two halves
are independent samples of the same decay, so a bin selected by one half's average lifetime can be
fitted with the OTHER half's photons without the selection distorting their decay (selecting and
fitting the same photons biases both: a bin counted as "long" because its photons happened to come
late gives a decay that is too slow).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(nogil=True, cache=True)
def half_index_sums(idx, offsets, cut_bin, out_n, out_below, out_idx):
    """Per trace bin b and half h (int64 counts, exact): out_n[b, h] photons, out_below[b, h] of them with
    a decay index below cut_bin (they wrap into the next period) and out_idx[b, h] the sum of their
    decay indices. The delay sums follow in closed form (half_delay_sums); these do not depend on the
    period, so a live snapshot can keep them for the bins whose photons did not change."""
    nb = offsets.shape[0] - 1
    for b in range(nb):
        for p in range(offsets[b], offsets[b + 1]):
            h = (p - offsets[b]) & 1
            d = idx[p]
            out_n[b, h] += 1
            out_idx[b, h] += d
            if d < cut_bin:
                out_below[b, h] += 1


def delay_sums_from_index_sums(n, below, idx_sum, cut_bin, decay_bin_ps, period_ps):
    """The sum of the delays (ps) after the cut c = cut_bin * decay_bin_ps, wrapped into [0, P), at
    decay-bin centres, of photons with these half_index_sums: sum((d + 0.5) bin - c + P [d < cut])."""
    c = cut_bin * decay_bin_ps
    return (idx_sum + 0.5 * n) * decay_bin_ps - c * n + below * period_ps


def half_delay_sums(idx, offsets, cut_bin, decay_bin_ps, period_ps, out_n, out_sum):
    """Per trace bin b and half h: out_n[b, h] += photons and out_sum[b, h] += the sum of their delays
    (ps) after the cut c = cut_bin * decay_bin_ps, wrapped into [0, P) (decay-bin centres)."""
    n, below, isum = (np.zeros(out_n.shape, np.int64) for _ in range(3))
    half_index_sums(idx, offsets, cut_bin, n, below, isum)
    out_n += n
    out_sum += delay_sums_from_index_sums(n, below, isum, cut_bin, decay_bin_ps, period_ps)


@njit(nogil=True, cache=True)
def sum_half_decays(idx, offsets, selected_bins, half, n_decay, out):
    """out[d] += photons with decay index d among half `half` (0: even, 1: odd positions) of the
    selected trace bins. O(photons of those bins)."""
    for s in range(selected_bins.shape[0]):
        b = selected_bins[s]
        for p in range(offsets[b] + half, offsets[b + 1], 2):
            out[idx[p]] += 1


__all__ = ["half_index_sums", "delay_sums_from_index_sums", "half_delay_sums", "sum_half_decays", "np"]
