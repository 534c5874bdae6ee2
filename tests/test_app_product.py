"""The live app computes through the analysis product: a replay of fixtures/qd_demo.qutag ends with the
same Results, regime fits and spectra per regime as `tagstream analyze` with the same settings, and
the app's snapshot export writes the same tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

pytest.importorskip("pytestqt")
from test_app import wait_done, win  # noqa: E402,F401 - the offscreen window fixture
from tagstream.product import AnalysisOptions, analyze_recording  # noqa: E402

FIX = Path(__file__).resolve().parents[1] / "fixtures"
REC = FIX / "qd_demo.qutag"
pytestmark = pytest.mark.skipif(not REC.is_file(), reason="fixtures/qd_demo.qutag absent")


def test_replay_ends_with_the_analysis_of_analyze(qtbot, win, tmp_path):
    win.replay(str(REC), speed=2000.0)
    c = win.controller
    wait_done(qtbot, win)
    qtbot.waitUntil(lambda: c.analysis is not None and c.analysis.results.n_records == c.session.status().tags_analyzed,
                    timeout=120_000)
    live = c.analysis
    ref = analyze_recording(REC, AnalysisOptions(config=win.config_from_controls(), fit="global"))
    assert ref.spectra_source == "sidecar" and ref.setup == win.setup_from_controls()
    r, q = live.results, ref.results
    assert r.n_records == q.n_records > 100_000
    for a, b in ((r.trace.counts, q.trace.counts), (r.trace.lifetime_ns, q.trace.lifetime_ns),
                 (r.trace.on, q.trace.on), (r.g2.counts, q.g2.counts), (r.decay.counts, q.decay.counts)):
        np.testing.assert_array_equal(a, b)
    assert [x.counts.tolist() for x in r.regimes] == [x.counts.tolist() for x in q.regimes]
    assert live.fits.mode == ref.fits.mode == "global"
    assert live.fits.global_fit.params == ref.fits.global_fit.params
    assert [None if f is None else f.fractions for f in live.fits.fits] == \
        [None if f is None else f.fractions for f in ref.fits.fits]
    assert live.spectra is not None and ref.spectra is not None
    for x, y in zip(live.spectra.spectra, ref.spectra.spectra):
        np.testing.assert_array_equal(x.density, y.density)
    assert (live.spectra.trap is None) == (ref.spectra.trap is None)
    # what the window draws is that analysis: the decay view got its fits, the spectra view its spectra
    b = c.last_drawn
    assert b.analysis is live and b.fits == list(live.fits.fits)
    drawn = [i for i, rs in enumerate(live.spectra.spectra) if rs.n_frames]
    assert drawn and all(b.spectra.regime_frames[i] == live.spectra.spectra[i].weight_sum for i in drawn)
    # the app's export writes analyze's tables with equal numbers
    written = c.export_snapshot(tmp_path / "snap")
    names = {p.name for p in written}
    assert names == set(ref.output_names())
    for name, df in ref.tables().items():
        assert pl.read_parquet(written[0].parent / name).equals(df), name
