"""The report renders from any thread (batch export on Dask runs tasks on worker threads, where Qt
widgets must not live): off the main thread it is rendered by a child process."""

import threading
from pathlib import Path

import pytest

from tagstream.errors import TagstreamError
from tagstream.export.report import render_report, render_report_anywhere
from tagstream.pipeline import AnalysisConfig, analyze_file
from tagstream.setup import setup_for_recording

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def results():
    rec = Path(__file__).resolve().parents[1] / "fixtures" / "qd_demo.qutag"
    return analyze_file(rec, setup_for_recording(rec)[0], AnalysisConfig(trace_bin_ms=100, t0_ps=0))


def _in_thread(fn):
    out = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as exc:  # handed back to the test thread
            out["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    t.join(120)
    assert not t.is_alive()
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_report_from_a_worker_thread_equals_the_main_thread_size(results, tmp_path):
    main = render_report(results, tmp_path / "main.png", title="t")
    other = _in_thread(lambda: render_report_anywhere(results, tmp_path / "thread.png", title="t"))
    assert other.read_bytes()[:8] == PNG_MAGIC
    # same page geometry (PNG IHDR width/height at bytes 16..24)
    assert other.read_bytes()[16:24] == main.read_bytes()[16:24]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["main.png", "thread.png"]   # no leftovers


def test_report_child_error_is_a_clear_tagstream_error(results, tmp_path):
    (tmp_path / "r.png").write_bytes(b"user's file")
    with pytest.raises(TagstreamError, match="r.png"):
        _in_thread(lambda: render_report_anywhere(results, tmp_path / "r.png"))
    assert (tmp_path / "r.png").read_bytes() == b"user's file"
