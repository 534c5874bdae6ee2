"""Batch export (tagstream.export.batch, `tagstream export`): a folder of small simulated recordings with a
truncated and a garbage file; error rows, resume/force/options, interrupted writes, Dask == local, CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tagstream.export import batch
from tagstream.atomic import atomic_path, is_temp_name, write_json_atomic
from tagstream.export.batch import BatchError, find_recordings, find_spectra, output_names, run_batch
from tagstream.export.parquet import results_frames
from tagstream.pipeline import AnalysisConfig, analyze_file
from tagstream.regime import Regime
from tagstream.setup import Setup

CFG = AnalysisConfig(trace_bin_ms=100.0)
GOOD = ["qd1", "qd2", "qd3"]
BAD = ["garbage", "trunc"]


@pytest.fixture(scope="module")
def src(tmp_path_factory) -> Path:
    """qd1, qd3 (quTAG binary) and qd2 (SSTT V2) of 2 s with sidecars, a garbage and a truncated file."""
    from tagstream.simulate.files import simulate_to_files

    d = tmp_path_factory.mktemp("recordings")
    simulate_to_files(None, 2.0, d / "qd1.qutag", seed=1)
    simulate_to_files(None, 2.0, d / "qd2.sstt", format="sstt-v2", seed=2)
    simulate_to_files(None, 2.0, d / "qd3.qutag", seed=3)
    (d / "garbage.qutag").write_bytes(b"definitely not time tags\n" * 50)
    data = (d / "qd1.qutag").read_bytes()
    (d / "trunc.qutag").write_bytes(data[: len(data) // 2 + 3])
    (d / "notes.md").write_text("measurement day notes")
    return d


def copy_src(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def by_name(df: pl.DataFrame) -> dict[str, dict]:
    return {r["name"]: r for r in df.iter_rows(named=True)}


def run(src, out, **kw):
    kw.setdefault("config", CFG)
    kw.setdefault("workers", 1)
    kw.setdefault("report", False)
    return run_batch([src], out, log=lambda m: None, **kw)


class CallCounter:
    """Counts analyze_file calls (in-process runs, workers=1)."""

    def __init__(self, monkeypatch):
        import tagstream.pipeline as pipeline

        self.calls: list[str] = []
        real = pipeline.analyze_file

        def counting(path, *a, **k):
            self.calls.append(Path(path).stem)
            return real(path, *a, **k)

        monkeypatch.setattr(pipeline, "analyze_file", counting)


# ------------------------------------------------------------------------------------------------ discovery
def test_find_recordings_skips_sidecars_and_output(src, tmp_path):
    rec = copy_src(src, tmp_path / "in")
    (rec / "out").mkdir()
    (rec / "out" / "summary.csv").write_text("1,2\n")             # inside the output folder: excluded
    (rec / "sub").mkdir()
    shutil.copy(rec / "qd1.qutag", rec / "sub" / "qd1.qutag")       # same stem in a sub-folder
    (rec / "notes.txt").write_text("QD 7 looked bright\n")           # .txt is also an ASCII tag extension
    (rec / "old_export").mkdir()                                      # an earlier export's output
    (rec / "old_export" / "summary.csv").write_text("file,name\n1,2\n")
    (rec / "old_export" / batch.BATCH_MANIFEST).write_text("{}")
    found = find_recordings([rec], exclude=[rec / "out"])
    names = sorted(p.relative_to(rec).as_posix() for p in found)
    assert names == ["garbage.qutag", "qd1.qutag", "qd2.sstt", "qd3.qutag", "sub/qd1.qutag", "trunc.qutag"]
    # sidecars given explicitly (shell glob) are dropped too; an unknown file named explicitly is kept
    explicit = find_recordings([rec / "qd1.qutag", rec / "qd1.spectra.npz", rec / "qd2.sstt.c5", rec / "notes.md"])
    assert [p.name for p in explicit] == ["qd1.qutag", "notes.md"]
    outs = output_names(found)
    assert len(set(outs)) == len(outs)
    assert {"in__qd1", "sub__qd1", "qd2", "garbage"} <= set(outs)
    with pytest.raises(BatchError, match="no such file"):
        find_recordings([rec / "missing"])


def test_spectra_pattern(src, tmp_path):
    rec = copy_src(src, tmp_path / "in")
    assert find_spectra(rec / "qd1.qutag", "{stem}.spectra.npz") == (rec / "qd1.spectra.npz").resolve()
    assert find_spectra(rec / "qd1.qutag", "{stem}.spec*") == (rec / "qd1.spectra.npz").resolve()
    assert find_spectra(rec / "qd1.qutag", "../{stem}.spectra.npz") is None
    assert find_spectra(rec / "qd1.qutag", None) is None
    (tmp_path / "spectra").mkdir()
    shutil.copy(rec / "qd2.spectra.npz", tmp_path / "spectra" / "qd2.sstt_run.npz")
    assert find_spectra(rec / "qd2.sstt", "../spectra/{name}_*.npz") == (tmp_path / "spectra" / "qd2.sstt_run.npz").resolve()
    shutil.copy(rec / "qd2.spectra.npz", rec / "qd2.extra.npz")
    with pytest.raises(BatchError, match="matches 2 files"):
        find_spectra(rec / "qd2.sstt", "{stem}.*.npz")


# ------------------------------------------------------------------------------------------------ results
def test_batch_rows_match_direct_analysis_and_bad_files_are_error_rows(src, tmp_path):
    out = tmp_path / "out"
    res = run(src, out, spectra_pattern="{stem}.spectra.npz")
    assert (res.n_done, res.n_failed, res.n_skipped) == (3, 2, 0) and not res.ok
    rows = by_name(res.summary)
    assert set(rows) == set(GOOD + BAD)
    assert "TruncatedFileError" in rows["trunc"]["error"] or "shorter" in rows["trunc"]["error"]
    assert "not a quTAG" in rows["garbage"]["error"]
    for n in BAD:
        assert rows[n]["status"] == "error" and rows[n]["n_records"] is None
        assert not (out / n).exists()                                  # nothing written for a failed file
    for n in GOOD:
        r = rows[n]
        rec = src / (n + (".sstt" if n == "qd2" else ".qutag"))
        direct = analyze_file(rec, Setup.from_toml(src / f"{n}.setup.toml"), CFG)
        assert r["status"] == "done" and r["error"] is None
        assert r["n_records"] == direct.n_records and r["duration_s"] == direct.duration_s
        assert r["rate_a_hz"] == pytest.approx(direct.counts["spad_a"] / direct.duration_s, rel=1e-12)
        assert r["rate_photons_hz"] == pytest.approx(
            (direct.counts["spad_a"] + direct.counts["spad_b"]) / direct.duration_s, rel=1e-12)
        assert r["g2_zero"] == direct.g2.g2_zero and r["g2_zero_err"] == direct.g2.g2_zero_err
        assert r["on_fraction"] == direct.trace.on_fraction
        # the written tables equal the direct analysis' tables
        for fname, df in results_frames(direct).items():
            assert pl.read_parquet(out / n / fname).equals(df), fname
        # independent recomputation of the derived columns from the written trace table
        tr = pl.read_parquet(out / n / "trace.parquet")
        on = tr.filter(pl.col("on") & pl.col("lifetime_ns").is_not_nan())
        w = on["n_referenced"].to_numpy().astype(float)
        assert r["on_lifetime_ns"] == pytest.approx(np.sum(w * on["lifetime_ns"].to_numpy()) / w.sum(), rel=1e-9)
        n_on = int(tr["on"].sum())
        for i, reg in enumerate(direct.regimes):
            k = reg.regime.column
            assert r[f"{k}_fraction_of_on"] == pytest.approx(int((tr["regime"] == i).sum()) / n_on)
            assert r[f"{k}_n_photons"] == reg.n_photons
        # the seed regime structure: simulated ON photons land at 40-50 ns mostly. 2 s hold one or two fittable
        # regimes (the fits' cross-selected halves spread a little wider): with one the global fit falls back
        # to a single exponential (said in the warnings), which agrees with the average lifetime
        k = Regime(40.0, 50.0).column
        assert 40 <= r[f"{k}_lifetime_ns"] < 50
        assert r["fit_mode"] in ("single", "global") and r[f"{k}_fit_success"]
        if r["fit_mode"] == "single":
            assert r[f"{k}_tau_ns"] == pytest.approx(r[f"{k}_lifetime_ns"], abs=3.0)
        assert "photons < 200" in r["warnings"]
        assert 0 < r["g2_zero"] < 0.5
        # spectra: band-edge peak of the simulator (2.064 eV band edge / 2.037 eV trap mixture)
        assert 2.03 < r["on_peak_ev"] < 2.08 and r["spectra_file"].endswith(f"{n}.spectra.npz")
        man = json.loads((out / n / batch.MANIFEST).read_text())
        assert man["complete"] and man["options_hash"] and dict(man["row"])["n_records"] == direct.n_records
        assert set(os.listdir(out / n)) == set(man["outputs"]) | {batch.MANIFEST}
    # summary files: parquet == csv == returned frame
    assert pl.read_parquet(out / "summary.parquet").equals(res.summary)
    csv = pl.read_csv(out / "summary.csv", infer_schema_length=None)
    assert csv["name"].to_list() == res.summary["name"].to_list()
    assert csv["n_records"].to_list() == res.summary["n_records"].to_list()


# ------------------------------------------------------------------------------------------------ resume
def mtimes(out: Path) -> dict:
    return {p.relative_to(out).as_posix(): p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()
            and p.parent != out}


def test_resume_skips_force_and_changes_recompute(src, tmp_path, monkeypatch):
    rec = copy_src(src, tmp_path / "in")
    out = tmp_path / "out"
    calls = CallCounter(monkeypatch)
    first = run(rec, out)
    assert sorted(calls.calls) == sorted(GOOD + BAD)
    before = mtimes(out)

    calls.calls.clear()
    second = run(rec, out)                                      # nothing changed: only the failed retried
    assert sorted(calls.calls) == sorted(BAD)
    assert second.n_skipped == 3 and second.n_failed == 2
    assert mtimes(out) == before
    assert by_name(second.summary)["qd1"]["status"] == "up-to-date"
    assert second.summary.drop("status").equals(first.summary.drop("status"))

    calls.calls.clear()
    run(rec, out, force=True)                                   # --force recomputes everything
    assert sorted(calls.calls) == sorted(GOOD + BAD)

    calls.calls.clear()
    from tagstream.simulate.files import simulate_to_files      # one input changes: only it is redone
    simulate_to_files(None, 2.0, rec / "qd3.qutag", seed=33, overwrite=True)
    run(rec, out)
    assert sorted(calls.calls) == sorted(["qd3"] + BAD)

    calls.calls.clear()                                         # options change: all recomputed,
    res = run(rec, out, config=AnalysisConfig(trace_bin_ms=50.0, regimes_ns=((40, 50),)))
    assert sorted(calls.calls) == sorted(GOOD + BAD)
    assert not (out / "qd1" / "decay_50-60ns.parquet").exists()  # stale outputs of the old options gone
    assert (out / "qd1" / "decay_40-50ns.parquet").exists()
    assert pl.read_parquet(out / "qd1" / "trace.parquet")["bin_start_ps"].diff()[1] == 50_000_000_000
    assert "regime_50-60ns_fraction_of_on" not in res.summary.columns

    calls.calls.clear()                                         # a setup change recomputes too
    run(rec, out, config=AnalysisConfig(trace_bin_ms=50.0, regimes_ns=((40, 50),)),
        setup=Setup(sync=5, spad_a=1, spad_b=2, frame=None, sync_divider=1000))
    assert sorted(calls.calls) == sorted(GOOD + BAD)


# ------------------------------------------------------------------------------------------------ safety
def test_refuses_to_overwrite_files_tagstream_did_not_write(src, tmp_path):
    out = tmp_path / "out"
    (out / "qd1").mkdir(parents=True)
    (out / "qd1" / "trace.parquet").write_bytes(b"user's own file")
    with pytest.raises(BatchError, match="did not write"):
        run(src, out)
    assert (out / "qd1" / "trace.parquet").read_bytes() == b"user's own file"
    assert sorted(os.listdir(out)) == ["qd1"]                   # nothing written

    out2 = tmp_path / "out2"
    out2.mkdir()
    (out2 / "summary.csv").write_text("mine\n")
    with pytest.raises(BatchError, match="summary.csv"):
        run(src, out2)
    assert (out2 / "summary.csv").read_text() == "mine\n"

    res = run(src, out, force=True)                              # --force: written over
    assert res.n_done == 3
    assert pl.read_parquet(out / "qd1" / "trace.parquet").height > 0
    # a user's file added later to a tagstream folder is refused as well
    (out / "qd2" / "my_fit.parquet").write_bytes(b"x")
    with pytest.raises(BatchError, match="my_fit.parquet"):
        run(src, out)


def test_atomic_path_keeps_old_file_on_error(tmp_path):
    p = tmp_path / "a.parquet"
    p.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(p) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("disk full")
    assert p.read_bytes() == b"old" and os.listdir(tmp_path) == ["a.parquet"]
    write_json_atomic(p, {"x": 1})
    assert json.loads(p.read_text()) == {"x": 1} and os.listdir(tmp_path) == ["a.parquet"]
    assert is_temp_name(".trace.parquet.k2j4h1_x.tmp") and not is_temp_name(".report.png.ab12cd34.png")
    assert not is_temp_name("trace.parquet") and not is_temp_name("report.png")


def test_interrupt_mid_write_leaves_no_complete_looking_output(src, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    orig = pl.DataFrame.write_parquet
    state = {"n": 0}

    def flaky(self, file, *a, **k):
        state["n"] += 1
        if state["n"] == 3:                      # third table: half a file, then Ctrl-C
            Path(file).write_bytes(b"PAR1 half")
            raise KeyboardInterrupt
        return orig(self, file, *a, **k)

    monkeypatch.setattr(pl.DataFrame, "write_parquet", flaky)
    with pytest.raises(KeyboardInterrupt):
        run_batch([src / "qd1.qutag"], out, config=CFG, workers=1, report=False, log=lambda m: None)
    monkeypatch.setattr(pl.DataFrame, "write_parquet", orig)
    d = out / "qd1"
    files = os.listdir(d)
    assert not any(is_temp_name(f) for f in files)                      # no temporary left behind
    man = json.loads((d / batch.MANIFEST).read_text())
    assert man["complete"] is False                                     # not mistaken for finished
    for f in files:                                                     # every file present is whole
        if f.endswith(".parquet"):
            pl.read_parquet(d / f)
    assert not (out / "summary.parquet").exists()
    res = run_batch([src / "qd1.qutag", src / "garbage.qutag"], out, config=CFG, workers=1, report=False,
                    progress=True)
    assert res.n_done == 1 and json.loads((d / batch.MANIFEST).read_text())["complete"] is True
    err = capsys.readouterr().err
    assert "2/2" in err and "file" in err                               # the tqdm bar: files done
    assert err.count("FAILED") == 1 and "garbage.qutag" in err          # one line per failed file


def test_killed_worker_then_resume(src, tmp_path):
    """A process killed (os._exit) in the middle of writing a recording's outputs: the folder is
    marked incomplete, and the next run recomputes it without complaining about foreign files."""
    out = tmp_path / "out"
    script = textwrap.dedent(f"""
        import os
        import tagstream.product as product
        from tagstream.export.batch import run_batch
        from tagstream.pipeline import AnalysisConfig
        def dying(self, d, **kw):
            name, df = next(iter(self.tables().items()))
            df.write_parquet(os.path.join(str(d), "." + name + ".abc.tmp"))   # a temp mid-write
            os._exit(9)
        product.Analysis.write = dying
        run_batch([{str(src / 'qd2.sstt')!r}, {str(src / 'qd3.qutag')!r}], {str(out)!r},
                  config=AnalysisConfig(trace_bin_ms=100.0), workers=1, report=False)
    """)
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert p.returncode == 9, p.stderr
    assert not (out / "summary.parquet").exists()
    man = json.loads((out / "qd2" / batch.MANIFEST).read_text())
    assert man["complete"] is False
    res = run_batch([src / "qd2.sstt", src / "qd3.qutag"], out, config=CFG, workers=1, report=False,
                    log=lambda m: None)
    assert res.n_done == 2 and res.n_failed == 0
    assert not any(is_temp_name(f) for f in os.listdir(out / "qd2"))


# ------------------------------------------------------------------------------------------------ parallel
def test_process_pool_and_dask_equal_in_process(src, tmp_path):
    pytest.importorskip("distributed")
    from distributed import LocalCluster

    ref = run(src, tmp_path / "one", workers=1)
    pool = run(src, tmp_path / "pool", workers=2)
    with LocalCluster(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as cluster:
        dask = run(src, tmp_path / "dask", scheduler=cluster)
    assert pool.summary.equals(ref.summary)
    assert dask.summary.equals(ref.summary)
    for n in GOOD:
        for f in sorted(os.listdir(tmp_path / "one" / n)):
            if f.endswith(".parquet"):
                a = pl.read_parquet(tmp_path / "one" / n / f)
                assert pl.read_parquet(tmp_path / "pool" / n / f).equals(a)
                assert pl.read_parquet(tmp_path / "dask" / n / f).equals(a)
    assert len({o["pid"] for o in pool.outcomes}) == 2                   # really two processes


def test_scheduler_without_dask_is_a_clear_error(src, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(BatchError, match=r"pip install 'tagstream\[cluster\]'"):
        run(src, tmp_path / "out", scheduler="tcp://127.0.0.1:1")


# ------------------------------------------------------------------------------------------------ CLI
def test_cli_export(src, tmp_path, capsys):
    from tagstream.cli import main

    rec = copy_src(src, tmp_path / "in")
    out = tmp_path / "out"
    rc = main(["export", str(rec / "qd1.qutag"), str(rec / "qd2.sstt"), str(rec / "garbage.qutag"), "--out", str(out),
               "--bin-ms", "100", "--workers", "1", "--spectra-pattern", "{stem}.spectra.npz", "--no-progress"])
    cap = capsys.readouterr()
    assert rc == 1
    assert "FAILED" in cap.err and "garbage.qutag" in cap.err
    assert "3 recordings: 2 analysed, 0 up to date, 1 failed" in cap.out
    df = pl.read_csv(out / "summary.csv", infer_schema_length=None)
    assert df["name"].to_list() == ["qd1", "qd2", "garbage"]
    assert df["status"].to_list() == ["done", "done", "error"]
    for n in ("qd1", "qd2"):
        png = out / n / "report.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rc = main(["export", str(rec / "qd1.qutag"), str(rec / "qd2.sstt"), "--out", str(out), "--bin-ms", "100",
               "--workers", "1", "--spectra-pattern", "{stem}.spectra.npz", "--no-progress"])
    cap = capsys.readouterr()
    assert rc == 0 and "0 analysed, 2 up to date, 0 failed" in cap.out
    rc = main(["export", str(rec), "--out", str(out), "--workers", "0"])
    assert rc == 2 and "--workers" in capsys.readouterr().err
