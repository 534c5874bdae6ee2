"""CLI: `simulate` power-law blinking options and the dwell truth; `analyze --levels --json` blinking and
intensity-correlation keys; --export tables."""

from __future__ import annotations

import json

import numpy as np
import polars as pl

from tagstream.cli import main


def test_simulate_blinking_options_and_analyze_json(tmp_path, capsys):
    out = tmp_path / "b.qutag"
    assert main(["simulate", "--duration-s", "12", "--seed", "4", "--no-spectra", "--no-grey", "--on-alpha", "1.6",
                 "--off-alpha", "1.9", "--off-cutoff-s", "0.5", "--dwell-min-s", "0.01", "--dwell-max-s", "5",
                 "-o", str(out)]) == 0
    info = json.loads((tmp_path / "b.truth.json").read_text())
    p = info["params"]
    assert (p["on_alpha"], p["off_alpha"], p["off_cutoff_s"], p["on_to_grey_prob"], p["off_to_on_prob"]) == \
        (1.6, 1.9, 0.5, 0.0, 1.0)
    dw = pl.read_parquet(tmp_path / "b.dwells.parquet")
    assert set(dw["state"].unique()) == {"on", "off"}
    assert dw["censored"].to_list()[-1] and not any(dw["censored"].to_list()[:-1])
    assert np.all(dw["start_ps"].to_numpy()[1:] == dw["end_ps"].to_numpy()[:-1])
    capsys.readouterr()
    exp = tmp_path / "exp"
    assert main(["analyze", str(out), "--levels", "0.95", "--no-fit", "--json", "--export", str(exp)]) == 0
    d = json.loads(capsys.readouterr().out)
    for name in ("on", "off"):
        assert {"alpha", "alpha_err", "t_min_s", "n_dwells", "cutoff_s"} <= set(d["blinking"][name])
        assert d["blinking"][name]["n_dwells"] > 10
    ic = d["intensity_correlation"]
    assert len(ic["lag_s"]) == len(ic["g2"]) == len(ic["g2_err"]) > 40
    assert ic["lag_s"][0] < 1.5e-6 and ic["lag_s"][-1] > 5.0
    names = {p.name for p in exp.iterdir()}
    assert {"dwells.parquet", "dwell_histograms.parquet", "intensity_correlation.parquet", "report.png"} <= names
    assert isinstance(d.get("warnings", []), list)
