"""ReplaySource: a recorded file (any format open_tags reads) played back in real time × speed,
or as fast as possible (speed=None); pausable (pause()/resume()). Recorded microtimes (PicoQuant T3,
Photon-HDF5 nanotimes, bh SPC) are kept in the chunks; `laser_period_ps` is then the period the file
states, which the pipeline needs to use them (AnalysisConfig.laser_period_ps)."""

from __future__ import annotations

import os
from pathlib import Path

from tagstream.sources.paced import PacedSource


class ReplaySource(PacedSource):
    """Replays `path`. The file is opened (and its format checked) at construction, so a bad file
    fails before the session starts. chunk_records: records per read from the file."""

    kind = "replay"

    def __init__(self, path: str | os.PathLike, speed: float | None = 1.0, format: str | None = None,
                 chunk_records: int = 1 << 16, sync_divider: int = 1, poll_interval_s: float = 0.02,
                 **open_kwargs) -> None:
        from tagstream.io import open_tags

        self.path = Path(path)
        self.reader = open_tags(self.path, format=format, **open_kwargs)
        self.chunk_records = int(chunk_records)
        self.laser_period_ps: float | None = None
        if self.reader.has_microtimes:
            self.laser_period_ps = self.reader.header_setup().get("laser_period_ps")
        super().__init__(lambda: self.reader.chunks(self.chunk_records), speed=speed,
                         poll_interval_s=poll_interval_s, sync_divider=sync_divider)

    def describe(self) -> dict:
        return {**super().describe(), "path": str(self.path), "format": self.reader.format, "speed": self.speed,
                "microtimes": bool(self.reader.has_microtimes), "laser_period_ps": self.laser_period_ps}
