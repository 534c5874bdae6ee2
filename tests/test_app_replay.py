"""A finished replay of fixtures/qd_demo.qutag, at any speed, ends with the finalized analysis that
`tagstream analyze` gives with the window's settings (product: tagstream.product.analyze_recording):
regime photon counts, g2(0), the band-edge + trap fits, the trap spectrum; with the default settings
(t0 = 0, the seed's convention) every default regime gets photons; the fit table shows those numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from test_app import WAIT_MS, win  # noqa: E402,F401  (the window fixture)
from tagstream.product import AnalysisOptions, analyze_recording  # noqa: E402

REC = Path(__file__).resolve().parents[1] / "fixtures" / "qd_demo.qutag"
pytestmark = pytest.mark.skipif(not REC.is_file(), reason="fixtures/qd_demo.qutag absent")


def finished_analysis(qtbot, win):
    c = win.controller
    qtbot.waitUntil(lambda: c.finished, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: c.analysis is not None and c.analysis.results.final and c.complete, timeout=120_000)
    return c.analysis


@pytest.mark.parametrize("speed", [40.0, 1e6])
def test_a_finished_replay_is_analyzes_result_at_any_speed(qtbot, win, speed):
    win.replay(str(REC), speed=speed)
    live = finished_analysis(qtbot, win)
    cfg = win.config_from_controls()
    assert cfg.t0_ps == 0.0 and cfg.regimes_ns == ((40.0, 50.0), (50.0, 60.0), (60.0, 70.0))   # the defaults
    ref = analyze_recording(REC, AnalysisOptions(config=cfg, fit=win.fit_box.currentData()))
    r, q = live.results, ref.results
    assert r.final and q.final and r.n_records == q.n_records
    assert [x.n_photons for x in r.regimes] == [x.n_photons for x in q.regimes]
    assert all(x.n_photons > 1000 for x in r.regimes)            # the default regimes all get photons
    assert r.g2.g2_zero == q.g2.g2_zero and r.g2.g2_zero_err == q.g2.g2_zero_err
    np.testing.assert_array_equal(r.trace.on, q.trace.on)
    assert live.fits.mode == ref.fits.mode == "global"            # band edge + trap by default
    np.testing.assert_equal(live.fits.global_fit.params, ref.fits.global_fit.params)    # NaN == NaN here
    np.testing.assert_equal(live.fits.global_fit.errors, ref.fits.global_fit.errors)
    assert [f.fractions for f in live.fits.fits] == [f.fractions for f in ref.fits.fits]
    assert live.spectra is not None and ref.spectra_source == "sidecar"     # the sidecar spectra, as analyze
    for x, y in zip(live.spectra.spectra, ref.spectra.spectra):
        np.testing.assert_array_equal(x.density, y.density)
    assert win.docks["spectra"].isVisibleTo(win) or win.tabifiedDockWidgets(win.docks["spectra"])
    assert (live.spectra.trap is None) == (ref.spectra.trap is None)
    if ref.spectra.trap is not None:
        np.testing.assert_array_equal(live.spectra.trap.density, ref.spectra.trap.density)
    # the window shows exactly these numbers
    rows = win.fit_table.text().splitlines()
    assert len(rows) == 3
    g = ref.fits.global_fit
    for row, x in zip(rows, q.regimes):
        assert f"{x.n_photons:,}" in row and f"{g.params['tau_be_ns']:.1f}" in row
    trap = win.views["trap"]
    if ref.spectra.trap is not None:
        np.testing.assert_array_equal(trap.curve.getOriginalDataset()[0], ref.spectra.trap.energy_ev)
    else:
        assert trap.message
    assert win.views["g2"].text.startswith(f"g²(0) = {q.g2.g2_zero:.3f}")


def test_a_regime_drag_after_the_replay_gives_analyzes_result_for_the_new_regimes(qtbot, win):
    win.replay(str(REC), speed=1e6)
    finished_analysis(qtbot, win)
    region = win.views["histogram"].regions[2]
    region.setRegion((58.2, 71.9))
    region.sigRegionChangeFinished.emit(region)
    c = win.controller
    want = ((40.0, 50.0), (50.0, 60.0), (58.0, 72.0))
    qtbot.waitUntil(lambda: c.analysis is not None and c.analysis.results.selection.regimes_ns == want
                    and c.complete, timeout=120_000)
    ref = analyze_recording(REC, AnalysisOptions(config=win.config_from_controls(), fit="global"))
    assert ref.results.selection.regimes_ns == want
    assert [x.n_photons for x in c.analysis.results.regimes] == [x.n_photons for x in ref.results.regimes]
    np.testing.assert_equal(c.analysis.fits.global_fit.params, ref.fits.global_fit.params)
    assert "58–72 ns" in win.fit_table.text()


def test_fit_model_and_irf_controls_reach_the_product(qtbot, win):
    from tagstream.analysis.fit_options import FitOptions

    win.replay(str(REC), speed=1e6)
    finished_analysis(qtbot, win)
    c = win.controller
    win.fit_box.setCurrentIndex(win.fit_box.findData("single"))
    qtbot.waitUntil(lambda: c.analysis is not None and c.analysis.fits is not None and c.analysis.fits.mode == "single"
                    and c.complete, timeout=120_000)
    assert c.options.fit == "single"
    ref = analyze_recording(REC, AnalysisOptions(config=win.config_from_controls(), fit="single"))
    np.testing.assert_equal([f.params for f in c.analysis.fits.fits], [f.params for f in ref.fits.fits])
    win.irf_box.setCurrentIndex(win.irf_box.findData("emg"))
    qtbot.waitUntil(lambda: c.options.fit_options is not None and c.options.fit_options.irf == "emg", timeout=5000)
    assert c.options.fit_options == FitOptions(irf="emg")
    qtbot.waitUntil(lambda: c.analysis is not None and c.complete
                    and "irf_tail_ps" in c.analysis.fits.fits[0].params, timeout=120_000)
