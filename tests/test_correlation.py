"""Intensity cross-correlation (tagstream.kernels.correlation, tagstream.stages.correlation): exact pair counts
vs all-pairs enumeration, the normalised correlation vs a brute-force computation on binned counts (sparse
pair enumeration at 100 ps / 10 ns bins for short lags, FFT of dense 10 us bins for long ones) at lags
1 us - 10 s on a simulated blinking recording, -> 1 within calibrated errors for uncorrelated light, and
identical results for any chunking (hypothesis), snapshots included."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tagstream.kernels.correlation import count_below, log_lag_edges_ps
from tagstream.simulate import Simulation, SimulationParams
from tagstream.stages.correlation import CorrelationStage, derive_correlation
from tagstream.stages.microtime import PhotonBatch


def _batch(t, w):
    t = np.asarray(t, np.int64)
    return PhotonBatch(t, np.asarray(w, np.uint8), np.full(t.size, -1, np.int64), np.zeros(0, np.int64),
                       int(t[-1]) if t.size else None)


def _run(t, w, cuts=(), **kw):
    stage = CorrelationStage(**kw)
    b = [0, *sorted(cuts), t.size]
    for i0, i1 in zip(b[:-1], b[1:]):
        stage.update(_batch(t[i0:i1], w[i0:i1]))
    stage.finalize()
    return stage


@pytest.fixture(scope="module")
def blinking_photons():
    """20 s of the simulated QD (blinking ON/grey/OFF, 1 MHz pulses): photons of SPAD A (0) and B (1)."""
    p = SimulationParams().replace(spectrometer=False, dwell_min_s=0.005, dwell_max_s=5.0)
    sim = Simulation(p, seed=3)
    ts, ch = [], []
    for c in sim.chunks(chunk_s=2.0, duration_s=20.0):
        ts.append(c.timestamps_ps)
        ch.append(c.channels)
    ts, ch = np.concatenate(ts), np.concatenate(ch)
    m = (ch == p.ch_spad_a) | (ch == p.ch_spad_b)
    return ts[m], (ch[m] == p.ch_spad_b).astype(np.uint8)


def test_kernel_counts_equal_all_pairs():
    rng = np.random.default_rng(1)
    a = np.sort(rng.integers(0, 10**10, 1500))
    b = np.sort(rng.integers(0, 10**10, 1700))
    a[10:14] = a[10]  # ties
    b[100:130] = b[100]  # bursts: index cells holding more than the two targets compared without a branch
    b[500:540] = b[500] + np.arange(40) * 97
    e = log_lag_edges_ps(1e-6, 5e-3, 5)
    d = (b[None, :] - a[:, None]).ravel()
    ref = np.histogram(d[(d >= e[0]) & (d < e[-1])], e)[0]
    for n_enum in range(e.size):       # short lags by enumeration, the rest by rank look-ups: all exact
        S = np.zeros(e.size, np.int64)
        count_below(a[:700], b, 0, e, n_enum, S)
        j = int(np.searchsorted(b, a[700] + e[0]))   # targets handed from a later piece with their global base
        count_below(a[700:], b[j:], j, e, n_enum, S)
        assert np.array_equal(np.diff(S), ref), n_enum


def test_lag_edges_fixed_per_decade():
    e = log_lag_edges_ps(1e-6, 10.0, 8)
    assert e[0] == 10**6 and e[-1] >= 10**13 and e.size == 7 * 8 + 1
    assert np.allclose(np.diff(np.log10(e)), 1 / 8, atol=1e-6)


def _sparse_brute(ta, tb, t0, n_bins, delta, lo, hi, edges):
    """Binned counts at `delta` ps: pairs (A bin i, B bin j) with lag m = j - i, m * delta in [lo, hi), summed
    per log bin, and the binned Laurence expectation sum_m (#A bins < N - m)(#B bins >= m) / (N - m)."""
    ia = (ta - t0) // delta
    ib = (tb - t0) // delta
    m_lo, m_hi = -(-lo // delta), -(-hi // delta)
    j0 = np.searchsorted(ib, ia + m_lo)
    j1 = np.searchsorted(ib, ia + m_hi)
    cnt = j1 - j0
    rows = np.repeat(np.arange(ia.size), cnt)
    cols = np.repeat(j0 - np.cumsum(np.r_[0, cnt[:-1]]), cnt) + np.arange(cnt.sum())
    lag = (ib[cols] - ia[rows]) * delta
    pairs = np.histogram(lag, edges)[0]
    m = np.arange(m_lo, m_hi, dtype=np.int64)
    e_m = np.searchsorted(ia, n_bins - m) * (ib.size - np.searchsorted(ib, m)) / (n_bins - m)
    exp = np.histogram(m * delta, edges, weights=e_m)[0]
    return pairs, exp


def _dense_brute(ta, tb, t0, n_bins, delta, lo, hi, edges):
    """FFT cross-correlation of dense binned counts (positive lags m = lo/delta .. hi/delta)."""
    a = np.bincount((ta - t0) // delta, minlength=n_bins).astype(np.float64)
    b = np.bincount((tb - t0) // delta, minlength=n_bins).astype(np.float64)
    n = 1 << int(np.ceil(np.log2(2 * n_bins)))
    c = np.fft.irfft(np.conj(np.fft.rfft(a, n)) * np.fft.rfft(b, n), n)[:n_bins]  # c[m] = sum_i a_i b_{i+m}
    m = np.arange(-(-lo // delta), -(-hi // delta), dtype=np.int64)
    m = m[m < n_bins]
    ca, cb = np.cumsum(a), np.cumsum(b)
    e_m = ca[n_bins - m - 1] * (cb[-1] - np.r_[0, cb][m]) / (n_bins - m)
    pairs = np.histogram(m * delta, edges, weights=np.rint(c[m]))[0]
    exp = np.histogram(m * delta, edges, weights=e_m)[0]
    return pairs, exp


def _brute_g2(t, w, edges):
    t0, t1 = int(t[0]), int(t[-1])
    ta, tb = t[w == 0], t[w == 1]
    pairs = np.zeros(edges.size - 1)
    exp = np.zeros(edges.size - 1)
    for delta, lo, hi, fn in ((100, 10**6, 10**8, _sparse_brute), (10_000, 10**8, 10**10, _sparse_brute),
                              (10**7, 10**10, int(edges[-1]), _dense_brute)):
        n_bins = (t1 - t0) // delta + 1
        for x, y in ((ta, tb), (tb, ta)):
            p, e = fn(x, y, t0, n_bins, delta, lo, hi, edges)
            pairs += p
            exp += e
    return pairs, exp


def test_equals_brute_force_on_binned_counts(blinking_photons):
    t, w = blinking_photons
    stage = _run(t, w, cuts=[t.size // 3, 2 * t.size // 3])
    res = derive_correlation(stage.stats())
    pairs, exp = _brute_g2(t, w, stage.edges_ps)
    ok = res.lag_s < 10.0
    g_brute = pairs / exp
    z = (res.g2 - g_brute)[ok] / res.g2_err[ok]
    assert np.all(np.abs(z) < 2.0), z
    assert np.median(np.abs(z)) < 0.3
    assert res.lag_edges_s[0] <= 1e-6 and res.lag_edges_s[-1] >= 10.0
    # blinking: bunching at ms - s, decaying towards 1 at the longest lags
    mid = (res.lag_s > 1e-4) & (res.lag_s < 1e-2)
    assert np.all(res.g2[mid] > 1.05)  # ON/grey/OFF intensity contrast
    assert res.g2[-3:].mean() < res.g2[mid].mean()


def test_uncorrelated_light_gives_one_within_calibrated_errors():
    rng = np.random.default_rng(5)
    T = 40 * 10**12
    ta = np.sort(rng.integers(0, T, 200_000))
    tb = np.sort(rng.integers(0, T, 160_000))
    t = np.concatenate([ta, tb])
    w = np.concatenate([np.zeros(ta.size, np.uint8), np.ones(tb.size, np.uint8)])
    o = np.argsort(t, kind="stable")
    res = derive_correlation(_run(t[o], w[o], cuts=[50_000, 250_000]).stats())
    z = (res.g2 - 1.0) / res.g2_err
    assert np.all(np.abs(z) < 4)
    chi2 = float(np.mean(z ** 2))
    assert 0.5 < chi2 < 1.6, chi2


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 40_000), min_size=0, max_size=6))
def test_identical_for_any_chunking(cuts):
    rng = np.random.default_rng(2)
    t = np.sort(rng.integers(0, 30 * 10**12, 40_000))
    t[100:110] = t[100]  # ties
    w = rng.integers(0, 2, t.size).astype(np.uint8)
    ref = _run(t, w, lag_max_s=3.0).stats()
    got = _run(t, w, cuts=cuts, lag_max_s=3.0).stats()
    for k in ref:
        assert np.array_equal(np.asarray(ref[k]), np.asarray(got[k])), k


def test_snapshot_equals_the_finalized_prefix():
    rng = np.random.default_rng(4)
    t = np.sort(rng.integers(0, 30 * 10**12, 30_000))
    w = rng.integers(0, 2, t.size).astype(np.uint8)
    live = CorrelationStage(lag_max_s=3.0)
    live.update(_batch(t[:9000], w[:9000]))
    live.update(_batch(t[9000:20000], w[9000:20000]))
    snap = live.stats()
    ref = _run(t[:20000], w[:20000], lag_max_s=3.0).stats()
    for k in ref:
        assert np.array_equal(np.asarray(ref[k]), np.asarray(snap[k])), k
    live.update(_batch(t[20000:], w[20000:]))
    live.finalize()
    full = _run(t, w, lag_max_s=3.0).stats()
    assert np.array_equal(live.stats()["pairs_ab"], full["pairs_ab"])


def test_memory_is_bounded_by_the_largest_lag():
    rng = np.random.default_rng(6)
    t = np.sort(rng.integers(0, 60 * 10**12, 60_000))
    w = rng.integers(0, 2, t.size).astype(np.uint8)
    stage = CorrelationStage(lag_max_s=1.0)
    for i in range(0, t.size, 5000):
        stage.update(_batch(t[i:i + 5000], w[i:i + 5000]))
    held = sum(b.size for b in stage._buf)
    assert held < 3 * 1000 * 1.5 + 5000  # ~1 s of photons (1 kcounts/s) plus one batch
