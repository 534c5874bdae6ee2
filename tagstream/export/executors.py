"""Where the batch's jobs run: a local spawn process pool (or in-process for one worker), or an
existing Dask distributed cluster. Each yields (job index, outcome) as jobs finish; a dead worker
becomes an error row, never a crash of the batch."""

from __future__ import annotations

import os
import time
from contextlib import contextmanager

from tagstream.export.batch_job import Job, process_recording
from tagstream.export.discovery import BatchError


def die_with_parent(parent_pid: int) -> None:
    """Pool initializer: the worker ends when the batch process dies (kill -9 included), so no worker
    keeps writing into an output folder nobody watches. Linux: the kernel sends SIGKILL
    (prctl PR_SET_PDEATHSIG); elsewhere a daemon thread polls the parent's pid."""
    import signal
    import threading

    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)       # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent_pid:                        # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="tagstream-parent-watch", daemon=True).start()


def run_local(jobs: list[Job], workers: int):
    """Yield (index, outcome) as jobs finish, on a spawn process pool (or in-process for 1 worker)."""
    if workers <= 1 or len(jobs) <= 1:
        for i, j in enumerate(jobs):
            yield i, process_recording(j)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ex = ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=multiprocessing.get_context("spawn"),
                             initializer=die_with_parent, initargs=(os.getpid(),))
    try:
        futs = {ex.submit(process_recording, j): i for i, j in enumerate(jobs)}
        for fut in as_completed(futs):
            yield futs[fut], _outcome(fut, jobs[futs[fut]])
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


def run_dask(jobs: list[Job], scheduler):
    """Yield (index, outcome) from an existing Dask distributed cluster (address, Client or cluster).
    Paths must be visible to the workers under the same names (shared file system)."""
    client, own = _dask_client(scheduler)
    from distributed import as_completed

    try:
        futs = client.map(process_recording, jobs, pure=False)
        index = {f.key: i for i, f in enumerate(futs)}
        for fut in as_completed(futs):
            i = index[fut.key]
            yield i, _outcome(fut, jobs[i])
    finally:
        if own:
            client.close()


def _dask_client(scheduler):
    """(a distributed Client for `scheduler` (address, Client or cluster), whether we own it)."""
    try:
        from distributed import Client
    except ImportError:
        raise BatchError("--scheduler needs Dask distributed: pip install 'tagstream[cluster]' "
                         "(or pip install 'dask[distributed]')") from None
    own = not isinstance(scheduler, Client)
    try:
        return (Client(scheduler) if own else scheduler), own
    except (OSError, TimeoutError, ValueError) as exc:
        raise BatchError(f"cannot connect to the Dask scheduler {scheduler!r}: {exc}") from None


class _Done:
    """A finished call, as a future (the in-process executor)."""

    def __init__(self, fn, arg) -> None:
        self._value = fn(arg)

    def result(self):
        return self._value


@contextmanager
def slice_executor(workers: int, scheduler=None):
    """submit(fn, arg) -> future (.result()): on the Dask cluster `scheduler` if given, else a spawn
    process pool of `workers` processes (in-process for one); for tagstream.slices."""
    if scheduler is not None:
        client, own = _dask_client(scheduler)
        try:
            yield lambda fn, arg: client.submit(fn, arg, pure=False)
        finally:
            if own:
                client.close()
        return
    if workers <= 1:
        yield _Done
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ex = ProcessPoolExecutor(max_workers=int(workers), mp_context=multiprocessing.get_context("spawn"),
                             initializer=die_with_parent, initargs=(os.getpid(),))
    try:
        yield ex.submit
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


def _outcome(fut, job: Job) -> dict:
    """A finished future's outcome; a dead worker (killed, out of memory) becomes an error row."""
    try:
        return fut.result()
    except Exception as exc:
        err = f"worker failed: {type(exc).__name__}: {exc}"
        return {"row": {"file": job.recording, "name": job.name, "error": err}, "error": err,
                "n_records": 0, "seconds": 0.0, "peak_rss_mb": None, "pid": None}
