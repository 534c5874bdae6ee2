"""Restore exact time order of locally disordered time tags, chunk by chunk, in bounded memory.

Real quTAG files are not strictly time-ordered (per-channel delay correction in the writer moves
tags by up to ~100 ns). The Reorderer keeps a small sorted tail of the records that could still be
overtaken by a later record (those within ``window_ps`` of the largest timestamp seen so far), and
emits everything older. The result equals a global stable sort of the whole stream, as long as no
record is more than ``window_ps`` earlier than a record before it; a larger step back raises
TimeOrderError naming the record.

Speed: one numba pass checks the order (disorder statistics, window check, running maximum); the
carried tail and the block are then put in order by a stable insertion sort, O(n + inversions),
which is linear for locally disordered data; past a budget of moves it falls back to numpy's
stable argsort (equal result). An already ordered block beyond the tail is not sorted at all.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from numba import njit

from tagstream.errors import TimeOrderError

# locate(i) -> (path, byte_offset, record_index) of record i of the block just pushed.
Locator = Callable[[int], tuple]


@njit(nogil=True, cache=True)
def scan_order(t, prev, has_prev, rmax, has_rmax, window):
    """One pass in file order: (n_decreases, worst step below the running max, first index more
    than `window` below it (-1: none), the running max there, the running max at the end)."""
    return scan_range(t, 0, t.shape[0], prev, has_prev, rmax, has_rmax, window)


@njit(nogil=True, cache=True)
def scan_range(t, a, b, prev, has_prev, rmax, has_rmax, window):
    """scan_order over t[a:b] (indices into t; readers scan the part they just decoded)."""
    n_dec = 0
    worst = 0
    bad = -1
    bad_max = 0
    r = rmax
    have = has_rmax
    p = prev
    hp = has_prev
    for i in range(a, b):
        x = t[i]
        if hp and x < p:
            n_dec += 1
        p = x
        hp = True
        if not have or x > r:
            r = x
            have = True
        back = r - x
        if back > worst:
            worst = back
        if back > window and bad < 0:
            bad = i - a
            bad_max = r
    return n_dec, worst, bad, bad_max, r


@njit(nogil=True, cache=True)
def insertion_sort_pairs(t, c, start, max_moves):
    """Stable in-place insertion sort of t (and c alongside) whose prefix [0, start) is already
    sorted. Returns False (arrays still a permutation with equal keys in their original order)
    if more than max_moves element moves were needed."""
    moves = 0
    for i in range(max(start, 1), t.shape[0]):
        x = t[i]
        if x >= t[i - 1]:
            continue
        y = c[i]
        j = i - 1
        while j >= 0 and t[j] > x:
            t[j + 1] = t[j]
            c[j + 1] = c[j]
            j -= 1
        moves += i - 1 - j
        t[j + 1] = x
        c[j + 1] = y
        if moves > max_moves:
            return False
    return True


class Reorderer:
    """Stable streaming sort within a bounded reorder window; also counts the disorder found."""

    def __init__(self, window_ps: int = 1_000_000) -> None:
        if window_ps < 0:
            raise ValueError("reorder window must be >= 0 ps")
        self.window_ps = int(window_ps)
        self._tail_t = np.empty(0, np.int64)
        self._tail_c = np.empty(0, np.uint16)
        self._running_max: int | None = None
        self._prev: int | None = None
        self.n_decreases = 0          # records earlier than the record just before them (file order)
        self.max_decrease_ps = 0      # largest step back below the running maximum

    def resume_after(self, t_ps: int) -> None:
        """Continue a stream whose records so far were in time order, the last at t_ps (all emitted)."""
        self._prev = self._running_max = int(t_ps)

    def push(self, t: np.ndarray, c: np.ndarray, locate: Locator,
             max_out: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Add a block in file order; return the records that are now final, in time order (at
        most max_out of them: the rest stays in the tail, so callers get chunks of an exact size).
        The result never shares memory with t/c: the caller may reuse them (decode buffers)."""
        if t.size == 0:
            return t, c
        tt, cc, nt = self.open_block(t.size)
        tt[nt:] = t
        cc[nt:] = c
        return self.close_block(tt, cc, nt, scan_order(tt[nt:], *self.scan_state()), locate, max_out)

    def open_block(self, n: int) -> tuple[np.ndarray, np.ndarray, int]:
        """Fresh arrays for the carried tail plus n new records, the tail already at the front:
        (t, c, n_tail). A reader may decode straight into t[n_tail:], c[n_tail:] (one pass, no
        copy) and scan them with scan_order(..., *scan_state()), then call close_block."""
        nt = self._tail_t.size
        tt = np.empty(nt + n, np.int64)
        cc = np.empty(nt + n, np.uint16)
        tt[:nt] = self._tail_t
        cc[:nt] = self._tail_c
        return tt, cc, nt

    def scan_state(self) -> tuple:
        """The order state scan_order continues from: (prev, has_prev, running max, has_max, window)."""
        return (0 if self._prev is None else self._prev, self._prev is not None,
                0 if self._running_max is None else self._running_max, self._running_max is not None,
                self.window_ps)

    def close_block(self, tt: np.ndarray, cc: np.ndarray, nt: int, scan: tuple, locate: Locator,
                    max_out: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Finish a block opened with open_block whose new records tt[nt:] gave scan (scan_order's
        result): check the window, sort if needed, keep the new tail, return the final records."""
        n_dec, worst, bad, bad_max, rmax = scan
        if bad >= 0:
            path, offset, record = locate(bad)
            raise TimeOrderError(
                f"timestamp {int(tt[nt + bad])} ps is {int(bad_max - tt[nt + bad])} ps earlier than an earlier "
                f"record ({int(bad_max)} ps), more than the reorder window of {self.window_ps} ps",
                path, offset, record)
        if tt.size == nt:
            return tt[:0], cc[:0]
        self._prev = int(tt[-1])
        self.max_decrease_ps = max(self.max_decrease_ps, int(worst))
        self.n_decreases += int(n_dec)
        self._running_max = int(rmax)
        # the carried-over tail is earlier in the file than this block: a stable sort keeps file
        # order among equal timestamps
        needs_sort = n_dec > 0 or (nt > 0 and tt[nt] < tt[nt - 1])
        if needs_sort:
            if not insertion_sort_pairs(tt, cc, nt, 16 * tt.size + 1024):
                order = np.argsort(tt, kind="stable")
                tt, cc = tt[order], cc[order]
        k = int(np.searchsorted(tt, self._running_max - self.window_ps, side="left"))
        if max_out is not None:
            k = min(k, int(max_out))
        self._tail_t, self._tail_c = tt[k:].copy(), cc[k:].copy()
        return tt[:k], cc[:k]

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the remaining tail (all final now)."""
        t, c = self._tail_t, self._tail_c
        self._tail_t, self._tail_c = np.empty(0, np.int64), np.empty(0, np.uint16)
        return t, c

    def stats(self) -> dict:
        return {"n_decreases": self.n_decreases, "max_decrease_ps": self.max_decrease_ps,
                "reorder_window_ps": self.window_ps}
