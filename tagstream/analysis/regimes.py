"""Fits and spectra of an engine Results' lifetime regimes: the ONE implementation behind
`tagstream analyze --fit/--spectra`, the live app's fit curves, the batch export and the PNG report.

    rf = fit_results(res, "global")          # RegimeFits: DecayFit or None per regime (+ why not)
    fits = fit_regimes(res)                  # just the list (live display / batch; never raises)
    sp = spectra_results(res, "qd.spectra.npz", rf)   # RegimeSpectra: mean spectrum per regime and
                                             # the trap-emission spectrum reconstructed across regimes
    regime_fields(rf, sp, i)                 # the flat per-regime numbers of --json / regime_fits.parquet
    quoted(rf, i, "tau_be_ns")               # a fitted number with the error tagstream quotes (Quoted: the
                                             # profile-likelihood 68 % interval; i None: the global fit's)

Decay histograms are cropped to one laser period (the engine's last bin may pass it). A regime that
cannot be fitted (too few photons, no laser period, optimiser error) gets None and a message; it never
raises.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from tagstream.analysis.decay_fit import ADEQUACY_Z_MAX, DecayFit, GlobalDecayFit, fit_decay, fit_decay_global
from tagstream.analysis.irf import IRF
from tagstream.analysis.quoted import NOT_FITTED, Quoted, quote
from tagstream.errors import AnalysisError

FIT_MODES = ("global", "single", "be_trap")


def regime_histograms(res, min_photons: int = 200) -> dict:
    """{label: (t_ps, counts)} of the regimes with >= min_photons fit photons, cropped to one laser
    period. The counts are the cross-selected fit decays (fit_counts): selecting bins by their own
    photons' average lifetime and fitting those same photons biases lifetimes and fractions (the
    photons that put a bin in the "long" regime came late by chance) and makes the errors too small."""
    P, d = res.laser_period_ps, res.decay.bin_ps
    if not P or not d:
        raise AnalysisError("no laser period / decay histogram in the results: cannot fit decays")
    out = {}
    for r in res.regimes:
        c = r.fitted_counts
        if int(c.sum()) >= min_photons:
            k = min(int(math.ceil(P / d)), r.t_ps.size)
            out[r.regime.label] = (r.t_ps[:k], c[:k])
    return out


REST_LABEL = "outside the regimes"


def rest_histogram(res, hists: dict) -> dict | None:
    """{REST_LABEL: (t_ps, counts)}: the recording's photons that none of the fitted regime decays holds
    (grey / OFF bins, ON bins outside the regimes, the other halves of cross-selected bins), or None
    where they cannot be formed (no cross-selected decays, bins that differ). Unbiased like the regimes':
    a photon is left out by its own bin's intensity or its other half's average lifetime, never by its
    own delay."""
    d = res.decay
    if not hists or d is None or d.counts is None or any(getattr(r, "fit_counts", None) is None for r in res.regimes):
        return None
    t0 = next(iter(hists.values()))[0]
    k = t0.size
    if d.t_ps.size < k or np.any(np.asarray(d.t_ps[:k]) != t0):
        return None
    rest = np.asarray(d.counts[:k], dtype=np.float64) - sum(np.asarray(c, dtype=np.float64) for _, c in hists.values())
    if np.any(rest < 0) or rest.sum() <= 0:
        return None
    return {REST_LABEL: (t0, rest)}


@dataclass(frozen=True)
class RegimeFits:
    """fits: one DecayFit or None per regime (res.regimes order); messages: None where fitted, else why
    not; global_fit: the joint fit (mode "global"); lines: a human summary; profiled: the global fit's
    profile-likelihood intervals were asked for (a missing one is then undetermined, not skipped)."""

    mode: str
    fits: tuple
    messages: tuple
    global_fit: GlobalDecayFit | None
    lines: tuple
    profiled: bool = False


QUOTED = (("tau_be_ns", "tau_be", "_ns"), ("tau_trap_ns", "tau_trap", "_ns"), ("trap_fraction", "trap_fraction", ""))


def quoted(fits: RegimeFits | None, i: int | None, name: str) -> Quoted:
    """A fitted tau_be_ns, tau_trap_ns or trap_fraction with the error tagstream quotes
    (tagstream.analysis.quoted): regime i's, or with i None the global fit's shared lifetime. The
    profile-likelihood 68 % interval where computed, else the covariance 1-sigma; none where the fit
    failed or the interval is undetermined. A band-edge-only regime's trap fraction is 0 ("fixed")."""
    if fits is None:
        return NOT_FITTED
    g = fits.global_fit
    f = g if i is None else fits.fits[i]
    if f is None:
        return NOT_FITTED
    prof = fits.profiled and g is not None
    if name == "trap_fraction":
        if i is None:
            raise ValueError("trap_fraction is per regime: give its index")
        if "trap" not in f.fractions:
            return quote(0.0, None, None, success=f.success, profiled=prof, fixed="band edge only") \
                if "be" in f.fractions else NOT_FITTED
        lab = next((k for k, v in g.fits.items() if v is f), None) if g is not None else None
        iv = None if g is None else g.intervals.get(f"trap_fraction[{lab}]")
        return quote(f.fractions["trap"], f.fraction_errors["trap"], iv, success=f.success, profiled=prof,
                     bounds=(0.0, 1.0))
    src = f if name in f.params else (g if g is not None and name in g.params else None)
    if src is None:
        return NOT_FITTED
    iv = None if g is None else g.intervals.get(name)
    return quote(src.params[name], src.errors.get(name, math.nan), iv, success=src.success,
                 profiled=prof and src is not None and name in g.params)


def _fit_line(prefix: str, f, parts, said=()) -> str:
    """One regime's summary: its numbers (parts), deviance, verdict (adequate / rejected / failed) and its
    notes, but not those already said (said: the global fit's, on the line above)."""
    verdict = ("adequate" if f.fit_ok else "REJECTED BY THE DATA" if f.success else "FAILED")
    z = f"adequacy z {f.adequacy_z:+.1f}" if math.isfinite(f.adequacy_z) else "adequacy n/a"
    own = [w for w in f.warnings if w not in said]
    extra = "" if not own else " [" + "; ".join(own) + "]"
    return f"{prefix}{'; '.join(p for p in parts if p)}; deviance {f.deviance:.1f} (expected {f.expected_deviance:.1f}, {z}): " \
           f"{verdict}{extra}"


def _pm(v, e, scale=1.0, fmt=".2f"):
    return f"{scale * v:{fmt}}" + (f" +- {scale * e:{fmt}}" if math.isfinite(e) else " (no error bar)")


def _shortest_regime(res, labels) -> str:
    """The label of the fitted regime with the shortest average lifetimes (lowest range)."""
    by = {r.regime.label: r.range_ns for r in res.regimes}
    return min(labels, key=lambda lab: (by[lab][0], by[lab][1]))


LRT_P_MIN = 0.01  # band edge only on the shortest regime unless a likelihood-ratio test rejects it at this level


def fit_results(res, mode: str = "global", irf: IRF | None = None, min_photons: int = 200, *,
                options=None, setup=None, config=None) -> RegimeFits:
    """Poisson-MLE decay fits of every regime of a Results.

    mode "global" (the seed's Fig. 4): band-edge and trap lifetimes shared by all regimes, a free trap
    fraction per regime, (options.fast_component, default) a shared fast exponential for grey-state
    photons and (options.biexciton_component, default) a sub-ns biexciton component; the likelihood-ratio test of "the shortest regime is pure band edge" is a note
    (options.band_edge_only "test" / "always": impose it unless rejected / always). The decays are the
    regimes' split-half cross-selected histograms (regime_histograms). With fewer than two fittable
    regimes it falls back to "single". "single" / "be_trap": each regime on its
    own with that model. irf: an IRF to use; default from `options` (tagstream.analysis.fit_options.
    FitOptions; default a Gaussian IRF with fitted shift and width, started from the measured rise).
    Every fit carries success, fit_ok, adequacy_z and warnings; a rejected or failed fit is said in `lines`.
    """
    from tagstream.analysis.fit_options import FitOptions

    if mode not in FIT_MODES:
        raise AnalysisError(f"unknown fit mode {mode!r}; use one of {', '.join(FIT_MODES)}")
    options = options or FitOptions()
    labels = [r.regime.label for r in res.regimes]
    fits: dict = {}
    why: dict = {}
    g = None
    lines = []
    try:
        hists = regime_histograms(res, min_photons)
    except AnalysisError as exc:
        hists = {}
        why = {lab: str(exc) for lab in labels}
    for r, lab in zip(res.regimes, labels):
        if lab not in hists and lab not in why:
            why[lab] = f"not fitted: {int(r.fitted_counts.sum())} photons < {min_photons}"
    P = res.laser_period_ps
    if hists and any(getattr(r, "fit_counts", None) is None for r in res.regimes):
        lines.append("regime decays selected by their own photons (no per-photon store, e.g. a bounded-memory "
                     "run): lifetimes and trap fractions are biased by the selection and their errors too small")
    if hists and irf is None:
        try:
            irf = options.build_irf(res, setup, config)
        except AnalysisError as exc:
            why.update({lab: f"no IRF: {exc}" for lab in hists})
            hists = {}
    fr_ps = options.fit_range_ps(res) if hists else None
    if mode == "global" and len(hists) == 1:
        lines.append("global fit needs >= 2 regimes with enough photons: single-exponential fit instead")
        mode = "single"
    if mode == "global" and hists:
        try:
            short = _shortest_regime(res, list(hists))
            fast = options.fast_component
            xx = options.biexciton_component
            grey = options.grey_component and fast   # the grey component splits the fast one's range
            mode_be = options.band_edge_only
            rest = rest_histogram(res, hists) if options.rest_histogram and (fast or xx) else None

            def fit_free(rest):
                return fit_decay_global(hists, P, irf=irf, fit_range_ps=fr_ps, fast=fast, biexciton=xx, grey=grey,
                                        nuisance_histograms=rest)

            free = None
            if rest is not None and mode_be != "always":   # ("always": the constrained fit's warnings say it)
                try:
                    free = fit_free(rest)
                    why_not = None if free.success else f"that fit failed ({free.message})"
                    f_rest = free.nuisance_fits[REST_LABEL]
                    if why_not is None and not f_rest.adequacy_z <= ADEQUACY_Z_MAX:
                        why_not = f"they reject the model (adequacy z {f_rest.adequacy_z:+.1f})"
                except AnalysisError as exc:
                    why_not = f"that fit failed ({exc})"
                if why_not is None:
                    lines.append(f"the {int(f_rest.counts.sum())} photons outside the regimes are fitted with them "
                                 "(own amplitudes, the shared lifetimes): they pin the fast / grey lifetimes"
                                 + "".join(f", {n[:-3]} {free.params[n]:.3g} ns" for n in ("tau_fast_ns", "tau_grey_ns")
                                           if n in free.params))
                else:
                    lines.append(f"the photons outside the regimes are left out: {why_not}")
                    rest, free = None, None
            if free is None and mode_be != "always":
                free = fit_free(None)
            g = free
            if mode_be != "free" or free.success:  # the seed's constraint: imposed, or tested against `free`
                start = None if free is None else {k: v for k, v in free.params.items() if k != f"n_trap[{short}]"}
                g_be = fit_decay_global(hists, P, single_regimes=[short], irf=irf, fit_range_ps=fr_ps, fast=fast,
                                        biexciton=xx, grey=grey, initial=start, nuisance_histograms=rest)
                if free is None:
                    g = g_be
                    lines.append(f"band edge only for the shortest regime {short} ns (imposed)")
                else:
                    d_dev = g_be.total_deviance - free.total_deviance
                    p_lrt = 0.5 * float(special.chdtrc(1, max(d_dev, 0.0)))  # boundary: 50:50 chi2_0 + chi2_1
                    rejected = free.success and p_lrt < LRT_P_MIN
                    if mode_be == "test" and not rejected:
                        g = g_be
                        lines.append(f"band edge only for the shortest regime {short} ns (likelihood-ratio "
                                     f"test p = {p_lrt:.2g})")
                    else:
                        lines.append(f"band edge only {'rejected' if rejected else 'not rejected'} for the "
                                     f"shortest regime {short} ns (likelihood ratio {d_dev:.1f}, p = {p_lrt:.2g})"
                                     + (": its trap fraction is free" if mode_be == "test" else
                                        "; all trap fractions fitted"))
        except AnalysisError as exc:
            why.update({lab: f"global fit failed: {exc}" for lab in hists})
        else:
            if options.profile_intervals and g.success:
                g = g.with_profile_intervals(("tau_be_ns", "tau_trap_ns")
                                             + tuple(f"trap_fraction[{lab}]" for lab in g.fits))
            fits = dict(g.fits)
            ok = "adequate" if g.fit_ok else ("REJECTED BY THE DATA" if g.success else "FAILED")
            rf = RegimeFits(mode, (), (), g, (), options.profile_intervals)
            lines.append(f"global fit: tau_BE {quoted(rf, None, 'tau_be_ns').text(' ns')}, "
                         f"tau_trap {quoted(rf, None, 'tau_trap_ns').text(' ns')}, "
                         f"deviance {g.deviance:.1f} (expected {g.expected_deviance:.1f}, adequacy z "
                         f"{g.adequacy_z:+.1f}): {ok}" + ("" if not g.warnings else " [" + "; ".join(g.warnings) + "]"))
    elif mode != "global":
        model = "be_trap" if mode == "be_trap" else "single"
        for lab, (t, c) in hists.items():
            try:
                fits[lab] = fit_decay(t, c, P, model, irf=irf, fit_range_ps=fr_ps)
            except AnalysisError as exc:
                why[lab] = f"fit failed: {exc}"
    out = RegimeFits(mode, tuple(fits.get(lab) for lab in labels),
                     tuple(None if lab in fits else why.get(lab, "not fitted") for lab in labels), g, (),
                     mode == "global" and g is not None and options.profile_intervals)
    for i, lab in enumerate(labels):
        f = fits.get(lab)
        if f is None:
            lines.append(f"regime {lab} ns: {why.get(lab, 'not fitted')}")
            continue
        taus = [f"tau {_pm(f.params['tau_ns'], f.errors.get('tau_ns', math.nan))} ns"] if "tau_ns" in f.params else []
        if g is None:   # the global fit's shared lifetimes are on its own line
            taus += [f"{c} {quoted(out, i, n).text(' ns')}" for c, n in (("BE", "tau_be_ns"), ("trap", "tau_trap_ns"))
                     if n in f.params]
        fr = (f"trap emission fraction {quoted(out, i, 'trap_fraction').text(' %', '.1f', 100)}" if "be" in f.fractions
              else "emission " + ", ".join(f"{c} {_pm(v, f.fraction_errors[c], 100, '.1f')} %"
                                           for c, v in f.fractions.items()))
        lines.append(_fit_line(f"regime {lab} ns: ", f, [", ".join(taus), fr], () if g is None else g.warnings))
    return dataclasses.replace(out, lines=tuple(lines))


def fit_regimes(res, model: str = "single", min_photons: int = 200) -> list:
    """One DecayFit (or None) per regime: fit_results(...).fits as a list (the live display, batch)."""
    return list(fit_results(res, model, min_photons=min_photons).fits)


# ------------------------------------------------------------------------------------------ spectra
@dataclass(frozen=True)
class TrapSpectrum:
    """Trap-emission spectrum (unit area, per eV) reconstructed from each trap-containing regime i as
    (S_i - (1 - f_i) S_band_edge) / f_i (tagstream.spectra.trap_spectrum), combined by an inverse-variance
    mean. Consistency between regimes: chi2 = sum_i sum_px (T_i - T)^2 / err_i^2 over `mask` (the emission
    region), dof = (n_regimes - 1) * n_px, p_value (for two regimes: tagstream.spectra.compare_spectra)."""

    energy_ev: np.ndarray
    density: np.ndarray
    density_err: np.ndarray
    per_regime: dict          # label -> (density, err)
    band_edge: str            # label of the band-edge (reference) regime
    peak: object              # tagstream.spectra PeakFit | None
    chi2: float
    dof: int
    p_value: float
    mask: np.ndarray
    band_edge_area: float     # band-edge regime spectrum's area (counts per frame)

    @property
    def density_per_frame(self) -> np.ndarray:
        """The trap spectrum in the regime spectra's units (counts per eV per frame), as bright as the
        band-edge regime: for drawing it over them."""
        return self.density * self.band_edge_area


@dataclass(frozen=True)
class RegimeSpectra:
    """Per-regime mean spectra of an EMCCD series placed on the photon clock."""

    energy_ev: np.ndarray
    spectra: tuple            # RegimeSpectrum per regime
    n_frames: int
    timing_source: str        # "triggers" | "cycle_time"
    trap: TrapSpectrum | None
    trap_message: str | None  # why there is no trap spectrum
    lines: tuple
    on: object = None         # RegimeSpectrum of all ON trace bins (same weighting as the regimes)


def emission_mask(energy_ev: np.ndarray, regime_spectra, n_fwhm: float = 2.0) -> np.ndarray:
    """Pixels within n_fwhm FWHM of any regime's fitted peak (where the spectra carry signal)."""
    m = np.zeros(energy_ev.size, bool)
    for rs in regime_spectra:
        if rs is not None and rs.peak is not None and rs.peak.success:
            m |= np.abs(energy_ev - rs.peak.peak_ev) < n_fwhm * rs.peak.fwhm_ev
    return m


def trap_spectrum_across(energy_ev, regime_spectra, fits, labels) -> TrapSpectrum:
    """Trap spectrum from every regime relative to the reference regime: the fitted regime with the
    smallest trap fraction (the global fit's band-edge-only regime, f = 0, where the band-edge test
    keeps it; else the shortest regime with its own free fraction: T = ((1 - f_ref) S - (1 - f) S_ref)
    / (f - f_ref), tagstream.spectra.trap_spectrum)."""
    from tagstream.spectra import energy_bin_widths_ev, fit_peak, trap_spectrum

    ok = [i for i, (f, rs) in enumerate(zip(fits, regime_spectra))
          if f is not None and rs is not None and rs.n_frames >= 2 and "be" in f.fractions]
    if not ok:
        raise AnalysisError("needs fitted regimes with band-edge fractions and spectra (--fit global or be_trap)")
    frac = {i: fits[i].fractions.get("trap", 0.0) for i in ok}
    b = min(ok, key=lambda i: frac[i])
    per = {}
    for i in ok:
        f = frac[i]
        if i != b and f > frac[b] + 1e-9:
            per[labels[i]] = trap_spectrum(energy_ev, regime_spectra[i].density, regime_spectra[b].density, f,
                                           fits[i].fraction_errors.get("trap", 0.0),
                                           regime_spectra[i].density_err, regime_spectra[b].density_err,
                                           f_ref=frac[b])
    if not per:
        raise AnalysisError("no regime with a trap fraction above the reference regime's and >= 2 spectra frames")
    T = np.array([t for t, _ in per.values()])
    E = np.array([e for _, e in per.values()])
    w = np.where(np.isfinite(E) & (E > 0), 1.0 / np.where(E > 0, E, 1.0) ** 2, 0.0)
    W = w.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(W > 0, (w * np.nan_to_num(T)).sum(axis=0) / np.where(W > 0, W, 1.0), np.nan)
        err = np.where(W > 0, 1.0 / np.sqrt(np.where(W > 0, W, 1.0)), np.nan)
    mask = emission_mask(energy_ev, regime_spectra) & (W > 0) & np.all(w > 0, axis=0)
    chi2 = float(np.sum(((T - mean) ** 2 * w)[:, mask]))
    dof = int((len(per) - 1) * mask.sum())
    p = float(special.chdtrc(dof, chi2)) if dof else float("nan")   # chi2 survival (scipy.stats: ~1 s to import)
    peak = fit_peak(energy_ev, mean, err)
    area = float(np.nansum(regime_spectra[b].density * energy_bin_widths_ev(energy_ev)))
    return TrapSpectrum(np.asarray(energy_ev, float), mean, err, per, labels[b], peak, chi2, dof, p, mask, area)


def spectra_on_clock(res, spectra):
    """An EMCCD series (path or SpectralSeries) placed on the recording's photon clock: (series, frame
    timing, energy_ev, baseline-subtracted density per eV). Frames are aligned by the recording's frame
    triggers, else the series' own frame starts, else by cycle time (with a warning)."""
    from tagstream.spectra import SpectralSeries, align_frames, read_spectra, subtract_baseline, to_energy

    s = spectra if isinstance(spectra, SpectralSeries) else read_spectra(spectra)
    trig = res.frames.frame_start_ps if res.frames is not None and len(res.frames.frame_start_ps) else s.frame_start_ps
    timing = align_frames(s.n_frames, s.exposure_s, s.cycle_time_s, trig)
    e, dens = to_energy(s.wavelength_nm, subtract_baseline(s.counts, s.baseline_adu))
    return s, timing, e, dens


SPECTRUM_MIN_WEIGHT = 0.5   # a frame enters a regime's mean spectrum if > half its exposure lies inside


def spectra_results(res, spectra, fits: RegimeFits | None = None,
                    min_weight: float = SPECTRUM_MIN_WEIGHT) -> RegimeSpectra:
    """Per-regime mean spectra of `spectra` (a .sif / .spectra.npz path or a tagstream.spectra
    SpectralSeries) aligned by the recording's frame triggers (else the series' own frame starts, else
    by cycle time, with a warning), the ON-state spectrum weighted the same way, and, given the regime
    fits, the trap spectrum across regimes."""
    from tagstream.spectra import intervals_from_bins, overlap_weights, regime_spectrum

    s, timing, e, dens = spectra_on_clock(res, spectra)
    labels = [r.regime.label for r in res.regimes]
    out, lines = [], [f"spectra: {s.n_frames} frames ({timing.source})"]
    tr = res.trace
    on_iv = intervals_from_bins(tr.bin_start_ps, int(round(tr.bin_ms * 1e9)), tr.on)
    on = regime_spectrum(e, dens, overlap_weights(timing, on_iv), min_weight=min_weight)
    for r, lab in zip(res.regimes, labels):
        rs = regime_spectrum(e, dens, overlap_weights(timing, r.intervals_ps), min_weight=min_weight)
        out.append(rs)
        if rs.peak is None or not rs.peak.success:
            lines.append(f"regime {lab} ns spectrum: {rs.n_frames} frames, no peak")
        else:
            lines.append(f"regime {lab} ns spectrum: {rs.n_frames} frames, peak "
                         f"{rs.peak.peak_ev:.4f} +- {rs.peak.peak_err_ev:.4f} eV, FWHM {1e3 * rs.peak.fwhm_ev:.1f} meV")
    trap, why = None, None
    if fits is None:
        why = "no decay fits"
    else:
        try:
            trap = trap_spectrum_across(e, out, fits.fits, labels)
        except AnalysisError as exc:
            why = str(exc)
    if trap is None:
        lines.append(f"trap spectrum: not reconstructed ({why})")
    else:
        pk = trap.peak
        pk_s = (f"peak {pk.peak_ev:.4f} +- {pk.peak_err_ev:.4f} eV, FWHM {1e3 * pk.fwhm_ev:.1f} meV"
                if pk is not None and pk.success else "no peak")
        lines.append(f"trap spectrum (from {', '.join(trap.per_regime)} ns vs reference {trap.band_edge} ns): {pk_s}; "
                     f"between regimes chi2 {trap.chi2:.1f} / {trap.dof} dof, p = {trap.p_value:.3g}")
    return RegimeSpectra(e, tuple(out), s.n_frames, timing.source, trap, why, tuple(lines), on)


# -------------------------------------------------------------------------------- flat numbers (JSON)
def _num(x) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def regime_fields(fits: RegimeFits | None, spectra: RegimeSpectra | None, i: int) -> dict:
    """The flat numbers of regime i (JSON `regimes[i]` and regime_fits.parquet): tau_be_ns, tau_trap_ns and
    trap_fraction each with the quoted error (Quoted.fields: X_err_minus / X_err_plus, the profile-likelihood
    68 % interval's distances, X_err_kind "profile" / "upper_limit" / "lower_limit" (a trap fraction on its bound: the one-sided
    profile interval) / "covariance" / "fixed" / "none", X_cov_err the covariance
    1-sigma), tau_ns ± tau_err_ns (single model, covariance), reduced deviance, adequacy; with spectra
    peak_ev, fwhm_mev. None = not available (fit_message says why). In the global fit the band-edge-only
    regime's trap_fraction is 0 ("fixed") and tau_* are the shared lifetimes."""
    d = {}
    for name, stem, unit in QUOTED:
        d.update(quoted(fits, i, name).fields(stem, unit))
    d.update(dict.fromkeys(("reduced_deviance", "fit_ok", "adequacy_z", "expected_deviance", "fit_warnings")))
    f: DecayFit | None = None if fits is None else fits.fits[i]
    if fits is not None:
        d.update(fit_mode=fits.mode, fit_success=None if f is None else bool(f.success), fit_message=fits.messages[i])
    if f is not None:
        if "tau_ns" in f.params:
            d["tau_ns"] = _num(f.params["tau_ns"])
            d["tau_err_ns"] = _num(f.errors.get("tau_ns", float("nan")))
        d["reduced_deviance"] = _num(f.reduced_deviance)
        d.update(fit_ok=bool(f.fit_ok), adequacy_z=_num(f.adequacy_z), expected_deviance=_num(f.expected_deviance),
                 fit_warnings="; ".join(f.warnings))
    if spectra is not None:
        rs = spectra.spectra[i]
        ok = rs is not None and rs.peak is not None and rs.peak.success
        d.update(peak_ev=_num(rs.peak.peak_ev) if ok else None, peak_err_ev=_num(rs.peak.peak_err_ev) if ok else None,
                 fwhm_mev=_num(1e3 * rs.peak.fwhm_ev) if ok else None,
                 spectrum_frames=0 if rs is None else int(rs.n_frames))
    return d


def trap_spectrum_fields(spectra: RegimeSpectra | None) -> dict | None:
    """JSON `trap_spectrum`: peak_ev, fwhm_mev (+ errors) and the between-regime consistency."""
    if spectra is None:
        return None
    t = spectra.trap
    if t is None:
        return {"peak_ev": None, "fwhm_mev": None, "message": spectra.trap_message}
    ok = t.peak is not None and t.peak.success
    return {"peak_ev": _num(t.peak.peak_ev) if ok else None, "peak_err_ev": _num(t.peak.peak_err_ev) if ok else None,
            "fwhm_mev": _num(1e3 * t.peak.fwhm_ev) if ok else None,
            "fwhm_err_mev": _num(1e3 * t.peak.fwhm_err_ev) if ok else None,
            "band_edge_regime": t.band_edge, "regimes": list(t.per_regime),
            "consistency": {"chi2": _num(t.chi2), "dof": t.dof, "p_value": _num(t.p_value)}}


def global_fit_fields(fits: RegimeFits | None) -> dict | None:
    """JSON `fit`: the mode and the shared global-fit numbers (None outside mode "global"); the lifetimes
    with their quoted errors as in regime_fields."""
    if fits is None:
        return None
    g = fits.global_fit
    if g is None:
        return {"mode": fits.mode, "global": None}
    d = {}
    for name, stem, unit in QUOTED[:2]:
        d.update(quoted(fits, None, name).fields(stem, unit))
    d.update({"reduced_deviance": _num(g.reduced_deviance), "success": bool(g.success),
              "fit_ok": bool(g.fit_ok), "adequacy_z": _num(g.adequacy_z), "expected_deviance": _num(g.expected_deviance),
              "deviance": _num(g.deviance), "message": g.message, "warnings": list(g.warnings)})
    # the nuisance lifetimes as fitted (null: not in the model) and the photons outside the regimes fitted
    # with them (null: left out); flat scalars: the batch table has a column per field
    d.update({n: _num(g.params[n]) if n in g.params else None for n in ("tau_fast_ns", "tau_grey_ns", "tau_xx_ns")})
    f_rest = g.nuisance_fits.get(REST_LABEL)
    d.update(rest_photons=None if f_rest is None else int(f_rest.counts.sum()),
             rest_adequacy_z=None if f_rest is None else _num(f_rest.adequacy_z))
    return {"mode": fits.mode, "global": d}


def fit_warnings(fits: RegimeFits | None) -> list[str]:
    """Every fit problem worth a line in --json `warnings` and the report: rejected or failed fits."""
    if fits is None:
        return []
    out = []
    g = fits.global_fit
    if g is not None and not g.fit_ok:
        out.append("global decay fit " + ("rejected by the data" if g.success else "failed") + ": "
                   + "; ".join(g.warnings))
    for r_fit, lab_msg in zip(fits.fits, fits.messages):
        if r_fit is not None and not r_fit.fit_ok and g is None:
            out.append("decay fit " + ("rejected by the data" if r_fit.success else "failed") + ": "
                       + "; ".join(r_fit.warnings))
    return out


def report_notes(fits: RegimeFits | None, spectra: RegimeSpectra | None) -> list[str]:
    """Header lines for the PNG report: the global lifetimes, trap fraction per regime, spectral peaks
    per regime and of the reconstructed trap spectrum (the seed's Fig. 4 numbers)."""
    out = []
    g = None if fits is None else fits.global_fit
    if g is not None:
        fr = [quoted(fits, i, "trap_fraction").text(" %", ".0f", 100, unicode=True, short=True)
              for i in range(len(fits.fits))]
        be, tr = (quoted(fits, None, n) for n in ("tau_be_ns", "tau_trap_ns"))
        kind = {"profile": " (68 % profile intervals)", "covariance": " (covariance 1σ)"}.get(be.kind, "")
        verdict = ("adequate" if g.fit_ok else "<b>REJECTED BY THE DATA</b>" if g.success else "<b>FAILED</b>")
        out.append(f"<b>global fit</b>: τ_BE {be.text(' ns', '.1f', unicode=True, short=True)}, "
                   f"τ_trap {tr.text(' ns', '.1f', unicode=True, short=True)}{kind} · trap emission "
                   f"fraction per regime: {' / '.join(fr)} · deviance {g.deviance:.0f} (expected "
                   f"{g.expected_deviance:.0f}, z {g.adequacy_z:+.1f}): {verdict}")
    out.extend(f"<b>{w}</b>" for w in fit_warnings(fits))
    if spectra is not None:
        pk = [f"{rs.peak.peak_ev:.4f} eV ({1e3 * rs.peak.fwhm_ev:.0f} meV)" if rs.peak is not None and rs.peak.success
              else "n/a" for rs in spectra.spectra]
        s = "<b>spectral peaks</b> per regime: " + " / ".join(pk)
        t = spectra.trap
        if t is not None and t.peak is not None and t.peak.success:
            s += (f" · <b>trap spectrum</b> (dashed) {t.peak.peak_ev:.4f} eV ({1e3 * t.peak.fwhm_ev:.0f} meV), "
                  f"regimes agree: χ² {t.chi2:.0f}/{t.dof}, p {t.p_value:.2g}")
        out.append(s)
    return out
