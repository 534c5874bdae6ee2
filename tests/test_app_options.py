"""The live window's analysis options equal analyze's (issue 15): the IRF control gives the FitOptions that
analyze --irf KIND|FILE [--irf-sigma-ps PS] gives (tagstream.commands.fit_options), every IRF kind offered."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from test_app import win  # noqa: E402,F401  (the window fixture)

from tagstream.analysis.fit_options import IRF_KINDS, FitOptions  # noqa: E402
from tagstream.commands.fit_options import add_fit_arguments, fit_options  # noqa: E402


def analyze_options(argv):
    p = argparse.ArgumentParser()
    add_fit_arguments(p)
    return fit_options(p.parse_args(argv))


def test_the_irf_control_offers_every_kind_analyze_has_and_defaults_to_analyzes(qtbot, win):
    kinds = {win.irf_box.itemData(i) for i in range(win.irf_box.count())}
    assert kinds == set(IRF_KINDS)
    assert win.irf_box.currentData() == "gaussian"
    assert win.fit_options() == analyze_options([]) == FitOptions()


@pytest.mark.parametrize("kind, sigma, tail, argv, table", [
    ("gaussian", 80.0, 0.0, ["--irf", "gaussian", "--irf-sigma-ps", "80"], {}),
    ("emg", 0.0, 0.0, ["--irf", "emg"], {}),
    ("emg", 60.0, 250.0, ["--irf", "emg", "--irf-sigma-ps", "60"], {"irf_tail_ps": 250.0}),
    ("delta", 0.0, 0.0, ["--irf", "delta"], {}),
    ("measured", 0.0, 0.0, None, {}),
])
def test_each_irf_setting_gives_analyzes_fit_options(qtbot, win, tmp_path, kind, sigma, tail, argv, table):
    irf_file = tmp_path / "irf.npz"
    np.savez(irf_file, t_ps=np.arange(10) * 100.0, counts=np.ones(10))
    if argv is None:
        argv = ["--irf", str(irf_file)]
    want = analyze_options(argv)
    if table:   # the tail has no CLI flag: the setup TOML's [fit] irf_tail_ps
        setup = tmp_path / "s.toml"
        setup.write_text("[fit]\n" + "".join(f"{k} = {v}\n" for k, v in table.items()))
        p = argparse.ArgumentParser()
        add_fit_arguments(p)
        args = p.parse_args(argv)
        args.setup = str(setup)
        want = fit_options(args)
    win.irf_box.setCurrentIndex(win.irf_box.findData(kind))
    win.irf_sigma.setValue(sigma)
    win.irf_tail.setValue(tail)
    win.irf_file.setText(str(irf_file))
    win._fit_changed()
    assert win.fit_options() == want
    assert win.controller.options is None or win.controller.options.fit_options == want
    assert win.irf_sigma.isEnabled() == (kind in ("gaussian", "emg"))
    assert win.irf_tail.isEnabled() == (kind == "emg")
    assert win.irf_file_row.isEnabled() == (kind == "measured")
    win.save_settings()
    win.irf_box.setCurrentIndex(0)
    win.irf_sigma.setValue(0.0)
    win.load_settings()                                  # kept between sessions
    assert win.fit_options() == want


def test_a_measured_irf_without_a_file_says_so_and_keeps_the_default(qtbot, win):
    win.irf_file.setText("")
    win.irf_box.setCurrentIndex(win.irf_box.findData("measured"))
    assert win.fit_options() is None
    assert "choose its file" in win.log.toPlainText()


def test_a_preview_before_the_laser_period_is_known_has_no_fit_rows():
    """The first live snapshots have no laser period yet: their preview shows no fits (the table's
    dashes), not a row of 'no laser period' errors that stayed until the next fit round; a final
    analysis without a period still says why nothing was fitted."""
    from tagstream.app.engine import LiveEngine
    from tagstream.app.views.fits import fit_rows
    from tagstream.chunk import TagChunk
    from tagstream.pipeline import AnalysisConfig, Pipeline
    from tagstream.product import AnalysisOptions
    from tagstream.setup import Setup

    rng = np.random.default_rng(3)
    pipe = Pipeline(Setup(), AnalysisConfig())
    pipe.feed(TagChunk(np.sort(rng.integers(0, 10**9, 3000)), rng.integers(1, 3, 3000).astype(np.uint16), 0))
    res = pipe.snapshot()
    assert not res.laser_period_ps and res.regimes
    eng = LiveEngine()
    eng.options = AnalysisOptions()
    preview = eng.analyze(res, preview=True)
    assert preview.fits is None
    assert all("laser period" not in " ".join(cells) for cells, _, _ in fit_rows(preview))
    final = eng.analyze(res)
    assert any("laser period" in w for w in final.warnings) or final.fits is not None
