"""Analyse a recording: g2 antibunching, intensity and average-lifetime traces, ON state, FLID,
lifetime regimes, Poisson-MLE decay fits per regime and, with EMCCD spectra, the spectrum of each
regime and the trap-emission spectrum (the seed paper's single-QD analysis, its Fig. 4).

Examples:
  quick look (text summary; Otsu ON threshold, 10 ms bins, global fit of the default regimes):
    tagstream analyze qd.qutag
  seed reproduction (100 ms bins, ON > 400 counts, average lifetime measured from the laser sync):
    tagstream analyze fixtures/qd_demo.qutag --bin-ms 100 --on-threshold 400 \
        --regimes 40-50,50-60,60-70 --t0-ps 0 --json
  export tables + one-page PNG report (never overwrites without --force):
    tagstream analyze fixtures/qd_demo.qutag --bin-ms 100 --on-threshold 400 --t0-ps 0 --export out/
  other setups:
    tagstream analyze hbt.qutag --sync-filtered --laser-mhz 80 --no-fit
    tagstream analyze qd.sstt --setup setup.toml --spectra qd.sif --fit be_trap

Lifetime convention: by default t0 is the decay's rise (textbook average lifetime); the seed's regimes
40-50 / 50-60 / 60-70 ns are delays from the laser sync: use --t0-ps 0.

Fits (on by default when regimes are given; --no-fit skips them): --fit global (default) fits all
regimes at once with shared band-edge and trap lifetimes, the shortest regime band edge only;
--fit single / be_trap fit each regime alone. A regime with too few photons (< 200) or a failed fit
gets null fields and a message. --json regimes[i] then has tau_be_ns, tau_be_err_ns, tau_trap_ns,
tau_trap_err_ns, trap_fraction, trap_fraction_err, reduced_deviance (and fit_message).

Spectra: --spectra FILE (.sif or .spectra.npz); without it the recording's sidecar <stem>.spectra.npz
is used if present (the output says so; --no-spectra to skip). Frames are placed on the photon clock
by the frame-trigger channel. Adds peak_ev, fwhm_mev per regime and a top-level trap_spectrum
{peak_ev, fwhm_mev, consistency: chi2/dof/p between the regimes' reconstructions}.

--export DIR writes g2, trace, FLID, decay_<regime>, regime_fits, spectra_<regime>, trap_spectrum
(.parquet) and report.png, each atomically.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from typing import TYPE_CHECKING

from tagstream.commands.argtypes import channel, channel_or_none, limited
from tagstream.errors import SetupError, TagstreamError
from tagstream.setup import ResolvedSetup, Setup, resolve_setup

if TYPE_CHECKING:   # the analysis stack (numba, scipy, polars) is imported when a command runs, not for --help
    from tagstream.pipeline import AnalysisConfig

NAME = "analyze"
HELP = "g2, intensity/lifetime traces, FLID and lifetime regimes of a recording"


def add_arguments(p) -> None:
    p.add_argument("recording", help="time-tag file (quTAG, SSTT, ...)")
    p.add_argument("--setup", help="setup TOML (channel map, sync divider/filter, delays); default: the "
                   "recording's <stem>.setup.toml or .meta.json sidecar if present. Each part comes from the CLI, "
                   "else this file, else the recording's header (PTU, Photon-HDF5, SSTT; quTAG: sync 5 if present, "
                   "sync filter recognised), else the defaults SPAD A=1, B=2, sync=5")
    p.add_argument("--sync", type=channel_or_none, metavar="CH|none", help="laser sync channel, or none (CW/HBT, T3)")
    p.add_argument("--spad-a", type=channel, help="SPAD A channel")
    p.add_argument("--spad-b", type=channel_or_none, metavar="CH|none", help="SPAD B channel, or none (one detector)")
    p.add_argument("--frame", type=channel, help="camera frame-trigger channel")
    p.add_argument("--sync-divider", type=limited("sync_divider", integer=True), help="sync recorded every N laser pulses")
    p.add_argument("--sync-filtered", action="store_true", default=None, help="quTAG sync filter was on")
    p.add_argument("--laser-period-ps", type=limited("laser_period_ps"), help="nominal laser period (needed with --sync-filtered)")
    p.add_argument("--laser-mhz", type=limited("laser_mhz"), help="nominal laser repetition rate (alternative to --laser-period-ps)")
    p.add_argument("--microtime-offset-ps", type=limited("microtime_offset_ps", integer=True), default=0, help="fixed delay subtracted from microtimes")
    p.add_argument("--bin-ms", type=limited("trace_bin_ms"), default=10.0, help="trace bin (default 10 ms; the seed used 100)")
    p.add_argument("--on-threshold", type=limited("on_threshold"), help="ON if counts per bin > N (default: Otsu, automatic)")
    p.add_argument("--regimes", default="40-50,50-60,60-70", help="average-lifetime ranges in ns")
    p.add_argument("--t0-ps", type=limited("t0_ps"), help="decay time zero (default: from the total decay's rise)")
    p.add_argument("--no-background", action="store_true", help="do not subtract the uniform background")
    p.add_argument("--g2-window-ps", type=limited("g2_window_ps", integer=True), help="g2 half-window (default 3.5 laser periods)")
    p.add_argument("--g2-bin-ps", type=limited("g2_bin_ps", integer=True), help="g2 bin (default from the IRF)")
    p.add_argument("--g2-on", action="store_true", help="also g2 of the ON state only (pairs with both photons "
                   "in ON trace bins; in --json as g2_on)")
    p.add_argument("--levels", nargs="?", type=float, const=0.99, metavar="CONF", help="change-point intensity "
                   "levels of A+B at confidence CONF (0.69, 0.90, 0.95, 0.99; default 0.99): states in --json, "
                   "levels.parquet and level_flid.parquet in --export")
    p.add_argument("--on-from-levels", action="store_true", help="ON = trace bins entirely inside levels of the "
                   "brightest grouped state (implies --levels); the regimes then use those bins")
    p.add_argument("--level-states", type=limited("level_states", integer=True), metavar="N", help="group the levels into N states (default: "
                   "the BIC's choice on the EM-refined mixture; 3 forces ON/grey/OFF)")
    p.add_argument("--export", metavar="DIR", help="write Parquet tables to DIR")
    p.add_argument("--force", action="store_true", help="overwrite existing files in the export DIR")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the summary")
    p.add_argument("--skip-missing-channels", action="store_true",
                   help="SSTT: analyse the channel files present when some listed ones are missing (a warning says so)")
    fit = p.add_mutually_exclusive_group()
    fit.add_argument("--fit", nargs="?", const="global", default="global", choices=["global", "single", "be_trap"],
                     metavar="MODEL", help="Poisson-MLE decay fit per regime, on by default: global (default; shared "
                     "band-edge/trap lifetimes, seed Fig. 4), single or be_trap (each regime alone)")
    fit.add_argument("--no-fit", dest="fit", action="store_const", const=None, help="skip the decay fits")
    spec = p.add_mutually_exclusive_group()
    spec.add_argument("--spectra", metavar="FILE", help="EMCCD spectra (.sif / .spectra.npz): mean spectrum per "
                      "regime and trap spectrum; default: the recording's <stem>.spectra.npz sidecar if present")
    spec.add_argument("--no-spectra", action="store_true", help="do not use the <stem>.spectra.npz sidecar")


def cli_parts(args) -> dict:
    """The setup parts given on the command line ("none" -> None)."""
    given = dict(sync=args.sync, spad_a=args.spad_a, spad_b=args.spad_b, frame=args.frame,
                 sync_divider=args.sync_divider, sync_filtered=args.sync_filtered)
    out = {k: (None if v == "none" else v) for k, v in given.items() if v is not None}
    period = _cli_period(args)
    if period is not None:
        out["laser_period_ps"] = period
    return out


def resolved(args) -> tuple[ResolvedSetup, dict]:
    """The setup of args.recording, part by part (CLI > --setup/sidecar > header > defaults), and the
    probe facts of its first tags (io/propose.py)."""
    from tagstream.io import open_tags
    from tagstream.io.propose import propose_setup

    header, probe = propose_setup(open_tags(args.recording, skip_missing_channels=True, allow_truncated=True))
    return resolve_setup(args.recording, header, args.setup, cli_parts(args)), probe


def build(args) -> tuple[Setup, AnalysisConfig, str]:
    """Setup, analysis config, and where the setup came from (one line, part by part)."""
    rs, _ = resolved(args)
    return rs.setup, dataclasses.replace(config(args), laser_period_ps=rs.laser_period_ps), rs.describe()


def _cli_period(args) -> float | None:
    """The nominal laser period of --laser-period-ps or --laser-mhz (at most one of them)."""
    if args.laser_mhz is not None:
        if args.laser_period_ps is not None:
            raise SetupError(f"--laser-mhz {args.laser_mhz:g} and --laser-period-ps {args.laser_period_ps:g} both "
                             f"given: give one of them")
        return 1e6 / args.laser_mhz
    return args.laser_period_ps


def config(args) -> AnalysisConfig:
    """The AnalysisConfig of the analysis options (shared with `tagstream export`, which has no recording)."""
    from tagstream.pipeline import AnalysisConfig
    from tagstream.results import normalize_regimes

    period = _cli_period(args)
    try:
        regimes = normalize_regimes(args.regimes)
    except ValueError as exc:
        raise SetupError(f"--regimes: {exc}") from None
    cfg = AnalysisConfig(trace_bin_ms=args.bin_ms, laser_period_ps=period, microtime_offset_ps=args.microtime_offset_ps,
                         on_threshold=args.on_threshold, regimes_ns=regimes, t0_ps=args.t0_ps,
                         subtract_background=not args.no_background, g2_window_ps=args.g2_window_ps,
                         g2_bin_ps=args.g2_bin_ps, g2_per_state=getattr(args, "g2_on", False),
                         levels_confidence=_levels_confidence(args), on_from_levels=getattr(args, "on_from_levels", False),
                         level_states=getattr(args, "level_states", None))
    return cfg


def _levels_confidence(args) -> float | None:
    conf = getattr(args, "levels", None)
    return 0.99 if conf is None and getattr(args, "on_from_levels", False) else conf


def summary(res, path) -> str:
    g = res.g2
    tr = res.trace
    lines = [f"{path}: {res.n_records} tags, {res.duration_s:.3f} s",
             "counts: " + ", ".join(f"{k} {v}" for k, v in res.counts.items()),
             f"laser period: {res.laser_period_ps:.3f} ps" if res.laser_period_ps else "laser period: unknown (no sync)",
             f"unreferenced photons: {res.unreferenced_photons} "
             f"({', '.join(f'{k} {v}' for k, v in res.unreferenced_by_reason.items() if v) or 'none'})"]
    if res.decay.t0_ps is not None:
        lines.append(f"decay: t0 {res.decay.t0_ps / 1e3:.3f} ns ({'estimated' if res.decay.t0_estimated else 'given'}), "
                     f"background {100 * res.decay.background_fraction:.2f} % of referenced photons")
    if g is not None:
        g0 = "n/a" if g.g2_zero is None else f"{g.g2_zero:.4f} +- {g.g2_zero_err:.4f}"
        lines.append(f"g2: window +-{g.window_ps} ps, bin {g.bin_ps} ps, {int(g.counts.sum())} pairs, g2(0) = {g0}")
    if getattr(res, "g2_on", None) is not None:
        g = res.g2_on
        g0 = "n/a" if g.g2_zero is None else f"{g.g2_zero:.4f} +- {g.g2_zero_err:.4f}"
        lines.append(f"g2 ON state: {int(g.counts.sum())} pairs in {g.duration_s:.2f} s ON, g2(0) = {g0}")
    lines.append(f"trace: {tr.counts.size} bins of {tr.bin_ms:g} ms, ON threshold {tr.on_threshold:g} "
                 f"({tr.on_threshold_method}), ON fraction {100 * tr.on_fraction:.1f} %")
    for r in (res.regimes if res.laser_period_ps else ()):   # no period: no lifetimes (one warning says so)
        lines.append(f"regime {r.range_ns[0]:g}-{r.range_ns[1]:g} ns: {r.n_bins} bins, {r.n_photons} photons")
    lev = getattr(res, "levels", None)
    if lev is not None:
        lines.append(f"levels (confidence {lev.confidence:g}): {lev.n_levels} levels, {lev.grouping.n_states} states")
        for i, lt, o in zip(lev.grouping.state_intensity_cps, lev.state_lifetime_ns, lev.state_occupancy):
            lines.append(f"  state {i:.0f} cps, lifetime {lt:.2f} ns, occupancy {100 * o:.1f} %")
    return "\n".join(lines)


def sidecar_spectra(recording) -> Path | None:
    """The recording's <stem>.spectra.npz (as `tagstream simulate` writes it), if present."""
    p = Path(recording)
    c = p.with_name(p.stem + ".spectra.npz")
    return c if c.is_file() else None


def spectra_file(args) -> tuple[Path | None, str | None]:
    """(spectra file or None, how it was chosen): --spectra FILE, else the sidecar unless --no-spectra."""
    if args.spectra:
        return Path(args.spectra), "--spectra"
    side = None if args.no_spectra else sidecar_spectra(args.recording)
    return (side, "sidecar") if side is not None else (None, None)


def run(args) -> int:
    from tagstream import plausibility as P
    from tagstream.analysis.regimes import (fit_results, global_fit_fields, regime_fields, report_notes,
                                            spectra_results, trap_spectrum_fields)
    from tagstream.pipeline import analyze_file

    rs, probe = resolved(args)
    setup = rs.setup
    cfg = dataclasses.replace(config(args), laser_period_ps=rs.laser_period_ps)
    spectra_path, spectra_source = spectra_file(args)
    report_path = Path(args.export) / "report.png" if args.export else None
    if report_path is not None and report_path.exists() and not args.force:
        from tagstream.export.parquet import ExportError

        raise ExportError(f"{report_path} exists; use --force to overwrite")
    progress = sys.stdout.isatty() and not args.json
    warnings: list[str] = []
    res = analyze_file(args.recording, setup, cfg, progress=progress,
                       skip_missing_channels=args.skip_missing_channels, warnings=warnings)
    warnings += (P.channel_warnings(setup, probe["present"])
                 + P.sync_warnings(probe["sync"], setup.sync_filtered, setup.sync_divider) + P.result_warnings(res))
    if args.json:   # the text summary lists them itself
        P.report("tagstream analyze", warnings, sys.stderr)
    extra = []
    fits = sp = series = None
    if args.fit and res.regimes:
        fits = fit_results(res, args.fit)
        res = res.with_regime_fits(list(fits.fits))
        extra += fits.lines
    if spectra_path is not None:
        from tagstream.spectra import read_spectra

        note = f"spectra: using the sidecar {spectra_path} (--spectra FILE for another, --no-spectra to skip)"
        if spectra_source == "sidecar":
            extra.append(note)
            if args.json:
                print(note, file=sys.stderr)
        try:
            series = read_spectra(spectra_path)
            sp = spectra_results(res, series, fits)
        except TagstreamError as exc:
            if spectra_source != "sidecar":
                raise
            raise TagstreamError(f"sidecar spectra {spectra_path}: {exc} (--no-spectra to skip)") from None
        extra += sp.lines
    written = []
    if args.export:
        from tagstream.export.parquet import export_results
        from tagstream.export.report import render_report

        written = export_results(res, args.export, overwrite=args.force, fits=fits, spectra=sp)
        written.append(render_report(res, report_path, fits=None if fits is None else list(fits.fits),
                                     spectra=series, title=Path(args.recording).name, overwrite=args.force,
                                     notes=report_notes(fits, sp), trap_spectrum=None if sp is None else sp.trap))
    if args.json:
        d = res.to_json_dict()
        d["setup"] = rs.to_json_dict()
        for i, r in enumerate(d["regimes"]):
            r.update(regime_fields(fits, sp, i))
        d["fit"] = global_fit_fields(fits)
        d["spectra"] = None if sp is None else {"file": str(spectra_path), "source": spectra_source,
                                                "n_frames": sp.n_frames, "timing": sp.timing_source}
        d["trap_spectrum"] = trap_spectrum_fields(sp)
        if written:
            d["exported"] = [str(p) for p in written]
        d["warnings"] = list(dict.fromkeys(d.get("warnings", []) + warnings))
        json.dump(d, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print("\n".join([summary(res, args.recording), f"setup: {rs.describe()}"]
                        + [f"setup note: {n}" for n in rs.notes] + extra + [f"warning: {w}" for w in warnings]))
        for p in written:
            print(f"wrote {p}")
    return 0
