"""Engine kernels against slow, obvious references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tagstream.kernels import microtime as MK
from tagstream.kernels.g2 import g2_pairs
from tagstream.kernels.trace import count_in_intervals, nice_bin_ps


def brute_g2(t, which, lo, hi, bin_ps):
    """All opposite-detector pairs, tau = tB - tA, histogrammed over [lo, hi)."""
    ta, tb = t[which == 0], t[which == 1]
    tau = (tb[None, :] - ta[:, None]).ravel()
    tau = tau[(tau >= lo) & (tau < hi)]
    return np.bincount((tau - lo) // bin_ps, minlength=(hi - lo) // bin_ps)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_g2_pairs_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, 200_000, 600)).astype(np.int64)  # many ties and close pairs
    w = rng.integers(0, 2, t.size).astype(np.uint8)
    for lo, hi, b in [(-5000, 5000, 100), (-3000, 7000, 250), (-10, 10, 1)]:
        h = np.zeros((hi - lo) // b, np.int64)
        g2_pairs(t, w, 0, np.iinfo(np.int64).min, lo, hi, b, h)
        np.testing.assert_array_equal(h, brute_g2(t, w, lo, hi, b))


def _run_micro(ts, ch, divider=1, nominal=None, shift=0, max_periods=None):
    si, sf = MK.new_state(nominal)
    counts = np.zeros(1 << 16, np.int64)
    n = len(ts)
    out = [np.empty(n, np.int64), np.empty(n, np.uint8), np.empty(n, np.int64), np.empty(n, np.int64)]
    mp = divider + 0.5 if max_periods is None else max_periods
    nph, nfr, bad = MK.reference_photons(ts.astype(np.int64), ch.astype(np.uint16), 5, 1, 2, 3, divider, shift,
                                         shift, mp, 1e6, si, sf, counts, *out)
    return out[0][:nph], out[2][:nph], si, sf, bad


@pytest.mark.parametrize("divider", [1, 7, 1000])
def test_microtime_divided_sync_equals_delay_after_true_pulse(divider):
    rng = np.random.default_rng(divider)
    P = 1_000_000
    pulses = np.arange(20 * divider + 50) * P + 777
    sync = pulses[::divider]
    ph = np.sort(rng.integers(0, pulses[-1], 3000))
    ts = np.concatenate([sync, ph])
    ch = np.concatenate([np.full(sync.size, 5), rng.integers(1, 3, ph.size)])
    o = np.argsort(ts, kind="stable")
    t_ph, micro, si, sf, bad = _run_micro(ts[o], ch[o], divider)
    assert bad == -1
    # reference: the last true pulse at or before the photon
    ref = t_ph - pulses[np.searchsorted(pulses, t_ph, side="right") - 1]
    before_first = t_ph < sync[0]
    before_period = (t_ph >= sync[0]) & (t_ph < sync[1])
    after_last = t_ph >= sync[-1] + (divider + 0.5) * P
    ok = ~(before_first | before_period | after_last)
    np.testing.assert_array_equal(micro[ok], ref[ok])
    assert np.all(micro[~ok] == -1)
    assert si[MK.SI_UNREF_NOSYNC] == before_first.sum()
    assert si[MK.SI_UNREF_NOPERIOD] == before_period.sum()
    assert si[MK.SI_UNREF_GAP] == after_last.sum()
    assert sf[MK.SF_PERIOD] == pytest.approx(P)


def test_microtime_offset_wraps_into_period():
    P = 100_000
    sync = np.arange(100) * P
    ph = sync[1:-1] + 1_000
    ts = np.concatenate([sync, ph]); ch = np.concatenate([np.full(sync.size, 5), np.ones(ph.size, int)])
    o = np.argsort(ts, kind="stable")
    _, micro, *_ = _run_micro(ts[o], ch[o], 1, shift=-3_000)  # offset 3 ns: delay 1 ns -> 98 ns
    assert np.all(micro[1:] == 98_000)


def test_microtime_filtered_sync_with_jitter_and_off_nominal_period():
    """Sync-filtered: only syncs right before photons are kept; the true period differs from the nominal."""
    rng = np.random.default_rng(5)
    P_true = 12498.29
    n_pulses = 2_000_000
    k = np.sort(rng.choice(n_pulses, 20000, replace=False))
    pulse_t = np.round(k * P_true).astype(np.int64) + 10_000
    micro_true = rng.integers(0, 12000, k.size)
    # photon emitted some pulses after the stored sync (0..4 pulses later)
    lag = rng.integers(0, 5, k.size)
    ph_t = pulse_t + np.round(lag * P_true).astype(np.int64) + micro_true
    sync_t = pulse_t + rng.integers(-5, 6, k.size)  # 5 ps jitter
    ts = np.concatenate([sync_t, ph_t]); ch = np.concatenate([np.full(k.size, 5), np.ones(k.size, int)])
    o = np.argsort(ts, kind="stable")
    t_ph, micro, si, sf, bad = _run_micro(ts[o], ch[o], 1, nominal=12500.0, max_periods=1e5)
    ref = (t_ph - 10_000 - np.round(np.floor((t_ph - 10_000) / P_true) * P_true)).astype(np.int64)
    ok = micro >= 0
    assert ok.mean() > 0.9
    err = micro[ok] - ref[ok]
    err = (err + 6000) % 12498 - 6000  # compare modulo the period
    assert np.abs(err[len(err) // 10:]).max() <= 20  # after the period estimate settles
    assert sf[MK.SF_PERIOD] == pytest.approx(P_true, abs=0.01)


def test_microtime_time_order_error_index():
    ts = np.array([0, 10, 5, 20]); ch = np.array([5, 1, 1, 1])
    *_, bad = _run_micro(ts, ch)
    assert bad == 2


def test_count_in_intervals_chunked():
    rng = np.random.default_rng(3)
    t = np.sort(rng.integers(0, 1_000_000, 5000)).astype(np.int64)
    w = rng.integers(0, 2, t.size).astype(np.uint8)
    edges = np.arange(100_000, 1_000_000, 50_000).astype(np.int64)
    ca, cb, st = np.zeros(edges.size, np.int64), np.zeros(edges.size, np.int64), np.zeros(1, np.int64)
    for part in np.array_split(np.arange(t.size), 7):
        count_in_intervals(t[part], w[part], edges, ca, cb, st)
    k = np.searchsorted(edges, t, side="right") - 1
    m = k >= 0
    np.testing.assert_array_equal(ca, np.bincount(k[m & (w == 0)], minlength=edges.size))
    np.testing.assert_array_equal(cb, np.bincount(k[m & (w == 1)], minlength=edges.size))


def test_nice_bin():
    assert nice_bin_ps(1e6 / 2048) == 500
    assert nice_bin_ps(12500 / 2048) == 10
    assert nice_bin_ps(1) == 1


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), bin_ps=st.sampled_from([1, 3, 7, 100, 999, 1000, 4093, 65_537]),
       half_bins=st.integers(1, 40), delta=st.integers(-3, 3), offset=st.integers(0, 2**52))
def test_g2_bin_index_by_multiplication_equals_brute_force(seed, bin_ps, half_bins, delta, offset):
    """Odd bin widths, asymmetric windows, times near 2**52 ps: the multiply-and-correct bin index
    gives exactly the brute-force (integer division) histogram."""
    rng = np.random.default_rng(seed)
    lo, hi = (-half_bins + delta) * bin_ps, (half_bins + delta) * bin_ps
    span = 3 * half_bins * bin_ps
    t = (np.sort(rng.integers(0, 40 * span, 300)) + offset).astype(np.int64)
    w = rng.integers(0, 2, t.size).astype(np.uint8)
    h = np.zeros((hi - lo) // bin_ps, np.int64)
    added = g2_pairs(t, w, 0, np.iinfo(np.int64).min, lo, hi, bin_ps, h)
    ref = brute_g2(t - offset, w, lo, hi, bin_ps)
    np.testing.assert_array_equal(h, ref)
    assert added == ref.sum()


@settings(max_examples=300, deadline=None)
@given(bin_ps=st.integers(1, 2**24), q=st.integers(0, 2**50), r=st.sampled_from(["0", "1", "last", "mid"]))
def test_g2_key_by_float_bits_is_exact(bin_ps, q, r):
    """The g2 key (x // bin_ps) << shift | x % bin_ps, computed through float64 bits (no conversion,
    no int64 multiplication), equals the integer one for every x < 2**50, at the bin edges
    (remainder 0, 1, bin_ps - 1) and inside; beyond, the exact path (integer division)."""
    from tagstream.kernels.g2 import _EXACT_SPAN_PS, _key

    shift = int(bin_ps - 1).bit_length()
    rem = {"0": 0, "1": min(1, bin_ps - 1), "last": bin_ps - 1, "mid": bin_ps // 2}[r]
    # exact path at 2**61 (+ q): its key < 2 x stays below 2**63 (2**62 overflowed for bin_ps not a power of 2)
    for x, exact in [((q % (_EXACT_SPAN_PS // bin_ps)) * bin_ps + rem, False), (2**61 + q * 7 + rem, True)]:
        assert _key(x, bin_ps, float(bin_ps), 1.0 / bin_ps, shift, exact) == ((x // bin_ps) << shift) + x % bin_ps


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), bin_ps=st.sampled_from([1, 7, 100, 1000, 4093]),
       half_bins=st.integers(1, 30), delta=st.integers(-5000, 5000), dense=st.booleans(),
       offset=st.sampled_from([0, 2**40, 2**53 + 12345]), t_from_frac=st.sampled_from([None, 0.3]),
       gap=st.booleans(), cuts=st.lists(st.integers(0, 400), max_size=6))
def test_g2_stage_any_chunking_equals_brute_force(seed, bin_ps, half_bins, delta, dense, offset,
                                                  t_from_frac, gap, cuts):
    """G2Stage fed in any chunking (look-back tail) counts exactly the brute-force pairs: odd bins,
    delays that are not whole bins, dense bursts (many partners: the scan beyond the branch-free
    ones), times beyond 2**53 ps, a chunk spanning 2**60 ps (exact quotients), a start time."""
    from tagstream.chunk import PhotonBatch
    from tagstream.stages.g2 import G2Stage

    rng = np.random.default_rng(seed)
    window = half_bins * bin_ps
    spread = window // 3 + 1 if dense else 30 * window
    t = (np.sort(rng.integers(0, 400 * spread // 40 + 1, 400)) + offset).astype(np.int64)
    if gap:
        t[t.size // 2:] += 2**60
    w = rng.integers(0, 2, t.size).astype(np.uint8)
    t_from = np.iinfo(np.int64).min if t_from_frac is None else int(t[int(t_from_frac * t.size)])
    st_ = G2Stage(window, bin_ps, delta, -np.inf if t_from_frac is None else t_from)
    edges = sorted(set([0, t.size] + cuts))
    for a, b in zip(edges[:-1], edges[1:]):
        st_.update(PhotonBatch(t[a:b], w[a:b], t[:0], t[:0], None))
    lo, hi = -st_.window_ps - delta, st_.window_ps - delta
    ta, tb = t[w == 0] - offset, t[w == 1] - offset
    tau = (tb[None, :] - ta[:, None])
    later = np.maximum(tb[None, :], ta[:, None]) + offset
    keep = (tau >= lo) & (tau < hi) & (later >= t_from)
    ref = np.bincount(((tau[keep] - lo) // bin_ps).ravel(), minlength=(hi - lo) // bin_ps)
    np.testing.assert_array_equal(st_.hist, ref)
