"""Readers reuse their decode buffers (no page faults per block): chunks a caller keeps must not change."""

import numpy as np
import pytest

from tagstream.chunk import TagChunk
from tagstream.io import open_tags, write_qutag_binary


@pytest.mark.parametrize("chunk_records", [1, 7, 1000, 1 << 20])
def test_kept_chunks_stay_intact_with_reused_decode_buffers(tmp_path, chunk_records):
    rng = np.random.default_rng(4)
    t = np.sort(rng.integers(0, 10**9, 5000)).astype(np.int64)
    jig = t.copy()
    jig[1::50] -= 3   # local disorder: the reorder tail is used
    c = rng.integers(1, 6, t.size).astype(np.uint16)
    p = tmp_path / "x.qutag"
    write_qutag_binary(p, TagChunk(jig, c, 0))
    kept = list(open_tags(p).chunks(chunk_records=chunk_records))
    got_t = np.concatenate([k.timestamps_ps for k in kept])
    got_c = np.concatenate([k.channels for k in kept])
    o = np.argsort(jig, kind="stable")
    np.testing.assert_array_equal(got_t, jig[o])
    np.testing.assert_array_equal(got_c, c[o])


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None)
@given(windows=st.lists(st.tuples(st.booleans(), st.integers(0, 3000), st.integers(0, 700)), min_size=1,
                        max_size=12))
def test_window_reader_read_ahead_returns_the_file_bytes(tmp_path_factory, windows):
    """WindowReader with read-ahead: sequential windows (served from the read-ahead), jumps, sizes
    that change, windows past the end: always exactly the file's bytes; a window stays intact until
    the next read."""
    from tagstream.io.base import WindowReader

    p = tmp_path_factory.mktemp("w") / "x.bin"
    data = np.random.default_rng(0).integers(0, 256, 2500).astype(np.uint8)
    data.tofile(p)
    for read_ahead in (True, False):
        w = WindowReader(p, read_ahead=read_ahead)
        off = 0
        try:
            for sequential, jump, n in windows:
                off = off if sequential else jump
                got = w.read(off, n)
                expected = data[off:off + n].copy()
                np.testing.assert_array_equal(got, expected)
                off += n
        finally:
            w.close()


def test_fused_quTAG_decode_equals_the_generic_reorder_path(tmp_path):
    """The quTAG binary reader decodes and order-scans straight into the reorder buffer; the generic
    path (decode, then Reorderer.push) gives the same chunks and the same disorder statistics."""
    from tagstream.io.qutag import _FixedRecordReader

    rng = np.random.default_rng(5)
    t = np.sort(rng.integers(0, 10**9, 20_000)).astype(np.int64)
    t[1::37] -= rng.integers(0, 50_000, t[1::37].size)       # local disorder within the window
    c = rng.integers(1, 6, t.size).astype(np.uint16)
    p = tmp_path / "x.qutag"
    write_qutag_binary(p, TagChunk(t, c, 0))
    for chunk_records in (1, 333, 1 << 14):
        fused = open_tags(p)
        generic = open_tags(p)
        generic._decode_block = lambda raw, n, loc, state, r=generic: _FixedRecordReader._decode_block(
            r, raw, n, loc, state)
        a = list(fused.chunks(chunk_records=chunk_records))
        b = list(generic.chunks(chunk_records=chunk_records))
        assert [len(x) for x in a] == [len(x) for x in b]
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x.timestamps_ps, y.timestamps_ps)
            np.testing.assert_array_equal(x.channels, y.channels)
            assert x.first_record == y.first_record
        assert fused.disorder == generic.disorder and fused.disorder["n_decreases"] > 0
