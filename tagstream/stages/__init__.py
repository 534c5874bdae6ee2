"""tagstream.stages: streaming accumulators of sufficient statistics, fed photon batch by batch.

The microtime stage turns each TagChunk into a PhotonBatch (tagstream.chunk); every other stage
follows the Stage protocol below, owns its buffers, and gives a frozen statistics type defined
next to it (TraceStats, G2Stats, FrameStats, LevelsStats), from which tagstream.results derives
the Results. The pipeline's stages are listed in tagstream.pipeline.STAGES: a new stage is its
module plus one line there (and what tagstream.results.derive makes of its statistics).
"""

from __future__ import annotations

from typing import Any, Protocol

from tagstream.chunk import PhotonBatch


class Stage(Protocol):
    def update(self, batch: PhotonBatch) -> None:
        """Accumulate one batch (time-ordered, continuing the previous one)."""

    def stats(self) -> Any:
        """A frozen snapshot (copies) of the statistics so far; None if there is nothing yet."""

    def finalize(self) -> None:
        """The stream has ended: release what was held back. Idempotent."""
