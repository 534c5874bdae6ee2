"""Fits and spectra for an engine Results' lifetime regimes (what `tagstream analyze --fit/--spectra` runs)."""

from __future__ import annotations

import math
import warnings

from tagstream.analysis.decay_fit import fit_decay, fit_decay_global
from tagstream.analysis.irf import IRF
from tagstream.errors import AnalysisError


def regime_label(r) -> str:
    return f"{r.range_ns[0]:g}-{r.range_ns[1]:g}"


def regime_histograms(res, min_photons: int = 200) -> dict:
    """{label: (t_ps, counts)} of the regimes with >= min_photons, cropped to one laser period."""
    P, d = res.laser_period_ps, res.decay.bin_ps
    if not P or not d:
        raise AnalysisError("no laser period / decay histogram in the results: cannot fit decays")
    out = {}
    for r in res.regimes:
        if r.n_photons >= min_photons:
            k = min(int(math.ceil(P / d)), r.t_ps.size)
            out[regime_label(r)] = (r.t_ps[:k], r.counts[:k])
    return out


def fit_results(res, mode: str = "global", irf: IRF | None = None, min_photons: int = 200):
    """Decay fits of every regime of a Results.

    mode "global" (the seed's Fig. 4): the shortest-lifetime regime is band edge only, band-edge and
    trap lifetimes shared; "single" / "be_trap": each regime on its own. Returns (fits: list with one
    DecayFit or None per regime, the GlobalDecayFit or None, summary lines).
    """
    hists = regime_histograms(res, min_photons)
    P = res.laser_period_ps
    labels = [regime_label(r) for r in res.regimes]
    fits: dict = {}
    g = None
    lines = []
    if mode == "global" and len(hists) >= 2:
        g = fit_decay_global(hists, P, single_regimes=[next(iter(hists))], irf=irf)
        fits = dict(g.fits)
        lines.append(f"global fit: tau_BE {g.params['tau_be_ns']:.2f} +- {g.errors['tau_be_ns']:.2f} ns, "
                     f"tau_trap {g.params['tau_trap_ns']:.2f} +- {g.errors['tau_trap_ns']:.2f} ns, "
                     f"reduced deviance {g.reduced_deviance:.3f}")
    elif mode in ("global", "single", "be_trap"):
        model = "be_trap" if mode == "be_trap" else "single"
        for lab, (t, c) in hists.items():
            try:
                fits[lab] = fit_decay(t, c, P, model, irf=irf)
            except AnalysisError as exc:
                warnings.warn(f"regime {lab} ns: {exc}", stacklevel=2)
    else:
        raise AnalysisError(f"unknown fit mode {mode!r}; use global, single or be_trap")
    for lab in labels:
        f = fits.get(lab)
        if f is None:
            lines.append(f"regime {lab} ns: not fitted (< {min_photons} photons)")
            continue
        taus = ", ".join(f"{c} {f.params[n]:.2f} ns" for c, n in
                         (("tau", "tau_ns"), ("BE", "tau_be_ns"), ("trap", "tau_trap_ns")) if n in f.params)
        fr = ", ".join(f"{c} {100 * v:.1f} +- {100 * f.fraction_errors[c]:.1f} %" for c, v in f.fractions.items())
        lines.append(f"regime {lab} ns: {taus}; emission {fr}; reduced deviance {f.reduced_deviance:.3f}")
    return [fits.get(lab) for lab in labels], g, lines


def spectra_results(res, spectra_path, min_weight: float = 0.5):
    """Per-regime mean spectra (RegimeSpectrum per regime) of a spectra file aligned by the recording's
    frame triggers (else by cycle time, with a warning). Returns (list of RegimeSpectrum, summary lines)."""
    from tagstream.spectra import (align_frames, overlap_weights, read_spectra, regime_spectrum,
                                   subtract_baseline, to_energy)

    s = read_spectra(spectra_path)
    trig = res.frames.frame_start_ps if res.frames is not None and len(res.frames.frame_start_ps) else None
    timing = align_frames(s.n_frames, s.exposure_s, s.cycle_time_s, trig)
    e, dens = to_energy(s.wavelength_nm, subtract_baseline(s.counts, s.baseline_adu))
    out, lines = [], [f"spectra: {s.n_frames} frames ({timing.source})"]
    for r in res.regimes:
        rs = regime_spectrum(e, dens, overlap_weights(timing, r.intervals_ps), min_weight=min_weight)
        out.append(rs)
        if rs.peak is None or not rs.peak.success:
            lines.append(f"regime {regime_label(r)} ns spectrum: {rs.n_frames} frames, no peak")
        else:
            lines.append(f"regime {regime_label(r)} ns spectrum: {rs.n_frames} frames, peak "
                         f"{rs.peak.peak_ev:.4f} +- {rs.peak.peak_err_ev:.4f} eV, FWHM {1e3 * rs.peak.fwhm_ev:.1f} meV")
    return out, lines
