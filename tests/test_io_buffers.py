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
