"""Shared test fixtures: paths to bundled fixtures and to the team's real recordings."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
# the team's real recordings: ../shared/real from a checkout at /work/X; TAGSTREAM_REAL=DIR elsewhere (a worktree)
REAL = Path(os.environ.get("TAGSTREAM_REAL") or ROOT.parent / "shared" / "real")

requires_real = pytest.mark.skipif(not REAL.is_dir(), reason="../shared/real (the team's real recordings) is absent")


@pytest.fixture
def real_dir() -> Path:
    if not REAL.is_dir():
        pytest.skip("../shared/real (the team's real recordings) is absent")
    return REAL


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(autouse=True)
def _collect_garbage_in_the_main_thread():
    """Free each test's garbage here, in the main thread: pyqtgraph items hold reference cycles, and
    a Qt object freed by a collection that happens to run in a later test's worker thread crashes the
    process (the app itself collects in its GUI thread: app/gc_guard.py)."""
    yield
    gc.collect()


def pytest_terminal_summary(terminalreporter):
    """The fuzz suite's outcome table (tests/fuzzkit.py), when fuzz tests ran."""
    import sys

    kit = sys.modules.get("fuzzkit")
    if kit is not None and kit.COUNTS:
        terminalreporter.write_sep("-", "fuzz outcomes (issue 13)")
        terminalreporter.write_line(kit.table())
