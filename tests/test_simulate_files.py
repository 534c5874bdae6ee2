"""simulate_to_files, the .spectra.npz format and the `tagstream simulate` command."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from tagstream.cli import main
from tagstream.errors import SpectraFileError, TagstreamError
from tagstream.io import open_tags
from tagstream.setup import Setup
from tagstream.simulate import Simulation, SimulationParams
from tagstream.simulate.files import OutputExistsError, setup_for, simulate_to_files
from tagstream.simulate.spectra_file import read_spectra_npz, write_spectra_npz

PARAMS = SimulationParams(sync_divider=100)


def reference(params, duration_s, seed):
    sim = Simulation(params, seed=seed)
    chunks = list(sim.chunks(chunk_s=0.25, duration_s=duration_s))
    t = np.concatenate([c.timestamps_ps for c in chunks])
    ch = np.concatenate([c.channels for c in chunks])
    return t, ch, sim.pop_frames(), sim.truth(int(duration_s * 1e12))


@pytest.mark.parametrize("fmt,name", [("qutag-binary", "run.qutag"), ("sstt-v2", "run.sstt")])
def test_files_hold_exactly_the_simulated_stream(tmp_path, fmt, name):
    out = tmp_path / name
    files = simulate_to_files(PARAMS, 1.3, out, format=fmt, seed=7, chunk_s=0.4)
    t, ch, frames, truth = reference(PARAMS, 1.3, seed=7)
    back = open_tags(out).read_all()
    assert np.array_equal(back.timestamps_ps, t) and np.array_equal(back.channels, ch)
    assert files.n_records == t.size
    sp = read_spectra_npz(files.spectra)
    assert np.array_equal(sp.frames_adu, frames.frames_adu)
    assert np.array_equal(sp.frame_start_ps, t[ch == PARAMS.ch_frame])
    assert sp.exposure_s == PARAMS.exposure_s and sp.em_gain == PARAMS.em_gain
    assert np.allclose(sp.wavelength_coeffs_nm, PARAMS.wavelength_coeffs_nm)
    assert pl.read_parquet(files.truth_parquet).equals(truth)
    info = json.loads(files.truth_json.read_text())
    assert SimulationParams.from_dict(info["params"]) == PARAMS and info["seed"] == 7
    assert info["counts_per_channel"] == {str(c): int((ch == c).sum()) for c in np.unique(ch)}
    assert Setup.from_toml(files.setup) == setup_for(PARAMS)
    meta = json.loads(files.meta.read_text())
    assert meta["complete"] and Setup.from_dict(__import__("tomllib").loads(meta["setup_toml"])) == setup_for(PARAMS)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_refuses_to_overwrite_without_force(tmp_path):
    out = tmp_path / "a.qutag"
    simulate_to_files(PARAMS, 0.2, out, seed=1)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(OutputExistsError, match="a.qutag"):
        simulate_to_files(PARAMS, 0.3, out, seed=2)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    # a side file alone is enough to refuse
    (tmp_path / "b.truth.json").write_text("{}")
    with pytest.raises(OutputExistsError, match="b.truth.json"):
        simulate_to_files(PARAMS, 0.2, tmp_path / "b.qutag")
    assert not (tmp_path / "b.qutag").exists()
    files = simulate_to_files(PARAMS, 0.3, out, seed=2, overwrite=True)
    assert open_tags(out).read_all().timestamps_ps.max() > 0.2e12
    assert files.n_records == open_tags(out).n_records


def test_no_spectrometer_means_no_frames(tmp_path):
    p = PARAMS.replace(spectrometer=False)
    files = simulate_to_files(p, 0.3, tmp_path / "x.qutag")
    assert files.spectra is None and not (tmp_path / "x.spectra.npz").exists()
    assert 3 not in set(open_tags(files.tags).read_all().channels.tolist())
    assert Setup.from_toml(files.setup).frame is None


def test_spectra_npz_roundtrip_and_errors(tmp_path):
    frames = np.arange(12, dtype=np.float32).reshape(3, 4)
    path = write_spectra_npz(tmp_path / "s.spectra.npz", frames, [500.0, 0.5], [0, 10, 20], 0.1, 0.1, 100.0,
                             50.0, 2.0, 0.2)
    sp = read_spectra_npz(path)
    assert np.array_equal(sp.frames_adu, frames) and sp.n_frames == 3
    assert np.allclose(sp.wavelengths_nm(), [500, 500.5, 501, 501.5])
    with pytest.raises(FileExistsError):
        write_spectra_npz(path, frames, [500.0, 0.5], [0, 10, 20], 0.1, 0.1, 100.0, 50.0, 2.0, 0.2)
    with pytest.raises(ValueError):
        write_spectra_npz(tmp_path / "t.npz", frames, [500.0, 0.5], [0, 10], 0.1, 0.1, 100.0, 50.0, 2.0, 0.2)
    np.savez(tmp_path / "missing.npz", format_version=1, frames_adu=frames)
    with pytest.raises(SpectraFileError, match="lacks"):
        read_spectra_npz(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(SpectraFileError, match="not a readable"):
        read_spectra_npz(tmp_path / "junk.npz")
    with pytest.raises(SpectraFileError, match="does not exist"):
        read_spectra_npz(tmp_path / "nope.npz")
    data = dict(np.load(path))
    data["frame_start_ps"] = np.array([0, 20, 10])
    np.savez(tmp_path / "order.npz", **data)
    with pytest.raises(SpectraFileError, match="increasing"):
        read_spectra_npz(tmp_path / "order.npz")


def test_cli_simulate(tmp_path, capsys):
    out = tmp_path / "cli.qutag"
    assert main(["simulate", "--duration-s", "0.5", "--seed", "3", "-o", str(out), "--sync-divider", "10",
                 "--sync-filtered", "--no-blinking"]) == 0
    text = capsys.readouterr().out
    assert "wrote" in text and "cli.spectra.npz" in text
    info = json.loads((tmp_path / "cli.truth.json").read_text())
    assert info["params"]["sync_divider"] == 10 and info["params"]["sync_filtered"] is True
    assert info["params"]["blinking"] is False
    ref = Simulation(SimulationParams.from_dict(info["params"]), seed=3).finish(int(0.5e12))
    back = open_tags(out).read_all()
    assert np.array_equal(back.timestamps_ps, ref.timestamps_ps)
    # refuses to overwrite: one-line error, exit status 2
    assert main(["simulate", "--duration-s", "0.5", "-o", str(out)]) == 2
    assert "output exists" in capsys.readouterr().err
    # --params reuses a truth.json; command-line options override it
    out2 = tmp_path / "again.sstt"
    assert main(["simulate", "--params", str(tmp_path / "cli.truth.json"), "--duration-s", "0.2", "--no-spectra",
                 "--rep-rate-hz", "2e6", "-o", str(out2)]) == 0
    info2 = json.loads((tmp_path / "again.truth.json").read_text())
    assert info2["params"]["rep_rate_hz"] == 2e6 and info2["params"]["sync_divider"] == 10
    assert info2["format"] == "sstt-v2" and info2["params"]["spectrometer"] is False
    assert main(["simulate", "--duration-s", "0.2", "--mean-excitations", "-1", "-o", str(tmp_path / "z.qutag")]) == 2
    assert "mean-excitations" in capsys.readouterr().err


def test_cli_help_teaches(capsys):
    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    text = capsys.readouterr().out
    for needle in ("examples:", "--sync-divider", "--no-spectra", "--force", "tagstream simulate --duration-s 30"):
        assert needle in text


def test_bad_arguments_are_tagstream_errors(tmp_path):
    with pytest.raises(TagstreamError, match="format"):
        simulate_to_files(PARAMS, 1.0, tmp_path / "a.qutag", format="ptu")
    with pytest.raises(TagstreamError, match="duration"):
        simulate_to_files(PARAMS, 0.0, tmp_path / "a.qutag")
    with pytest.raises(TagstreamError, match="folder"):
        simulate_to_files(PARAMS, 0.1, tmp_path / "nope" / "a.qutag")
