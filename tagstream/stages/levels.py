"""Levels stage: streaming change points of the summed SPADs' photon times, per-level sufficient statistics.

Registered by the Pipeline only when AnalysisConfig.levels_confidence is set. Every photon batch (A and B
merged, time-ordered) goes to a ChangePointDetector (tagstream.levels.cpa, Watkins & Yang). The stage keeps,
for the photons the detector still holds, exclusive prefix sums of the referenced photons and of their
microtimes; when the detector accepts a change point c, the stage stores a level boundary
(photon index c, its time, referenced photons before c, microtime sum before c) and drops photons that no
later change point can reach. Per level this gives photon count, start/end time, referenced count and
microtime sum (mean lifetime); the per-level MLE lifetime uses the trace stage's per-photon decay-index
store, sliced by the boundaries' referenced counts (both stages see the same referenced photons in the
same order). Derivation (lifetimes, grouping into states, FLID, ON bins): tagstream.levels.result.

Why a stage and not a second pass over the file: one pass, also live; memory is the detector's tail
(about 2000 photons), 4 numbers per level boundary, nothing per photon. The result is identical for any
chunking (the detector is chunking-invariant, prefix sums are exact integers).
Snapshots before finalize() hold the change points accepted so far; the last level is provisional (it
runs to the last photon and may still be split).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tagstream.levels.cpa import ChangePointDetector
from tagstream.chunk import PhotonBatch


@dataclass(frozen=True)
class LevelsStats:
    """Level boundaries so far: per level its first photon index, start time (ps), referenced photons
    and microtime sum (ps) before it; totals to the last photon (last_ps). final: after finalize()."""

    confidence: float
    final: bool
    n_photons: int
    last_ps: int | None
    total_ref: int
    total_micro_ps: int
    first_photon: np.ndarray
    start_ps: np.ndarray
    ref_before: np.ndarray
    micro_before_ps: np.ndarray


class LevelsStage:
    def __init__(self, confidence: float) -> None:
        self.confidence = float(confidence)
        self.det = ChangePointDetector(self.confidence)
        self._base = 0                                # global index of _t[0]
        self._t = np.zeros(0, np.int64)               # photon times from _base on
        self._cref = np.zeros(0, np.int64)            # referenced photons before photon _base + i
        self._csum = np.zeros(0, np.int64)            # their microtime sum (ps)
        self._n = 0
        self._tot_ref = 0
        self._tot_sum = 0
        self._last_t: int | None = None
        self._n_done = 0                              # detector change points turned into boundaries
        self._b = [[], [], [], []]                    # boundaries: first photon, time, cref, csum
        self._final = False

    def update(self, batch: PhotonBatch) -> None:
        t = batch.t_ps
        if t.shape[0] == 0:
            return
        ref = batch.micro_ps >= 0
        mic = np.where(ref, batch.micro_ps, 0)
        cref = self._tot_ref + np.cumsum(ref, dtype=np.int64) - ref
        csum = self._tot_sum + np.cumsum(mic, dtype=np.int64) - mic
        if self._n == 0:
            self._boundary(0, int(t[0]), 0, 0)
        self._t = np.concatenate([self._t, t])
        self._cref = np.concatenate([self._cref, cref])
        self._csum = np.concatenate([self._csum, csum])
        self._n += t.shape[0]
        self._tot_ref = int(cref[-1] + ref[-1])
        self._tot_sum = int(csum[-1] + mic[-1])
        self._last_t = int(t[-1])
        self.det.feed(t)
        self._collect()

    def finalize(self) -> None:
        if not self._final and self._n:
            self.det.finalize()
            self._collect()
        self._final = True

    def _boundary(self, c: int, t: int, r: int, s: int) -> None:
        for lst, v in zip(self._b, (c, t, r, s)):
            lst.append(v)

    def _collect(self) -> None:
        kept = self.det.kept
        for c in kept[self._n_done:]:
            i = c - self._base
            self._boundary(c, int(self._t[i]), int(self._cref[i]), int(self._csum[i]))
        self._n_done = len(kept)
        drop = self.det.base - self._base
        if drop > 0:
            self._t, self._cref, self._csum = (a[drop:].copy() for a in (self._t, self._cref, self._csum))
            self._base += drop

    def stats(self) -> LevelsStats | None:
        """Boundaries and totals (copies); None before two photons."""
        if self._n < 2:
            return None
        b = [np.asarray(x, np.int64) for x in self._b]
        return LevelsStats(confidence=self.confidence, final=self._final, n_photons=self._n, last_ps=self._last_t,
                           total_ref=self._tot_ref, total_micro_ps=self._tot_sum, first_photon=b[0], start_ps=b[1],
                           ref_before=b[2], micro_before_ps=b[3])
