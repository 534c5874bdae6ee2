"""One recording over many cores (tagstream.slices): time slices analysed apart and merged equal the
one-core analysis bit for bit, for random slice boundaries, with every stage on (trace, frames, g2
with the per-state pair store, levels, correlation), across sync setups, with records out of order
in the file, and on a Dask cluster."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tagstream.io.qutag import BINARY_RECORD, qutag_header
from tagstream.pipeline import AnalysisConfig, analyze_file
from tagstream.simulate import SimulationParams
from tagstream.simulate.files import setup_for, simulate_to_files
from tagstream.slices import analyze_file_sliced
from conftest import REAL, requires_real

EVERY_STAGE = dict(trace_bin_ms=10, levels_confidence=0.95, g2_per_state=True, intensity_correlation=True)


def assert_same(a, b, path="results") -> None:
    """Exact equality of two analyses' raw statistics and derived results (arrays bit for bit;
    growable per-bin arrays compared with zero padding)."""
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        assert type(a) is type(b), path
        for f in dataclasses.fields(a):
            if f.name not in ("_raw", "config", "setup"):
                assert_same(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(a, dict):
        assert set(a) == set(b), (path, set(a) ^ set(b))
        for k in a:
            assert_same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, np.ndarray):
        b = np.asarray(b)
        if path.endswith("pairs_per_bin"):      # capacity-grown: equal up to trailing zeros
            n = max(a.size, b.size)
            a, b = np.pad(a, (0, n - a.size)), np.pad(b, (0, n - b.size))
        assert a.dtype == b.dtype and a.shape == b.shape, (path, a.dtype, b.dtype, a.shape, b.shape)
        assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), path
    elif isinstance(a, float) and np.isnan(a):
        assert isinstance(b, float) and np.isnan(b), path
    else:
        assert a == b, (path, a, b)


def compare(one, sliced) -> None:
    assert_same(one._raw, sliced._raw, "raw")
    assert_same(one, sliced)
    assert one.to_json_dict() == sliced.to_json_dict()


def _disorder(path, out, shift_ps: int = 40_000) -> None:
    """A copy of a quTAG BINARY file whose SPAD B tags are 40 ns late but stay where they were in the
    file (local disorder, as the quTAG's per-channel delay correction makes it)."""
    raw = np.fromfile(path, np.uint8)
    rec = raw[40:].view(BINARY_RECORD).copy()
    rec["t"][rec["c"] == 2] += shift_ps
    with open(out, "wb") as f:
        f.write(qutag_header(40 + rec.nbytes))
        f.write(rec.tobytes())


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    d = tmp_path_factory.mktemp("slices")
    out = {}
    for name, p in {"divided": SimulationParams(sync_divider=1000),
                    "plain": SimulationParams(sync_divider=1, rep_rate_hz=2e6),
                    "filtered": SimulationParams(sync_divider=1, sync_filtered=True)}.items():
        files = simulate_to_files(p, 2.5, d / f"{name}.qutag", seed=3)
        out[name] = (files.tags, setup_for(p), p)
    _disorder(out["plain"][0], d / "disordered.qutag")
    out["disordered"] = (d / "disordered.qutag", out["plain"][1], out["plain"][2])
    return out


def _config(name, p, **extra):
    c = dict(EVERY_STAGE, **extra)
    if name == "filtered":
        c["laser_period_ps"] = 1e12 / p.rep_rate_hz
    return AnalysisConfig(**c)


@pytest.fixture(scope="module")
def one_core(recordings):
    return {name: analyze_file(f, s, _config(name, p)) for name, (f, s, p) in recordings.items()}


@pytest.mark.parametrize("name", ["divided", "plain", "filtered", "disordered"])
def test_even_slices_equal_one_core(recordings, one_core, name):
    f, s, p = recordings[name]
    warn: list = []
    res = analyze_file_sliced(f, s, _config(name, p), workers=1, n_slices=7, min_slice_records=1, warnings=warn)
    compare(one_core[name], res)
    assert not any("one core" in w or "re-analysed" in w for w in warn), warn


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_boundaries_equal_one_core(recordings, one_core, data):
    name = data.draw(st.sampled_from(["divided", "plain", "disordered"]))
    f, s, p = recordings[name]
    n = one_core[name].n_records
    at = data.draw(st.lists(st.integers(1, n - 1), min_size=1, max_size=6))
    chunk = data.draw(st.sampled_from([1 << 12, 1 << 16, 1 << 20]))
    res = analyze_file_sliced(f, s, _config(name, p), workers=1, at_records=at, min_slice_records=1,
                              chunk_records=chunk)
    compare(one_core[name], res)


@pytest.mark.parametrize("name", ["plain", "divided", "filtered", "disordered"])
def test_bootstrapped_period_state_is_exact(recordings, name):
    """A short period memory (buckets of 5e3 pulses): every slice bootstraps its period estimate from the
    two buckets before it and reaches the exact state (no slice re-analysed)."""
    f, s, p = recordings[name]
    cfg = _config(name, p, period_memory_pulses=5e3 if name != "divided" else 2e5)
    warn: list = []
    compare(analyze_file(f, s, cfg), analyze_file_sliced(f, s, cfg, workers=1, n_slices=6, min_slice_records=1,
                                                         warnings=warn))
    assert not any("re-analysed" in w for w in warn), warn


def test_a_start_state_that_differs_is_re_analysed_exactly(recordings, one_core, monkeypatch):
    import tagstream.slices as S

    f, s, p = recordings["plain"]
    calls = []
    monkeypatch.setattr(S, "same_state", lambda a, b: bool(calls.append(1)) or len(calls) > 1)   # the first differs
    warn: list = []
    compare(one_core["plain"], analyze_file_sliced(f, s, _config("plain", p), workers=1, n_slices=4,
                                                    min_slice_records=1, warnings=warn))
    assert any("1 of 4 re-analysed" in w for w in warn), warn


def test_boundary_before_the_period_is_known_is_dropped(recordings, one_core):
    f, s, p = recordings["divided"]
    res = analyze_file_sliced(f, s, _config("divided", p), workers=1, at_records=[1, 2, 3, 5000],
                              min_slice_records=1)
    compare(one_core["divided"], res)


def test_process_pool(recordings, one_core):
    f, s, p = recordings["divided"]
    compare(one_core["divided"], analyze_file_sliced(f, s, _config("divided", p), workers=2, min_slice_records=1))


def test_dask_local_cluster(recordings, one_core):
    distributed = pytest.importorskip("distributed")
    f, s, p = recordings["plain"]
    with distributed.LocalCluster(n_workers=2, processes=False, dashboard_address=None) as cluster:
        res = analyze_file_sliced(f, s, _config("plain", p), scheduler=cluster.scheduler_address, n_slices=3,
                                  min_slice_records=1)
    compare(one_core["plain"], res)


def test_format_that_cannot_be_split_falls_back_with_a_warning(recordings, tmp_path):
    from tagstream.io import open_tags
    from tagstream.io.ascii import encode_ascii_records

    f, s, p = recordings["divided"]
    txt = tmp_path / "r.txt"
    chunk = open_tags(f).read_all()
    n = 200_000
    txt.write_bytes(encode_ascii_records(chunk.timestamps_ps[:n], chunk.channels[:n]))
    warn: list = []
    res = analyze_file_sliced(txt, s, _config("divided", p), workers=2, warnings=warn, min_slice_records=1)
    assert any("one core" in w for w in warn)
    compare(analyze_file(txt, s, _config("divided", p)), res)


def test_cli_workers_same_json(recordings, capsys):
    import json

    from tagstream.cli import main

    f, s, p = recordings["divided"]
    args = ["analyze", str(f), "--no-fit", "--no-spectra", "--json", "--on-threshold", "10", "--levels"]
    assert main(args) == 0
    one = json.loads(capsys.readouterr().out)
    assert main(args + ["--workers", "2"]) == 0
    two = json.loads(capsys.readouterr().out)
    assert one == two and one["n_records"] > 0


@requires_real
@pytest.mark.parametrize("memory", [1e6, 2e3])
def test_real_quTAG_recording_in_slices(memory):
    """The team's real sync-filtered 80 MHz quTAG recording (records out of file order): slices equal one core,
    the period states bootstrapped exactly (a short memory makes every slice bootstrap)."""
    from tagstream.io import open_tags
    from tagstream.io.propose import propose_setup
    from tagstream.setup import resolve_setup

    path = REAL / "eta_qutag_80MHz_hbt_syncfiltered.qutag"
    rs = resolve_setup(path, propose_setup(open_tags(path))[0])
    cfg = AnalysisConfig(**dict(EVERY_STAGE, trace_bin_ms=1), laser_period_ps=12_500.0, period_memory_pulses=memory)
    warn: list = []
    for n in (2, 5):
        compare(analyze_file(path, rs.setup, cfg),
                analyze_file_sliced(path, rs.setup, cfg, workers=1, n_slices=n, min_slice_records=1, warnings=warn))
    assert not any("re-analysed" in w or "one core" in w for w in warn), warn


@pytest.fixture(scope="module")
def long_recording(tmp_path_factory):
    """24 s: longer than twice the correlation's largest lag (10 s), so each slice counts its own starts."""
    p = SimulationParams(sync_divider=1000)
    files = simulate_to_files(p, 24.0, tmp_path_factory.mktemp("slices_long") / "long.qutag", seed=11)
    return files.tags, setup_for(p)


@pytest.mark.parametrize("cut_s", [(12.0,), (10.5, 11.0, 12.5, 13.0)])
def test_correlation_counted_in_the_slices_equals_one_core(long_recording, monkeypatch, cut_s):
    import tagstream.slices as S
    from tagstream.io import open_tags

    f, s = long_recording
    cfg = AnalysisConfig(trace_bin_ms=10)
    decided = []
    real = S._replayed
    monkeypatch.setattr(S, "_replayed", lambda *a: decided.append(real(*a)) or decided[-1])
    reader = open_tags(f)
    t, _ = reader.read_records(0, reader.n_records)
    at = [int(np.searchsorted(np.sort(t), t.min() + c * 1e12)) for c in cut_s]
    reader.close()
    compare(analyze_file(f, s, cfg), analyze_file_sliced(f, s, cfg, workers=1, at_records=at, min_slice_records=1))
    assert decided == [()]     # the correlation was not replayed in the master


@pytest.mark.parametrize("name", ["plain", "disordered"])
def test_ordered_slices_take_one_pass_disordered_ones_the_general_path(recordings, one_core, monkeypatch, name):
    import tagstream.slices as S

    f, s, p = recordings[name]
    done = []
    real = S._analyze_slice

    def spy(job, reader, cpu0, ordered):
        try:
            out = real(job, reader, cpu0, ordered)
        except S._NotOrdered:
            done.append((ordered, "not ordered"))
            raise
        done.append((ordered, "done"))
        return out
    monkeypatch.setattr(S, "_analyze_slice", spy)
    compare(one_core[name], analyze_file_sliced(f, s, _config(name, p), workers=1, n_slices=3, min_slice_records=1))
    if name == "plain":
        assert done == [(True, "done")] * 3
    else:
        assert done == [(True, "not ordered"), (False, "done")] * 3
