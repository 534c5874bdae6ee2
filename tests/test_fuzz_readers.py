"""Fuzz suite of the readers: truncation at every offset, byte flips, garbage after a valid magic and
lying header fields, for every format. Each input must give a clean one-line error, a warning or a
valid prefix, the same whatever the chunking (fuzzkit classifies). The default run samples (bounded
to a few seconds per test); the @slow variants try every offset and many more examples.
"""

from __future__ import annotations

import shutil
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fuzzkit as F

FAST = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
SLOW = settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    """{fmt: (folder, file, expected tags)} of small valid recordings."""
    ref = F.sample_tags()
    base = tmp_path_factory.mktemp("orig")
    return {fmt: (base / fmt, F.make_recording(fmt, base / fmt, ref), F.expected(fmt, ref)) for fmt in F.FORMATS}


def _variant(originals, fmt, tmp_path, member: str | None = None):
    """A fresh copy of the recording's folder; returns (file to open, file to damage, expected)."""
    folder, path, ref = originals[fmt]
    dst = tmp_path / f"v_{fmt}"
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(folder, dst)
    target = dst / (member or path.name)
    return dst / path.name, target, ref


def _check(outcome, detail, what):
    assert outcome not in F.BAD, f"{what}: {outcome}: {detail}"


def _members(originals, fmt):
    folder, path, _ = originals[fmt]
    return sorted(p.name for p in folder.iterdir())


def _truncate_all(originals, fmt, tmp_path, every: bool):
    for member in _members(originals, fmt):
        size = (originals[fmt][0] / member).stat().st_size
        offsets = range(size) if every else sorted(set(range(0, min(size, 48))) |
                                                   set(np.linspace(0, size - 1, 50).astype(int).tolist()))
        data = (originals[fmt][0] / member).read_bytes()
        for off in offsets:
            path, target, ref = _variant(originals, fmt, tmp_path, member)
            target.write_bytes(data[:off])
            _check(*F.classify_read(path, F.open_format(fmt), ref, suite=f"truncate {fmt}"), f"{member} cut at {off}")


@pytest.mark.parametrize("fmt", F.FORMATS)
def test_truncation(originals, fmt, tmp_path):
    _truncate_all(originals, fmt, tmp_path, every=False)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", [f for f in F.FORMATS if f != "photon-hdf5"])
def test_truncation_every_offset(originals, fmt, tmp_path):
    _truncate_all(originals, fmt, tmp_path, every=True)


def _flip(originals, fmt, tmp_path, data):
    members = _members(originals, fmt)
    member = data.draw(st.sampled_from(members))
    raw = bytearray((originals[fmt][0] / member).read_bytes())
    if not raw:
        return
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] ^= data.draw(st.integers(1, 255))
    path, target, ref = _variant(originals, fmt, tmp_path, member)
    target.write_bytes(bytes(raw))
    _check(*F.classify_read(path, F.open_format(fmt), ref, suite=f"flip {fmt}"), f"flip in {member}")


@pytest.mark.parametrize("fmt", F.FORMATS)
@FAST
@given(data=st.data())
def test_byte_flips(originals, fmt, tmp_path, data):
    _flip(originals, fmt, tmp_path, data)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", F.FORMATS)
@SLOW
@given(data=st.data())
def test_byte_flips_slow(originals, fmt, tmp_path, data):
    _flip(originals, fmt, tmp_path, data)


MAGICS = {"qutag-binary": ("rec.qutag", b"\x87\xb3\x91\xfa"), "qutag-compressed": ("rec.qutagc", b"\x87\xb3\x91\xfa"),
          "ptu": ("rec.ptu", b"PQTTTR\0\x001.0.00\0\0"), "photon-hdf5": ("rec.h5", b"\x89HDF\r\n\x1a\n"),
          "sstt-v2": ("rec.sstt", b"Simple Small Time Tagged (V2)\n"), "sstt-channel": ("rec.sstt.c1", b"SSTT2\0")}


def _garbage(originals, kind, tmp_path, tail):
    name, magic = MAGICS[kind]
    fmt = "sstt-v2" if kind.startswith("sstt") else kind
    path, target, _ = _variant(originals, fmt, tmp_path, name)
    target.write_bytes(magic + tail)
    _check(*F.classify_read(path, None, None, suite=f"garbage {kind}"), f"{kind} magic + {len(tail)} bytes")


@pytest.mark.parametrize("kind", sorted(MAGICS))
@FAST
@given(tail=st.binary(max_size=400))
def test_garbage_after_magic(originals, kind, tmp_path, tail):
    _garbage(originals, kind, tmp_path, tail)


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(MAGICS))
@SLOW
@given(tail=st.binary(max_size=4000))
def test_garbage_after_magic_slow(originals, kind, tmp_path, tail):
    _garbage(originals, kind, tmp_path, tail)


# --------------------------------------------------------------------------------------- lying headers
def _lie(originals, kind, tmp_path, data):
    if kind == "qutag-size":
        path, target, ref = _variant(originals, "qutag-binary", tmp_path)
        raw = bytearray(target.read_bytes())
        raw[4:8] = struct.pack("<I", data.draw(st.integers(0, 2**32 - 1)))
        target.write_bytes(bytes(raw))
    elif kind == "sstt-row":
        path, target, ref = _variant(originals, "sstt-v2", tmp_path)
        lines = target.read_text().split("\n")
        rows = [i for i, ln in enumerate(lines) if ln.split("\t")[0].isdigit()]
        i = data.draw(st.sampled_from(rows))
        cells = lines[i].split("\t")
        col = data.draw(st.integers(0, len(cells) - 1))
        cells[col] = data.draw(st.sampled_from(["-1", "0", "1", "2", "5", "99999999999999999999", "abc", "1e3", ""]))
        lines[i] = "\t".join(cells)
        target.write_text("\n".join(lines))
    elif kind == "sstt-unit":
        path, target, ref = _variant(originals, "sstt-v2", tmp_path)
        text = target.read_text()
        unit = data.draw(st.sampled_from(["abc", "0", "-1e-12", "nan", "inf", "1e300", "1.5e-12", "1e-9", "1e-15"]))
        target.write_text(text.replace("1.000000000000000e-12", unit, 1))
    elif kind == "ptu-records":
        path, target, ref = _variant(originals, "ptu", tmp_path)
        raw = bytearray(target.read_bytes())
        at = raw.index(b"TTResult_NumberOfRecords") + 40
        raw[at:at + 8] = struct.pack("<q", data.draw(st.integers(-2**63, 2**63 - 1)))
        target.write_bytes(bytes(raw))
    elif kind == "ptu-resolution":
        path, target, ref = _variant(originals, "ptu", tmp_path)
        raw = bytearray(target.read_bytes())
        at = raw.index(b"MeasDesc_GlobalResolution") + 40
        raw[at:at + 8] = struct.pack("<d", data.draw(st.floats(allow_nan=True, allow_infinity=True)))
        target.write_bytes(bytes(raw))
    elif kind == "hdf5-values":
        import h5py
        path, target, ref = _variant(originals, "photon-hdf5", tmp_path)
        dtype = data.draw(st.sampled_from(["<u8", "<i8", "<u4", "<f8"]))
        values = data.draw(st.lists(st.integers(-2**63, 2**64 - 1), min_size=1, max_size=20))
        unit = data.draw(st.sampled_from([1e-12, 1e-9, 1e-3, 0.5, 1e-20, -1e-12]))
        with h5py.File(target, "r+") as h:
            del h["photon_data/timestamps"]
            del h["photon_data/detectors"]
            arr = np.array([v % 2**64 if dtype == "<u8" else max(min(v, 2**63 - 1), -2**63) for v in values],
                           dtype=object)
            h["photon_data/timestamps"] = arr.astype(dtype) if dtype != "<u4" else (arr % 2**32).astype(dtype)
            h["photon_data/detectors"] = np.zeros(len(values), np.uint8)
            h["photon_data/timestamps_specs/timestamps_unit"][()] = unit
    else:
        raise ValueError(kind)
    _check(*F.classify_read(path, None, None, suite=f"lie {kind}"), kind)


LIES = ["qutag-size", "sstt-row", "sstt-unit", "ptu-records", "ptu-resolution", "hdf5-values"]


@pytest.mark.parametrize("kind", LIES)
@FAST
@given(data=st.data())
def test_lying_header(originals, kind, tmp_path, data):
    _lie(originals, kind, tmp_path, data)


@pytest.mark.slow
@pytest.mark.parametrize("kind", LIES)
@SLOW
@given(data=st.data())
def test_lying_header_slow(originals, kind, tmp_path, data):
    _lie(originals, kind, tmp_path, data)
