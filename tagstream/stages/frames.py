"""Frame stage: photon counts per camera frame interval [frame_k, frame_k+1) per detector, so the
intensity trace can be aligned to EMCCD spectra. The interval after the last frame tag stays open."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tagstream.kernels.trace import count_in_intervals
from tagstream.chunk import PhotonBatch
from tagstream.stages.trace import _grow


@dataclass(frozen=True)
class FrameStats:
    """Frame-trigger times (ps) and the photons of A and B in each frame interval."""

    frame_start_ps: np.ndarray
    counts_a: np.ndarray
    counts_b: np.ndarray


class FrameStage:
    def __init__(self) -> None:
        self.edges = np.zeros(0, np.int64)
        self.n_edges = 0
        self.counts_a = np.zeros(0, np.int64)
        self.counts_b = np.zeros(0, np.int64)
        self.state = np.zeros(1, np.int64)

    def update(self, batch: PhotonBatch) -> None:
        nf = batch.frames_ps.shape[0]
        if nf:
            self.edges = _grow(self.edges, self.n_edges + nf)
            self.edges[self.n_edges: self.n_edges + nf] = batch.frames_ps
            self.n_edges += nf
            self.counts_a = _grow(self.counts_a, self.n_edges)
            self.counts_b = _grow(self.counts_b, self.n_edges)
        # photons and frames of a chunk are both time-ordered; a photon after a frame tag of the
        # same chunk must see that edge, which holds because all edges of the chunk are added first.
        count_in_intervals(batch.t_ps, batch.which, self.edges[: self.n_edges], self.counts_a, self.counts_b,
                           self.state)

    def stats(self) -> FrameStats:
        n = self.n_edges
        return FrameStats(self.edges[:n].copy(), self.counts_a[:n].copy(), self.counts_b[:n].copy())

    def finalize(self) -> None:
        """Nothing is held back (the interval after the last frame tag stays open)."""
