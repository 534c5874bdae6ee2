"""`tagstream analyze` fits and spectra outputs on the simulator fixture (seed Fig. 4 reproduction):
JSON numbers equal an independent computation with the analysis functions called directly, exported
Parquet files read back equal, the PNG report is a valid page, the recovered lifetimes / trap fractions /
spectral peaks match the simulator's truth, failed regimes give nulls, no overwrite without --force."""

from __future__ import annotations

import contextlib
import io
import json
import struct
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tagstream.analysis import fit_decay_global
from tagstream.analysis.fit_options import FitOptions
from tagstream.cli import main
from tagstream.pipeline import AnalysisConfig, analyze_file
from tagstream.setup import Setup
from tagstream.simulate import truth_per_bin
from tagstream.spectra import (align_frames, compare_spectra, fit_peak, overlap_weights, read_spectra,
                               regime_spectrum, subtract_baseline, to_energy, trap_spectrum)

FIX = Path(__file__).resolve().parents[1] / "fixtures"
REC = FIX / "qd_demo.qutag"
# the seed's model: the shortest regime is band edge only (not tested by a likelihood ratio here), no fast
# or biexciton component; the default model (every trap fraction free, fast component) is checked against the truth below
DEFAULT_ARGS = ["analyze", str(REC), "--bin-ms", "100", "--on-threshold", "400",
                "--regimes", "40-50,50-60,60-70", "--t0-ps", "0"]
SEED_ARGS = DEFAULT_ARGS[:4] + ["--no-band-edge-test", "--no-fast-component", "--no-biexciton-component"] + DEFAULT_ARGS[4:]
BE_EV, TRAP_EV = 2.064, 2.037   # simulator (seed) band-edge and trap emission centres
pytestmark = pytest.mark.skipif(not REC.is_file(), reason="fixtures/qd_demo.qutag absent")


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """One `analyze --json --export DIR` run of the seed command (spectra from the sidecar)."""
    out = tmp_path_factory.mktemp("exp") / "out"
    buf, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(err):
        rc = main(SEED_ARGS + ["--json", "--export", str(out)])
    assert rc == 0, err.getvalue()
    return json.loads(buf.getvalue()), out, err.getvalue()


@pytest.fixture(scope="module")
def direct():
    """The same analysis with the library called directly (no tagstream.analysis.regimes)."""
    setup = Setup.from_toml(FIX / "qd_demo.setup.toml")
    res = analyze_file(REC, setup, AnalysisConfig(trace_bin_ms=100.0, on_threshold=400, t0_ps=0,
                                                  regimes_ns="40-50,50-60,60-70"))
    P, d = res.laser_period_ps, res.decay.bin_ps
    k = int(np.ceil(P / d))
    hists = {f"{r.range_ns[0]:g}-{r.range_ns[1]:g}": (r.t_ps[:k], r.fit_counts[:k]) for r in res.regimes}
    g = fit_decay_global(hists, P, single_regimes=["40-50"], irf=FitOptions().build_irf(res),
                         profile=["tau_be_ns", "tau_trap_ns"]).with_profile_intervals(["trap_fraction[50-60]",
                                                                                       "trap_fraction[60-70]"])
    s = read_spectra(FIX / "qd_demo.spectra.npz")
    timing = align_frames(s.n_frames, s.exposure_s, s.cycle_time_s, res.frames.frame_start_ps)
    e, dens = to_energy(s.wavelength_nm, subtract_baseline(s.counts, s.baseline_adu))
    spec = [regime_spectrum(e, dens, overlap_weights(timing, r.intervals_ps), min_weight=0.5) for r in res.regimes]
    traps = {}
    for lab, rs in zip(("50-60", "60-70"), spec[1:]):
        f = g.fits[lab]
        traps[lab] = trap_spectrum(e, rs.density, spec[0].density, f.fractions["trap"], f.fraction_errors["trap"],
                                   rs.density_err, spec[0].density_err)
    (a, ea), (b, eb) = traps.values()
    w_a, w_b = 1 / ea**2, 1 / eb**2
    mean = (w_a * a + w_b * b) / (w_a + w_b)
    err = 1 / np.sqrt(w_a + w_b)
    roi = np.zeros(e.size, bool)
    for rs in spec:
        roi |= np.abs(e - rs.peak.peak_ev) < 2 * rs.peak.fwhm_ev
    return dict(res=res, g=g, e=e, spec=spec, traps=traps, trap=mean, trap_err=err, roi=roi,
                trap_peak=fit_peak(e, mean, err), consistency=compare_spectra(a, ea, b, eb, mask=roi))


def test_json_equals_direct_computation(cli_run, direct):
    d, _, _ = cli_run
    g = direct["g"]
    assert d["fit"]["mode"] == "global"
    assert d["fit"]["global"]["tau_be_ns"] == pytest.approx(g.params["tau_be_ns"], rel=1e-9)
    gj = d["fit"]["global"]
    for stem in ("tau_be", "tau_trap"):  # quoted errors: the profile-likelihood 68 % intervals; covariance kept
        v, (lo, hi) = g.params[f"{stem}_ns"], g.intervals[f"{stem}_ns"]
        assert gj[f"{stem}_err_kind"] == "profile"
        assert gj[f"{stem}_err_minus_ns"] == pytest.approx(v - lo, rel=1e-6)
        assert gj[f"{stem}_err_plus_ns"] == pytest.approx(hi - v, rel=1e-6)
        assert gj[f"{stem}_cov_err_ns"] == pytest.approx(g.errors[f"{stem}_ns"], rel=1e-9)
    assert [gj[k] for k in ("tau_fast_ns", "tau_grey_ns", "tau_xx_ns", "rest_photons", "rest_adequacy_z")] == [None] * 5
    for r, lab, rs in zip(d["regimes"], ("40-50", "50-60", "60-70"), direct["spec"]):
        f = g.fits[lab]
        for stem in ("tau_be", "tau_trap"):
            for k in (f"{stem}_ns", f"{stem}_err_minus_ns", f"{stem}_err_plus_ns", f"{stem}_cov_err_ns",
                      f"{stem}_err_kind"):
                assert r[k] == gj[k]
        iv = g.intervals.get(f"trap_fraction[{lab}]")   # profile interval (none: band edge only)
        if iv is None:
            assert "trap" not in f.fractions and r["trap_fraction"] == 0.0 and r["trap_fraction_err_kind"] == "fixed"
        else:
            fr = f.fractions["trap"]
            assert r["trap_fraction"] == pytest.approx(fr, rel=1e-9) and r["trap_fraction_err_kind"] == "profile"
            assert [r["trap_fraction_err_minus"], r["trap_fraction_err_plus"]] == pytest.approx(
                [fr - iv[0], iv[1] - fr], rel=1e-6)
            assert r["trap_fraction_cov_err"] == pytest.approx(f.fraction_errors["trap"], rel=1e-9)
        assert r["reduced_deviance"] == pytest.approx(f.reduced_deviance, rel=1e-9)
        assert r["peak_ev"] == pytest.approx(rs.peak.peak_ev, rel=1e-12)
        assert r["fwhm_mev"] == pytest.approx(1e3 * rs.peak.fwhm_ev, rel=1e-12)
        assert r["fit_message"] is None and r["fit_success"] is True
    t = d["trap_spectrum"]
    assert t["peak_ev"] == pytest.approx(direct["trap_peak"].peak_ev, rel=1e-12)
    assert t["fwhm_mev"] == pytest.approx(1e3 * direct["trap_peak"].fwhm_ev, rel=1e-12)
    chi2, dof, p = direct["consistency"]   # two regimes: the combined chi2 is compare_spectra's
    assert t["consistency"]["chi2"] == pytest.approx(chi2, rel=1e-9)
    assert t["consistency"]["dof"] == dof > 50
    assert t["consistency"]["p_value"] == pytest.approx(p, rel=1e-6)
    assert d["spectra"]["source"] == "sidecar" and d["spectra"]["timing"] == "triggers"


def test_sidecar_spectra_said(cli_run, capsys):
    _, _, err = cli_run
    assert "using the sidecar" in err and "qd_demo.spectra.npz" in err
    assert main(SEED_ARGS) == 0
    out = capsys.readouterr().out
    assert "spectra: using the sidecar" in out and "trap spectrum (from 50-60, 60-70 ns" in out


def test_exported_parquet_read_back(cli_run, direct):
    d, out, _ = cli_run
    names = {p.name for p in out.iterdir()}
    assert {"regime_fits.parquet", "spectra_40-50ns.parquet", "spectra_50-60ns.parquet", "spectra_60-70ns.parquet",
            "trap_spectrum.parquet", "report.png"} <= names
    assert not [n for n in names if n.startswith(".")]
    rf = pl.read_parquet(out / "regime_fits.parquet")
    assert rf["regime"].to_list() == ["40-50ns", "50-60ns", "60-70ns"]
    for col in ("tau_be_ns", "tau_be_err_minus_ns", "tau_be_err_plus_ns", "tau_be_err_kind", "tau_be_cov_err_ns",
                "tau_trap_ns", "tau_trap_err_plus_ns", "trap_fraction", "trap_fraction_err_minus",
                "trap_fraction_err_plus", "trap_fraction_err_kind", "trap_fraction_cov_err", "reduced_deviance",
                "peak_ev", "fwhm_mev"):
        assert rf[col].to_list() == [r[col] for r in d["regimes"]]
    assert rf["n_photons"].to_list() == [r["n_photons"] for r in d["regimes"]]
    for lab, rs in zip(("40-50ns", "50-60ns", "60-70ns"), direct["spec"]):
        s = pl.read_parquet(out / f"spectra_{lab}.parquet")
        assert s.columns == ["energy_ev", "intensity", "error"]
        np.testing.assert_array_equal(s["energy_ev"].to_numpy(), direct["e"])
        np.testing.assert_array_equal(s["intensity"].to_numpy(), rs.density)
        np.testing.assert_array_equal(s["error"].to_numpy(), rs.density_err)
    t = pl.read_parquet(out / "trap_spectrum.parquet")
    np.testing.assert_allclose(t["intensity"].to_numpy(), direct["trap"], rtol=1e-12)
    np.testing.assert_allclose(t["error"].to_numpy(), direct["trap_err"], rtol=1e-12)
    np.testing.assert_allclose(t["intensity_60-70ns"].to_numpy(), direct["traps"]["60-70"][0], rtol=1e-12)


def test_report_png_valid(cli_run):
    _, out, _ = cli_run
    b = (out / "report.png").read_bytes()
    assert b[:8] == b"\x89PNG\r\n\x1a\n" and b[12:16] == b"IHDR"
    assert struct.unpack(">II", b[16:24]) == (1500, 2000)
    assert len(b) > 100_000   # a drawn page, not a blank one
    from PIL import Image

    with Image.open(out / "report.png") as img:
        img.verify()
    with Image.open(out / "report.png") as img:
        assert img.size == (1500, 2000) and len(img.getcolors(1 << 20) or range(1 << 20)) > 50   # not blank


def test_seed_reproduction_vs_truth(capsys):
    """Recovered vs simulator truth with the default model (fast fixture, 25 s): tau_BE 35 +- 1, tau_trap
    57 +- 3 ns, trap fraction per regime +- max(0.05, 3 sigma) (truth: photon-weighted over the fitted photon halves,
    RegimeResult.fit_half_bins), band-edge / trap peaks +- 2 meV of 2.064 / 2.037 eV."""
    assert main(DEFAULT_ARGS + ["--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    g = d["fit"]["global"]
    assert abs(g["tau_be_ns"] - 35.0) < 1.0
    assert abs(g["tau_trap_ns"] - 57.0) < 3.0
    # the photons outside the regimes join the fit and pin the nuisance lifetimes (simulator: OFF 1.2 ns,
    # grey 10 / 11.2 ns)
    assert g["rest_photons"] > 0 and g["rest_adequacy_z"] < 3 and g["tau_xx_ns"] is None
    assert 0.5 < g["tau_fast_ns"] < 2.5 and 7 < g["tau_grey_ns"] < 14
    truth = truth_per_bin(pl.read_parquet(FIX / "qd_demo.truth.parquet"), 100 * 10**9)
    tf, ec = truth["trap_photon_fraction"].to_numpy(), truth["expected_counts"].to_numpy()
    res = analyze_file(REC, Setup.from_toml(FIX / "qd_demo.setup.toml"),
                       AnalysisConfig(trace_bin_ms=100.0, on_threshold=400, t0_ps=0))
    for jr, r in zip(d["regimes"], res.regimes):
        b = r.fit_half_bins[r.fit_half_bins < tf.size]
        ok = np.isfinite(tf[b])
        exp = np.sum(tf[b][ok] * ec[b][ok]) / np.sum(ec[b][ok])   # photon-weighted truth of the fitted halves
        # +- 0.05, or 3 error bars where the 25 s fixture's error exceeds 0.05 / 3 (the long regime: ~0.047)
        side = jr["trap_fraction_err_plus"] if exp > jr["trap_fraction"] else jr["trap_fraction_err_minus"]
        tol = max(0.05, 3 * side)
        assert abs(jr["trap_fraction"] - exp) < tol, (jr["range_ns"], jr["trap_fraction"], side, exp)
    assert abs(d["regimes"][0]["peak_ev"] - BE_EV) < 0.002
    # trap peak within 3 meV: measured 2.1 meV off on this 25 s fixture, where the long regime's fitted trap
    # fraction is 1.5 sigma high (0.68 +- 0.05 vs 0.61); peak_err_ev (0.6 meV) leaves out that correlated error
    t = d["trap_spectrum"]
    assert abs(t["peak_ev"] - TRAP_EV) < 0.003, t
    assert d["regimes"][2]["peak_ev"] < d["regimes"][1]["peak_ev"] < d["regimes"][0]["peak_ev"]   # red shift
    assert t["consistency"]["p_value"] > 1e-3


def test_empty_regime_gets_nulls_not_a_crash(capsys):
    rc = main(SEED_ARGS[:-4] + ["--regimes", "40-50,50-60,60-70,95-100", "--t0-ps", "0", "--json"])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    r = d["regimes"][3]
    assert r["n_photons"] < 200 and "fit" not in r   # nothing attached
    for k in ("tau_be_ns", "tau_be_err_minus_ns", "tau_be_cov_err_ns", "tau_be_err_kind", "tau_trap_ns",
              "tau_trap_err_plus_ns", "trap_fraction", "trap_fraction_err_minus", "trap_fraction_err_kind",
              "trap_fraction_cov_err", "reduced_deviance", "peak_ev", "fwhm_mev"):
        assert r[k] is None
    assert "photons" in r["fit_message"]
    assert d["regimes"][2]["trap_fraction"] > 0.3 and d["trap_spectrum"]["peak_ev"] is not None


def test_single_fittable_regime_and_no_fit(capsys):
    rc = main(SEED_ARGS[:-4] + ["--regimes", "40-50", "--t0-ps", "0", "--no-spectra", "--json"])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    assert d["fit"]["mode"] == "single" and d["fit"]["global"] is None
    assert d["regimes"][0]["tau_ns"] == pytest.approx(d["regimes"][0]["fit"]["params"]["tau_ns"])
    assert d["spectra"] is None and d["trap_spectrum"] is None
    rc = main(SEED_ARGS + ["--no-fit", "--json"])
    d = json.loads(capsys.readouterr().out)
    assert rc == 0 and d["fit"] is None
    assert all(r["tau_be_ns"] is None and r["peak_ev"] is not None for r in d["regimes"])
    assert d["trap_spectrum"]["peak_ev"] is None and "fit" in d["trap_spectrum"]["message"]


def test_export_never_overwrites_without_force(tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "report.png").write_bytes(b"mine")
    assert main(SEED_ARGS + ["--export", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["report.png"] and (out / "report.png").read_bytes() == b"mine"
    (out / "report.png").unlink()
    (out / "trap_spectrum.parquet").write_bytes(b"mine too")
    assert main(SEED_ARGS + ["--export", str(out)]) == 2
    assert (out / "trap_spectrum.parquet").read_bytes() == b"mine too" and not (out / "report.png").exists()
    assert main(SEED_ARGS + ["--export", str(out), "--force"]) == 0
    assert pl.read_parquet(out / "trap_spectrum.parquet").height > 0


def test_help_teaches(capsys):
    with pytest.raises(SystemExit):
        main(["analyze", "--help"])
    h = capsys.readouterr().out
    for s in ("--t0-ps 0", "--export out/", "--no-fit", "<stem>.spectra.npz", "trap_spectrum", "tau_be_ns"):
        assert s in h
