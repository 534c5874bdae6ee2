"""Bounded-memory mode (AnalysisConfig.bounded_memory): the selection fixed up front, each closed trace bin
folded into its regime's decay and its photons dropped. Results equal the re-selectable store's for that
selection (any chunking, several t0, time slices), the store holds only the open bin, and a re-selection
or an impossible configuration is a clear error. The CLI picks the mode when nothing will be re-selected."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tagstream.errors import SetupError
from tagstream.pipeline import AnalysisConfig, Pipeline, analyze_file
from tagstream.simulate import Simulation, SimulationParams
from tagstream.simulate.files import setup_for, simulate_to_files
from tagstream.slices import analyze_file_sliced
from test_slices import assert_same

REGIMES = "0-20,20-40,40-50,50-60,60-70"


def fixed(t0_ps: float, **extra) -> AnalysisConfig:
    return AnalysisConfig(trace_bin_ms=10, on_threshold=5, t0_ps=t0_ps, subtract_background=False,
                          regimes_ns=REGIMES, **{"intensity_correlation": True, **extra})


def same_results(store, bounded) -> None:
    """Everything but the memory mode is identical (and the regimes' cross-selected fit decays, which need
    the per-photon store: a bounded run has none, its fits use the plain regime decays and say so)."""
    import dataclasses

    assert all(r.fit_counts is None and r.fit_half_bins is None for r in bounded.regimes)
    plain = tuple(dataclasses.replace(r, fit_counts=None, fit_half_bins=None) for r in store.regimes)
    for name in ("trace", "decay", "flid", "regimes", "g2", "frames", "intensity_correlation", "counts",
                 "laser_period_ps", "duration_s", "n_records"):
        assert_same(plain if name == "regimes" else getattr(store, name), getattr(bounded, name), name)
    a, b = store.to_json_dict(), bounded.to_json_dict()
    assert (a.pop("memory_mode"), b.pop("memory_mode")) == ("reselectable", "bounded")
    for ra, rb in zip(a["regimes"], b["regimes"]):   # the fits' photons: cross-selected / the plain decay
        assert rb.pop("n_fit_photons") == rb["n_photons"] and ra.pop("n_fit_photons") >= 0
    assert a == b


@pytest.fixture(scope="module")
def stream():
    p = SimulationParams(sync_divider=1)
    sim = Simulation(p, seed=5)
    return setup_for(p), list(sim.chunks(chunk_s=0.25, duration_s=3.0))


def run(setup, config, chunks, cut=None):
    pipe = Pipeline(setup, config)
    from tagstream.chunk import TagChunk

    whole = TagChunk.concatenate(chunks)
    edges = [0] + sorted(cut or []) + [len(whole)]
    for a, b in zip(edges[:-1], edges[1:]):
        if b > a:
            pipe.feed(whole.slice(a, b))
    return pipe.finalize(), pipe


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(t0=st.sampled_from([0.0, 500.0, 12_000.0, 30_123.0]), cuts=st.lists(st.integers(1, 3_000_000), max_size=8))
def test_bounded_equals_store_for_any_chunking(stream, t0, cuts):
    setup, chunks = stream
    store, _ = run(setup, fixed(t0), chunks)
    bounded, pipe = run(setup, fixed(t0, bounded_memory=True), chunks, cuts)
    same_results(store, bounded)
    tr = bounded._raw.trace
    assert tr.bounded.n_folded == tr.n_bins - 1                       # every closed bin folded ...
    assert tr.store.size == tr.n_ref[-1]                             # ... only the open bin's photons kept
    assert t0 > 20_000 or sum(r.n_photons for r in store.regimes) > 0   # (t0 = 30 ns: photons wrap, none in a regime)


def test_regime_decays_against_a_per_photon_reference(stream):
    """Independent check: regime decays from each photon's own bin, regime and decay bin (plain numpy)."""
    setup, chunks = stream
    res, _ = run(setup, fixed(12_000.0, bounded_memory=True), chunks)
    from tagstream.chunk import TagChunk
    from tagstream.stages.microtime import MicrotimeStage

    whole = TagChunk.concatenate(chunks)
    batch = MicrotimeStage(setup).update(whole)
    tr = res._raw.trace
    ref = batch.micro_ps >= 0
    b = (batch.t_ps[ref] - tr.origin_ps) // tr.bin_ps
    d = np.minimum(batch.micro_ps[ref] // tr.decay_bin_ps, tr.n_decay - 1)
    for r, reg in enumerate(res.regimes):
        in_reg = np.isin(b, reg.bins)
        assert np.array_equal(np.bincount(d[in_reg], minlength=tr.n_decay), reg.counts)
        assert reg.n_photons == int(in_reg.sum())


def test_bounded_with_time_slices(tmp_path):
    p = SimulationParams(sync_divider=1000)
    files = simulate_to_files(p, 2.5, tmp_path / "r.qutag", seed=2)
    setup = setup_for(p)
    store = analyze_file(files.tags, setup, fixed(0.0))
    cfg = fixed(0.0, bounded_memory=True)
    n = store.n_records
    for at in ([n // 3, 2 * n // 3], [17, n // 2 + 5, n - 100]):
        same_results(store, analyze_file_sliced(files.tags, setup, cfg, workers=1, at_records=at, min_slice_records=1))


def test_reselect_and_impossible_configs_are_clear_errors(stream):
    setup, chunks = stream
    res, pipe = run(setup, fixed(0.0, bounded_memory=True), chunks)
    with pytest.raises(ValueError, match="bounded-memory"):
        res.reselect(on_threshold=7)
    assert res.reselect(on_threshold=5).regimes[1].n_bins == res.regimes[1].n_bins   # its own selection: fine
    for bad in (dict(t0_ps=None), dict(on_threshold=None), dict(subtract_background=True),
                dict(levels_confidence=0.99), dict(lifetime_mle=True)):
        with pytest.raises(SetupError, match="bounded memory needs"):
            dataclasses.replace(fixed(0.0, bounded_memory=True), **bad)


def test_cli_picks_bounded_when_nothing_is_reselected(tmp_path, capsys):
    from tagstream.cli import main

    p = SimulationParams(sync_divider=1000)
    f = simulate_to_files(p, 1.0, tmp_path / "r.qutag", seed=1).tags
    base = ["analyze", str(f), "--no-fit", "--no-spectra", "--json", "--on-threshold", "5"]
    assert main(base) == 0
    assert json.loads(capsys.readouterr().out)["memory_mode"] == "reselectable"
    assert main(base + ["--t0-ps", "0", "--no-background"]) == 0
    assert json.loads(capsys.readouterr().out)["memory_mode"] == "bounded"
    assert main(base + ["--t0-ps", "0", "--no-background", "--levels"]) == 0   # levels read the store
    assert json.loads(capsys.readouterr().out)["memory_mode"] == "reselectable"
    with pytest.raises(SystemExit):
        main(["analyze", "--help"])
    assert "bounded-memory mode" in capsys.readouterr().out
