"""One BLAS thread for the fits. Their matrices are small (decay bins x ~15 parameters: J.T @ J, 15 x 15
solves), so a second BLAS thread gains nothing, and OpenBLAS's threads spin-wait for each other: on a busy
machine every product waits for a core. Measured on the team's 2-core machine (load 3.6-7.6): a 4096 x 15
J.T @ (J w) took 5-12 ms with 2 threads against 0.4-0.6 ms with one; a live preview global fit of 12 s of
the simulated QD 36.6 s wall (24.7 s CPU) against 1.6 s (1.1 s CPU).

The first fit of a process sets the process's BLAS to one thread and leaves it so (a documented side effect
of tagstream's fits; the same in `analyze`, the batch workers and the live app, so their numbers agree).
It is process-wide and not undone: OpenBLAS ignores a thread count set from another thread than the one
that set it before, so per-fit limits set in the live app's analysis thread did not hold. Without
threadpoolctl nothing changes.
"""

from __future__ import annotations

import threading

_LOCK = threading.Lock()
_DONE = [False]


def one_blas_thread() -> None:
    """Set every BLAS loaded so far to one thread, once per process (later calls: nothing)."""
    if _DONE[0]:
        return
    with _LOCK:
        if _DONE[0]:
            return
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:      # not installed: BLAS keeps its own thread count
            pass
        else:
            import numpy  # noqa: F401  (its BLAS, loaded)
            import scipy.linalg  # noqa: F401  (scipy's own BLAS, loaded lazily otherwise)

            threadpool_limits(limits=1, user_api="blas")
        _DONE[0] = True
