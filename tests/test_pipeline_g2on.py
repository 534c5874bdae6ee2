"""Per-state g2 (g2 restricted to ON trace bins): exact vs a brute-force pair count, for any chunking
and after re-selection of the ON threshold.

Definition tested: g2_on counts the A-B pairs, tau = (tB + dB) - (tA + dA) in [-W, W), whose BOTH
photons lie in trace bins that are ON under the selection in force.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tagstream.chunk import TagChunk
from tagstream.errors import SetupError
from tagstream.kernels.g2 import g2_pairs, g2_pairs_binned, sum_pairs_in_state
from tagstream.pipeline import AnalysisConfig, Pipeline
from tagstream.setup import Setup

P = 1_000_000
W = 3_000_000
B = 10_000
BIN_MS = 0.5
DELAYS = {2: 1500, 5: -200}


def blinking_stream(seed=0, duration_ps=50_000_000_000, rate=0.3):
    """Sync every pulse (P = 1 us); photons on A/B with blinking bright/dim stretches of 0.3-1.5 ms
    (so many trace bins of 0.5 ms are ON, many OFF, and pairs straddle bin edges)."""
    rng = np.random.default_rng(seed)
    pulses = np.arange(duration_ps // P) * P + 300
    edges = np.cumsum(rng.integers(300, 1500, duration_ps // 300_000_000 + 2)) * 1_000_000
    bright = (np.searchsorted(edges, pulses) % 2) == 0
    k = rng.random(pulses.size) < rate * np.where(bright, 1.0, 0.08)
    ph = pulses[k] + 5_000 + rng.exponential(30_000, k.sum()).astype(np.int64)
    ph = np.concatenate([ph, rng.integers(0, duration_ps, 300)])
    ts = np.concatenate([pulses, ph])
    ch = np.concatenate([np.full(pulses.size, 5), rng.integers(1, 3, ph.size)])
    o = np.argsort(ts, kind="stable")
    return TagChunk.from_arrays(ts[o], ch[o])


STREAM = blinking_stream()
SETUP = Setup(sync=5, spad_a=1, spad_b=2, delays_ps=DELAYS)
CFG = AnalysisConfig(trace_bin_ms=BIN_MS, g2_window_ps=W, g2_bin_ps=B, g2_per_state=True,
                     regimes_ns="20-40")


def brute_on_hist(chunk, on, origin_ps, bin_ps):
    """Slow reference: every A-B pair with both photons in ON bins, histogrammed at B over [-W, W)."""
    t, c = chunk.timestamps_ps, chunk.channels
    ta, tb = t[c == 1], t[c == 2]
    delta = DELAYS[2] - DELAYS.get(1, 0)
    on_a = on[(ta - origin_ps) // bin_ps]
    on_b = on[(tb - origin_ps) // bin_ps]
    ta, tb = ta[on_a], tb[on_b]
    out = np.zeros(2 * W // B, np.int64)
    for x in ta.tolist():
        lo, hi = np.searchsorted(tb, [x - W - delta - 1, x + W - delta + 1])
        tau = tb[lo:hi] - x + delta
        tau = tau[(tau >= -W) & (tau < W)]
        np.add.at(out, (tau + W) // B, 1)
    return out


def run(chunk, cfg=CFG, cuts=None):
    p = Pipeline(SETUP, cfg)
    edges = [0, *sorted(cuts or []), len(chunk)]
    for a, b in zip(edges[:-1], edges[1:]):
        p.feed(chunk.slice(a, b))
    return p.finalize()


REF = run(STREAM)


def test_g2_on_equals_brute_force_pair_count():
    tr = REF.trace
    assert 0.2 < tr.on_fraction < 0.8          # both states present
    expect = brute_on_hist(STREAM, tr.on, int(tr.bin_start_ps[0]), int(round(BIN_MS * 1e9)))
    assert expect.sum() > 500
    np.testing.assert_array_equal(REF.g2_on.counts, expect)
    # fewer pairs than the full g2, and the full g2 is unchanged by the option
    assert REF.g2_on.counts.sum() < REF.g2.counts.sum()
    plain = run(STREAM, AnalysisConfig(trace_bin_ms=BIN_MS, g2_window_ps=W, g2_bin_ps=B, regimes_ns="20-40"))
    np.testing.assert_array_equal(plain.g2.counts, REF.g2.counts)
    assert plain.g2_on is None and "g2_on" not in plain.to_json_dict()
    # counts-derived fields: photons of ON bins, ON time
    assert REF.g2_on.n_a == int(tr.counts_a[tr.on].sum())
    assert REF.g2_on.duration_s == pytest.approx(tr.on.sum() * BIN_MS * 1e-3)
    j = REF.to_json_dict()["g2_on"]
    assert j["g2_zero"] == pytest.approx(REF.g2_on.g2_zero) and j["g2_zero_err"] == pytest.approx(REF.g2_on.g2_zero_err)


@pytest.mark.parametrize("thr", [0.0, 40.0, 1e9])
def test_g2_on_reselect_threshold_equals_brute_force(thr):
    r = REF.reselect(on_threshold=thr)
    on = r.trace.on
    expect = brute_on_hist(STREAM, on, int(r.trace.bin_start_ps[0]), int(round(BIN_MS * 1e9)))
    np.testing.assert_array_equal(r.g2_on.counts, expect)
    if thr == 1e9:
        assert r.g2_on.counts.sum() == 0 and r.g2_on.g2_zero is None
    # equal to a fresh run with that threshold
    fresh = run(STREAM, AnalysisConfig(trace_bin_ms=BIN_MS, g2_window_ps=W, g2_bin_ps=B, g2_per_state=True,
                                       regimes_ns="20-40", on_threshold=thr))
    np.testing.assert_array_equal(fresh.g2_on.counts, r.g2_on.counts)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_g2_on_does_not_depend_on_chunking(data):
    n = len(STREAM)
    if data.draw(st.booleans()):
        a = data.draw(st.integers(0, n - 200))
        cuts = list(range(a, a + 200, data.draw(st.integers(1, 3))))
    else:
        cuts = data.draw(st.lists(st.integers(1, n - 1), max_size=30, unique=True))
    r = run(STREAM, cuts=cuts)
    np.testing.assert_array_equal(r.g2_on.counts, REF.g2_on.counts)
    assert r.to_json_dict()["g2_on"] == REF.to_json_dict()["g2_on"]


def test_g2_on_with_period_measured_and_snapshot():
    # default window/bin: the g2 stage starts once the period is known; snapshots see the store too
    cfg = AnalysisConfig(trace_bin_ms=BIN_MS, g2_per_state=True, regimes_ns="20-40")
    p = Pipeline(SETUP, cfg)
    half = len(STREAM) // 2
    p.feed(STREAM.slice(0, half))
    snap = p.snapshot()
    p.feed(STREAM.slice(half, len(STREAM)))
    res = p.finalize()
    assert snap.g2_on is not None and snap.g2_on.counts.sum() <= res.g2_on.counts.sum()
    assert res.g2_on.g2_zero is not None and res.g2_on.counts.sum() < res.g2.counts.sum()
    # all bins selected: the per-state g2 is the full g2 (closed bins only: last bin is never ON)
    every = res.reselect(on_threshold=-1)
    last_bin_pairs = res.g2.counts.sum() - every.g2_on.counts.sum()
    assert 0 <= last_bin_pairs < 0.05 * res.g2.counts.sum()


def test_g2_on_needs_window_shorter_than_trace_bin():
    with pytest.raises(SetupError):
        Pipeline(SETUP, AnalysisConfig(trace_bin_ms=0.001, g2_window_ps=W, g2_bin_ps=B, g2_per_state=True))
    with pytest.raises(SetupError):
        Pipeline(SETUP, AnalysisConfig(g2=False, g2_per_state=True))


@pytest.mark.parametrize("seed", [0, 1])
def test_kernel_binned_equals_plain_and_resumes_when_store_full(seed):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, 50_000_000, 3000)).astype(np.int64)
    w = rng.integers(0, 2, t.size).astype(np.uint8)
    lo, hi, b = -400_000, 380_000, 1000
    ref = np.zeros((hi - lo) // b, np.int64)
    g2_pairs(t, w, 0, -(1 << 62), lo, hi, b, ref)
    hist = np.zeros_like(ref)
    store = np.zeros(7, np.uint16)            # tiny: forces many resumptions
    per_bin = np.zeros(50, np.int64)
    i, m = 0, 0
    while i < t.size:
        i, m = g2_pairs_binned(t, w, i, -(1 << 62), lo, hi, b, hist, 0, 1_000_000, 1 << 15, store, m, per_bin)
        if i < t.size:
            store = np.concatenate([store, np.zeros(store.size, np.uint16)])
    np.testing.assert_array_equal(hist, ref)
    assert per_bin.sum() == m == ref.sum()
    # every bin selected = all pairs; no bin selected = none; cross pairs need both bins
    offsets = np.concatenate(([0], np.cumsum(per_bin)))
    out = np.zeros_like(ref)
    sum_pairs_in_state(store[:m], offsets, np.ones(50, np.bool_), 1 << 15, out)
    np.testing.assert_array_equal(out, ref)
    sel = rng.random(50) < 0.5
    out[:] = 0
    sum_pairs_in_state(store[:m], offsets, sel, 1 << 15, out)
    bins = t // 1_000_000
    ta, tb = t[(w == 0) & sel[bins]], t[(w == 1) & sel[bins]]
    d = (tb[None, :] - ta[:, None]).ravel()
    d = d[(d >= lo) & (d < hi)]
    np.testing.assert_array_equal(out, np.bincount((d - lo) // b, minlength=ref.size))


def test_analyze_cli_g2_on_json(tmp_path, capsys):
    import json

    from tagstream.cli import main
    from tagstream.io import write_qutag_binary

    path = tmp_path / "blink.qutag"
    write_qutag_binary(path, STREAM)
    args = ["analyze", str(path), "--bin-ms", str(BIN_MS), "--g2-window-ps", str(W), "--g2-bin-ps", str(B),
            "--regimes", "20-40", "--no-fit", "--no-spectra", "--json"]
    assert main(args + ["--g2-on"]) == 0
    d = json.loads(capsys.readouterr().out)
    ref = Pipeline(Setup(), AnalysisConfig(trace_bin_ms=BIN_MS, g2_window_ps=W, g2_bin_ps=B, g2_per_state=True,
                                           regimes_ns="20-40"))
    ref.feed(STREAM)
    g = ref.finalize().g2_on
    assert d["g2_on"]["g2_zero"] == pytest.approx(g.g2_zero) and d["g2_on"]["g2_zero_err"] == pytest.approx(g.g2_zero_err)
    assert main(args) == 0
    assert "g2_on" not in json.loads(capsys.readouterr().out)
