"""The bundled fixtures: reproducible by the command in fixtures/README.md, and representative."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tagstream.cli import main
from tagstream.io import open_tags
from tagstream.simulate import truth_per_bin
from tagstream.simulate.spectra_file import read_spectra_npz

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def readme_commands() -> dict[str, list[str]]:
    """Fixture name -> argv of the `tagstream simulate` command the README gives for it."""
    text = (FIXTURES / "README.md").read_text()
    out = {}
    for line in re.findall(r"^\s+tagstream simulate .*$", text, flags=re.M):
        argv = shlex.split(line.strip())[1:]
        out[argv[argv.index("-o") + 1].split("/")[-1]] = argv
    return out


def test_readme_names_every_fixture():
    cmds = readme_commands()
    assert set(cmds) == {"qd_demo.qutag", "qd_syncfiltered.qutag", "qd_short.sstt"}
    for name in cmds:
        assert (FIXTURES / name).exists()


@pytest.mark.parametrize("name", ["qd_demo.qutag", "qd_syncfiltered.qutag", "qd_short.sstt"])
def test_fixture_is_reproduced_by_its_readme_command(tmp_path, name):
    argv = readme_commands()[name]
    argv[argv.index("-o") + 1] = str(tmp_path / name)
    assert main(argv) == 0
    new = open_tags(tmp_path / name).read_all()
    old = open_tags(FIXTURES / name).read_all()
    assert np.array_equal(new.timestamps_ps, old.timestamps_ps) and np.array_equal(new.channels, old.channels)
    stem = name.rsplit(".", 1)[0]
    assert pl.read_parquet(tmp_path / f"{stem}.truth.parquet").equals(pl.read_parquet(FIXTURES / f"{stem}.truth.parquet"))
    assert json.loads((tmp_path / f"{stem}.truth.json").read_text()) == json.loads((FIXTURES / f"{stem}.truth.json").read_text())
    if (FIXTURES / f"{stem}.spectra.npz").exists():
        a, b = read_spectra_npz(tmp_path / f"{stem}.spectra.npz"), read_spectra_npz(FIXTURES / f"{stem}.spectra.npz")
        assert np.array_equal(a.frames_adu, b.frames_adu) and np.array_equal(a.frame_start_ps, b.frame_start_ps)


def test_demo_is_representative():
    tags = open_tags(FIXTURES / "qd_demo.qutag").read_all()
    t, ch = tags.timestamps_ps, tags.channels
    truth = pl.read_parquet(FIXTURES / "qd_demo.truth.parquet")
    assert set(truth["state"].to_list()) == {"on", "grey", "off"}
    trig = t[ch == 3]
    assert trig.size == 250 and np.all(np.diff(trig) == 100_000_000_000)
    sp = read_spectra_npz(FIXTURES / "qd_demo.spectra.npz")
    assert np.array_equal(sp.frame_start_ps, trig)
    # measured 100-ms counts and mean microtimes (divider 1000: microtime = delay after sync mod period)
    ph = t[(ch == 1) | (ch == 2)]
    sync = t[ch == 5]
    mt_ns = ((ph - sync[np.searchsorted(sync, ph, side="right") - 1]) % 1_000_000) / 1000.0
    b = ph // 100_000_000_000
    counts = np.bincount(b, minlength=250)
    mean_mt = np.bincount(b, weights=mt_ns, minlength=250) / np.maximum(counts, 1)
    tb = truth_per_bin(truth, 100_000_000_000)
    assert np.corrcoef(counts, tb["expected_counts"].to_numpy())[0, 1] > 0.99
    on = counts > 400  # the seed's ON threshold
    assert 100 < on.sum() < 220 and (counts < 100).sum() > 10 and ((counts > 150) & (counts < 350)).sum() > 10
    regimes = np.histogram(mean_mt[on], [40, 50, 60, 70])[0]
    assert np.all(regimes >= 15), regimes
