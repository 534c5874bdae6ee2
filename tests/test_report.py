"""PNG report: drawn from the Results arrays by the app's views, atomic, never overwrites unasked;
spectra per regime vs a brute-force reference; fit_regimes vs fit_decay."""

from __future__ import annotations

import numpy as np
import pytest

from tagstream.export.parquet import ExportError
from tagstream.pipeline import AnalysisConfig, Pipeline
from tagstream.setup import Setup
from tagstream.simulate import Simulation, SimulationParams
from tagstream.spectra.energy import energy_bin_widths_ev
from tagstream.spectra.series import SpectralSeries


@pytest.fixture(scope="module")
def measured():
    p = SimulationParams()
    sim = Simulation(p, seed=5)
    pipe = Pipeline(Setup(sync=5, spad_a=1, spad_b=2, frame=3, sync_divider=p.sync_divider),
                    AnalysisConfig(trace_bin_ms=100, regimes_ns=((30, 40), (40, 50), (50, 60))))
    for c in sim.chunks(chunk_s=1.0, duration_s=20):
        pipe.feed(c)
    res = pipe.finalize()
    fr = sim.pop_frames()
    lam = np.polynomial.polynomial.polyval(np.arange(p.n_pixels), p.wavelength_coeffs_nm)
    series = SpectralSeries(fr.frames_adu.astype(np.float64), lam, p.exposure_s, p.cycle_time_s,
                            fr.frame_start_ps * 1e-12, fr.frame_start_ps, p.baseline_adu)
    return res, series


def y(item):
    return np.asarray(item.getOriginalDataset()[1], dtype=np.float64)


def test_report_png_written_atomically_and_not_overwritten(measured, tmp_path, qapp):
    from PyQt6 import QtGui

    from tagstream.analysis.regimes import fit_regimes
    from tagstream.export.report import render_report

    res, series = measured
    out = tmp_path / "r.png"
    assert render_report(res, out, fits=fit_regimes(res), spectra=series, title="QD test", size=(1200, 1600)) == out
    img = QtGui.QImage(str(out))
    assert (img.width(), img.height()) == (1200, 1600)
    assert [p.name for p in tmp_path.iterdir()] == ["r.png"]  # no temporary file left
    before = out.read_bytes()
    with pytest.raises(ExportError, match="exists"):
        render_report(res, out)
    assert out.read_bytes() == before
    render_report(res, out, overwrite=True, size=(800, 1000))
    assert QtGui.QImage(str(out)).width() == 800
    with pytest.raises(ExportError, match="does not exist"):
        render_report(res, tmp_path / "nodir" / "r.png")


def test_report_page_draws_the_results_arrays(measured, qapp):
    from tagstream.analysis.regimes import fit_regimes
    from tagstream.export.report import build_page, summary_html

    res, series = measured
    fits = fit_regimes(res)
    w, v = build_page(res, fits=fits, spectra=series, title="t")
    n = res.trace.counts.size - 1
    np.testing.assert_array_equal(y(v["intensity"].curve_sum), res.trace.counts[:n])
    np.testing.assert_array_equal(y(v["lifetime"].curve_all), res.trace.lifetime_ns[:n])
    np.testing.assert_array_equal(y(v["g2"].curve), res.g2.normalized)
    k = int(np.ceil(res.laser_period_ps / res.decay.bin_ps))
    for i, r in enumerate(res.regimes):
        got = y(v["decays"].curves[i])
        np.testing.assert_array_equal(np.nan_to_num(got), r.counts[:k])
        if fits[i] is not None:
            model = y(v["decays"].fit_curves[i])
            keep = fits[i].model_counts > 0.3
            np.testing.assert_allclose(model[keep], fits[i].model_counts[keep])
            np.testing.assert_array_equal(y(v["decays"].res_curves[i]), fits[i].residuals)
    assert sum(f is not None for f in fits) >= 1
    text = summary_html(res, fits, "t")
    assert f"{res.g2.g2_zero:.3f}" in text and f"{res.n_records:,}" in text
    assert v["spectra"].reg_curves[0].isVisible() or v["spectra"].reg_curves[1].isVisible()
    w.close()


def test_regime_spectra_equal_a_brute_force_weighted_mean(measured):
    from tagstream.app.spectra_model import spectra_snapshot

    res, series = measured
    snap = spectra_snapshot(series, res)
    assert snap.n_frames == series.n_frames
    dens = snap.density_per_ev.astype(np.float64)
    exp_ps = int(round(series.exposure_s * 1e12))
    for i, r in enumerate(res.regimes):
        w = []
        for s in series.frame_start_ps:  # overlap of [s, s + exposure) with the regime's ON intervals
            cov = sum(max(0, min(s + exp_ps, b) - max(s, a)) for a, b in r.intervals_ps.tolist())
            w.append(cov / exp_ps)
        w = np.array(w)
        assert snap.regime_frames[i] == pytest.approx(w.sum())
        if w.sum() > 0:
            np.testing.assert_allclose(snap.regime_spectra[i], (w[:, None] * dens).sum(0) / w.sum(), rtol=1e-5,
                                       atol=1e-3 * np.abs(dens).max())
    # per-eV densities integrate back to the baseline-subtracted counts of each frame
    total = (dens * energy_bin_widths_ev(snap.energy_ev)).sum(axis=1)
    np.testing.assert_allclose(total, (series.counts - series.baseline_adu).sum(axis=1),
                               rtol=0.02, atol=0.02 * np.abs(series.counts - series.baseline_adu).sum(1).max())


def test_fit_regimes_are_fit_decay_over_one_period(measured):
    from tagstream.analysis import fit_decay
    from tagstream.analysis.regimes import fit_regimes

    res, _ = measured
    fits = fit_regimes(res, min_photons=500)
    for r, f in zip(res.regimes, fits):
        if r.n_photons < 500:
            assert f is None
            continue
        k = int(np.ceil(res.laser_period_ps / res.decay.bin_ps))
        from tagstream.analysis.fit_options import FitOptions   # the regime fits' default IRF
        ref = fit_decay(r.t_ps[:k], r.counts[:k], res.laser_period_ps, "single", irf=FitOptions().build_irf(res))
        assert f.params["tau_ns"] == pytest.approx(ref.params["tau_ns"])
        assert f.counts.sum() == r.counts[:k].sum()
