"""Cooperative cancellation of a long fit from another thread (the live app abandons a fit whose selection
was dragged away, or that a closing window no longer wants).

    ev = threading.Event()
    with cancellable(ev):          # in the fitting thread
        fit_results(...)           # raises Cancelled soon after ev.set() (another thread)

The solver calls check() once per iteration (a dict look-up): with no event registered for the calling
thread it does nothing, so `analyze`, the batch and the tests never see it.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

_EVENTS: dict[int, threading.Event] = {}


class Cancelled(Exception):
    """The computation was cancelled (not an error: no result, nothing to report)."""


@contextmanager
def cancellable(event: threading.Event):
    """Within the block, check() in this thread raises Cancelled once `event` is set."""
    me = threading.get_ident()
    _EVENTS[me] = event
    try:
        yield event
    finally:
        _EVENTS.pop(me, None)


def check() -> None:
    """Raise Cancelled if this thread's computation was cancelled."""
    ev = _EVENTS.get(threading.get_ident())
    if ev is not None and ev.is_set():
        raise Cancelled()
