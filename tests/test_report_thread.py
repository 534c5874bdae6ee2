"""The report renders in any thread (a Dask worker runs tasks on threads): matplotlib's Agg canvas
needs no GUI thread, and the page drawn in a worker thread is byte-identical to the main thread's."""

import threading
from pathlib import Path

import pytest

from tagstream.export.parquet import ExportError
from tagstream.export.report import render_report
from tagstream.pipeline import AnalysisConfig
from tagstream.product import AnalysisOptions, analyze_recording

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def analysis():
    rec = Path(__file__).resolve().parents[1] / "fixtures" / "qd_demo.qutag"
    return analyze_recording(rec, AnalysisOptions(config=AnalysisConfig(trace_bin_ms=100, t0_ps=0)))


def _in_threads(fns):
    out = {}

    def run(i, fn):
        try:
            out[i] = fn()
        except BaseException as exc:  # handed back to the test thread
            out[i] = exc

    ts = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(fns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert not any(t.is_alive() for t in ts)
    for v in out.values():
        if isinstance(v, BaseException):
            raise v
    return [out[i] for i in range(len(fns))]


def test_reports_from_worker_threads_equal_the_main_thread(analysis, tmp_path):
    main = render_report(analysis, tmp_path / "main.png")
    paths = _in_threads([lambda i=i: render_report(analysis, tmp_path / f"t{i}.png") for i in range(2)])
    assert main.read_bytes()[:8] == PNG_MAGIC
    for p in paths:
        assert p.read_bytes() == main.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["main.png", "t0.png", "t1.png"]   # no leftovers


def test_report_error_in_a_thread_is_a_clear_tagstream_error(analysis, tmp_path):
    (tmp_path / "r.png").write_bytes(b"user's file")
    with pytest.raises(ExportError, match="r.png"):
        _in_threads([lambda: render_report(analysis, tmp_path / "r.png")])
    assert (tmp_path / "r.png").read_bytes() == b"user's file"
