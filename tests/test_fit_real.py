"""Decay fits on the team's real recordings: every fit is either adequate or flagged (text, JSON)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import REAL, requires_real

from tagstream.analysis.regimes import fit_results, fit_warnings, regime_fields
from tagstream.pipeline import AnalysisConfig, analyze_file
from tagstream.setup import Setup


@requires_real
@pytest.mark.parametrize("mode", ["global", "single", "be_trap"])
def test_real_80mhz_fits_adequate_or_flagged(mode):
    res = analyze_file(REAL / "eta_qutag_80MHz_hbt_syncfiltered.qutag", Setup().replace(sync_filtered=True),
                       AnalysisConfig(laser_period_ps=12500.0, trace_bin_ms=10.0))
    lt = res.trace.lifetime_ns
    q = np.nanpercentile(lt[res.trace.on & np.isfinite(lt)], [5, 35, 65, 95])
    assert -6250 < res.decay.t0_ps <= 6250   # periodic t0
    res = res.reselect(regimes_ns=[(q[i], q[i + 1]) for i in range(3)])
    rf = fit_results(res, mode, min_photons=100)
    fitted = [(i, f) for i, f in enumerate(rf.fits) if f is not None]
    assert fitted, rf.lines
    for i, f in fitted:
        line = next(x for x in rf.lines if x.startswith(f"regime {res.regimes[i].regime.label} ns:"))
        d = regime_fields(rf, None, i)
        json.dumps(d)
        if f.fit_ok:
            assert f.success and f.adequacy_z <= 3 and "adequate" in line
        else:
            assert d["fit_ok"] is False and d["fit_warnings"]
            assert "REJECTED BY THE DATA" in line or "FAILED" in line
            assert fit_warnings(rf)


@requires_real
def test_real_80mhz_default_analysis_says_its_doubts_in_words_not_runtime_warnings():
    """The default analyze of the sync-filtered 80 MHz file (the sync's 10 MHz taken as the period) fits
    a model the data reject: the text and warnings say so; numpy's overflow RuntimeWarnings from the
    solver's trial points (the solver checks finiteness itself) used to reach the user's terminal."""
    import warnings

    from tagstream.product import analyze_recording

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = analyze_recording(REAL / "eta_qutag_80MHz_hbt_syncfiltered.qutag")
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)], [str(w.message) for w in caught]
    assert a.fits is not None and a.fits.global_fit is not None and not a.fits.global_fit.fit_ok
    assert any("REJECTED BY THE DATA" in line for line in a.notes)
    assert any("background is 99 %" in w for w in a.warnings)
