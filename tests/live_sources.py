"""Sources for the live engine's child process in tests (tagstream.app.engine.Recipe targets: this module
is imported there, so it must not import Qt or pytest)."""

from __future__ import annotations

from tagstream.sources import ReplaySource


class LossyReplay(ReplaySource):
    """A replay whose device reports lost data once, at its first chunk (as the quTAG's data-loss flag)."""

    def _read(self, timeout_s: float):
        chunk = super()._read(timeout_s)
        if chunk is not None and not self._events:
            self._event("device-data-lost")
        return chunk


def lossy_replay(engine, *, path: str, speed: float | None):
    return LossyReplay(path, speed=speed), None
