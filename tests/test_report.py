"""PNG report (matplotlib Agg): every panel drawn from the analysis product's arrays, the header says
its numbers and warnings, atomic, never overwrites unasked; spectra per regime vs a brute-force
reference; fit_regimes vs fit_decay."""

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


@pytest.fixture(scope="module")
def analysis(measured):
    """The analysis product of the simulated measurement (global fit, spectra per regime)."""
    from tagstream.product import AnalysisOptions, analyze_recording

    res, series = measured
    return analyze_recording(res, AnalysisOptions(config=res._raw.config, spectra=series), title="QD test")


def ydata(line):
    return np.asarray(line.get_ydata(), dtype=np.float64)


def test_report_png_written_atomically_and_not_overwritten(analysis, tmp_path):
    from PIL import Image

    from tagstream.export.report import render_report

    out = tmp_path / "r.png"
    assert render_report(analysis, out, size=(1200, 1600)) == out
    with Image.open(out) as img:
        assert img.size == (1200, 1600)
    assert [p.name for p in tmp_path.iterdir()] == ["r.png"]  # no temporary file left
    before = out.read_bytes()
    with pytest.raises(ExportError, match="exists"):
        render_report(analysis, out)
    assert out.read_bytes() == before
    render_report(analysis, out, overwrite=True, size=(800, 1000))
    with Image.open(out) as img:
        assert img.size == (800, 1000)
    with pytest.raises(ExportError, match="does not exist"):
        render_report(analysis, tmp_path / "nodir" / "r.png")


def test_report_page_draws_the_analysis_arrays(analysis):
    """Every panel holds the product's arrays: traces, g2, decays with the fits and residuals, the
    spectra per regime and the trap spectrum; the header its numbers and warnings."""
    from tagstream.export.report import build_figure, header_lines

    res, a = analysis.results, analysis
    fig, ax = build_figure(a)
    n = res.trace.counts.size - 1
    np.testing.assert_array_equal(ydata(ax["intensity"].lines[0]), res.trace.counts[:n])
    np.testing.assert_array_equal(ydata(ax["lifetime"].lines[0]), res.trace.lifetime_ns[:n])
    np.testing.assert_array_equal(ydata(ax["g2"].lines[0]), res.g2.normalized)
    k = int(np.ceil(res.laser_period_ps / res.decay.bin_ps))
    dec = ax["decays"].lines
    assert np.array_equal(ydata(dec[0]), np.where(res.decay.counts[:k] > 0, res.decay.counts[:k], np.nan),
                          equal_nan=True)
    i_line = 1
    n_fit = 0
    for r in res.regimes:
        y = r.fit_counts   # the drawn regime decay is the one the fit uses (cross-selected)
        assert np.array_equal(ydata(dec[i_line]), np.where(y[:k] > 0, y[:k], np.nan), equal_nan=True)
        i_line += 1
        if r.fit is not None:
            m = ydata(dec[i_line])
            keep = r.fit.model_counts[:k] > 0.3
            np.testing.assert_allclose(m[keep], r.fit.model_counts[:k][keep])
            np.testing.assert_array_equal(ydata(ax["residuals"].lines[n_fit]), r.fit.residuals[:k])
            i_line += 1
            n_fit += 1
    assert n_fit >= 1 and a.fits.mode == "global"
    drawn = [rs for rs in a.spectra.spectra if rs.n_frames]
    assert drawn and len(ax["spectra"].lines) == len(drawn) + (a.spectra.trap is not None)
    for line, rs in zip(ax["spectra"].lines, drawn):
        np.testing.assert_array_equal(ydata(line), rs.density)
    text = "\n".join(header_lines(a))
    assert f"{res.g2.g2_zero:.3f}" in text and f"{res.n_records:,}" in text
    assert all(w in text for w in a.warnings)


def test_report_says_every_warning(measured, tmp_path):
    from tagstream.export.report import header_lines
    from tagstream.product import AnalysisOptions, analyze_recording

    res, _ = measured
    a = analyze_recording(res.reselect(regimes_ns="30-40,95-99"), AnalysisOptions(config=res._raw.config))
    assert any("95-99 ns" in w for w in a.warnings)
    assert any("95-99 ns" in ln and "⚠" in ln for ln in header_lines(a))


def test_regime_spectra_equal_a_brute_force_weighted_mean(measured):
    """The product's per-regime spectra (spectra_results, the one implementation) equal a by-hand
    weighted mean of the frames more than half inside the regime; the app's snapshot only resamples them."""
    from tagstream.analysis.regimes import SPECTRUM_MIN_WEIGHT, spectra_results
    from tagstream.app.spectra_model import spectra_snapshot
    from tagstream.spectra import subtract_baseline, to_energy

    res, series = measured
    sp = spectra_results(res, series)
    e, dens = to_energy(series.wavelength_nm, subtract_baseline(series.counts, series.baseline_adu))
    exp_ps = int(round(series.exposure_s * 1e12))
    starts = res.frames.frame_start_ps if res.frames is not None and len(res.frames.frame_start_ps) \
        else series.frame_start_ps
    for i, r in enumerate(res.regimes):
        w = []
        for s in starts:  # overlap of [s, s + exposure) with the regime's ON intervals
            cov = sum(max(0, min(s + exp_ps, b) - max(s, a)) for a, b in r.intervals_ps.tolist())
            w.append(cov / exp_ps)
        w = np.where(np.array(w) > SPECTRUM_MIN_WEIGHT, w, 0.0)
        rs = sp.spectra[i]
        assert rs.weight_sum == pytest.approx(w.sum()) and rs.n_frames == int((w > 0).sum())
        if w.sum() > 0:
            np.testing.assert_allclose(rs.density, (w[:, None] * dens).sum(0) / w.sum(), rtol=1e-9,
                                       atol=1e-9 * np.abs(dens).max())
    assert sum(rs.n_frames for rs in sp.spectra) > 10
    snap = spectra_snapshot(series, res, sp)
    assert snap.n_frames == series.n_frames
    for i, rs in enumerate(sp.spectra):
        assert snap.regime_frames[i] == rs.weight_sum
        if rs.n_frames:
            np.testing.assert_allclose(snap.regime_spectra[i], np.interp(snap.energy_ev, rs.energy_ev, rs.density))
    # per-eV densities integrate back to the baseline-subtracted counts of each frame
    dens = snap.density_per_ev.astype(np.float64)
    total = (dens * energy_bin_widths_ev(snap.energy_ev)).sum(axis=1)
    np.testing.assert_allclose(total, (series.counts - series.baseline_adu).sum(axis=1),
                               rtol=0.02, atol=0.02 * np.abs(series.counts - series.baseline_adu).sum(1).max())


def test_fit_regimes_are_fit_decay_over_one_period(measured):
    from tagstream.analysis import fit_decay
    from tagstream.analysis.regimes import fit_regimes

    res, _ = measured
    fits = fit_regimes(res, min_photons=500)
    for r, f in zip(res.regimes, fits):
        y = r.fit_counts   # the fits use the cross-selected decays
        if y.sum() < 500:
            assert f is None
            continue
        k = int(np.ceil(res.laser_period_ps / res.decay.bin_ps))
        from tagstream.analysis.fit_options import FitOptions   # the regime fits' default IRF
        ref = fit_decay(r.t_ps[:k], y[:k], res.laser_period_ps, "single", irf=FitOptions().build_irf(res))
        assert f.params["tau_ns"] == pytest.approx(ref.params["tau_ns"])
        assert f.counts.sum() == y[:k].sum()


def test_report_colour_bars_have_their_label_clear_of_the_tick_numbers(analysis):
    """The FLID and the spectra waterfall carry colour bars (what a colour means), whose label sits right
    of the tick numbers, not over them (issue 15: they overlapped), inside the page."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from tagstream.export.report import build_figure

    fig, ax = build_figure(analysis)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    r = canvas.get_renderer()
    bars = [ax[k] for k in ("flid_colorbar", "waterfall_colorbar") if k in ax]
    assert "flid_colorbar" in ax and (analysis.series is None or "waterfall_colorbar" in ax)
    for cb in bars:
        box = cb.get_window_extent(r)
        ticks = [b for b in (t.get_window_extent(r) for t in cb.get_yticklabels(minor=False) + cb.get_yticklabels(
            minor=True) if t.get_visible() and t.get_text()) if box.y0 - 1 <= (b.y0 + b.y1) / 2 <= box.y1 + 1]
        label = cb.yaxis.label.get_window_extent(r)
        assert ticks and cb.yaxis.label.get_text()
        assert label.x0 >= max(t.x1 for t in ticks) - 0.5, (label, ticks)
        assert label.x1 <= fig.bbox.x1
    assert ax["flid_colorbar"].yaxis.label.get_text() == "trace bins per cell"
