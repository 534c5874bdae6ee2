"""A finished replay of fixtures/qd_demo.qutag, at any speed, ends with the finalized analysis that
`tagstream analyze` gives with the window's settings (product: tagstream.product.analyze_recording):
regime photon counts, g2(0), the band-edge + trap fits, the trap spectrum, the same Results arrays and
the same exported tables; with the default settings (t0 = 0, the seed's convention) every default regime
gets photons; the fit table shows those numbers.

One finished replay (and its `analyze` reference) is shared by the tests of this module (a module-scoped
window: the replay and the two global fits are most of the time); the tests that change the selection run
after the ones that check the defaults. Other replay speeds run with -m slow."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import polars as pl
import pytest

pytest.importorskip("pytestqt")
from PyQt6 import QtCore  # noqa: E402
from pytestqt.qtbot import QtBot  # noqa: E402

from test_app import WAIT_MS, win  # noqa: E402,F401  (the window fixture)
from tagstream.app.window import MainWindow  # noqa: E402
from tagstream.product import AnalysisOptions, analyze_recording  # noqa: E402

REC = Path(__file__).resolve().parents[1] / "fixtures" / "qd_demo.qutag"
pytestmark = pytest.mark.skipif(not REC.is_file(), reason="fixtures/qd_demo.qutag absent")
FIT_WAIT_MS = 300_000    # a global fit under a loaded 2-core machine


def finished_analysis(qtbot, win):
    c = win.controller
    qtbot.waitUntil(lambda: c.finished, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: c.analysis is not None and c.analysis.results.final and not c.preview and c.complete,
                    timeout=FIT_WAIT_MS)
    return c.analysis


@pytest.fixture(scope="module")
def replayed(request, qapp, tmp_path_factory):
    """(window, its finished analysis, analyze's result with the window's default settings) of one replay
    at 10^6 x real time."""
    d = tmp_path_factory.mktemp("replay")
    settings = QtCore.QSettings(str(d / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    w = MainWindow(settings=settings, fit_interval_s=0.3)
    w.show()
    try:
        w.replay(str(REC), speed=1e6)
        # analyze's reference meanwhile, here, while the engine process replays and fits (two cores: the
        # two global fits side by side, ~half the fixture's time)
        ref = analyze_recording(REC, AnalysisOptions(config=w.config_from_controls(), fit=w.fit_box.currentData()))
        live = finished_analysis(QtBot(request), w)
        yield w, live, ref
    finally:
        w.controller.shutdown()
        w.close()
        leaked = [t.name for t in threading.enumerate() if t.name.startswith("tagstream-") and t.is_alive()]
        assert not leaked, f"threads left running after the window closed: {leaked}"


def assert_equals_analyze(win, live, ref):
    cfg = win.config_from_controls()
    assert cfg.t0_ps == 0.0 and cfg.regimes_ns == ((40.0, 50.0), (50.0, 60.0), (60.0, 70.0))   # the defaults
    assert ref.spectra_source == "sidecar" and ref.setup == win.setup_from_controls()
    r, q = live.results, ref.results
    assert r.final and q.final and r.n_records == q.n_records > 100_000
    assert [x.n_photons for x in r.regimes] == [x.n_photons for x in q.regimes]
    assert all(x.n_photons > 1000 for x in r.regimes)            # the default regimes all get photons
    assert r.g2.g2_zero == q.g2.g2_zero and r.g2.g2_zero_err == q.g2.g2_zero_err
    for a, b in ((r.trace.counts, q.trace.counts), (r.trace.lifetime_ns, q.trace.lifetime_ns),
                 (r.trace.on, q.trace.on), (r.g2.counts, q.g2.counts), (r.decay.counts, q.decay.counts)):
        np.testing.assert_array_equal(a, b)
    assert [x.counts.tolist() for x in r.regimes] == [x.counts.tolist() for x in q.regimes]
    assert live.fits.mode == ref.fits.mode == "global"            # band edge + trap by default
    np.testing.assert_equal(live.fits.global_fit.params, ref.fits.global_fit.params)    # NaN == NaN here
    np.testing.assert_equal(live.fits.global_fit.errors, ref.fits.global_fit.errors)
    # the final result has the profile intervals (the live previews skip them: AnalysisWorker, preview)
    assert ref.fits.global_fit.intervals and live.fits.global_fit.intervals == ref.fits.global_fit.intervals
    assert [None if f is None else f.fractions for f in live.fits.fits] == \
        [None if f is None else f.fractions for f in ref.fits.fits]
    assert live.spectra is not None and ref.spectra is not None     # the sidecar spectra, as analyze
    for x, y in zip(live.spectra.spectra, ref.spectra.spectra):
        np.testing.assert_array_equal(x.density, y.density)
    assert (live.spectra.trap is None) == (ref.spectra.trap is None)
    if ref.spectra.trap is not None:
        np.testing.assert_array_equal(live.spectra.trap.density, ref.spectra.trap.density)


def test_a_finished_replay_is_analyzes_result(qtbot, replayed):
    win, live, ref = replayed
    assert_equals_analyze(win, live, ref)
    assert win.docks["spectra"].isVisibleTo(win) or win.tabifiedDockWidgets(win.docks["spectra"])
    # the window shows exactly these numbers
    rows = win.fit_table.text().splitlines()
    assert len(rows) == 3
    g = ref.fits.global_fit
    for row, x in zip(rows, ref.results.regimes):
        assert f"{x.n_photons:,}" in row and f"{g.params['tau_be_ns']:.1f}" in row
    trap = win.views["trap"]
    if ref.spectra.trap is not None:
        np.testing.assert_array_equal(trap.curve.getOriginalDataset()[0], ref.spectra.trap.energy_ev)
    else:
        assert trap.message
    assert win.views["g2"].text.startswith(f"g²(0) = {ref.results.g2.g2_zero:.3f}")
    # what the window draws is that analysis: the decay view got its fits, the spectra view its spectra
    b = win.controller.last_drawn
    assert b.analysis is live and b.fits == list(live.fits.fits)
    drawn = [i for i, rs in enumerate(live.spectra.spectra) if rs.n_frames]
    assert drawn and all(b.spectra.regime_frames[i] == live.spectra.spectra[i].weight_sum for i in drawn)


def test_the_apps_export_writes_analyzes_tables(replayed, tmp_path):
    win, live, ref = replayed
    written = win.controller.export_snapshot(tmp_path / "snap")
    assert {p.name for p in written} == set(ref.output_names())
    for name, df in ref.tables().items():
        assert pl.read_parquet(written[0].parent / name).equals(df), name


@pytest.mark.slow
@pytest.mark.parametrize("speed", [40.0, 2000.0])
def test_a_finished_replay_is_analyzes_result_at_other_speeds(qtbot, win, speed):
    win.replay(str(REC), speed=speed)
    live = finished_analysis(qtbot, win)
    ref = analyze_recording(REC, AnalysisOptions(config=win.config_from_controls(), fit=win.fit_box.currentData()))
    assert_equals_analyze(win, live, ref)


# -- these change the shared window's selection: after the tests of the defaults ---------------------------
def test_a_regime_drag_after_the_replay_gives_analyzes_result_for_the_new_regimes(qtbot, replayed):
    win, _, _ = replayed
    region = win.views["histogram"].regions[2]
    region.setRegion((58.2, 71.9))
    region.sigRegionChangeFinished.emit(region)
    c = win.controller
    want = ((40.0, 50.0), (50.0, 60.0), (58.0, 72.0))
    # a preview first (no profile intervals, no biexciton component: quick), then the full fit
    qtbot.waitUntil(lambda: c.analysis is not None and c.analysis.results.selection.regimes_ns == want, timeout=FIT_WAIT_MS)
    assert c.preview and not c.analysis.fits.global_fit.intervals
    qtbot.waitUntil(lambda: c.analysis.results.selection.regimes_ns == want and not c.preview and c.complete,
                    timeout=FIT_WAIT_MS)
    ref = analyze_recording(REC, AnalysisOptions(config=win.config_from_controls(), fit="global"))
    assert ref.results.selection.regimes_ns == want
    assert [x.n_photons for x in c.analysis.results.regimes] == [x.n_photons for x in ref.results.regimes]
    np.testing.assert_equal(c.analysis.fits.global_fit.params, ref.fits.global_fit.params)
    assert "58–72 ns" in win.fit_table.text()


def test_fit_model_and_irf_controls_reach_the_product(qtbot, replayed):
    from tagstream.analysis.fit_options import FitOptions

    win, _, _ = replayed
    c = win.controller
    win.fit_box.setCurrentIndex(win.fit_box.findData("single"))
    qtbot.waitUntil(lambda: c.analysis is not None and c.analysis.fits is not None and c.analysis.fits.mode == "single"
                    and not c.preview and c.complete, timeout=FIT_WAIT_MS)
    assert c.options.fit == "single"
    ref = analyze_recording(REC, AnalysisOptions(config=win.config_from_controls(), fit="single"))
    np.testing.assert_equal([f.params for f in c.analysis.fits.fits], [f.params for f in ref.fits.fits])
    win.irf_box.setCurrentIndex(win.irf_box.findData("emg"))
    qtbot.waitUntil(lambda: c.options.fit_options is not None and c.options.fit_options.irf == "emg", timeout=5000)
    assert c.options.fit_options == FitOptions(irf="emg")
    qtbot.waitUntil(lambda: c.analysis is not None and c.complete and not c.preview
                    and "irf_tail_ps" in c.analysis.fits.fits[0].params, timeout=FIT_WAIT_MS)
