"""Frame timing on the photon-stream clock, and overlap of frame exposures with time intervals."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from tagstream.errors import AnalysisError


class FrameTimingWarning(UserWarning):
    """Frames were placed on the photon clock without triggers (start + i * cycle time)."""


@dataclass(frozen=True)
class FrameTiming:
    """Each frame's exposure [start_ps, stop_ps) on the photon-stream clock; source says how it was found
    ("triggers" or "cycle_time")."""

    start_ps: np.ndarray
    stop_ps: np.ndarray
    source: str


def align_frames(n_frames: int, exposure_s: float, cycle_time_s: float, trigger_ps: np.ndarray | None = None,
                 stream_start_ps: int = 0, allow_mismatch: bool = False) -> FrameTiming:
    """Place n_frames EMCCD frames on the photon clock.

    trigger_ps: the frame-trigger channel's tags (one per frame start); each frame lasts exposure_s.
    A different number of triggers than frames raises AnalysisError (saying both numbers) unless
    allow_mismatch=True, which pairs the first min(n) of each in order and warns. Without triggers:
    start = stream_start_ps + i * cycle_time_s, with a FrameTimingWarning.
    """
    exp_ps = int(round(exposure_s * 1e12))
    if exp_ps <= 0:
        raise AnalysisError(f"frame exposure must be > 0 s, got {exposure_s}")
    if trigger_ps is None:
        warnings.warn("no frame triggers: frames placed at stream start + i x cycle time "
                      f"({cycle_time_s} s); check the camera and time tagger started together",
                      FrameTimingWarning, stacklevel=2)
        start = int(stream_start_ps) + np.round(np.arange(n_frames) * cycle_time_s * 1e12).astype(np.int64)
        return FrameTiming(start, start + exp_ps, "cycle_time")
    trig = np.asarray(trigger_ps, dtype=np.int64)
    if trig.size != n_frames:
        msg = f"{trig.size} frame triggers but {n_frames} spectra frames"
        if not allow_mismatch:
            raise AnalysisError(msg + ": each frame needs its trigger; check that the spectra file belongs to this "
                                "recording and the camera's trigger channel (--no-spectra analyses without them; "
                                "in Python allow_mismatch=True pairs them in order)")
        warnings.warn(msg + f": pairing the first {min(trig.size, n_frames)} in order", FrameTimingWarning,
                      stacklevel=2)
        trig = trig[:n_frames]
    if trig.size > 1 and np.any(np.diff(trig) < exp_ps):
        raise AnalysisError("frame triggers are closer together than the exposure time: "
                            "wrong trigger channel or exposure?")
    return FrameTiming(trig, trig + exp_ps, "triggers")


def merge_intervals(intervals_ps: np.ndarray) -> np.ndarray:
    """Sort and merge overlapping/touching [start, stop) intervals; returns (k, 2) int64."""
    iv = np.asarray(intervals_ps, dtype=np.int64).reshape(-1, 2)
    if iv.size == 0:
        return iv
    iv = iv[np.argsort(iv[:, 0], kind="stable")]
    out = [list(iv[0])]
    for a, b in iv[1:]:
        if a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return np.asarray(out, dtype=np.int64)


def overlap_ps(start_ps: np.ndarray, stop_ps: np.ndarray, intervals_ps: np.ndarray) -> np.ndarray:
    """Length (ps) of each [start, stop) window covered by the union of intervals_ps ((k, 2)).

    Uses the cumulative covered time C(t) (searchsorted on merged intervals): overlap = C(stop) - C(start).
    O((n + k) log k).
    """
    iv = merge_intervals(intervals_ps)
    s = np.asarray(start_ps, dtype=np.int64)
    e = np.asarray(stop_ps, dtype=np.int64)
    if iv.size == 0:
        return np.zeros(s.shape, dtype=np.int64)
    a, b = iv[:, 0], iv[:, 1]
    cum = np.concatenate([[0], np.cumsum(b - a)])

    def covered(t):
        i = np.searchsorted(a, t, side="right")  # intervals starting at or before t
        prev = np.clip(i - 1, 0, None)
        part = np.where(i > 0, np.clip(t - a[prev], 0, b[prev] - a[prev]), 0)
        return np.where(i > 0, cum[prev] + part, 0)

    return covered(e) - covered(s)


def overlap_weights(timing: FrameTiming, intervals_ps: np.ndarray) -> np.ndarray:
    """Fraction (0..1) of each frame's exposure that lies inside the intervals (e.g. a regime's bins)."""
    return overlap_ps(timing.start_ps, timing.stop_ps, intervals_ps) / (timing.stop_ps - timing.start_ps)


def intervals_from_bins(bin_start_ps: np.ndarray, bin_ps: int, selected: np.ndarray) -> np.ndarray:
    """[start, stop) intervals (merged) of the selected trace bins (boolean mask)."""
    st = np.asarray(bin_start_ps, dtype=np.int64)[np.asarray(selected, dtype=bool)]
    return merge_intervals(np.stack([st, st + int(bin_ps)], axis=1))
