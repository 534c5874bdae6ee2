"""TagChunk: the one unit of data that flows from every source into the pipeline; PhotonBatch: its
photons, as the stages see them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TIMESTAMP_DTYPE = np.dtype(np.int64)
CHANNEL_DTYPE = np.dtype(np.uint16)


@dataclass(frozen=True, slots=True)
class TagChunk:
    """A run of time tags in non-decreasing time order.

    timestamps_ps: int64 array, picoseconds since the recording's time origin.
    channels:      uint16 array, 1-based channel numbers as stored in files (markers are 100+).
    first_record:  index of the first tag of this chunk in the whole stream (0-based), so that
                   errors and results can point back to a record.
    microtimes_ps: optional int64 array of photon delays after their laser pulse, for formats that
                   record them directly (PicoQuant T3, Photon-HDF5 nanotimes); None when the
                   microtime stage must reconstruct them from sync tags.
    """

    timestamps_ps: np.ndarray
    channels: np.ndarray
    first_record: int = 0
    microtimes_ps: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.timestamps_ps.shape != self.channels.shape or self.timestamps_ps.ndim != 1:
            raise ValueError(
                f"TagChunk arrays must be 1-D and of equal length, got {self.timestamps_ps.shape} "
                f"and {self.channels.shape}"
            )
        if self.microtimes_ps is not None and self.microtimes_ps.shape != self.timestamps_ps.shape:
            raise ValueError("TagChunk microtimes_ps must have the same length as timestamps_ps")

    def __len__(self) -> int:
        return int(self.timestamps_ps.shape[0])

    @classmethod
    def from_arrays(cls, timestamps_ps, channels, first_record: int = 0, microtimes_ps=None) -> "TagChunk":
        """Build a chunk, converting to the canonical contiguous dtypes."""
        return cls(
            np.ascontiguousarray(timestamps_ps, dtype=TIMESTAMP_DTYPE),
            np.ascontiguousarray(channels, dtype=CHANNEL_DTYPE),
            int(first_record),
            None if microtimes_ps is None else np.ascontiguousarray(microtimes_ps, dtype=TIMESTAMP_DTYPE),
        )

    @classmethod
    def concatenate(cls, chunks, with_microtimes: bool = False) -> "TagChunk":
        """One chunk holding `chunks` in order (numbered from the first one's first_record, or 0).
        with_microtimes: the result carries microtimes_ps (empty when there are no chunks)."""
        chunks = list(chunks)
        micro = None
        if with_microtimes:
            micro = np.concatenate([c.microtimes_ps for c in chunks]) if chunks else np.empty(0, TIMESTAMP_DTYPE)
        if not chunks:
            return cls(np.empty(0, TIMESTAMP_DTYPE), np.empty(0, CHANNEL_DTYPE), 0, micro)
        return cls(np.concatenate([c.timestamps_ps for c in chunks]), np.concatenate([c.channels for c in chunks]),
                   chunks[0].first_record, micro)

    def slice(self, start: int, stop: int) -> "TagChunk":
        """Sub-chunk of records [start, stop), keeping record numbering."""
        micro = None if self.microtimes_ps is None else self.microtimes_ps[start:stop]
        return TagChunk(self.timestamps_ps[start:stop], self.channels[start:stop], self.first_record + start, micro)


@dataclass(frozen=True, slots=True)
class PhotonBatch:
    """The photons of one TagChunk, as the microtime stage hands them to the other stages: times (ps),
    detector (0 = A, 1 = B), microtime (ps, -1 = none), frame-trigger times of the chunk; the chunk's
    first and last record times (any channel); the laser period as first measured (None until
    known) and the time from which it holds (stages that need the period start from there); the
    period estimate after this chunk (period_now_ps, what the Results would use if the run ended here)."""

    t_ps: np.ndarray
    which: np.ndarray
    micro_ps: np.ndarray
    frames_ps: np.ndarray
    last_time_ps: int | None
    first_time_ps: int | None = None
    period_ps: float | None = None
    period_from_ps: float = float("-inf")
    period_now_ps: float | None = None
