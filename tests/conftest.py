"""Shared test fixtures: paths to bundled fixtures and to the team's real recordings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
REAL = ROOT.parent / "shared" / "real"

requires_real = pytest.mark.skipif(not REAL.is_dir(), reason="../shared/real (the team's real recordings) is absent")


@pytest.fixture
def real_dir() -> Path:
    if not REAL.is_dir():
        pytest.skip("../shared/real (the team's real recordings) is absent")
    return REAL


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES
