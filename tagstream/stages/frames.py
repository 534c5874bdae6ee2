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
    """Frame-trigger times (ps) and the photons of A and B in each frame interval; lead_a/lead_b: the
    photons before the first frame tag (not in any interval; a time slice's belong to the previous
    slice's last interval)."""

    frame_start_ps: np.ndarray
    counts_a: np.ndarray
    counts_b: np.ndarray
    lead_a: int = 0
    lead_b: int = 0

    def merge(self, later: "FrameStats") -> "FrameStats":
        """These statistics followed by the next time slice's."""
        a, b = self.counts_a.copy(), self.counts_b.copy()
        lead_a, lead_b = self.lead_a, self.lead_b
        if a.shape[0]:
            a[-1] += later.lead_a
            b[-1] += later.lead_b
        else:
            lead_a, lead_b = lead_a + later.lead_a, lead_b + later.lead_b
        return FrameStats(np.concatenate((self.frame_start_ps, later.frame_start_ps)),
                          np.concatenate((a, later.counts_a)), np.concatenate((b, later.counts_b)), lead_a, lead_b)


class FrameStage:
    def __init__(self) -> None:
        self.edges = np.zeros(0, np.int64)
        self.n_edges = 0
        self.counts_a = np.zeros(0, np.int64)
        self.counts_b = np.zeros(0, np.int64)
        self.state = np.zeros(1, np.int64)
        self.lead = [0, 0]

    def start_slice(self, origin_ps: int, count_from_ps: int) -> None:
        """Analyse a time slice (only its photons are fed: those before its first frame tag are its lead)."""

    def update(self, batch: PhotonBatch) -> None:
        nf = batch.frames_ps.shape[0]
        if nf:
            self.edges = _grow(self.edges, self.n_edges + nf)
            self.edges[self.n_edges: self.n_edges + nf] = batch.frames_ps
            self.n_edges += nf
            self.counts_a = _grow(self.counts_a, self.n_edges)
            self.counts_b = _grow(self.counts_b, self.n_edges)
        t = batch.t_ps
        if t.shape[0] and (self.n_edges == 0 or t[0] < self.edges[0]):   # photons before the first frame tag
            k = t.shape[0] if self.n_edges == 0 else int(np.searchsorted(t, self.edges[0], side="left"))
            nb = int(np.count_nonzero(batch.which[:k]))
            self.lead[0] += k - nb
            self.lead[1] += nb
        # photons and frames of a chunk are both time-ordered; a photon after a frame tag of the
        # same chunk must see that edge, which holds because all edges of the chunk are added first.
        count_in_intervals(batch.t_ps, batch.which, self.edges[: self.n_edges], self.counts_a, self.counts_b,
                           self.state)

    def stats(self) -> FrameStats:
        n = self.n_edges
        return FrameStats(self.edges[:n].copy(), self.counts_a[:n].copy(), self.counts_b[:n].copy(), *self.lead)

    def finalize(self) -> None:
        """Nothing is held back (the interval after the last frame tag stays open)."""
