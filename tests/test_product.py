"""One analysis product (tagstream.product) for every caller: `tagstream export DIR --out B` writes per
recording the same tables with equal numbers as `tagstream analyze REC --export A` with the same
options; its summary row holds analyze's --json numbers; a live pipeline's Results give the same
analysis as the file; Regime spellings; warnings reach text, JSON and the summary row."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tagstream.cli import main
from tagstream.errors import TagstreamError
from tagstream.pipeline import AnalysisConfig, Pipeline
from tagstream.product import AnalysisOptions, analyze_recording
from tagstream.regime import Regime, parse_regimes
from tagstream.setup import Setup

FIX = Path(__file__).resolve().parents[1] / "fixtures"
REC = FIX / "qd_demo.qutag"
pytestmark = pytest.mark.skipif(not REC.is_file(), reason="fixtures/qd_demo.qutag absent")

OPTION_SETS = {
    "seed": ["--bin-ms", "100", "--on-threshold", "400", "--t0-ps", "0"],
    "single-custom": ["--bin-ms", "50", "--fit", "single", "--regimes", "38.5-50,50-70", "--levels", "0.95"],
}


def cli(args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in args])
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module", params=list(OPTION_SETS))
def both(request, tmp_path_factory):
    """analyze --export A --json and export DIR --out B of the same recording with the same options."""
    opts = OPTION_SETS[request.param]
    tmp = tmp_path_factory.mktemp(request.param)
    rec_dir = tmp / "in"
    rec_dir.mkdir()
    for f in FIX.glob("qd_demo.*"):
        shutil.copy(f, rec_dir / f.name)
    rc, out, err = cli(["analyze", rec_dir / "qd_demo.qutag", *opts, "--json", "--export", tmp / "A"])
    assert rc == 0, err
    rc, _, err = cli(["export", rec_dir, "--out", tmp / "B", *opts, "--workers", "1", "--no-progress"])
    assert rc == 0, err
    return json.loads(out), tmp / "A", tmp / "B" / "qd_demo", pl.read_parquet(tmp / "B" / "summary.parquet")


def test_batch_writes_the_same_tables_with_equal_numbers_as_analyze(both):
    doc, a, b, _ = both
    names_a = {p.name for p in a.iterdir()}
    names_b = {p.name for p in b.iterdir()} - {"tagstream-manifest.json"}
    assert names_a == names_b
    assert {"g2.parquet", "trace.parquet", "flid.parquet", "regime_fits.parquet", "trap_spectrum.parquet",
            "report.png"} <= names_a or doc["fit"]["mode"] != "global"
    assert len([n for n in names_a if n.startswith("spectra_")]) == len(doc["regimes"])
    assert sum(n.endswith(".parquet") for n in names_a) >= 3 + 2 * len(doc["regimes"]) + 1
    for n in sorted(names_a):
        if n.endswith(".parquet"):
            assert pl.read_parquet(a / n).equals(pl.read_parquet(b / n)), n


def test_summary_row_holds_the_json_numbers(both):
    doc, a, _, summary = both
    row = summary.row(0, named=True)
    assert row["status"] == "done" and row["error"] is None
    assert row["n_records"] == doc["n_records"] and row["g2_zero"] == doc["g2"]["g2_zero"]
    assert row["on_fraction"] == doc["trace"]["on_fraction"] and row["fit_mode"] == doc["fit"]["mode"]
    for r in doc["regimes"]:
        k = Regime(*r["range_ns"]).column
        assert row[f"{k}_n_photons"] == r["n_photons"]
        for name in ("tau_be_ns", "tau_trap_ns", "tau_ns", "trap_fraction", "peak_ev", "fwhm_mev"):
            if name in r:
                assert row[f"{k}_{name}"] == r[name], name
    fits = pl.read_parquet(a / "regime_fits.parquet")
    assert fits["regime"].to_list() == [Regime(*r["range_ns"]).file_tag for r in doc["regimes"]]
    assert row["on_peak_ev"] == doc["spectra"]["on"]["peak_ev"] and 2.03 < row["on_peak_ev"] < 2.08
    assert (row["warnings"] or None) == ("; ".join(doc["warnings"]) or None)


def test_live_results_give_the_same_analysis_as_the_file():
    """A pipeline fed in uneven chunks (as the live app feeds it) -> the product -> equal numbers."""
    from tagstream.io import open_tags

    setup = Setup.from_toml(FIX / "qd_demo.setup.toml")
    opts = AnalysisOptions(config=AnalysisConfig(trace_bin_ms=100.0), spectra=FIX / "qd_demo.spectra.npz")
    ref = analyze_recording(REC, opts)
    pipe = Pipeline(setup, opts.config)
    for c in open_tags(REC).chunks(chunk_records=77_777):
        pipe.feed(c)
    live = analyze_recording(pipe.snapshot(), opts, title="live")
    np.testing.assert_array_equal(live.results.trace.lifetime_ns, ref.results.trace.lifetime_ns)
    params = lambda a: [None if f is None else f.params for f in a.fits.fits]  # noqa: E731
    assert params(live) == params(ref) and sum(p is not None for p in params(ref)) >= 2
    for x, y in zip(live.spectra.spectra, ref.spectra.spectra):
        np.testing.assert_array_equal(x.density, y.density)
    assert live.tables().keys() == ref.tables().keys()
    for k, df in ref.tables().items():
        assert live.tables()[k].equals(df), k
    jl, jr = live.to_json(), ref.to_json()
    for k in ("regimes", "fit", "trap_spectrum", "g2", "trace", "decay"):
        assert jl[k] == jr[k], k


def test_regime_has_one_spelling_each():
    r = parse_regimes("40-50, 52.5-60")
    assert r == ((40.0, 50.0), (52.5, 60.0)) and isinstance(r[1], Regime)
    assert (r[1].label, r[1].file_tag, r[1].column, r[1].display) == ("52.5-60", "52p5-60ns", "regime_52p5-60ns",
                                                                      "52.5–60 ns")
    for bad in ("40", "50-40", "a-b"):
        with pytest.raises(ValueError):
            parse_regimes(bad)
    assert AnalysisConfig(regimes_ns="40-50").regimes_ns[0].file_tag == "40-50ns"


def test_warnings_reach_text_json_and_summary(tmp_path):
    """A regime with too few photons to fit is a warning in every output; no confident number for it."""
    args = ["analyze", REC, "--bin-ms", "100", "--regimes", "40-50,90-95", "--no-spectra"]
    rc, out, _ = cli(args + ["--json"])
    doc = json.loads(out)
    assert rc == 0 and any("90-95 ns" in w and "photons" in w for w in doc["warnings"])
    assert doc["regimes"][1]["tau_be_ns"] is None and doc["regimes"][1]["fit_message"]
    rc, out, _ = cli(args)
    assert "warning: regime 90-95 ns" in out
    a = analyze_recording(REC, AnalysisOptions(config=AnalysisConfig(trace_bin_ms=100, regimes_ns="40-50,90-95"),
                                               spectra_sidecar=False))
    assert "90-95 ns" in a.summary_row()["warnings"] and any("90-95" in n for n in a.report_notes())


def test_frame_timing_warning_reaches_the_analysis():
    """Spectra without frame triggers are placed by cycle time: said in warnings, not silently."""
    import dataclasses

    from tagstream.spectra import read_spectra

    s = read_spectra(FIX / "qd_demo.spectra.npz")
    series = dataclasses.replace(s, frame_start_ps=None, frame_times_s=None)
    setup = dataclasses.replace(Setup.from_toml(FIX / "qd_demo.setup.toml"), frame=None)
    a = analyze_recording(REC, AnalysisOptions(config=AnalysisConfig(trace_bin_ms=100), setup=setup, spectra=series))
    assert a.spectra is not None and a.spectra.timing_source == "cycle_time"
    assert any("frame triggers" in w for w in a.warnings) and any("frame triggers" in w for w in a.to_json()["warnings"])


def test_an_unreadable_spectra_file_is_reported_before_the_recording_is_analysed(tmp_path, monkeypatch):
    """analyze --spectra BAD.sif stops at once with the file's problem (it used to analyse and fit the
    whole recording first); a sidecar / batch spectra problem stays a warning of a finished analysis."""
    import tagstream.pipeline

    def must_not_run(*a, **k):
        raise AssertionError("the recording was analysed before the spectra were read")

    monkeypatch.setattr(tagstream.pipeline, "analyze_file", must_not_run)
    bad = tmp_path / "bad.sif"
    bad.write_bytes(b"not a SIF file at all")
    for spectra in (tmp_path / "missing.sif", bad):
        rc, out, err = cli(["analyze", REC, "--spectra", spectra])
        assert rc == 2 and spectra.name in err and "Traceback" not in err, err
    monkeypatch.undo()
    a = analyze_recording(REC, AnalysisOptions(spectra=bad, fit=None))
    assert a.spectra_error and "bad.sif" in a.spectra_error and any("bad.sif" in w for w in a.warnings)
    assert a.results.n_records > 0


def test_a_given_spectra_file_that_does_not_fit_the_recording_is_an_error_a_sidecar_a_warning(real_dir):
    """analyze --spectra FILE whose frames do not match the recording's frame triggers (here 20 SIF frames
    against the demo's 250 triggers) fails with one line saying so; analyze_recording says it the same way
    with strict_spectra, and as a warning of a finished analysis without it (batch, sidecars)."""
    sif = real_dir / "kinetic_series_20frames.sif"
    rc, out, err = cli(["analyze", REC, "--no-fit", "--spectra", sif])
    assert rc == 2 and "250 frame triggers but 20 spectra frames" in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and "--no-spectra" in err
    opts = AnalysisOptions(spectra=sif, fit=None)
    with pytest.raises(TagstreamError, match="20 spectra frames"):
        analyze_recording(REC, opts, strict_spectra=True)
    a = analyze_recording(REC, opts)
    assert a.spectra is None and "20 spectra frames" in a.spectra_error
    assert any("20 spectra frames" in w and "no spectra used" in w for w in a.warnings)


def test_the_global_fits_notes_are_said_once_not_on_every_regime_line():
    """The regimes' lines of a global fit carry only their own notes; the shared ones (a lifetime held at its
    bound, ...) stand once, on the global fit's line (they were repeated on every regime line)."""
    rc, out, _ = cli(["analyze", REC, *OPTION_SETS["seed"], "--no-spectra"])
    assert rc == 0
    glob = next(line for line in out.splitlines() if line.startswith("global fit:"))
    notes = glob[glob.index(" [") + 2:-1].split("; ")
    assert notes and any("at its bound" in n or " at 0 " in n for n in notes), glob   # the demo: a grey amplitude at 0
    regime_lines = [line for line in out.splitlines() if line.startswith("regime ") and "deviance" in line]
    assert len(regime_lines) == 3
    for line in regime_lines:
        assert not any(n in line for n in notes), line


def test_the_photons_the_fits_use_are_said():
    """Fits use the split-half cross-selected decay, not the regime's own photons: the text and --json
    say how many, so a regime of 0 bins that still gets a fit (noise in the halves) is not a riddle."""
    rc, out, _ = cli(["analyze", REC, *OPTION_SETS["seed"], "--no-fit", "--no-spectra"])
    rc2, js, _ = cli(["analyze", REC, *OPTION_SETS["seed"], "--no-fit", "--no-spectra", "--json"])
    assert rc == rc2 == 0
    for r in json.loads(js)["regimes"]:
        n_fit = r["n_fit_photons"]
        assert 0.8 * r["n_photons"] < n_fit < 1.25 * r["n_photons"]
        lab = "-".join(f"{x:g}" for x in r["range_ns"])
        assert f"regime {lab} ns: {r['n_bins']} bins, {r['n_photons']} photons (fits use {n_fit} split-half" in out
