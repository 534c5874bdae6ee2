"""Every real recording in ../shared/real, end to end with no channel options: the setup each one
proposes (header / first tags), what `analyze` says, and our decoders against independent ones
(ptufile for PTU, phconvert and the vendor's ASCII export for bh SPC, a brute-force pair count for g2,
another tool's g2 of the same file)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import REAL, requires_real

from tagstream.cli import main
from tagstream.io import open_tags
from tagstream.io.propose import propose_setup
from tagstream.pipeline import AnalysisConfig, analyze_file
from tagstream.setup import resolve_setup

pytestmark = requires_real

T3 = REAL / "hydraharp_t3_syncdiv8_hbt.ptu"
T2_HBT = REAL / "hydraharp_t2_hbt.ptu"
PTUS = ["hydraharp_t2_hbt.ptu", "hydraharp_t2_v30.ptu", "hydraharp_t3_syncdiv8_hbt.ptu"]

# file -> (sync, spad_a, spad_b, sync_divider, sync_filtered, laser period ps (None: measured / none), warning part)
EXPECTED = {
    "hydraharp_t2_hbt.ptu": (None, 1, 2, 1, False, None, "no laser period"),
    "hydraharp_t2_v30.ptu": (None, 1, None, 1, False, None, "one detector only"),
    "hydraharp_t3_syncdiv8_hbt.ptu": (None, 1, 2, 1, False, 12512.587663189168, "background"),
    "eta_qutag_80MHz_hbt_syncfiltered.qutag": (5, 1, 2, 1, True, pytest.approx(99964.8, abs=0.5), "background"),
    "QD02_r_1.sstt": (2, 1, None, 1000, False, None, "one detector only"),
    "bh_spc150_noise.spc": (None, 1, None, 1, False, 9500.0, "one detector only"),
}


def _resolved(name):
    reader = open_tags(REAL / name, skip_missing_channels=True)
    header, probe = propose_setup(reader)
    return resolve_setup(REAL / name, header), probe


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_recording_proposes_its_setup(name):
    rs, _ = _resolved(name)
    sync, a, b, div, filt, period, _ = EXPECTED[name]
    s = rs.setup
    assert (s.sync, s.spad_a, s.spad_b, s.sync_divider, s.sync_filtered) == (sync, a, b, div, filt)
    assert rs.laser_period_ps == period
    assert rs.origins["spad_a"] in ("file header", "first tags")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_analyze_runs_on_every_recording_says_its_setup_and_warns(name, capsys):
    opts = ["--no-fit"]
    if name == "QD02_r_1.sstt":   # its photon files .c3/.c4 are not shipped: a clear error, then read the rest
        assert main(["analyze", str(REAL / name), *opts]) == 2
        assert "QD02_r_1.sstt.c3" in capsys.readouterr().err
        opts.append("--skip-missing-channels")
    assert main(["analyze", str(REAL / name), *opts, "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["setup"]["origins"]["spad_a"] in ("file header", "first tags")
    assert isinstance(d["warnings"], list)
    assert any(EXPECTED[name][6] in w for w in d["warnings"]), d["warnings"]
    if d["laser_period_ps"] is None:     # no sync: no lifetime numbers at all
        assert all(r["n_photons"] == 0 for r in d["regimes"])
    assert main(["analyze", str(REAL / name), *opts]) == 0
    text = capsys.readouterr().out
    assert "setup: " in text and ("(file header)" in text or "(first tags)" in text)
    assert "warning: " in text


def test_sync_filter_is_recognised_on_the_quTAG_recording(capsys):
    """The issue's case: default options took the filtered sync for a plain 8.44 us one."""
    rs, probe = _resolved("eta_qutag_80MHz_hbt_syncfiltered.qutag")
    assert rs.setup.sync_filtered and rs.origins["sync_filtered"] == "first tags"
    assert probe["sync"]["filtered_fraction"] > 0.9
    assert main(["analyze", str(REAL / "eta_qutag_80MHz_hbt_syncfiltered.qutag"), "--no-fit"]) == 0
    out = capsys.readouterr().out
    assert "8440" not in out and "sync filter detected" in out
    from tagstream.plausibility import sync_warnings
    assert any("sync-filtered" in w for w in sync_warnings(probe["sync"], sync_filtered=False))
    assert sync_warnings(probe["sync"], sync_filtered=True) == []


def test_cli_flags_beat_the_header():
    reader = open_tags(T3)
    header, _ = propose_setup(reader)
    rs = resolve_setup(T3, header, cli={"spad_a": 2, "spad_b": 1, "laser_period_ps": 12500.0})
    assert (rs.setup.spad_a, rs.setup.spad_b, rs.laser_period_ps) == (2, 1, 12500.0)
    assert rs.origins["spad_a"] == rs.origins["laser_period_ps"] == "CLI"
    assert rs.origins["sync"] == "file header"


# --- PTU against ptufile -----------------------------------------------------------------------
@pytest.mark.parametrize("name", PTUS)
def test_ptu_photons_equal_ptufile_count_for_count(name):
    ptufile = pytest.importorskip("ptufile")
    with ptufile.PtuFile(REAL / name) as f:
        rec = f.decode_records()
        is_t3 = f.is_t3
        global_res_ps = f.global_resolution * 1e12
        res_ps = f.tcspc_resolution * 1e12 if is_t3 else None
    ph = rec[rec["channel"] >= 0]
    ours = open_tags(REAL / name).read_all()
    photons = ours.channels < 99
    assert photons.sum() == len(ph)
    for ch in np.unique(ph["channel"]):
        assert (ours.channels == ch + 1).sum() == (ph["channel"] == ch).sum()
    if is_t3:
        t = np.rint(ph["time"] * global_res_ps).astype(np.int64) + np.rint(ph["dtime"] * res_ps).astype(np.int64)
        m = np.rint(ph["dtime"] * res_ps).astype(np.int64)
        order = np.lexsort((m, ph["channel"] + 1, t))
        ours_order = np.lexsort((ours.microtimes_ps[photons], ours.channels[photons], ours.timestamps_ps[photons]))
        np.testing.assert_array_equal(ours.microtimes_ps[photons][ours_order], m[order])
    else:
        t = np.rint(ph["time"] * global_res_ps).astype(np.int64)
        order = np.lexsort((ph["channel"] + 1, t))
    ours_t = np.sort(ours.timestamps_ps[photons])
    np.testing.assert_array_equal(ours_t, t[order])


def test_t3_decay_equals_the_ptufile_dtime_histogram():
    """Decay of the T3 file (dtimes folded into the laser period, HWSync_Divider 8) = ptufile's dtimes
    folded and binned the same way, bin for bin."""
    ptufile = pytest.importorskip("ptufile")
    with ptufile.PtuFile(T3) as f:
        rec = f.decode_records()
        res_ps = f.tcspc_resolution * 1e12
        period_ps = f.global_resolution * 1e12
    rs, _ = _resolved(T3.name)
    res = analyze_file(T3, rs.setup, AnalysisConfig(laser_period_ps=rs.laser_period_ps, g2=False))
    d = res.decay
    micro = np.rint(rec["dtime"][rec["channel"] >= 0] * res_ps).astype(np.int64) % int(round(period_ps))
    ref = np.minimum(micro // d.bin_ps, len(d.counts) - 1)
    np.testing.assert_array_equal(d.counts, np.bincount(ref, minlength=len(d.counts)))
    assert d.counts.sum() == (rec["channel"] >= 0).sum()


# --- g2 of the T2 HBT file ----------------------------------------------------------------------
def _brute_force_g2(a, b, window_ps, bin_ps):
    """Every pair tau = tB - tA in [-W, W), binned: the obvious computation."""
    lo = np.searchsorted(b, a - window_ps, "left")
    hi = np.searchsorted(b, a + window_ps, "left")
    taus = np.concatenate([b[x:y] - t for t, x, y in zip(a, lo, hi) if y > x])
    return np.bincount((taus + window_ps) // bin_ps, minlength=2 * window_ps // bin_ps)


def test_g2_of_the_t2_file_equals_a_brute_force_pair_count_and_another_tools_result():
    W, BIN = 160_000, 16        # the other tool's binning: 10000 bins of 16 ps on each side
    rs, _ = _resolved(T2_HBT.name)
    res = analyze_file(T2_HBT, rs.setup, AnalysisConfig(g2_window_ps=W, g2_bin_ps=BIN))
    c = open_tags(T2_HBT).read_all()
    a, b = c.timestamps_ps[c.channels == 1], c.timestamps_ps[c.channels == 2]
    brute = _brute_force_g2(a, b, W, BIN)
    assert res.g2.bin_ps == BIN and res.g2.window_ps == W
    np.testing.assert_array_equal(res.g2.counts, brute)
    eta = np.load(REAL / "hydraharp_t2_hbt.eta_g2.npz")
    n = W // BIN
    ab, ba = res.g2.counts[n:], res.g2.counts[:n][::-1]   # tau >= 0 (A then B); tau < 0 (B then A)
    np.testing.assert_array_equal(eta["hist1"].shape, (n,))
    # bin for bin on the A-then-B side; coarser (160 ps) on the other, whose bin edges fall differently
    for ours, theirs, k in ((ab, eta["hist1"], 1), (ba, eta["hist2"], 10)):
        coarse = lambda h: h.reshape(-1, k).sum(1)  # noqa: E731
        assert np.corrcoef(coarse(ours), coarse(theirs))[0, 1] > 0.99
        assert 0.98 < theirs.sum() / ours.sum() < 1.0        # it counts ~1 % fewer pairs


def test_batch_export_analyses_t3_spc_and_no_sync_recordings_with_their_own_setup(tmp_path):
    from tagstream.export.batch import run_batch

    names = ["hydraharp_t3_syncdiv8_hbt.ptu", "hydraharp_t2_hbt.ptu", "bh_spc150_noise.spc"]
    res = run_batch([REAL / n for n in names], tmp_path / "out", fits=False, report=False, progress=False)
    assert res.n_done == 3 and res.n_failed == 0
    periods = dict(zip(res.summary["file"].to_list(), res.summary["laser_period_ps"].to_list()))
    by_name = {str(k).rsplit("/", 1)[-1]: v for k, v in periods.items()}
    assert by_name["hydraharp_t3_syncdiv8_hbt.ptu"] == pytest.approx(12512.587663189168)
    assert by_name["bh_spc150_noise.spc"] == 9500.0 and by_name["hydraharp_t2_hbt.ptu"] is None
