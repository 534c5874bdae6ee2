"""tagstream.stages: streaming accumulators of sufficient statistics, fed photon batch by batch.

The microtime stage turns each TagChunk into a PhotonBatch (tagstream.chunk); every other stage
follows the Stage protocol below, owns its buffers, and gives a frozen statistics type defined
next to it (TraceStats, G2Stats, FrameStats, LevelsStats), from which tagstream.results derives
the Results. The pipeline's stages are listed in tagstream.pipeline.STAGES: a new stage is its
module plus one line there (and what tagstream.results.derive makes of its statistics).

Time slices (tagstream.slices: one recording over many cores): a stage that can analyse one slice of
a recording also has ``start_slice(origin_ps, count_from_ps)`` (bins are absolute from the
recording's first record at origin_ps; photons before count_from_ps only serve as partners and
count nothing), optionally ``lookback_ps(period_ps)`` (how far before count_from_ps it needs those
partners), and its statistics type a ``merge(later)`` that adds the statistics of the next slice
exactly. A stage that needs photons after the slice's end has ``lookahead_ps()`` and
``add_targets(t_a, t_b, from_ps)`` (correlation). A stage without start_slice (levels) is run once over
the photons of all slices in order.
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


def merge_stats(parts: list) -> Any:
    """The statistics of consecutive slices merged in order (each type's merge); None parts skipped."""
    out = None
    for p in parts:
        if p is not None:
            out = p if out is None else out.merge(p)
    return out


def add_padded(a: "np.ndarray", b: "np.ndarray") -> "np.ndarray":
    """a + b for 1-D arrays of possibly different lengths (the shorter one padded with zeros)."""
    import numpy as np

    out = np.zeros(max(a.shape[0], b.shape[0]), np.result_type(a, b))
    out[: a.shape[0]] += a
    out[: b.shape[0]] += b
    return out
