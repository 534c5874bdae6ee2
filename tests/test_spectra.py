"""Spectra: SIF / npz reading, energy conversion, frame alignment and overlap, peaks, trap spectrum."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from tagstream.errors import AnalysisError, SpectraFileError
from tagstream.spectra import (
    HC_EV_NM,
    FrameTiming,
    FrameTimingWarning,
    align_frames,
    compare_spectra,
    energy_bin_widths_ev,
    fit_peak,
    halfmax_peak,
    intervals_from_bins,
    lifetime_per_frame,
    overlap_ps,
    overlap_weights,
    peak_trace,
    read_spectra,
    regime_spectrum,
    spectrum_lifetime_correlation,
    subtract_baseline,
    to_energy,
    trap_spectrum,
)

from pathlib import Path

REAL = Path(__file__).resolve().parents[2] / "shared" / "real"
requires_real = pytest.mark.skipif(not REAL.is_dir(), reason="../shared/real (the team's real recordings) is absent")

SIM_COEFFS = (415.0, 0.36, 1.0e-5)  # the simulator's default calibration, 0-based pixels
N_PIX = 1024


def _pixel_edges_ev(coeffs=SIM_COEFFS, n=N_PIX):
    edges_nm = np.polynomial.polynomial.polyval(np.arange(n + 1) - 0.5, coeffs)
    return HC_EV_NM / edges_nm


def _gauss_counts(total, center_ev, fwhm_ev, coeffs=SIM_COEFFS, n=N_PIX):
    """Expected photoelectrons per pixel of a Gaussian-in-energy line (exact pixel integrals)."""
    from scipy.stats import norm
    e = _pixel_edges_ev(coeffs, n)
    s = fwhm_ev / (2 * np.sqrt(2 * np.log(2)))
    return total * np.abs(norm.cdf(e[1:], center_ev, s) - norm.cdf(e[:-1], center_ev, s))


def _emccd(electrons_mean, rng, gain=200.0, adu_per_e=0.05, read=3.0, baseline=500.0):
    """EMCCD frame: Poisson photoelectrons -> gamma-distributed EM gain -> ADU + read noise + offset."""
    ne = rng.poisson(electrons_mean)
    out = np.zeros(ne.shape)
    pos = ne > 0
    out[pos] = rng.gamma(ne[pos], gain)
    return baseline + adu_per_e * out + rng.normal(0, read, ne.shape)


def _wavelengths(coeffs=SIM_COEFFS, n=N_PIX):
    return np.polynomial.polynomial.polyval(np.arange(n), coeffs)


# ------------------------------------------------------------------------------------ reading
@requires_real
def test_read_real_kinetic_series_sif():
    s = read_spectra(REAL / "kinetic_series_20frames.sif")
    assert s.counts.shape == (20, 1024) and s.n_frames == 20
    assert s.exposure_s == 3.0 and s.cycle_time_s == pytest.approx(3.0221)
    c = s.metadata["Calibration_data"]
    p = np.arange(1, 1025)  # Andor calibrations use 1-based pixel numbers
    np.testing.assert_allclose(s.wavelength_nm, np.polynomial.polynomial.polyval(p, c))
    assert 529 < s.wavelength_nm[0] < s.wavelength_nm[-1] < 600
    assert s.frame_times_s is None  # this file stores zero timestamps
    assert np.all(np.isfinite(s.counts)) and s.counts.std() > 0
    assert s.metadata["format"] == "andor-sif" and s.metadata["source"].endswith(".sif")


@requires_real
def test_read_real_ixon888_single_spectrum():
    s = read_spectra(REAL / "ixon888_single_spectrum.sif")
    assert s.counts.shape == (1, 1024)
    assert s.exposure_s == pytest.approx(0.1)
    assert s.metadata["DetectorType"] == "DU888_BV"
    assert np.all(np.diff(s.wavelength_nm) > 0) and 400 < s.wavelength_nm[0] < 410


@requires_real
@pytest.mark.parametrize("cut", [100, 3000, 40_000])
def test_truncated_sif_is_a_clear_error(tmp_path, cut):
    src = (REAL / "kinetic_series_20frames.sif").read_bytes()
    bad = tmp_path / "cut.sif"
    bad.write_bytes(src[:cut])
    with pytest.raises(SpectraFileError) as ei:
        read_spectra(bad)
    assert "cut.sif" in str(ei.value)


def test_garbage_and_missing_sif(tmp_path):
    g = tmp_path / "junk.sif"
    g.write_bytes(b"\x00\x01garbage" * 100)
    with pytest.raises(SpectraFileError, match="junk.sif"):
        read_spectra(g)
    with pytest.raises(SpectraFileError, match="nope.sif"):
        read_spectra(tmp_path / "nope.sif")
    with pytest.raises(SpectraFileError, match="unknown spectra file type"):
        read_spectra(tmp_path / "x.txt")


def test_read_simulator_npz(tmp_path):
    from tagstream.simulate.spectra_file import write_spectra_npz
    rng = np.random.default_rng(0)
    frames = rng.normal(500, 3, (4, 64)).astype(np.float32)
    starts = np.array([0, 10**11, 2 * 10**11, 3 * 10**11])
    path = write_spectra_npz(tmp_path / "r.spectra.npz", frames, (415.0, 0.36, 1e-5), starts, 0.1, 0.1,
                             500.0, 200.0, 3.0, 0.05)
    s = read_spectra(path)
    assert s.counts.shape == (4, 64) and s.counts.dtype == np.float64
    np.testing.assert_allclose(s.wavelength_nm, _wavelengths(n=64))  # 0-based pixels
    np.testing.assert_array_equal(s.frame_start_ps, starts)
    np.testing.assert_allclose(s.frame_times_s, starts * 1e-12)
    assert s.baseline_adu == 500.0 and s.exposure_s == 0.1 and s.metadata["em_gain"] == 200.0


# ----------------------------------------------------------------------------- energy, peaks
def test_to_energy_jacobian_gives_gaussian_density_and_conserves_counts():
    expected = _gauss_counts(1e5, 2.064, 0.051)
    e, dens = to_energy(_wavelengths(), expected)
    assert np.all(np.diff(e) > 0)
    s = 0.051 / (2 * np.sqrt(2 * np.log(2)))
    pdf = 1e5 * np.exp(-0.5 * ((e - 2.064) / s) ** 2) / (s * np.sqrt(2 * np.pi))
    near = np.abs(e - 2.064) < 0.08
    np.testing.assert_allclose(dens[near], pdf[near], rtol=2e-3, atol=1e-3 * pdf.max())
    assert np.sum(dens * energy_bin_widths_ev(e)) == pytest.approx(expected.sum(), rel=1e-3)
    # without the Jacobian the peak would move: check the density (not the counts) peaks at 2.064
    assert abs(e[np.argmax(dens)] - 2.064) < 0.002


def test_subtract_baseline_known_and_estimated():
    rng = np.random.default_rng(1)
    frames = np.stack([_emccd(_gauss_counts(500, 2.064, 0.051), rng) for _ in range(3)])
    np.testing.assert_allclose(subtract_baseline(frames, 500.0), frames - 500.0)
    est = subtract_baseline(frames)
    assert abs(np.median(est)) < 1e-9
    assert np.all(np.abs(np.median(frames, axis=1) - 500.0) < 1.0)  # median of a QD frame = offset


def test_peak_recovered_within_2_mev_with_emccd_noise():
    rng = np.random.default_rng(7)
    lam = _wavelengths()
    peaks, fwhms, pulls = [], [], []
    for _ in range(25):
        adu = _emccd(_gauss_counts(3000, 2.064, 0.051) + 0.02, rng)
        e, dens = to_energy(lam, subtract_baseline(adu, 500.0))
        f = fit_peak(e, dens)
        assert f.success and f.method == "gaussian"
        assert abs(f.peak_ev - 2.064) < 0.002
        peaks.append(f.peak_ev)
        fwhms.append(f.fwhm_ev)
        pulls.append((f.peak_ev - 2.064) / f.peak_err_ev)
    assert abs(np.mean(fwhms) - 0.051) < 0.002
    assert 0.6 < np.std(pulls) < 1.6  # errors roughly calibrated


def test_halfmax_estimate_on_clean_gaussian():
    e = np.linspace(1.9, 2.2, 600)
    y = np.exp(-0.5 * ((e - 2.037) / (0.075 / 2.3548)) ** 2) + 0.01
    f = halfmax_peak(e, y, smooth_px=1)
    assert f.success and abs(f.peak_ev - 2.037) < 5e-4 and abs(f.fwhm_ev - 0.075) < 1e-3


def test_peak_trace_nan_for_empty_frames():
    rng = np.random.default_rng(3)
    lam = _wavelengths()
    frames = np.stack([_emccd(_gauss_counts(n, 2.06, 0.05), rng) for n in (3000, 0, 3000)])
    e, dens = to_energy(lam, subtract_baseline(frames, 500.0))
    pk, err = peak_trace(e, dens)
    assert np.isnan(pk[1]) and np.all(np.abs(pk[[0, 2]] - 2.06) < 0.004) and np.all(err[[0, 2]] > 0)


# ------------------------------------------------------------------------------------ timing
def test_align_frames_with_triggers_and_mismatch():
    trig = np.array([0, 100, 200, 300], dtype=np.int64) * 10**9
    t = align_frames(4, 0.1, 0.1, trig)
    assert t.source == "triggers"
    np.testing.assert_array_equal(t.stop_ps - t.start_ps, 10**11)
    with pytest.raises(AnalysisError, match="4 frame triggers but 3 spectra frames"):
        align_frames(3, 0.1, 0.1, trig)
    with pytest.warns(FrameTimingWarning, match="pairing the first 3"):
        t3 = align_frames(3, 0.1, 0.1, trig, allow_mismatch=True)
    np.testing.assert_array_equal(t3.start_ps, trig[:3])
    with pytest.raises(AnalysisError, match="closer together than the exposure"):
        align_frames(4, 0.2, 0.1, trig)


def test_align_frames_without_triggers_warns_and_uses_cycle_time():
    with pytest.warns(FrameTimingWarning, match="no frame triggers"):
        t = align_frames(3, 3.0, 3.0221, None, stream_start_ps=5)
    np.testing.assert_array_equal(t.start_ps, [5, 5 + 3_022_100_000_000, 5 + 6_044_200_000_000])
    assert t.source == "cycle_time"


@pytest.mark.parametrize("seed", range(6))
def test_overlap_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    L = 5000
    iv = np.sort(rng.integers(0, L, size=(rng.integers(0, 30), 2)), axis=1)  # may overlap / be empty
    starts = rng.integers(0, L - 300, 40)
    stops = starts + rng.integers(1, 300, 40)
    covered = np.zeros(L + 1, bool)
    for a, b in iv:
        covered[a:b] = True
    ref = np.array([covered[a:b].sum() for a, b in zip(starts, stops)])
    np.testing.assert_array_equal(overlap_ps(starts, stops, iv), ref)
    w = overlap_weights(FrameTiming(starts, stops, "triggers"), iv)
    np.testing.assert_allclose(w, ref / (stops - starts))


def test_intervals_from_bins_merges_consecutive_bins():
    starts = np.arange(10) * 100
    sel = np.array([1, 1, 0, 1, 0, 0, 1, 1, 1, 0], bool)
    np.testing.assert_array_equal(intervals_from_bins(starts, 100, sel), [[0, 200], [300, 400], [600, 900]])


# ------------------------------------------------------------------------- regimes, trap, trace
def test_regime_spectrum_is_the_weighted_mean():
    rng = np.random.default_rng(4)
    d = rng.normal(size=(7, 50)) + 5
    w = np.array([0, 0.2, 1, 1, 0.5, 0, 0.7])
    r = regime_spectrum(np.linspace(1.9, 2.2, 50), d, w)
    ref = sum(wi * di for wi, di in zip(w, d)) / w.sum()
    np.testing.assert_allclose(r.density, ref)
    assert r.n_frames == 5 and r.weight_sum == pytest.approx(w.sum())
    r2 = regime_spectrum(np.linspace(1.9, 2.2, 50), d, w, min_weight=0.5)
    np.testing.assert_allclose(r2.density, (d[2] + d[3] + 0.7 * d[6]) / 2.7)


def _regime_frames(f_trap, n_frames, rng, total=4000.0):
    lam = _wavelengths()
    mix = (1 - f_trap) * _gauss_counts(total, 2.064, 0.051) + f_trap * _gauss_counts(total, 2.037, 0.075)
    frames = np.stack([_emccd(mix + 0.02, rng) for _ in range(n_frames)])
    return to_energy(lam, subtract_baseline(frames, 500.0))


def test_trap_spectrum_reconstruction_and_consistency():
    rng = np.random.default_rng(9)
    e, be = _regime_frames(0.0, 40, rng)
    _, mid = _regime_frames(0.35, 40, rng)
    _, lng = _regime_frames(0.65, 40, rng)
    ones = np.ones(40)
    s_be, s_mid, s_long = (regime_spectrum(e, x, ones) for x in (be, mid, lng))
    assert abs(s_be.peak.peak_ev - 2.064) < 0.002 and abs(s_be.peak.fwhm_ev - 0.051) < 0.003
    assert s_mid.peak.peak_ev < s_be.peak.peak_ev and s_long.peak.peak_ev < s_mid.peak.peak_ev  # redshift
    assert s_long.peak.fwhm_ev > s_be.peak.fwhm_ev  # broader
    traps = {}
    for lab, s, f in (("mid", s_mid, 0.35), ("long", s_long, 0.65)):
        t, terr = trap_spectrum(e, s.density, s_be.density, f, 0.01, s.density_err, s_be.density_err)
        pk = fit_peak(e, t)
        assert abs(pk.peak_ev - 2.037) < 0.004 and abs(pk.fwhm_ev - 0.075) < 0.008
        assert np.sum(t * energy_bin_widths_ev(e)) == pytest.approx(1.0, rel=1e-9)
        traps[lab] = (t, terr)
    roi = np.abs(e - 2.05) < 0.1
    chi2, dof, p = compare_spectra(*traps["mid"], *traps["long"], mask=roi)
    assert p > 1e-3 and dof == roi.sum()
    # a wrong trap fraction gives inconsistent reconstructions
    bad, bad_err = trap_spectrum(e, s_mid.density, s_be.density, 0.7, 0.0, s_mid.density_err, s_be.density_err)
    chi2_bad, _, p_bad = compare_spectra(bad, bad_err, *traps["long"], mask=roi)
    assert chi2_bad > chi2 and p_bad < 1e-3


def test_trap_spectrum_bad_fraction():
    e = np.linspace(1.9, 2.2, 10)
    with pytest.raises(AnalysisError):
        trap_spectrum(e, np.ones(10), np.ones(10), 0.0)


def test_lifetime_per_frame_and_correlation():
    rng = np.random.default_rng(10)
    bin_ps = 10 * 10**9  # 10 ms trace bins
    n_bins = 3000
    starts = np.arange(n_bins, dtype=np.int64) * bin_ps
    lt = 45 + 20 * (np.sin(np.arange(n_bins) / 150.0) > 0) + rng.normal(0, 2, n_bins)
    lt[rng.random(n_bins) < 0.1] = np.nan  # OFF bins
    timing = align_frames(290, 0.1, 0.1, np.arange(290, dtype=np.int64) * 10 * bin_ps + 3 * 10**9)
    got = lifetime_per_frame(timing, starts, bin_ps, lt)
    # brute force on a 1 ms grid
    for i in (0, 17, 150, 289):
        t = np.arange(timing.start_ps[i], timing.stop_ps[i], 10**9)
        vals = lt[t // bin_ps]
        assert got[i] == pytest.approx(np.nanmean(vals), rel=1e-9)
    peak = 2.064 - 0.0009 * (got - 45) + rng.normal(0, 0.002, got.size)  # redshift with lifetime
    c = spectrum_lifetime_correlation(peak, got)
    assert c.pearson_r < -0.5 and c.pearson_p < 1e-6 and c.slope_ev_per_ns == pytest.approx(-0.0009, rel=0.2)
    with pytest.raises(AnalysisError):
        spectrum_lifetime_correlation(peak[:2], got[:2])


def test_no_warning_with_triggers():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        align_frames(2, 0.1, 0.1, np.array([0, 10**11]))
