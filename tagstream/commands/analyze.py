"""Analyse a recording: g2 antibunching, intensity and average-lifetime traces, ON state, FLID and
lifetime regimes (the seed paper's single-QD analysis).

Examples:
  tagstream analyze qd.qutag --bin-ms 100 --on-threshold 400 --regimes 40-50,50-60,60-70
  tagstream analyze hbt.qutag --sync-filtered --laser-mhz 80 --json
  tagstream analyze qd.sstt --setup setup.toml --export out/ --force
"""

from __future__ import annotations

import json
import sys

from tagstream.errors import SetupError
from tagstream.pipeline import AnalysisConfig, analyze_file
from tagstream.results import normalize_regimes
from tagstream.setup import Setup, setup_for_recording

NAME = "analyze"
HELP = "g2, intensity/lifetime traces, FLID and lifetime regimes of a recording"


def add_arguments(p) -> None:
    p.add_argument("recording", help="time-tag file (quTAG, SSTT, ...)")
    p.add_argument("--setup", help="setup TOML (channel map, sync divider/filter, delays); default: the "
                   "recording's <stem>.setup.toml or .meta.json sidecar if present, else SPAD A=1, B=2, sync=5")
    p.add_argument("--sync", type=int, help="laser sync channel")
    p.add_argument("--spad-a", type=int, help="SPAD A channel")
    p.add_argument("--spad-b", type=int, help="SPAD B channel")
    p.add_argument("--frame", type=int, help="camera frame-trigger channel")
    p.add_argument("--sync-divider", type=int, help="sync recorded every N laser pulses")
    p.add_argument("--sync-filtered", action="store_true", default=None, help="quTAG sync filter was on")
    p.add_argument("--laser-period-ps", type=float, help="nominal laser period (needed with --sync-filtered)")
    p.add_argument("--laser-mhz", type=float, help="nominal laser repetition rate (alternative to --laser-period-ps)")
    p.add_argument("--microtime-offset-ps", type=int, default=0, help="fixed delay subtracted from microtimes")
    p.add_argument("--bin-ms", type=float, default=10.0, help="trace bin (default 10 ms; the seed used 100)")
    p.add_argument("--on-threshold", type=float, help="ON if counts per bin > N (default: Otsu, automatic)")
    p.add_argument("--regimes", default="40-50,50-60,60-70", help="average-lifetime ranges in ns")
    p.add_argument("--t0-ps", type=float, help="decay time zero (default: from the total decay's rise)")
    p.add_argument("--no-background", action="store_true", help="do not subtract the uniform background")
    p.add_argument("--g2-window-ps", type=int, help="g2 half-window (default 3.5 laser periods)")
    p.add_argument("--g2-bin-ps", type=int, help="g2 bin (default from the IRF)")
    p.add_argument("--export", metavar="DIR", help="write Parquet tables to DIR")
    p.add_argument("--force", action="store_true", help="overwrite existing files in the export DIR")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the summary")
    p.add_argument("--fit", choices=["global", "single", "be_trap"], help="Poisson-MLE decay fit per regime")
    p.add_argument("--spectra", metavar="FILE", help="EMCCD spectra (.sif / .spectra.npz): mean spectrum per regime")


def build(args) -> tuple[Setup, AnalysisConfig, str]:
    """Setup (with CLI overrides), analysis config, and where the setup came from."""
    setup, setup_source = setup_for_recording(args.recording, args.setup)
    setup = setup.replace(sync=args.sync, spad_a=args.spad_a, spad_b=args.spad_b, frame=args.frame,
                          sync_divider=args.sync_divider, sync_filtered=args.sync_filtered)
    period = args.laser_period_ps
    if args.laser_mhz is not None:
        if args.laser_mhz <= 0:
            raise SetupError("--laser-mhz must be > 0")
        period = 1e6 / args.laser_mhz
    try:
        regimes = normalize_regimes(args.regimes)
    except ValueError as exc:
        raise SetupError(f"--regimes: {exc}") from None
    cfg = AnalysisConfig(trace_bin_ms=args.bin_ms, laser_period_ps=period, microtime_offset_ps=args.microtime_offset_ps,
                         on_threshold=args.on_threshold, regimes_ns=regimes, t0_ps=args.t0_ps,
                         subtract_background=not args.no_background, g2_window_ps=args.g2_window_ps,
                         g2_bin_ps=args.g2_bin_ps)
    return setup, cfg, setup_source


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
    lines.append(f"trace: {tr.counts.size} bins of {tr.bin_ms:g} ms, ON threshold {tr.on_threshold:g} "
                 f"({tr.on_threshold_method}), ON fraction {100 * tr.on_fraction:.1f} %")
    for r in res.regimes:
        lines.append(f"regime {r.range_ns[0]:g}-{r.range_ns[1]:g} ns: {r.n_bins} bins, {r.n_photons} photons")
    return "\n".join(lines)


def run(args) -> int:
    setup, cfg, setup_source = build(args)
    progress = sys.stdout.isatty() and not args.json
    res = analyze_file(args.recording, setup, cfg, progress=progress)
    extra = []
    if args.fit:
        from tagstream.analysis.regimes import fit_results

        fits, _, fit_lines = fit_results(res, args.fit)
        res, extra = res.with_regime_fits(fits), extra + fit_lines
    if args.spectra:
        from tagstream.analysis.regimes import spectra_results

        extra += spectra_results(res, args.spectra)[1]
    written = []
    if args.export:
        from tagstream.export.parquet import export_results

        written = export_results(res, args.export, overwrite=args.force)
    if args.json:
        d = res.to_json_dict()
        if written:
            d["exported"] = [str(p) for p in written]
        json.dump(d, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print("\n".join([summary(res, args.recording), f"setup: {setup_source}"] + extra))
        for p in written:
            print(f"wrote {p}")
    return 0
