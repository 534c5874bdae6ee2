"""SimulatedSource: the single-QD simulator streaming in real time × speed (the default source
when no quTAG is attached). The simulator is advanced to the wall-clock time at each read, so
memory stays bounded by one poll's tags and the stream does not depend on the poll timing."""

from __future__ import annotations

import time

from tagstream.chunk import TagChunk
from tagstream.sources.base import Source
from tagstream.sources.paced import Pausable, PausableClock


class SimulatedSource(Pausable, Source):
    """params: tagstream.simulate.SimulationParams (None: the seed paper's defaults); seed;
    speed: simulated seconds per wall second (None: as fast as possible, chunk_s per read);
    duration_s: end of the simulated run (None: endless); poll_interval_s: time between reads'
    advances while paced. pop_frames() hands over the simulated camera frames finished so far."""

    kind = "simulated"

    def __init__(self, params=None, seed: int = 0, speed: float | None = 1.0, duration_s: float | None = None,
                 poll_interval_s: float = 0.02, chunk_s: float = 0.05) -> None:
        from tagstream.simulate.params import SimulationParams
        from tagstream.simulate.simulation import Simulation

        params = params if params is not None else SimulationParams()
        super().__init__(time_unit_ps=1.0, sync_divider=params.sync_divider)
        if speed is not None and not speed > 0:
            raise ValueError(f"speed must be > 0 or None (as fast as possible), got {speed}")
        self.params, self.seed, self.speed = params, int(seed), speed
        self.duration_s = duration_s
        self.poll_interval_s = float(poll_interval_s)
        self.chunk_s = float(chunk_s)
        self.sim = Simulation(params, seed=self.seed)
        self._end_ps = None if duration_s is None else int(round(duration_s * 1e12))
        self._clock = PausableClock()
        self._last_advance = 0.0

    def _start(self) -> None:
        if self._last_advance == 0.0:
            self._clock.start()
        else:
            self._clock.resume()

    def _stop(self) -> None:
        self._clock.pause()

    def _advance(self, target_ps: int) -> TagChunk | None:
        if self._end_ps is not None and target_ps >= self._end_ps:
            chunk = self.sim.finish(self._end_ps)
            self.finished = True
        elif target_ps > self.sim.t_ps:
            chunk = self.sim.advance_to(target_ps)
        else:
            return None
        self._last_advance = time.monotonic()
        return self._emit(chunk.timestamps_ps, chunk.channels)

    def _read(self, timeout_s: float) -> TagChunk | None:
        if self.speed is None:
            if self.paused:
                time.sleep(timeout_s)
                return None
            return self._advance(self.sim.t_ps + max(1, int(round(self.chunk_s * 1e12))))
        deadline = time.monotonic() + timeout_s
        while True:
            now = time.monotonic()
            wait = self._last_advance + self.poll_interval_s - now
            if wait > deadline - now:
                time.sleep(max(0.0, deadline - now))
                return None
            if wait > 0:
                time.sleep(wait)
            if not self.paused:
                chunk = self._advance(int(self._clock.elapsed_s() * self.speed * 1e12))
                if chunk is not None or self.finished:
                    return chunk
            if time.monotonic() >= deadline:
                return None
            time.sleep(min(self.poll_interval_s, max(0.0, deadline - time.monotonic())))

    def pop_frames(self):
        """Camera frames finished so far (tagstream.simulate Frames); call from one thread."""
        return self.sim.pop_frames()

    @property
    def stream_time_s(self) -> float:
        return self.sim.t_ps * 1e-12

    def describe(self) -> dict:
        return {**super().describe(), "seed": self.seed, "speed": self.speed, "duration_s": self.duration_s,
                "params": self.params.to_dict() if hasattr(self.params, "to_dict") else repr(self.params)}
