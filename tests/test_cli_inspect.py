"""`tagstream inspect` and `tagstream convert` on real and generated files."""

from __future__ import annotations

import json

import numpy as np

from tagstream.chunk import TagChunk
from tagstream.cli import main
from tagstream.commands.inspect import estimate_period_ps
from tagstream.io import open_tags, write_qutag_binary


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_inspect_real_qutag(real_dir, capsys):
    s = _json(capsys, ["inspect", str(real_dir / "eta_qutag_80MHz_hbt_syncfiltered.qutag"), "--json",
                       "--sync-divider", "8"])
    assert s["format"] == "qutag-binary" and s["n_records"] == 267_801
    assert {k: v["count"] for k, v in s["channels"].items()} == {"1": 79_314, "2": 94_287, "5": 94_200}
    assert s["disorder"]["n_decreases"] == 173 and 80_000 < s["disorder"]["max_decrease_ps"] < 90_000
    assert 5.0 < s["duration_s"] < 5.1
    assert abs(s["channels"]["1"]["rate_hz"] - 79_314 / s["duration_s"]) < 1e-6
    # sync stream at ~100 ns (quTAG sync divider 8) -> ~80 MHz laser
    assert abs(s["laser"]["sync_interval_ps"] - 99_960) < 50
    assert 79.9e6 < s["laser"]["laser_rate_hz"] < 80.2e6
    assert s["metadata"]["header_size_field"] == s["metadata"]["file_size"]


def test_inspect_real_sstt(real_dir, capsys):
    path = str(real_dir / "QD02_r_1.sstt")
    assert main(["inspect", path]) == 2
    assert "QD02_r_1.sstt.c3" in capsys.readouterr().err
    s = _json(capsys, ["inspect", path, "--skip-missing-channels", "--json"])
    assert s["format"] == "sstt-v2"
    assert s["channels"]["1"]["count"] == 737 and s["channels"]["2"]["count"] == 302_944
    assert s["laser"]["sync_channel"] == 2 and s["laser"]["sync_divider"] == 1000
    assert abs(s["laser"]["laser_period_ps"] - 1e6) < 10          # 1 MHz laser (seed paper)
    assert s["metadata"]["missing_channel_files"] == ["QD02_r_1.sstt.c3", "QD02_r_1.sstt.c4"]
    assert main(["inspect", path, "--skip-missing-channels"]) == 0
    out = capsys.readouterr().out
    assert "302,944" in out and "1.0000 MHz" in out and "disorder" in out


def test_period_estimate_sync_filtered():
    rng = np.random.default_rng(1)
    period = 12_493.7
    k = np.cumsum(rng.geometric(1 / 300, 20_000))                  # kept syncs: random pulse numbers
    t = np.round(k * period + rng.normal(0, 5, k.size))
    assert abs(estimate_period_ps(np.diff(t)) - period) < 0.05
    assert estimate_period_ps(np.array([], np.int64)) is None


def test_convert_round_trip_and_force(tmp_path, capsys):
    rng = np.random.default_rng(3)
    t = np.sort(rng.integers(0, 10**13, 5000)).astype(np.int64)
    c = rng.choice(np.array([1, 2, 5], np.uint16), 5000)
    src = tmp_path / "a.qutag"
    write_qutag_binary(src, TagChunk.from_arrays(t, c))
    assert main(["convert", str(src), str(tmp_path / "b.sstt")]) == 0
    assert main(["convert", str(tmp_path / "b.sstt"), str(tmp_path / "c.qutag")]) == 0
    back = open_tags(tmp_path / "c.qutag").read_all()
    order = np.lexsort((c, t))
    np.testing.assert_array_equal(back.timestamps_ps, t[order])
    np.testing.assert_array_equal(back.channels, c[order])
    capsys.readouterr()
    assert main(["convert", str(src), str(tmp_path / "c.qutag")]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["convert", str(src), str(tmp_path / "c.qutag"), "--force"]) == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tagstream-convert")]


def test_help_has_examples(capsys):
    for cmd in ("inspect", "convert"):
        try:
            main([cmd, "--help"])
        except SystemExit:
            pass
        out = capsys.readouterr().out
        assert "examples:" in out and f"tagstream {cmd}" in out
