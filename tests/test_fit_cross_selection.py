"""Split-half cross-selection of the regimes' fit decays (tagstream.kernels.split_half, results.derive):
equal to a plain numpy reference, and unbiased where selecting by the fitted photons themselves is not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tagstream.kernels.split_half import half_delay_sums, sum_half_decays
from tagstream.results import split_half_lifetimes_ns

FIX = Path(__file__).resolve().parent.parent / "fixtures"
DBIN, P = 500.0, 1_000_000.0


def _store(rng, n_bins, mean_photons, tau_ns):
    """A trace store: per bin Poisson photons with exponential delays (decay-bin indices, time order)."""
    n = rng.poisson(mean_photons, n_bins)
    tau = np.repeat(tau_ns, n)
    idx = np.minimum((rng.exponential(tau * 1e3) // DBIN), P / DBIN - 1).astype(np.uint16)
    return idx, np.concatenate(([0], np.cumsum(n))).astype(np.int64), n


def test_split_half_kernels_equal_numpy_reference():
    rng = np.random.default_rng(1)
    idx, offs, n = _store(rng, 50, 7.0, rng.uniform(20, 80, 50))
    cut = 37
    hn, hs = np.zeros((50, 2), np.int64), np.zeros((50, 2))
    half_delay_sums(idx, offs, cut, DBIN, P, hn, hs)
    for b in range(50):
        d = idx[offs[b]:offs[b + 1]].astype(float)
        t = (d + 0.5) * DBIN - cut * DBIN + np.where(d < cut, P, 0.0)
        for h in (0, 1):
            assert hn[b, h] == t[h::2].size and hs[b, h] == pytest.approx(t[h::2].sum())
    sel = np.array([3, 8, 9, 40], np.int64)
    for h in (0, 1):
        out = np.zeros(2000, np.int64)
        sum_half_decays(idx, offs, sel, h, 2000, out)
        ref = np.bincount(np.concatenate([idx[offs[b]:offs[b + 1]][h::2] for b in sel]).astype(int), minlength=2000)
        np.testing.assert_array_equal(out, ref)
    # the lifetimes: the bins' own estimator per half (cut 0, no background: the plain mean delay)
    lt = split_half_lifetimes_ns(idx, offs, np.zeros(50), 0, DBIN, P, 0.0)
    for b in range(50):
        d = (idx[offs[b]:offs[b + 1]].astype(float) + 0.5) * DBIN / 1e3
        for h in (0, 1):
            want = d[h::2].mean() if d[h::2].size else np.nan
            assert lt[b, h] == pytest.approx(want, nan_ok=True)


def test_cross_selection_is_unbiased_own_selection_is_not():
    """Bins with true lifetimes 40-60 ns, ~60 photons each: the regime 50-55 ns. The photons of the bins
    selected by their own mean delay come late (biased); the half selected by the OTHER half's mean
    delay has the expected mean of the selected bins' true lifetimes."""
    rng = np.random.default_rng(7)
    nb = 40_000
    tau = rng.uniform(40, 60, nb)
    idx, offs, n = _store(rng, nb, 60.0, tau)
    t_ns = (idx.astype(float) + 0.5) * DBIN / 1e3
    b_of = np.repeat(np.arange(nb), n)
    lo, hi = 50.0, 55.0
    own_lt = np.bincount(b_of, t_ns, nb) / np.maximum(n, 1)
    own = (own_lt >= lo) & (own_lt < hi)
    m = own[b_of]
    own_bias = t_ns[m].mean() - np.sum(n[own] * tau[own]) / n[own].sum()
    own_se = t_ns[m].std() / np.sqrt(m.sum())
    half = split_half_lifetimes_ns(idx, offs, np.zeros(nb), 0, DBIN, P, 0.0)
    pos = np.arange(idx.size) - np.repeat(offs[:-1], n)
    num = den = 0.0
    picked = []
    for h in (0, 1):
        sel = (half[:, 1 - h] >= lo) & (half[:, 1 - h] < hi)
        k = sel[b_of] & ((pos & 1) == h)
        picked.append(t_ns[k])
        n_h = np.bincount(b_of[k], minlength=nb)
        num += np.sum(n_h * tau)
        den += n_h.sum()
    x = np.concatenate(picked)
    cross_bias = x.mean() - num / den
    cross_se = x.std() / np.sqrt(x.size)
    assert own_bias > 8 * own_se               # selecting by the fitted photons: late by ~0.4 ns here
    assert abs(cross_bias) < 3.5 * cross_se, (cross_bias, cross_se)


def test_results_fit_decays_are_the_cross_selected_halves():
    """On the demo recording: each regime's fit_counts = the other-half-selected halves (numpy reference
    from the trace store and the derive's own half lifetimes), fit_half_bins names them, and the fits use them."""
    if not (FIX / "qd_demo.qutag").is_file():
        pytest.skip("fixtures/qd_demo.qutag absent")
    from tagstream.analysis.regimes import regime_histograms
    from tagstream.pipeline import AnalysisConfig, analyze_file
    from tagstream.setup import setup_for_recording

    setup, _ = setup_for_recording(FIX / "qd_demo.qutag", FIX / "qd_demo.setup.toml")
    res = analyze_file(FIX / "qd_demo.qutag", setup, AnalysisConfig(trace_bin_ms=100.0, t0_ps=0.0,
                                                                      subtract_background=False))
    tr = res._raw.trace
    store, n = tr.store, tr.n_ref
    offs = np.concatenate(([0], np.cumsum(n))).astype(np.int64)
    b_of = np.repeat(np.arange(n.size), n)
    pos = np.arange(store.size) - np.repeat(offs[:-1], n)
    t_ns = (store.astype(float) + 0.5) * res.decay.bin_ps / 1e3
    lt = np.full((n.size, 2), np.nan)
    for h in (0, 1):
        k = (pos & 1) == h
        c = np.bincount(b_of[k], minlength=n.size)
        s = np.bincount(b_of[k], t_ns[k], n.size)
        lt[c > 0, h] = s[c > 0] / c[c > 0]
    hists = regime_histograms(res, 1)
    for r in res.regimes:
        lo, hi = r.range_ns
        want = np.zeros(tr.n_decay, np.int64)
        bins = []
        for h in (0, 1):
            sel = res.trace.on & (lt[:, 1 - h] >= lo) & (lt[:, 1 - h] < hi)
            k = sel[b_of] & ((pos & 1) == h)
            want += np.bincount(store[k].astype(int), minlength=tr.n_decay)
            bins.append(np.flatnonzero(sel))
        np.testing.assert_array_equal(r.fit_counts, want)
        np.testing.assert_array_equal(r.fit_half_bins, np.sort(np.concatenate(bins)))
        assert 0.5 * r.n_photons < r.fit_counts.sum() < 1.5 * r.n_photons   # about as many photons
        np.testing.assert_array_equal(hists[r.regime.label][1], r.fit_counts[:hists[r.regime.label][1].size])
