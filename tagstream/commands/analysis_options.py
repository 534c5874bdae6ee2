"""The analysis options shared by `tagstream analyze` and `tagstream export`: one definition of the
flags, one translation into a tagstream.product.AnalysisOptions (so both commands compute the same
thing from the same flags). Spectra are chosen per command (analyze --spectra FILE, export
--spectra-pattern); --no-spectra is shared.

    add_analysis_arguments(parser)
    options = analysis_options(args)      # AnalysisOptions (setup None = per recording's sidecar)
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from tagstream.commands.argtypes import channel, channel_or_none, limited
from tagstream.errors import SetupError
from tagstream.product import FIT_MODELS, AnalysisOptions
from tagstream.regime import parse_regimes

if TYPE_CHECKING:   # numba loads when a command runs, not for --help
    from tagstream.pipeline import AnalysisConfig

from tagstream.commands import fit_options as _fit_options   # IRF, fit range, band-edge test

SETUP_FLAGS = ("sync", "spad_a", "spad_b", "frame", "sync_divider", "sync_filtered")


def add_analysis_arguments(p) -> None:
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
    p.add_argument("--laser-period-ps", type=limited("laser_period_ps"),
                   help="nominal laser period (needed with --sync-filtered)")
    p.add_argument("--laser-mhz", type=limited("laser_mhz"),
                   help="nominal laser repetition rate (alternative to --laser-period-ps)")
    p.add_argument("--microtime-offset-ps", type=limited("microtime_offset_ps", integer=True), default=0,
                   help="fixed delay subtracted from microtimes")
    p.add_argument("--bin-ms", type=limited("trace_bin_ms"), default=10.0, help="trace bin (default 10 ms; the seed used 100)")
    p.add_argument("--on-threshold", type=limited("on_threshold"), help="ON if counts per bin > N (default: Otsu, "
                   "automatic). Memory: with --on-threshold, --t0-ps and --no-background (and no --levels) the "
                   "selection is fixed up front and the analysis runs in bounded-memory mode (no per-photon store: "
                   "flat memory whatever the recording length); otherwise it keeps the re-selectable per-photon "
                   "store (2 B per photon). The output says which (memory_mode in --json)")
    p.add_argument("--regimes", default="40-50,50-60,60-70", help="average-lifetime ranges in ns")
    p.add_argument("--t0-ps", type=limited("t0_ps"), help="decay time zero (default: from the total decay's rise)")
    p.add_argument("--no-background", action="store_true", help="do not subtract the uniform background")
    p.add_argument("--g2-window-ps", type=limited("g2_window_ps", integer=True), help="g2 half-window (default 3.5 laser periods)")
    p.add_argument("--g2-bin-ps", type=limited("g2_bin_ps", integer=True), help="g2 bin (default from the IRF)")
    p.add_argument("--g2-on", action="store_true", help="also g2 of the ON state only (pairs with both photons "
                   "in ON trace bins; in --json as g2_on)")
    p.add_argument("--g2-time-window-s", type=float, default=10.0, metavar="S", help="with --g2-on: g2(0) per "
                   "window of S seconds (default 10), and per blinking state with --levels (--json g2_vs_time)")
    corr = p.add_mutually_exclusive_group()
    corr.add_argument("--correlation", action="store_true", help="also the exact 1 us - 10 s A-B intensity "
                      "correlation (blinking timescales; on by default with --levels). Opt-in: it costs ~300 ns CPU "
                      "per photon, 3x the rest of the engine on a dense file (bench/bench_engine.py)")
    corr.add_argument("--no-correlation", action="store_true", help="skip the intensity correlation (also with --levels)")
    p.add_argument("--levels", nargs="?", type=float, const=0.99, metavar="CONF", help="change-point intensity "
                   "levels of A+B at confidence CONF (0.69, 0.90, 0.95, 0.99; default 0.99): states, dwell-time power laws "
                   "(blinking) in --json, levels / level_flid / dwells / dwell_histograms .parquet in the export")
    p.add_argument("--on-from-levels", action="store_true", help="ON = trace bins entirely inside levels of the "
                   "brightest grouped state (implies --levels); the regimes then use those bins")
    p.add_argument("--level-states", type=limited("level_states", integer=True), metavar="N", help="group the levels into N states (default: "
                   "the BIC's choice on the EM-refined mixture; 3 forces ON/grey/OFF)")
    fit = p.add_mutually_exclusive_group()
    fit.add_argument("--fit", nargs="?", const="global", default="global", choices=list(FIT_MODELS),
                     metavar="MODEL", help="Poisson-MLE decay fit per regime, on by default: global (default; shared "
                     "band-edge/trap lifetimes, seed Fig. 4), single or be_trap (each regime alone)")
    fit.add_argument("--no-fit", dest="fit", action="store_const", const=None, help="skip the decay fits")
    _fit_options.add_fit_arguments(p)
    p.add_argument("--no-spectra", action="store_true", help="do not use the recording's <stem>.spectra.npz sidecar")
    p.add_argument("--skip-missing-channels", action="store_true",
                   help="SSTT: analyse the channel files present when some listed ones are missing (a warning says so)")


def analysis_config(args) -> AnalysisConfig:
    """The AnalysisConfig of the flags."""
    from tagstream.pipeline import AnalysisConfig

    period = args.laser_period_ps
    if args.laser_mhz is not None:
        if period is not None:
            raise SetupError(f"--laser-mhz {args.laser_mhz:g} and --laser-period-ps {period:g} both given: "
                             f"give one of them")
        period = 1e6 / args.laser_mhz
    try:
        regimes = parse_regimes(args.regimes)
    except ValueError as exc:
        raise SetupError(f"--regimes: {exc}") from None
    levels = args.levels if args.levels is not None or not args.on_from_levels else 0.99
    config = AnalysisConfig(trace_bin_ms=args.bin_ms, laser_period_ps=period, microtime_offset_ps=args.microtime_offset_ps,
                          on_threshold=args.on_threshold, regimes_ns=regimes, t0_ps=args.t0_ps,
                          subtract_background=not args.no_background, g2_window_ps=args.g2_window_ps,
                          g2_bin_ps=args.g2_bin_ps, g2_per_state=args.g2_on, levels_confidence=levels,
                          on_from_levels=args.on_from_levels, level_states=args.level_states,
                          intensity_correlation=wants_correlation(args, levels),
                          g2_time_window_s=getattr(args, "g2_time_window_s", None) or 10.0)
    # a command never re-selects: with the selection fixed up front, keep no per-photon store
    return dataclasses.replace(config, bounded_memory=True) if config.bounded_possible() else config


def wants_correlation(args, levels: float | None) -> bool:
    """The intensity correlation runs when asked (--correlation) or with the blinking levels (--levels, unless
    --no-correlation): its cost grows with the photons (~300 ns each), not with the records."""
    if getattr(args, "no_correlation", False):
        return False
    return bool(getattr(args, "correlation", False)) or levels is not None


def analysis_options(args, spectra=None) -> AnalysisOptions:
    """AnalysisOptions of the flags; spectra: the command's explicit spectra file (or None). Each
    recording's setup is resolved part by part (CLI > --setup/sidecar > file header > defaults)."""
    given = {k: getattr(args, k) for k in SETUP_FLAGS if getattr(args, k) is not None}
    return AnalysisOptions(
        config=analysis_config(args), setup_file=args.setup,
        setup_overrides={k: (None if v == "none" else v) for k, v in given.items()},   # --sync none
        fit=args.fit, fit_options=_fit_options.fit_options(args),
        spectra=spectra, spectra_sidecar=not args.no_spectra, skip_missing_channels=args.skip_missing_channels)
