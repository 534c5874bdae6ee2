"""Restore exact time order of locally disordered time tags, chunk by chunk, in bounded memory.

Real quTAG files are not strictly time-ordered (per-channel delay correction in the writer moves
tags by up to ~100 ns). The Reorderer keeps a small sorted tail of the records that could still be
overtaken by a later record (those within ``window_ps`` of the largest timestamp seen so far), and
emits everything older. The result equals a global stable sort of the whole stream, as long as no
record is more than ``window_ps`` earlier than a record before it; a larger step back raises
TimeOrderError naming the record.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from tagstream.errors import TimeOrderError

# locate(i) -> (path, byte_offset, record_index) of record i of the block just pushed.
Locator = Callable[[int], tuple]


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

    def push(self, t: np.ndarray, c: np.ndarray, locate: Locator) -> tuple[np.ndarray, np.ndarray]:
        """Add a block in file order; return the records that are now final, in time order."""
        if t.size == 0:
            return t, c
        # disorder statistics and the window check, in file order
        n_dec = int(np.count_nonzero(t[1:] < t[:-1]))
        if self._prev is not None and t[0] < self._prev:
            n_dec += 1
        self._prev = int(t[-1])
        rmax = np.maximum.accumulate(t)
        if self._running_max is not None:
            np.maximum(rmax, self._running_max, out=rmax)
        if n_dec:
            back = rmax - t
            worst = int(back.max())
            if worst > self.max_decrease_ps:
                self.max_decrease_ps = worst
            if worst > self.window_ps:
                i = int(np.argmax(back > self.window_ps))
                path, offset, record = locate(i)
                raise TimeOrderError(
                    f"timestamp {int(t[i])} ps is {int(back[i])} ps earlier than an earlier record "
                    f"({int(rmax[i])} ps), more than the reorder window of {self.window_ps} ps",
                    path, offset, record)
            self.n_decreases += n_dec
        self._running_max = int(rmax[-1])
        # merge with the carried-over tail; a stable sort keeps file order among equal timestamps
        # (tail records all come earlier in the file than this block's records)
        if self._tail_t.size:
            tt = np.concatenate((self._tail_t, t))
            cc = np.concatenate((self._tail_c, c))
            needs_sort = n_dec > 0 or t[0] < self._tail_t[-1]
        else:
            tt, cc = t, c
            needs_sort = n_dec > 0
        if needs_sort:
            order = np.argsort(tt, kind="stable")
            tt, cc = tt[order], cc[order]
        k = int(np.searchsorted(tt, self._running_max - self.window_ps, side="left"))
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
