"""Pipeline: chunking invariance (hypothesis), slow references, re-selection, real quTAG file."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings, HealthCheck, strategies as st

from tagstream.chunk import TagChunk
from tagstream.errors import SetupError, TimeOrderError
from tagstream.pipeline import AnalysisConfig, Pipeline
from tagstream.setup import Setup
from tests.conftest import REAL, requires_real

P = 1_000_000


def synth(seed=0, duration_ps=400_000_000_000, divider=1, rate=0.05, bg_rate_hz=0.0, frame_ps=None):
    """Sync every `divider` pulses (P = 1 us), photons with 30-70 ns lifetimes switching every 20 ms,
    blinking ON/OFF every 50 ms, optional uniform background and frame triggers (channel 3)."""
    rng = np.random.default_rng(seed)
    pulses = np.arange(duration_ps // P) * P + 500
    seg = (pulses // 20_000_000_000)
    tau = np.array([30e3, 45e3, 55e3, 65e3])[seg % 4]
    bright = ((pulses // 50_000_000_000) % 3) != 2
    k = rng.random(pulses.size) < rate * np.where(bright, 1.0, 0.1)
    ph = pulses[k] + 8_000 + rng.exponential(tau[k]).astype(np.int64)
    nbg = rng.poisson(bg_rate_hz * duration_ps / 1e12)
    ph = np.concatenate([ph, rng.integers(0, duration_ps, nbg)])
    sync = pulses[::divider]
    parts_t = [sync, ph]
    parts_c = [np.full(sync.size, 5), rng.integers(1, 3, ph.size)]
    if frame_ps:
        fr = np.arange(1_000_000, duration_ps, frame_ps)
        parts_t.append(fr); parts_c.append(np.full(fr.size, 3))
    ts = np.concatenate(parts_t); ch = np.concatenate(parts_c)
    o = np.argsort(ts, kind="stable")
    return TagChunk.from_arrays(ts[o], ch[o])


def run(chunk, setup, cfg, cuts=None):
    p = Pipeline(setup, cfg)
    if cuts is None:
        p.feed(chunk)
    else:
        edges = [0, *sorted(cuts), len(chunk)]
        for a, b in zip(edges[:-1], edges[1:]):
            p.feed(chunk.slice(a, b))
    return p.finalize()


def assert_same(r1, r2):
    assert r1.to_json_dict() == r2.to_json_dict()
    for name in ("counts_a", "counts_b", "n_referenced", "on", "regime"):
        np.testing.assert_array_equal(getattr(r1.trace, name), getattr(r2.trace, name))
    np.testing.assert_array_equal(r1.trace.lifetime_ns, r2.trace.lifetime_ns)
    np.testing.assert_array_equal(r1.decay.counts, r2.decay.counts)
    np.testing.assert_array_equal(r1.g2.counts, r2.g2.counts)
    np.testing.assert_array_equal(r1.flid.hist, r2.flid.hist)
    for a, b in zip(r1.regimes, r2.regimes):
        np.testing.assert_array_equal(a.counts, b.counts)
        np.testing.assert_array_equal(a.intervals_ps, b.intervals_ps)
    if r1.frames is not None:
        np.testing.assert_array_equal(r1.frames.counts_a, r2.frames.counts_a)


SMALL = synth(seed=1, duration_ps=30_000_000_000, divider=10, rate=0.2, bg_rate_hz=2000, frame_ps=3_000_000_000)
SMALL_SETUP = Setup(frame=3, sync_divider=10, delays_ps={2: 1500, 5: -200})
SMALL_CFG = AnalysisConfig(trace_bin_ms=1, on_threshold=None, regimes_ns="30-45,45-60", g2_window_ps=3_500_000)
SMALL_REF = run(SMALL, SMALL_SETUP, SMALL_CFG)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_results_do_not_depend_on_chunking(data):
    n = len(SMALL)
    mode = data.draw(st.sampled_from(["random", "tiny"]))
    if mode == "tiny":  # chunks of 1..3 records over a stretch, normal elsewhere
        start = data.draw(st.integers(0, n - 200))
        cuts = list(range(start, start + 200, data.draw(st.integers(1, 3))))
    else:
        cuts = data.draw(st.lists(st.integers(1, n - 1), max_size=40, unique=True))
    assert_same(run(SMALL, SMALL_SETUP, SMALL_CFG, cuts), SMALL_REF)


def test_chunks_of_one_record():
    c = synth(seed=2, duration_ps=200_000_000, divider=3, rate=0.3, bg_rate_hz=1e5)
    cfg = AnalysisConfig(trace_bin_ms=0.01, on_threshold=3, regimes_ns="0-40,40-80")
    assert_same(run(c, Setup(sync_divider=3), cfg, list(range(1, len(c)))), run(c, Setup(sync_divider=3), cfg))


def reference_analysis(chunk, bin_ps, t0, period, thr, regimes, decay_bin):
    """Slow obvious reference: per-photon pulse from the true pulse grid (sync every pulse)."""
    ts, ch = chunk.timestamps_ps, chunk.channels
    sync = ts[ch == 5]
    ph = (ch == 1) | (ch == 2)
    t = ts[ph]
    k = np.searchsorted(sync, t, side="right") - 1
    ok = k >= 0
    micro = np.where(ok, t - sync[np.maximum(k, 0)], -1)
    origin = ts[0]
    b = (t - origin) // bin_ps
    nb = (ts[-1] - origin) // bin_ps + 1
    counts = np.bincount(b, minlength=nb)
    out = []
    for i in range(nb):
        m = (b == i) & ok
        out.append(micro[m].mean() - t0 if m.any() else np.nan)
    lt = np.array(out) / 1e3
    on = counts > thr
    on[-1] = False
    regs = []
    for lo, hi in regimes:
        sel = on & (lt >= lo) & (lt < hi)
        m = sel[b] & ok
        regs.append((int(sel.sum()), np.bincount(np.minimum(micro[m] // decay_bin, 2003), minlength=2004)))
    return counts, lt, on, regs


def test_trace_lifetime_regimes_equal_reference():
    c = synth(seed=3, duration_ps=2_000_000_000_000, rate=0.03)
    cfg = AnalysisConfig(trace_bin_ms=10, on_threshold=200, regimes_ns="30-40,40-50,50-60,60-70",
                         t0_ps=8_000, subtract_background=False)
    r = run(c, Setup(), cfg)
    counts, lt, on, regs = reference_analysis(c, 10_000_000_000, 8_000, P, 200, cfg.regimes_ns, 500)
    np.testing.assert_array_equal(r.trace.counts, counts)
    np.testing.assert_allclose(r.trace.lifetime_ns, lt, rtol=1e-12)
    np.testing.assert_array_equal(r.trace.on, on)
    assert r.decay.bin_ps == 500
    for reg, (nbins, dec) in zip(r.regimes, regs):
        assert reg.n_bins == nbins
        np.testing.assert_array_equal(reg.counts, dec[: reg.counts.size])
        assert reg.n_photons == dec.sum()
    # the generated lifetimes: 30, 45, 55, 65 ns blocks of 20 ms
    assert np.nanmedian(r.trace.lifetime_ns[on]) == pytest.approx(50, abs=8)
    assert r.regimes[0].n_bins > 0 and r.regimes[3].n_bins > 0


def test_reselect_equals_fresh_computation():
    c = synth(seed=4, duration_ps=500_000_000_000, rate=0.05, bg_rate_hz=5000)
    r = run(c, Setup(), AnalysisConfig(trace_bin_ms=5))
    for kw in [dict(on_threshold=150, regimes_ns=((20, 35), (35, 50))), dict(t0_ps=7000), dict(subtract_background=False)]:
        fresh = run(c, Setup(), AnalysisConfig(trace_bin_ms=5, **kw))
        assert_same(r.reselect(**kw), fresh)


def test_background_subtraction_removes_bias():
    """5 % uniform background at 1 us period biases the mean by ~22 ns; subtraction removes it."""
    c = synth(seed=5, duration_ps=2_000_000_000_000, rate=0.05, bg_rate_hz=2_500)  # ~5 % of ~48 kc/s
    c0 = synth(seed=5, duration_ps=2_000_000_000_000, rate=0.05)  # the same signal photons, no background
    r = run(c, Setup(), AnalysisConfig(trace_bin_ms=100, t0_ps=8_000))
    r0 = run(c0, Setup(), AnalysisConfig(trace_bin_ms=100, t0_ps=8_000, subtract_background=False))
    raw = r.reselect(subtract_background=False)
    assert 0.03 < r.decay.background_fraction < 0.08
    on = r.trace.on
    truth = np.mean(r0.trace.lifetime_ns[on])
    assert np.mean(raw.trace.lifetime_ns[on]) - truth > 15
    assert np.mean(r.trace.lifetime_ns[on]) == pytest.approx(truth, abs=1.5)


def test_t0_estimated_from_rise():
    c = synth(seed=6, duration_ps=500_000_000_000, rate=0.05)
    r = run(c, Setup(), AnalysisConfig())
    assert r.decay.t0_ps == pytest.approx(8_000, abs=500)


def test_g2_on_simple_antibunched_source_and_normalisation():
    c = synth(seed=7, duration_ps=1_000_000_000_000, rate=0.05, bg_rate_hz=0)
    r = run(c, Setup(), AnalysisConfig(g2_bin_ps=10_000))
    g = r.g2
    assert g.g2_zero == 0.0  # one photon per pulse at most
    assert g.peak_areas.size == 7
    # brute force pair count
    ts, ch = c.timestamps_ps, c.channels
    ta, tb = ts[ch == 1], ts[ch == 2]
    j0 = np.searchsorted(tb, ta - g.window_ps); j1 = np.searchsorted(tb, ta + g.window_ps)
    assert g.counts.sum() == (j1 - j0).sum() - np.count_nonzero(tb[np.minimum(j1, tb.size - 1)] == ta + g.window_ps) * 0
    # standard normalisation of the side peaks (period-integrated) is ~ 1 per pulse for uncorrelated pulses
    side = g.normalized.reshape(-1) * g.bin_ps
    assert 0.5 < np.nansum(side[: g.counts.size // 7]) / P < 1.5


def test_errors_time_order_and_filtered_without_period():
    p = Pipeline(Setup(), AnalysisConfig())
    p.feed(TagChunk.from_arrays([0, 10], [5, 1], first_record=0))
    with pytest.raises(TimeOrderError) as e:
        p.feed(TagChunk.from_arrays([5, 20], [1, 1], first_record=2))
    assert e.value.record == 2
    with pytest.raises(SetupError):
        Pipeline(Setup(sync_filtered=True), AnalysisConfig())


def test_snapshot_from_another_thread_while_feeding():
    c = synth(seed=8, duration_ps=200_000_000_000, rate=0.05)
    p = Pipeline(Setup(), AnalysisConfig(trace_bin_ms=10, intensity_correlation=True))
    snaps, stop = [], threading.Event()

    def gui():
        while not stop.is_set():
            snaps.append(p.snapshot())

    th = threading.Thread(target=gui)
    th.start()
    for i in range(0, len(c), 20_000):
        p.feed(c.slice(i, min(i + 20_000, len(c))))
    stop.set(); th.join()
    final = p.finalize()
    assert snaps and all(s.trace.counts.sum() <= final.trace.counts.sum() for s in snaps)
    assert final.trace.counts.sum() == np.count_nonzero((c.channels == 1) | (c.channels == 2))


# --- the real quTAG file -------------------------------------------------------------------------
def _real_qutag():
    d = np.fromfile(REAL / "eta_qutag_80MHz_hbt_syncfiltered.qutag", dtype=[("t", "<i8"), ("c", "<u2")], offset=40)
    o = np.argsort(d["t"], kind="stable")
    return TagChunk.from_arrays(d["t"][o], d["c"][o])


@requires_real
def test_real_qutag_g2_equals_brute_force_and_lifetime_works():
    c = _real_qutag()
    setup = Setup(sync=5, spad_a=1, spad_b=2, sync_filtered=True)
    cfg = AnalysisConfig(laser_period_ps=12_500, g2_bin_ps=100, trace_bin_ms=100)
    r = run(c, setup, cfg, cuts=[1000, 50_000, 200_000])
    g = r.g2
    ts, ch = c.timestamps_ps, c.channels
    ta, tb = ts[ch == 1], ts[ch == 2]
    W = g.window_ps
    tau = np.concatenate([tb[np.searchsorted(tb, a - W):np.searchsorted(tb, a + W)] - a for a in ta])
    ref = np.bincount((tau[(tau >= -W) & (tau < W)] + W) // g.bin_ps, minlength=g.counts.size)
    np.testing.assert_array_equal(g.counts, ref)
    # the period from the sync intervals: the file's syncs sit on a 12495.60 ps grid (residual ~9 ps rms)
    assert r.laser_period_ps == pytest.approx(12495.60, abs=0.05)
    assert r.unreferenced_photons + r.decay.counts.sum() == ta.size + tb.size
    assert r.unreferenced_photons < 0.01 * (ta.size + tb.size)
    # reference microtimes: delay after the previous stored sync modulo the fitted grid period
    sync = ts[ch == 5]
    tp = ts[(ch == 1) | (ch == 2)]
    k = np.searchsorted(sync, tp, side="right") - 1
    ok = k >= 0
    d = tp[ok] - sync[k[ok]]
    ok2 = d < 1e5 * 12495.6
    ref_micro = np.mod(d[ok2], 12495.6)
    h_ref = np.bincount((ref_micro // r.decay.bin_ps).astype(int), minlength=r.decay.counts.size)
    n10 = r.decay.counts.size // 10 * 10  # compare at 100 ps: a few-ps difference moves photons across 10 ps bins
    diff = (r.decay.counts[:n10] - h_ref[:n10]).reshape(-1, 10).sum(axis=1)
    assert np.abs(diff).sum() < 0.05 * ok2.sum()  # extrapolations over ~1e4 periods early on differ by a bin
    centre = lambda h: np.sum(h[800:1100] * np.arange(800, 1100)) / h[800:1100].sum()  # noqa: E731 (10 ps bins)
    assert abs(centre(r.decay.counts) - centre(h_ref)) < 0.5  # peak centre within 5 ps
