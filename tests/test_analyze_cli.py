"""`tagstream analyze`: JSON document, summary, Parquet export (atomic, no overwrite), setup errors."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from tagstream.cli import main
from tagstream.io import write_qutag_binary
from tagstream.simulate import SimulationParams, Simulation
from tests.conftest import REAL, requires_real


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    path = tmp_path_factory.mktemp("rec") / "sim.qutag"
    sim = Simulation(SimulationParams(), seed=3)
    write_qutag_binary(path, list(sim.chunks(chunk_s=1.0, duration_s=4)))
    return path


def test_json_has_required_keys(recording, capsys):
    rc = main(["analyze", str(recording), "--bin-ms", "100", "--on-threshold", "400", "--sync-divider", "1000",
               "--frame", "3", "--regimes", "40-50,50-60", "--json"])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    for k in ("duration_s", "laser_period_ps", "counts", "unreferenced_photons", "g2", "trace", "regimes"):
        assert k in d
    assert set(d["g2"]) >= {"bin_ps", "window_ps", "g2_zero", "g2_zero_err"}
    assert set(d["trace"]) >= {"bin_ms", "n_bins", "on_threshold", "on_fraction"}
    assert [r["range_ns"] for r in d["regimes"]] == [[40.0, 50.0], [50.0, 60.0]]
    assert d["laser_period_ps"] == pytest.approx(1e6)
    assert d["trace"]["n_bins"] == 40
    assert d["counts"]["frame"] == 40


def test_export_atomic_and_no_overwrite(recording, tmp_path, capsys):
    out = tmp_path / "exp"
    args = ["analyze", str(recording), "--sync-divider", "1000", "--bin-ms", "100", "--export", str(out)]
    assert main(args) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["g2.parquet", "trace.parquet", "flid.parquet", "decay_40-50ns.parquet",
                            "decay_50-60ns.parquet", "decay_60-70ns.parquet", "regime_fits.parquet",
                            "report.png"])   # fits on by default; no spectra sidecar, no correlation (opt-in)
    tr = pl.read_parquet(out / "trace.parquet")
    assert {"bin_start_ps", "counts_a", "counts_b", "lifetime_ns", "on", "regime"} <= set(tr.columns)
    g2 = pl.read_parquet(out / "g2.parquet")
    assert g2["tau_ps"][0] == -g2["tau_ps"][-1] - (g2["tau_ps"][1] - g2["tau_ps"][0])
    before = (out / "g2.parquet").stat().st_mtime_ns
    capsys.readouterr()
    assert main(args) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "g2.parquet").stat().st_mtime_ns == before
    assert main(args + ["--force"]) == 0
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_intensity_correlation_is_opt_in(recording, capsys):
    """analyze runs the 1 us - 10 s correlation when asked (--correlation) or with --levels (unless
    --no-correlation); the --json document has it exactly then."""
    from tagstream.cli import build_parser
    from tagstream.commands.analysis_options import analysis_config

    def corr(*flags):
        return analysis_config(build_parser().parse_args(["analyze", str(recording), *flags])).intensity_correlation

    assert (corr(), corr("--correlation"), corr("--levels"), corr("--levels", "--no-correlation")) == \
        (False, True, True, False)
    with pytest.raises(SystemExit):
        corr("--correlation", "--no-correlation")
    capsys.readouterr()
    base = ["analyze", str(recording), "--bin-ms", "100", "--sync-divider", "1000", "--no-fit", "--json"]
    for flags, present in (([], False), (["--correlation"], True)):
        assert main(base + flags) == 0
        d = json.loads(capsys.readouterr().out)
        assert ("intensity_correlation" in d) is present
    assert len(d["intensity_correlation"]["lag_s"]) > 40


def test_missing_channel_lists_present(recording, capsys):
    assert main(["analyze", str(recording), "--sync-divider", "1000", "--frame", "7"]) == 2
    err = capsys.readouterr().err
    assert "frame=7" in err and "[1, 2, 3, 5]" in err


def test_summary_text(recording, capsys):
    assert main(["analyze", str(recording), "--sync-divider", "1000", "--bin-ms", "100"]) == 0
    out = capsys.readouterr().out
    assert "g2(0)" in out and "ON fraction" in out and "regime 40-50 ns" in out


@requires_real
def test_real_file_sync_filtered(capsys):
    rc = main(["analyze", str(REAL / "eta_qutag_80MHz_hbt_syncfiltered.qutag"), "--sync-filtered",
               "--laser-mhz", "80", "--json"])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    assert d["counts"] == {"sync": 94200, "spad_a": 79314, "spad_b": 94287, "total": 267801}
    assert d["laser_period_ps"] == pytest.approx(12495.6, abs=0.05)
    assert d["unreferenced_photons"] < 1000
