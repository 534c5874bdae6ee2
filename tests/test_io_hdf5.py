"""Photon-HDF5: round trip, required fields, atomic no-overwrite writer, foreign files, bad input."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

from tagstream.chunk import TagChunk
from tagstream.errors import TagFileError, HeaderError
from tagstream.io import open_tags, detect_format, write_photon_hdf5


def _stream(n=5000, micro=True, seed=0):
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.integers(1, 200_000, n)).astype(np.int64)
    ch = rng.choice(np.array([1, 2, 5, 101], np.uint16), n)
    m = rng.integers(0, 1_000_000, n).astype(np.int64) if micro else None
    return TagChunk.from_arrays(t, ch, 0, m)


@pytest.mark.parametrize("micro", [True, False])
def test_round_trip_chunked(tmp_path, micro):
    c = _stream(micro=micro)
    p = tmp_path / "x.h5"
    write_photon_hdf5(p, [c.slice(a, a + 777) for a in range(0, len(c), 777)], period_ps=1_000_000,
                      description="test")
    assert detect_format(p) == "photon-hdf5"
    r = open_tags(p)
    for size in (1, 333, 1 << 20):
        parts = list(r.chunks(size))
        np.testing.assert_array_equal(np.concatenate([q.timestamps_ps for q in parts]), c.timestamps_ps)
        np.testing.assert_array_equal(np.concatenate([q.channels for q in parts]), c.channels)
        if micro:
            np.testing.assert_array_equal(np.concatenate([q.microtimes_ps for q in parts]), c.microtimes_ps)
        else:
            assert parts[0].microtimes_ps is None
    assert r.metadata["sync_period_ps"] == pytest.approx(1e6)


def test_required_fields_present(tmp_path):
    p = write_photon_hdf5(tmp_path / "f.h5", _stream(100), period_ps=12_500)
    with h5py.File(p, "r") as h:
        assert h.attrs["format_name"] == b"Photon-HDF5" and h.attrs["format_version"] == b"0.5"
        for key in ("description", "acquisition_duration", "photon_data/timestamps", "photon_data/detectors",
                    "photon_data/nanotimes", "photon_data/timestamps_specs/timestamps_unit",
                    "photon_data/nanotimes_specs/tcspc_unit", "photon_data/nanotimes_specs/tcspc_range",
                    "photon_data/nanotimes_specs/tcspc_num_bins", "photon_data/measurement_specs/measurement_type",
                    "setup/num_pixels", "setup/num_spots", "setup/num_spectral_ch", "setup/num_polarization_ch",
                    "setup/num_split_ch", "setup/modulated_excitation", "setup/lifetime",
                    "setup/excitation_alternated", "setup/excitation_cw", "identity/software",
                    "identity/creation_time", "identity/format_version", "identity/filename", "provenance"):
            assert key in h, key
        assert "TITLE" in h["photon_data/timestamps"].attrs
        assert h["setup/lifetime"][()] and h["photon_data/timestamps_specs/timestamps_unit"][()] == 1e-12
        assert h["photon_data/nanotimes_specs/tcspc_num_bins"][()] == 12500


def test_writer_refuses_overwrite_and_is_atomic(tmp_path):
    p = tmp_path / "keep.h5"
    p.write_bytes(b"user data")
    with pytest.raises(FileExistsError):
        write_photon_hdf5(p, _stream(10))
    assert p.read_bytes() == b"user data"

    def failing():
        yield _stream(10)
        raise RuntimeError("source died")
    with pytest.raises(RuntimeError):
        write_photon_hdf5(p, failing(), overwrite=True)
    assert p.read_bytes() == b"user data"
    assert [q.name for q in tmp_path.iterdir()] == ["keep.h5"]
    write_photon_hdf5(p, _stream(10), overwrite=True)
    assert len(open_tags(p).read_all()) == 10


def test_foreign_file_t3_style(tmp_path):
    """A phconvert-style file: 0-based detectors, timestamps in sync units, nanotimes separate."""
    p = tmp_path / "foreign.hdf5"
    ts = np.array([0, 1, 1, 3], np.int64)
    det = np.array([0, 1, 0, 1], np.uint8)
    nano = np.array([10, 500, 20, 7], np.uint16)
    with h5py.File(p, "w") as h:
        h.attrs["format_name"] = b"Photon-HDF5"
        h.attrs["format_version"] = b"0.4"
        h["description"] = b"foreign"
        h["photon_data/timestamps"] = ts
        h["photon_data/detectors"] = det
        h["photon_data/nanotimes"] = nano
        h["photon_data/timestamps_specs/timestamps_unit"] = 12.5e-9
        h["photon_data/nanotimes_specs/tcspc_unit"] = 16e-12
    c = open_tags(p).read_all()
    exp_t = ts * 12500 + np.rint(nano * 16.0).astype(np.int64)
    order = np.argsort(exp_t, kind="stable")
    np.testing.assert_array_equal(c.timestamps_ps, exp_t[order])
    np.testing.assert_array_equal(c.channels, (det + 1)[order])
    np.testing.assert_array_equal(c.microtimes_ps, np.rint(nano * 16.0).astype(np.int64)[order])


def test_not_photon_hdf5(tmp_path):
    p = tmp_path / "other.h5"
    with h5py.File(p, "w") as h:
        h["x"] = [1, 2]
    with pytest.raises(HeaderError, match="photon_data"):
        open_tags(p)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, 10_000), garbage=st.binary(max_size=64))
def test_truncated_or_garbled_h5(tmp_path, cut, garbage):
    src = tmp_path / "src.h5"
    if not src.exists():
        write_photon_hdf5(src, _stream(300))
    data = src.read_bytes()
    cut = cut % len(data)
    p = tmp_path / "bad.h5"
    p.write_bytes(data[:cut] + garbage)
    try:
        r = open_tags(p, format="photon-hdf5")
        for _ in r.chunks(50):
            pass
    except TagFileError:
        pass
