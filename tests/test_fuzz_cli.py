"""Bad input through the command line (tagstream.cli.main in-process; a subprocess for the pipe): every
case of issue 13 and random option values for every command must end in one clear error line or a
warning, never a traceback, a hang or a silently accepted absurd value."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fuzzkit as F

CLI = settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    """A 0.4 s simulated recording (divider 1000 at 1 MHz, like the seed lab) with its sidecars."""
    from tagstream.cli import main

    d = tmp_path_factory.mktemp("cli")
    assert main(["simulate", "--duration-s", "0.4", "--seed", "3", "--no-spectra", "-o", str(d / "r.qutag")]) == 0
    return d / "r.qutag"


def _case(argv, want=("error",)):
    outcome, line = F.run_cli(argv, suite="cli cases")
    assert outcome in want, f"{argv}: {outcome}: {line}"
    return line


ANALYZE_BAD = [
    ["--bin-ms", "inf"], ["--bin-ms", "1e-9"], ["--bin-ms", "nan"], ["--bin-ms", "-5"], ["--sync-divider", "1e9"],
    ["--sync-divider", "0"], ["--laser-mhz", "1e9"], ["--laser-mhz", "0"], ["--laser-period-ps", "0.001"],
    ["--laser-period-ps", "1e15"], ["--laser-period-ps", "inf"], ["--on-threshold", "nan"], ["--on-threshold", "-1"],
    ["--t0-ps", "nan"], ["--g2-window-ps", "10", "--g2-bin-ps", "100"], ["--g2-window-ps", "1e12"],
    ["--g2-window-ps", "10000000000", "--g2-bin-ps", "1"], ["--microtime-offset-ps", "99999999999999999999"],
    ["--level-states", "0"], ["--level-states", "-1"], ["--level-states", "1000"], ["--level-states", "3"],
    ["--on-from-levels", "--on-threshold", "100"], ["--levels", "0.5"], ["--sync", "70000"], ["--spad-a", "-1"],
    ["--laser-mhz", "80", "--laser-period-ps", "12500"], ["--regimes", "50-40"], ["--spad-b", "7"],
]


@pytest.mark.parametrize("opts", ANALYZE_BAD, ids=" ".join)
def test_analyze_bad_options(rec, opts):
    line = _case(["analyze", str(rec), "--no-fit", *opts])
    assert "error" in line


def test_wrong_laser_rate_is_a_warning(rec, capsys):
    from tagstream.cli import main

    assert main(["analyze", str(rec), "--no-fit", "--laser-mhz", "80", "--json"]) == 0
    cap = capsys.readouterr()
    d = json.loads(cap.out)
    assert any("after gap" in w for w in d["warnings"]) and "warning:" in cap.err


def test_setup_and_sidecar_errors(rec, tmp_path):
    _case(["analyze", str(rec), "--setup", str(tmp_path)])
    for text in ["[channels]\nsync = 'five'\n", "[sync]\ndivider = 1.5\n", "[sync]\nfiltered = 'no'\n",
                 "[sync]\ndivider = 0\n", "[channels]\nmarkers = 3\n", "[delays_ps]\nx = 1\n", "channels = 3\n",
                 "[delays_ps]\n1 = 1e30\n", "\x00\xff"]:
        p = tmp_path / "s.toml"
        p.write_bytes(text.encode("latin-1"))
        _case(["analyze", str(rec), "--setup", str(p)])
    # a corrupt <rec>.meta.json sidecar: a clear error for analyze (it would set the divider), a warning for inspect
    d = tmp_path / "side"
    d.mkdir()
    r = d / "x.qutag"
    r.write_bytes(rec.read_bytes())
    (d / "x.qutag.meta.json").write_text('{"setup_toml": ')
    assert "meta.json" in _case(["analyze", str(r), "--no-fit"])
    _case(["inspect", str(r)], want=("warning", "ok"))


def test_os_errors_are_one_line(rec, tmp_path):
    _case(["inspect", str(tmp_path)])
    _case(["inspect", str(tmp_path), "--format", "qutag-binary"])
    _case(["inspect", str(tmp_path / "missing.qutag")])
    os.mkfifo(tmp_path / "fifo")
    _case(["inspect", str(tmp_path / "fifo")])
    (tmp_path / "file").write_text("x")
    _case(["analyze", str(rec), "--no-fit", "--export", str(tmp_path / "file" / "out")])
    _case(["convert", str(rec), str(tmp_path / "file" / "out.qutag")])
    _case(["simulate", "--duration-s", "0.1", "-o", str(tmp_path / "file" / "s.qutag")])
    _case(["convert", str(rec), str(tmp_path / "b.h5")], want=("ok",))   # .h5 is Photon-HDF5 ...
    from tagstream.io import detect_format
    assert detect_format(tmp_path / "b.h5") == "photon-hdf5"            # ... and is written as such
    _case(["convert", str(rec), str(tmp_path / "c.ptu")])               # a format we do not write
    _case(["convert", str(rec), "/proc/tagstream-nope.qutag"])
    (tmp_path / "bin.json").write_bytes(b"\x00\xff\xfe")
    _case(["simulate", "-o", str(tmp_path / "s.qutag"), "--params", str(tmp_path / "bin.json")])
    _case(["simulate", "-o", str(tmp_path / "s.qutag"), "--params", str(tmp_path)])
    (tmp_path / "p.json").write_text('{"rep_rate_hz": "abc"}')
    _case(["simulate", "-o", str(tmp_path / "s.qutag"), "--params", str(tmp_path / "p.json")])
    for opts in (["--sync-divider", "0"], ["--sync-divider", "-1"], ["--reorder-window-ps", "-1"], ["--sync-channel", "1e9"]):
        _case(["inspect", str(rec), *opts])


def test_broken_pipe_is_quiet(rec):
    p = subprocess.run(f"{sys.executable} -m tagstream.cli inspect {rec} | head -c 10", shell=True,
                       capture_output=True, text=True, timeout=120)
    assert p.stdout and "Traceback" not in p.stderr and "Error" not in p.stderr, p.stderr


# ----------------------------------------------------------------------------------- random options
def _value():
    return st.one_of(st.sampled_from(["0", "-1", "1", "nan", "inf", "-inf", "1e9", "1e-9", "1e300", "abc", "",
                                      "99999999999999999999", "0.5", "3", "1000", "100"]),
                     st.integers(-10**12, 10**12).map(str), st.floats(allow_nan=True).map(repr))


ANALYZE_OPTS = ["--bin-ms", "--sync-divider", "--laser-mhz", "--laser-period-ps", "--on-threshold", "--t0-ps",
                "--g2-window-ps", "--g2-bin-ps", "--microtime-offset-ps", "--level-states", "--levels", "--sync",
                "--spad-a", "--spad-b", "--frame", "--regimes"]


@CLI
@given(opts=st.lists(st.tuples(st.sampled_from(ANALYZE_OPTS), _value()), min_size=1, max_size=3))
def test_analyze_random_options(rec, opts):
    argv = ["analyze", str(rec), "--no-fit", "--no-spectra", "--json"] + [x for kv in opts for x in kv]
    outcome, line = F.run_cli(argv, suite="cli random analyze")
    assert outcome not in F.BAD, f"{argv}: {outcome}: {line}"


INSPECT_OPTS = ["--reorder-window-ps", "--sync-channel", "--sync-divider", "--format"]


@CLI
@given(opts=st.lists(st.tuples(st.sampled_from(INSPECT_OPTS), _value()), min_size=1, max_size=3))
def test_inspect_random_options(rec, opts):
    argv = ["inspect", str(rec), "--json"] + [x for kv in opts for x in kv]
    outcome, line = F.run_cli(argv, suite="cli random inspect")
    assert outcome not in F.BAD, f"{argv}: {outcome}: {line}"


SIM_OPTS = ["--duration-s", "--seed", "--rep-rate-hz", "--sync-divider", "--mean-excitations", "--ptrap-max",
            "--chunk-s"]


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(opts=st.lists(st.tuples(st.sampled_from(SIM_OPTS[1:]), _value()), min_size=1, max_size=2))
def test_simulate_random_options(tmp_path_factory, opts):
    out = tmp_path_factory.mktemp("sim") / "s.qutag"
    argv = ["simulate", "--duration-s", "0.05", "--no-spectra", "-o", str(out)] + [x for kv in opts for x in kv]
    outcome, line = F.run_cli(argv, suite="cli random simulate")
    assert outcome not in F.BAD, f"{argv}: {outcome}: {line}"


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(to=st.sampled_from([None, "qutag-binary", "sstt-v2"]), ext=st.sampled_from(["", ".qutag", ".sstt", ".h5", ".txt", ".ptu"]),
       window=_value())
def test_convert_random_options(rec, tmp_path_factory, to, ext, window):
    out = tmp_path_factory.mktemp("conv") / f"o{ext}"
    argv = ["convert", str(rec), str(out), "--reorder-window-ps", window] + (["--to", to] if to else [])
    outcome, line = F.run_cli(argv, suite="cli random convert")
    assert outcome not in F.BAD, f"{argv}: {outcome}: {line}"


def test_export_bad_options(rec, tmp_path):
    for opts in (["--workers", "0"], ["--workers", "1e9"], ["--bin-ms", "nan"], ["--sync-divider", "1e9"]):
        _case(["export", str(rec), "--out", str(tmp_path / "o"), "--no-progress", *opts])
