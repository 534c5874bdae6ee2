"""Reorder window: streaming output == global stable sort, for any chunking; errors beyond window."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tagstream.errors import TimeOrderError
from tagstream.io import open_tags
from tagstream.io.qutag import encode_binary_records, qutag_header
from tagstream.io.reorder import Reorderer


def _disordered(rng, n, window, max_jitter):
    base = np.sort(rng.integers(0, 50 * n + 1, n)) * 1000          # many ties after jitter
    jitter = rng.integers(0, max_jitter + 1, n)
    t = (base + jitter).astype(np.int64)
    # guarantee the disorder stays within the window
    assert n == 0 or np.max(np.maximum.accumulate(t) - t) <= window
    return t


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 400), seed=st.integers(0, 2**32 - 1), window=st.integers(0, 20_000),
       data=st.data())
def test_reorderer_equals_global_stable_sort(n, seed, window, data):
    rng = np.random.default_rng(seed)
    t = _disordered(rng, n, window, max_jitter=window // 2)
    ids = np.arange(n, dtype=np.uint16)          # channels carry the file order
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=8)))
    r = Reorderer(window)
    out_t, out_c = [], []
    for a, b in zip([0] + cuts, cuts + [n]):
        ot, oc = r.push(t[a:b], ids[a:b], lambda i: (None, None, None))
        out_t.append(ot)
        out_c.append(oc)
    ot, oc = r.finish()
    out_t.append(ot)
    out_c.append(oc)
    order = np.argsort(t, kind="stable")
    np.testing.assert_array_equal(np.concatenate(out_t), t[order])
    np.testing.assert_array_equal(np.concatenate(out_c), ids[order])     # ties keep file order
    assert r.n_decreases == int(np.count_nonzero(np.diff(t) < 0))
    assert r.max_decrease_ps == (int(np.max(np.maximum.accumulate(t) - t)) if n else 0)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 300), seed=st.integers(0, 2**32 - 1), chunk_records=st.integers(1, 350))
def test_file_reader_equals_global_stable_sort(tmp_path_factory, n, seed, chunk_records):
    rng = np.random.default_rng(seed)
    t = _disordered(rng, n, 1_000_000, max_jitter=900_000)
    c = rng.choice(np.array([1, 2, 5], np.uint16), n)
    p = tmp_path_factory.mktemp("ro") / "d.qutag"
    p.write_bytes(qutag_header(40 + 10 * n) + encode_binary_records(t, c))
    r = open_tags(p)
    chunks = list(r.chunks(chunk_records))
    assert all(0 < len(ch) <= chunk_records for ch in chunks)
    assert [ch.first_record for ch in chunks] == list(np.cumsum([0] + [len(ch) for ch in chunks])[:-1])
    order = np.argsort(t, kind="stable")
    np.testing.assert_array_equal(np.concatenate([ch.timestamps_ps for ch in chunks]), t[order])
    np.testing.assert_array_equal(np.concatenate([ch.channels for ch in chunks]), c[order])


@pytest.mark.parametrize("chunk_records", [1, 2, 3, 100])
def test_time_reversal_beyond_window(tmp_path, chunk_records):
    t = np.array([1_000, 5_000_000, 6_000_000, 3_000_000, 7_000_000], np.int64)   # 3 ms step back
    p = tmp_path / "rev.qutag"
    p.write_bytes(qutag_header(40 + 50) + encode_binary_records(t, [1] * 5))
    with pytest.raises(TimeOrderError, match="reorder window of 1000000 ps") as ei:
        list(open_tags(p).chunks(chunk_records))
    assert ei.value.record == 3 and ei.value.byte_offset == 40 + 30 and ei.value.path == p
    # a window wide enough accepts and sorts it
    got = open_tags(p, reorder_window_ps=3_000_000).read_all().timestamps_ps
    np.testing.assert_array_equal(got, np.sort(t))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 400), seed=st.integers(0, 2**32 - 1), window=st.integers(0, 20_000),
       max_out=st.integers(1, 50), data=st.data())
def test_reorderer_max_out_equals_global_stable_sort(n, seed, window, max_out, data):
    """max_out caps each push's output (the rest stays in the tail): same stream, chunks <= max_out."""
    rng = np.random.default_rng(seed)
    t = _disordered(rng, n, window, max_jitter=window)
    ids = np.arange(n, dtype=np.uint16)
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=8)))
    r = Reorderer(window)
    out_t, out_c = [], []
    for a, b in zip([0] + cuts, cuts + [n]):
        ot, oc = r.push(t[a:b], ids[a:b], lambda i: (None, None, None), max_out=max_out)
        assert ot.size <= max_out
        out_t.append(ot)
        out_c.append(oc)
    ot, oc = r.finish()
    order = np.argsort(t, kind="stable")
    np.testing.assert_array_equal(np.concatenate(out_t + [ot]), t[order])
    np.testing.assert_array_equal(np.concatenate(out_c + [oc]), ids[order])


def test_insertion_sort_budget_falls_back_to_argsort():
    """Heavy disorder exceeds the insertion-sort move budget: the argsort fallback gives the same
    stable sort (equal keys keep file order)."""
    from tagstream.io.reorder import insertion_sort_pairs

    rng = np.random.default_rng(3)
    t = rng.integers(0, 50, 5000).astype(np.int64)
    c = np.arange(t.size, dtype=np.uint16)
    r = Reorderer(10**9)
    ot, oc = r.push(t, c, lambda i: (None, None, None))
    ft, fc = r.finish()
    order = np.argsort(t, kind="stable")
    np.testing.assert_array_equal(np.concatenate([ot, ft]), t[order])
    np.testing.assert_array_equal(np.concatenate([oc, fc]), c[order])
    t2, c2 = t.copy(), c.copy()
    assert not insertion_sort_pairs(t2, c2, 0, 100)       # budget exceeded: partial, still a permutation
    o2 = np.argsort(t2, kind="stable")
    np.testing.assert_array_equal(c2[o2], c[order])

