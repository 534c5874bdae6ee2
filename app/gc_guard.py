"""Garbage collection in the GUI thread only, while a window is open.

Python's cyclic garbage collector runs in whichever thread happens to allocate when a threshold is
crossed. pyqtgraph items hold reference cycles, and a Qt object destroyed outside the GUI thread
crashes the process (seen: a segfault when the live window's snapshot thread collected a report
page). So while a window is open, automatic collection is off and a GUI-thread timer collects instead
(as pyqtgraph.util.garbage_collector does); automatic collection comes back when the last window
closes.
"""

from __future__ import annotations

import gc
import weakref

from PyQt6 import QtCore

_open = 0   # guards alive (windows open)


def _closed() -> None:
    """One window fewer (closed, or its guard freed without a close: e.g. a test's window collected)."""
    global _open
    _open -= 1
    if _open == 0:
        gc.enable()


class GuiThreadGC(QtCore.QObject):
    def __init__(self, parent: QtCore.QObject, interval_ms: int = 500) -> None:
        global _open
        super().__init__(parent)
        if _open == 0:
            gc.disable()
        _open += 1
        self._done = weakref.finalize(self, _closed)
        self._thresholds = gc.get_threshold()
        self._timer = QtCore.QTimer(self)
        self._timer.timeout.connect(self.collect)
        self._timer.start(interval_ms)

    def collect(self) -> None:
        """Generational collection, as the automatic collector would have done by now."""
        c0, c1, c2 = gc.get_count()
        t0, t1, t2 = self._thresholds
        if c0 > t0:
            gc.collect(2 if (c1 > t1 and c2 > t2) else 1 if c1 > t1 else 0)

    def release(self) -> None:
        """The window is closing: collect its garbage here, then (last window) collect automatically again."""
        if not self._done.alive:
            return
        self._timer.stop()
        gc.collect()
        self._done()
