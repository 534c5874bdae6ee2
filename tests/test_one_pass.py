"""One pass per record (Pipeline.feed_ordered, used by analyze_file for quTAG BINARY / RAW): the microtime
kernel reads the records straight from the file's bytes and checks their order itself; where a window is not
time-ordered, holds an impossible channel or a negative time, or is shorter than the reorder window, the
reader's general path (decode, reorder, errors) takes over. Either way the result equals the general path's
over the whole file bit for bit (or the same error), for any window size and wherever the anomaly is."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tagstream.errors import TagFileError
from tagstream.io import open_tags
from tagstream.io.qutag import BINARY_RECORD, QutagBinaryReader, qutag_header
from tagstream.pipeline import AnalysisConfig, Pipeline, analyze_file
from tagstream.simulate import SimulationParams
from tagstream.simulate.files import setup_for, simulate_to_files
from test_slices import EVERY_STAGE, compare

CFG = AnalysisConfig(**EVERY_STAGE)


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    d = tmp_path_factory.mktemp("one_pass")
    p = SimulationParams(sync_divider=1, rep_rate_hz=2e6)
    files = simulate_to_files(p, 0.4, d / "plain.qutag", seed=5)
    rec = np.fromfile(files.tags, np.uint8)[40:].view(BINARY_RECORD).copy()
    return d, rec, setup_for(p)


def _write(path, rec) -> None:
    with open(path, "wb") as f:
        f.write(qutag_header(40 + rec.nbytes))
        f.write(rec.tobytes())


def general_path(path, setup, config, chunk_records):
    """The reference: every record decoded and reordered by reader.chunks(), fed chunk by chunk."""
    reader = open_tags(path)
    pipe = Pipeline(setup, config)
    for chunk in reader.chunks(chunk_records):
        pipe.feed(chunk)
    return pipe.finalize(), reader.disorder


def resumes(monkeypatch) -> list:
    """Where analyze_file resumed the reader's general path (chunks(start=...)), call by call."""
    out = []
    real = QutagBinaryReader.chunks
    monkeypatch.setattr(QutagBinaryReader, "chunks", lambda self, *a, **kw: out.append(kw.get("start")) or
                        real(self, *a, **kw))
    return out


def outcome(fn):
    try:
        return fn(), None
    except TagFileError as e:
        return None, (type(e), str(e))


def test_ordered_file_takes_the_one_pass(plain, monkeypatch):
    d, rec, setup = plain
    path = d / "ordered.qutag"
    _write(path, rec)
    resumed = resumes(monkeypatch)
    res = analyze_file(path, setup, CFG, chunk_records=1 << 16)
    assert resumed == []          # never decoded by the general path
    ref, disorder = general_path(path, setup, CFG, 1 << 16)
    compare(ref, res)
    assert disorder["n_decreases"] == 0


ANOMALIES = ["none", "step_back", "swap", "far_back", "bad_channel", "negative", "burst", "tail"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_anomaly_anywhere_equals_the_general_path(plain, data, monkeypatch):
    d, rec, setup = plain
    rec = rec.copy()
    n = rec.shape[0]
    kind = data.draw(st.sampled_from(ANOMALIES), label="kind")
    k = data.draw(st.integers(1, n - 2), label="record")
    chunk = data.draw(st.sampled_from([1 << 10, 1 << 13, 1 << 16, 1 << 20]), label="chunk_records")
    extra = b""
    if kind == "step_back":    # a tag 0.3 us early, within the 1 us reorder window
        rec["t"][k] = rec["t"][k - 1] - 300_000 if rec["t"][k - 1] >= 300_000 else 0
    elif kind == "swap":
        rec[[k - 1, k]] = rec[[k, k - 1]]
    elif kind == "far_back":   # beyond the window: TimeOrderError from both paths
        rec["t"][k] = max(int(rec["t"][k - 1]) - 5_000_000, 0)
    elif kind == "bad_channel":
        rec["c"][k] = 77
    elif kind == "negative":
        rec["t"][k] = -1
    elif kind == "burst":      # 3000 tags within 0.3 us: windows shorter than the reorder window
        m = min(3000, n - k)
        rec["t"][k:k + m] = rec["t"][k] + np.arange(m) // 10
        rec["t"][k + m:] = np.maximum(rec["t"][k + m:], rec["t"][k + m - 1])
    elif kind == "tail":       # a cut-off last record (TruncatedFileError after all whole records)
        extra = b"\x01\x02\x03"
    path = d / f"case_{kind}.qutag"
    with open(path, "wb") as f:
        f.write(qutag_header(40 + rec.nbytes + len(extra)))
        f.write(rec.tobytes() + extra)
    ref, err_ref = outcome(lambda: general_path(path, setup, CFG, chunk)[0])
    res, err = outcome(lambda: analyze_file(path, setup, CFG, chunk_records=chunk))
    assert err == err_ref
    if err is None:
        compare(ref, res)


def test_disordered_window_resumes_where_proved(plain, monkeypatch):
    """A step back in the fourth window: the general path resumes at the third (the last unproved one)."""
    d, rec, setup = plain
    rec = rec.copy()
    w = 1 << 14
    k = 3 * w + 100
    rec["t"][k] = rec["t"][k - 1] - 200_000
    path = d / "step.qutag"
    _write(path, rec)
    resumed = resumes(monkeypatch)
    res = analyze_file(path, setup, CFG, chunk_records=w)
    assert resumed == [(2 * w, int(rec["t"][2 * w - 1]))]
    compare(general_path(path, setup, CFG, w)[0], res)
