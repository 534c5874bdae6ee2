"""Recordings whose instrument records only part of the laser period (a Becker & Hickl TAC range shorter
than the period): the background lies over that window only, so its photon count and mean delay, and
with them the background fraction and the background-subtracted average lifetimes, follow the window.
Checked against the generated signal photons' own mean delay (the truth the estimator aims at)."""

from __future__ import annotations

import numpy as np
import pytest

from tagstream.chunk import TagChunk
from tagstream.estimators import live_window, longest_empty_run
from tagstream.pipeline import AnalysisConfig, Pipeline
from tagstream.plausibility import result_warnings
from tagstream.setup import Setup

P_PS = 1_000_000
WINDOW_PS = (200_000, 700_000)     # the TAC range: photons outside it are not recorded
RISE_PS, TAU_PS = 250_000, 40_000


def tac_recording(seed: int, duration_ps: int = 2_000_000_000_000, bg_fraction: float = 0.25):
    """Syncs every 1 us, photons (tau 40 ns from 250 ns) plus a background uniform in the TAC window;
    returns the chunk and, per 100 ms trace bin, the signal photons' mean delay from the rise (ns)."""
    rng = np.random.default_rng(seed)
    pulses = np.arange(duration_ps // P_PS, dtype=np.int64) * P_PS
    sig = pulses[rng.random(pulses.size) < 0.05] + RISE_PS
    delays = rng.exponential(TAU_PS, sig.size)
    sig = sig + delays.astype(np.int64)
    keep = (sig % P_PS) < WINDOW_PS[1]
    sig, delays = sig[keep], delays[keep]
    n_bg = int(round(sig.size * bg_fraction / (1 - bg_fraction)))
    bg = rng.integers(0, pulses.size, n_bg) * P_PS + rng.integers(*WINDOW_PS, n_bg)
    trace_bin = (sig // 100_000_000_000).astype(np.int64)
    truth_ns = np.bincount(trace_bin, weights=delays) / np.bincount(trace_bin) / 1e3
    t = np.concatenate([pulses, sig, bg])
    c = np.concatenate([np.full(pulses.size, 5), rng.integers(1, 3, sig.size + n_bg)])
    o = np.argsort(t, kind="stable")
    return TagChunk.from_arrays(t[o], c[o]), truth_ns


def analyse(chunk, **kw):
    p = Pipeline(Setup(), AnalysisConfig(trace_bin_ms=100, on_threshold=100, **kw))
    p.feed(chunk)
    return p.finalize()


def test_longest_empty_run_is_circular():
    h = np.ones(100, int)
    h[:10] = 0
    h[95:] = 0
    assert longest_empty_run(h) == (95, 15)
    assert longest_empty_run(np.ones(5, int)) == (0, 0)
    assert longest_empty_run(np.zeros(5, int)) == (0, 5)


def test_live_window_needs_a_background_that_would_have_filled_the_gap():
    rng = np.random.default_rng(1)
    h = np.zeros(1000, np.int64)
    h[200:700] = rng.poisson(3.0, 500)          # background 3 per bin in the window only
    h[250:400] += (400 * np.exp(-np.arange(150) / 20.0)).astype(np.int64)
    got = live_window(h, 1000.0, 250_000.0)
    assert got is not None and got[:2] == (200, 500) and got[2] == pytest.approx(3.0, rel=0.15)
    clean = np.zeros(1000, np.int64)            # a clean decay (no background): its empty tail stays live
    clean[250:500] = (400 * np.exp(-np.arange(250) / 20.0)).astype(np.int64)
    assert live_window(clean, 1000.0, 250_000.0) is None
    notch = rng.poisson(3.0, 1000)               # a short empty notch (< 5 % of the period) is not a window
    notch[500:520] = 0
    assert live_window(notch, 1000.0, 250_000.0) is None


@pytest.mark.parametrize("t0", [RISE_PS, None])
def test_average_lifetimes_and_background_follow_the_tac_window(t0):
    chunk, truth_ns = tac_recording(seed=3)
    r = analyse(chunk, t0_ps=t0)
    d = r.decay
    assert d.live_window_ps is not None
    a, w = d.live_window_ps
    assert abs(a - WINDOW_PS[0]) <= d.bin_ps and abs(w - (WINDOW_PS[1] - WINDOW_PS[0])) <= 2 * d.bin_ps
    assert d.background_fraction == pytest.approx(0.25, abs=0.02)
    lt = r.trace.lifetime_ns
    n = min(lt.size, truth_ns.size)
    ok = np.isfinite(lt[:n])
    assert ok.sum() >= 15
    shift_ns = 0.0 if t0 is not None else (RISE_PS - d.t0_ps) / 1e3   # the estimated t0 is not the rise exactly
    bias_ns = float(np.mean(lt[:n][ok] - truth_ns[:n][ok] - shift_ns))
    assert abs(bias_ns) < 1.0, bias_ns
    assert any("photons arrive only" in m and "TAC" in m for m in result_warnings(r))


def test_a_recording_over_the_whole_period_is_unchanged():
    """No empty stretch (a background over the whole period): no window, the P/2 background as before."""
    rng = np.random.default_rng(4)
    chunk, _ = tac_recording(seed=4, bg_fraction=0.0)
    bg = np.sort(rng.integers(0, 2_000_000_000_000, 40_000))
    t = np.concatenate([chunk.timestamps_ps, bg])
    c = np.concatenate([chunk.channels, np.ones(bg.size, chunk.channels.dtype)])
    o = np.argsort(t, kind="stable")
    r = analyse(TagChunk.from_arrays(t[o], c[o]), t0_ps=RISE_PS)
    assert r.decay.live_window_ps is None
    assert not any("photons arrive only" in m for m in result_warnings(r))
