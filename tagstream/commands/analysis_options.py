"""The analysis options shared by `tagstream analyze` and `tagstream export`: one definition of the
flags, one translation into a tagstream.product.AnalysisOptions (so both commands compute the same
thing from the same flags). Spectra are chosen per command (analyze --spectra FILE, export
--spectra-pattern); --no-spectra is shared.

    add_analysis_arguments(parser)
    options = analysis_options(args)      # AnalysisOptions (setup None = per recording's sidecar)
"""

from __future__ import annotations

from tagstream.errors import SetupError
from tagstream.pipeline import AnalysisConfig
from tagstream.product import FIT_MODELS, AnalysisOptions
from tagstream.regime import parse_regimes
from tagstream.setup import Setup

try:  # the fit options (IRF, ...) of issue 11, when present
    from tagstream.commands import fit_options as _fit_options
except ImportError:  # pragma: no cover - before it lands
    _fit_options = None

SETUP_FLAGS = ("sync", "spad_a", "spad_b", "frame", "sync_divider", "sync_filtered")


def add_analysis_arguments(p) -> None:
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
    p.add_argument("--g2-on", action="store_true", help="also g2 of the ON state only (pairs with both photons "
                   "in ON trace bins; in --json as g2_on)")
    p.add_argument("--levels", nargs="?", type=float, const=0.99, metavar="CONF", help="change-point intensity "
                   "levels of A+B at confidence CONF (0.69, 0.90, 0.95, 0.99; default 0.99): states in --json, "
                   "levels.parquet and level_flid.parquet in the export")
    p.add_argument("--on-from-levels", action="store_true", help="ON = trace bins entirely inside levels of the "
                   "brightest grouped state (implies --levels); the regimes then use those bins")
    p.add_argument("--level-states", type=int, metavar="N", help="group the levels into N states (default: "
                   "the BIC's choice on the EM-refined mixture; 3 forces ON/grey/OFF)")
    fit = p.add_mutually_exclusive_group()
    fit.add_argument("--fit", nargs="?", const="global", default="global", choices=list(FIT_MODELS),
                     metavar="MODEL", help="Poisson-MLE decay fit per regime, on by default: global (default; shared "
                     "band-edge/trap lifetimes, seed Fig. 4), single or be_trap (each regime alone)")
    fit.add_argument("--no-fit", dest="fit", action="store_const", const=None, help="skip the decay fits")
    if _fit_options is not None:
        _fit_options.add_fit_arguments(p)
    p.add_argument("--no-spectra", action="store_true", help="do not use the recording's <stem>.spectra.npz sidecar")


def analysis_config(args) -> AnalysisConfig:
    """The AnalysisConfig of the flags."""
    period = args.laser_period_ps
    if args.laser_mhz is not None:
        if args.laser_mhz <= 0:
            raise SetupError("--laser-mhz must be > 0")
        period = 1e6 / args.laser_mhz
    try:
        regimes = parse_regimes(args.regimes)
    except ValueError as exc:
        raise SetupError(f"--regimes: {exc}") from None
    levels = args.levels if args.levels is not None or not args.on_from_levels else 0.99
    return AnalysisConfig(trace_bin_ms=args.bin_ms, laser_period_ps=period, microtime_offset_ps=args.microtime_offset_ps,
                          on_threshold=args.on_threshold, regimes_ns=regimes, t0_ps=args.t0_ps,
                          subtract_background=not args.no_background, g2_window_ps=args.g2_window_ps,
                          g2_bin_ps=args.g2_bin_ps, g2_per_state=args.g2_on, levels_confidence=levels,
                          on_from_levels=args.on_from_levels, level_states=args.level_states)


def analysis_options(args, spectra=None) -> AnalysisOptions:
    """AnalysisOptions of the flags; spectra: the command's explicit spectra file (or None)."""
    setup = Setup.from_toml(args.setup) if args.setup else None
    return AnalysisOptions(
        config=analysis_config(args), setup=setup, setup_source=str(args.setup) if args.setup else "given",
        setup_overrides={k: getattr(args, k) for k in SETUP_FLAGS if getattr(args, k) is not None},
        fit=args.fit, fit_options=None if _fit_options is None else _fit_options.fit_options(args),
        spectra=spectra, spectra_sidecar=not args.no_spectra)
