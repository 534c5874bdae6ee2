"""Numba kernel: cross-correlation histogram of photon pairs between two detectors.

For every photon i >= start (the new ones), walk back over earlier photons j while
t[i] - t[j] <= reach and count each opposite-detector pair once, at tau = t(B) - t(A), into
hist[(tau - lo) // bin_ps] if lo <= tau < hi. A pair is counted when its later photon (in stream
order) is processed, so feeding the stream in any chunking with a look-back tail of the photons
within `reach` of the last one gives the same histogram. Complexity O(n * rate * reach).
"""

from __future__ import annotations

from numba import njit


@njit(nogil=True, cache=True)
def g2_pairs(t, which, start, t_from, lo, hi, bin_ps, hist):
    """Add the pairs whose later photon has index >= start and time >= t_from to hist (int64).

    t: int64 photon times (ps, non-decreasing); which: 0 = detector A, 1 = detector B.
    Returns the number of pairs added.
    """
    reach = hi if hi > -lo else -lo
    n = t.shape[0]
    added = 0
    for i in range(start, n):
        ti = t[i]
        if ti < t_from:
            continue
        wi = which[i]
        j = i - 1
        while j >= 0:
            dt = ti - t[j]
            if dt > reach:
                break
            if which[j] != wi:
                tau = dt if wi == 1 else -dt
                if tau >= lo and tau < hi:
                    hist[(tau - lo) // bin_ps] += 1
                    added += 1
            j -= 1
    return added
