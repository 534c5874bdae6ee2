"""Becker & Hickl SPC FIFO reader: the real SPC-150 file against the vendor's ASCII export and
phconvert; synthetic files (written by an obvious pure-Python encoder of the bh record layout) for
overflows, markers, invalid and GAP records, chunking, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import REAL, requires_real
from hypothesis import given, settings
from hypothesis import strategies as st

from tagstream.cli import main
from tagstream.errors import HeaderError, TruncatedFileError
from tagstream.io import detect_format, open_tags

SPC = REAL / "bh_spc150_noise.spc"
SET_TEXT = "*SETUP\n  #SP [SP_TAC_R,F,5e-08]\n  #SP [SP_TAC_G,I,5]\n  #SP [SP_ADC_RE,I,4096]\n  #SP [SP_MTCLK,I,1]\n*END\n"


@requires_real
def test_real_spc150_photons_equal_the_vendor_export():
    r = open_tags(SPC)
    assert detect_format(SPC) == "bh-spc"
    c = r.read_all()
    asc = np.loadtxt(REAL / "bh_spc150_noise.asc", dtype=np.int64)     # macrotime, microtime (units)
    assert len(c) == len(asc) == 6114
    unit = r.macro_unit_ps
    macro = (c.timestamps_ps - c.microtimes_ps) // int(unit)
    micro_bins = np.rint(c.microtimes_ps / r.resolution_ps).astype(np.int64)
    ours = np.lexsort((micro_bins, macro))
    theirs = np.lexsort((asc[:, 1], asc[:, 0]))
    np.testing.assert_array_equal(macro[ours], asc[theirs, 0])
    np.testing.assert_array_equal(micro_bins[ours], asc[theirs, 1])
    assert r.resolution_ps == pytest.approx(2.4430455)       # SP_TAC_TC of the .set


@requires_real
def test_real_spc150_equals_phconvert():
    bh = pytest.importorskip("phconvert.bhreader")
    d = bh.load_spc(str(SPC))["photon_data"]
    c = open_tags(SPC).read_all()
    m = np.rint(c.microtimes_ps / open_tags(SPC).resolution_ps).astype(np.int64)
    ours = sorted(zip(((c.timestamps_ps - c.microtimes_ps) // 9500).tolist(), m.tolist(), (c.channels - 1).tolist()))
    theirs = sorted(zip(d["timestamps"].astype(np.int64).tolist(), d["nanotimes"].astype(np.int64).tolist(),
                        d["detectors"].astype(np.int64).tolist()))
    assert ours == theirs


def encode(events, unit_01ns=125):
    """events: (kind, macrotime, route, micro_bin): kind photon / marker / invalid / gap-photon.
    The obvious encoder: one overflow as the MTOV flag of the next photon, else a multi-overflow record."""
    words = [0x80000000 | unit_01ns]
    ofl = 0
    for kind, mt, route, micro in events:
        n_ovf = mt // 4096 - ofl
        flag_mtov = 0
        if n_ovf == 1 and kind in ("photon", "gap-photon"):   # INVALID + MTOV would be a count record
            flag_mtov = 1 << 30
        elif n_ovf >= 1:
            words.append(0xC0000000 | n_ovf)
        ofl = mt // 4096
        low = mt % 4096
        if kind == "marker":
            words.append(0x90000000 | (route << 12) | low)
        elif kind == "invalid":
            words.append(0x80000000 | flag_mtov | ((4095 - micro) << 16) | (route << 12) | low)
        else:
            gap = (1 << 29) if kind == "gap-photon" else 0
            words.append(flag_mtov | gap | ((4095 - micro) << 16) | (route << 12) | low)
    return np.array(words, "<u4").tobytes()


def write_spc(tmp_path, events, name="run"):
    p = tmp_path / f"{name}.spc"
    p.write_bytes(encode(events))
    (tmp_path / f"{name}.set").write_text(SET_TEXT)
    return p


def make_events(rng, n=3000):
    mt = np.cumsum(rng.integers(0, 9000, n))       # gaps of up to ~2 overflows, some equal macrotimes
    kinds = rng.choice(["photon", "photon", "photon", "marker", "invalid"], n)
    return [(str(k), int(m), int(rng.integers(0, 3)), int(rng.integers(0, 4096))) for k, m in zip(kinds, mt)]


def expected(events):
    unit_ps, tc_ps = 12500, 5e-08 / (5 * 4096) * 1e12
    rows = []
    for kind, mt, route, micro in events:
        if kind == "photon" or kind == "gap-photon":
            m = int(np.rint(micro * tc_ps))
            rows.append((mt * unit_ps + m, route + 1, m))
        elif kind == "marker":
            rows.append((mt * unit_ps, 100 + route, -1))
    return sorted(rows)


def test_synthetic_spc_decodes_overflows_markers_and_invalid_records(tmp_path):
    ev = make_events(np.random.default_rng(1))
    p = write_spc(tmp_path, ev)
    c = open_tags(p).read_all()
    got = sorted(zip(c.timestamps_ps.tolist(), c.channels.tolist(), c.microtimes_ps.tolist()))
    assert got == expected(ev)
    assert np.all(np.diff(c.timestamps_ps) >= 0)


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 5000), st.integers(0, 10_000))
def test_spc_chunks_do_not_depend_on_the_chunk_size(tmp_path_factory, size, seed):
    tmp = tmp_path_factory.mktemp("spc")
    ev = make_events(np.random.default_rng(seed), 800)
    r = open_tags(write_spc(tmp, ev))
    whole = r.read_all()
    parts = list(r.chunks(size))
    for name in ("timestamps_ps", "channels", "microtimes_ps"):
        np.testing.assert_array_equal(np.concatenate([getattr(x, name) for x in parts]), getattr(whole, name))
    assert [x.first_record for x in parts] == list(np.cumsum([0] + [len(x) for x in parts[:-1]]))


def test_gap_records_are_warned(tmp_path):
    ev = [("photon", 10, 0, 100), ("gap-photon", 20, 0, 200), ("photon", 30, 1, 300)]
    r = open_tags(write_spc(tmp_path, ev))
    assert len(r.read_all()) == 3
    assert any("GAP" in w for w in r.warnings)


def test_spc_without_its_set_file_is_one_clear_error(tmp_path, capsys):
    p = write_spc(tmp_path, [("photon", 10, 0, 100)])
    (tmp_path / "run.set").unlink()
    with pytest.raises(HeaderError, match=r"\.set"):
        open_tags(p)
    assert main(["inspect", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run.set" in err


def test_spc_cut_inside_a_record_is_truncated(tmp_path):
    p = write_spc(tmp_path, [("photon", 10, 0, 100), ("photon", 20, 0, 100)])
    p.write_bytes(p.read_bytes()[:-2])
    r = open_tags(p)
    with pytest.raises(TruncatedFileError):
        r.read_all()
    r = open_tags(p, allow_truncated=True)
    assert len(r.read_all()) == 1 and r.warnings


def test_spc_header_word_is_checked(tmp_path):
    p = tmp_path / "x.spc"
    p.write_bytes(np.array([0x12345678, 0], "<u4").tobytes())
    (tmp_path / "x.set").write_text(SET_TEXT)
    with pytest.raises(HeaderError, match="header"):
        open_tags(p)


def test_spc_analyses_with_the_period_of_its_header(tmp_path, capsys):
    """Two detectors, photons 2 ns after pulses of a 12.5 ns sync-clocked macrotime: the decay peaks there."""
    rng = np.random.default_rng(3)
    mt = np.sort(rng.integers(0, 4_000_000, 20_000))
    micro = np.clip(rng.exponential(400, mt.size) + 2000, 0, 4095).astype(int)   # bins of 2.44 ps
    ev = [("photon", int(m), int(rng.integers(0, 2)), int(u)) for m, u in zip(mt, micro)]
    p = write_spc(tmp_path, ev)
    assert main(["analyze", str(p), "--no-fit", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["laser_period_ps"] == 12500.0 and d["setup"]["origins"]["laser_period_ps"] == "file header"
    assert d["setup"]["spad_b"] == 2 and d["g2"] is not None
    assert abs(d["decay"]["t0_ps"] - 2000 * 5e-08 / (5 * 4096) * 1e12) < 50     # the rise at 4.88 ns
