"""CLI options of the decay fits (IRF, fit range, band-edge constraint, fast component) -> tagstream.analysis.fit_options.FitOptions.

    add_fit_arguments(parser)          # in a command's add_arguments
    opts = fit_options(args)           # FitOptions; the setup TOML's [fit] table fills what the CLI leaves

Setup TOML (the --setup file or the recording's <stem>.setup.toml), all keys optional:
    [fit]
    irf = "irf_scatter.qutag"          # or "gaussian" / "emg" / "delta"; a path = measured IRF
    irf_sigma_ps = 80.0
    fit_range_ns = [3.0, 500.0]        # ns after the rise
    band_edge_only = "free"            # or "test" / "always" (test_band_edge = false is "always")
    fast_component = true              # a shared fast exponential for OFF/biexciton (and grey) photons
    grey_component = true              # a second one (3-25 ns) for the grey-state photons
    rest_histogram = true              # the photons outside the regimes join the global fit (nuisance lifetimes)
    profile_intervals = true           # profile-likelihood 68 % intervals (global lifetimes, fractions)
    biexciton_component = false        # a sub-ns biexciton exponential tied to each regime's photons
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from tagstream.analysis.fit_options import BAND_EDGE_ONLY, IRF_KINDS, FitOptions
from tagstream.errors import TagstreamError


def add_fit_arguments(p) -> None:
    import argparse

    g = p.add_argument_group("decay fits") if isinstance(p, argparse.ArgumentParser) else p  # no nested groups
    g.add_argument("--irf", metavar="KIND|FILE",
                   help="instrument response of the fits: gaussian (default; shift and width fitted, started from "
                        "the measured rise), emg, delta, or a FILE: a measured IRF as a decay histogram (.npz with "
                        "t_ps, counts / .csv / .txt columns, on the recording's decay bins) or a tag file of "
                        "scattered laser light (analysed with the same setup)")
    g.add_argument("--irf-sigma-ps", type=float, metavar="PS", help="Gaussian IRF width to start from (held fixed)")
    g.add_argument("--fit-range-ns", metavar="LO,HI",
                   help="fit only the bins LO..HI ns after the rise (periodic), with the IRF shift fixed from the "
                        "full-period fit, e.g. 3,500 to skip fast components")
    _switch(g, "fast-component",
            on="global fit: a shared fast exponential for OFF-state and biexciton photons (0.05-3 ns; "
               "0.05-20 ns, also for the grey ones, with --no-grey-component) "
               "(default; its amplitude may fit to 0)",
            off="global fit without the fast component")
    _switch(g, "grey-component",
            on="global fit: a second shared fast exponential (3-25 ns, amplitude per regime) for the "
               "grey-state photons (default)",
            off="global fit without the grey component")
    _switch(g, "rest-histogram",
            on="global fit: the photons outside the regimes join it with their own amplitudes and the "
               "shared lifetimes, pinning the fast / grey lifetimes (default; left out, with a note, where "
               "the model does not describe them)",
            off="global fit of the regimes' photons only")
    g.add_argument("--no-profile-intervals", dest="profile_intervals", action="store_false", default=None,
                   help="global fit: skip the profile-likelihood 68 %% intervals of tau_BE, tau_trap and the "
                        "trap fractions (default: computed, ~1-2 s per recording)")
    _switch(g, "biexciton-component",
            on="global fit: also a sub-ns biexciton exponential (one shared lifetime; its photons a shared "
               "ratio of each regime's band-edge + trap photons), the fast component then from 2 ns "
               "(default: off; the fast component takes the biexciton photons)",
            off="global fit without the biexciton component (default)")
    g.add_argument("--band-edge-only", choices=BAND_EDGE_ONLY, default=None,
                   help="the shortest-lifetime regime as pure band edge: free (default: its trap fraction is "
                        "fitted; the likelihood-ratio test of the constraint is a note), test (imposed unless "
                        "that test rejects it at p < 0.01; biased when it lacks power), always")
    g.add_argument("--no-band-edge-test", dest="band_edge_only", action="store_const", const="always",
                   help="= --band-edge-only always (the seed's model)")


def _switch(g, flag: str, on: str, off: str) -> None:
    """--FLAG / --no-FLAG into dest FLAG (dashes as underscores), None when neither is given (the
    FitOptions / setup TOML default then holds)."""
    dest = flag.replace("-", "_")
    g.add_argument(f"--{flag}", dest=dest, action="store_true", default=None, help=on)
    g.add_argument(f"--no-{flag}", dest=dest, action="store_false", help=off)


def _setup_table(args) -> tuple[dict, Path | None]:
    path = getattr(args, "setup", None)
    if path is None and getattr(args, "recording", None):
        rec = Path(args.recording)
        cand = rec.with_name(rec.stem + ".setup.toml")
        path = cand if cand.is_file() else None
    if path is None:
        return {}, None
    try:
        with open(path, "rb") as fh:
            table = tomllib.load(fh).get("fit", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}, None  # the setup reader reports a bad setup file itself
    if not isinstance(table, dict):
        raise TagstreamError(f"{path}: [fit] must be a table")
    return table, Path(path)


def _range(text, where):
    try:
        lo, hi = (float(v) for v in (text.split(",") if isinstance(text, str) else text))
    except (ValueError, TypeError):
        raise TagstreamError(f"{where}: fit range must be LO,HI in ns after the rise, got {text!r}") from None
    return lo, hi


def fit_options(args) -> FitOptions:
    """FitOptions from the CLI, falling back to the setup TOML's [fit] table, then to the defaults."""
    table, src = _setup_table(args)
    unknown = set(table) - {"irf", "irf_sigma_ps", "irf_tail_ps", "fit_range_ns", "band_edge_only",
                            "test_band_edge", "fast_component", "profile_intervals", "biexciton_component",
                            "grey_component", "rest_histogram"}
    if unknown:
        raise TagstreamError(f"{src}: unknown [fit] key(s) {sorted(unknown)}")
    be = table.get("band_edge_only", "free" if table.get("test_band_edge", True) else "always")
    if be not in BAND_EDGE_ONLY:
        raise TagstreamError(f"{src}: [fit] band_edge_only must be one of {', '.join(BAND_EDGE_ONLY)}, got {be!r}")
    irf = args.irf if args.irf is not None else table.get("irf", "gaussian")
    base = src.parent if (args.irf is None and src is not None) else Path.cwd()
    kind, path = (irf, None) if irf in IRF_KINDS else ("measured", str(base / irf))
    fr = args.fit_range_ns if args.fit_range_ns is not None else table.get("fit_range_ns")
    return FitOptions(
        irf=kind, irf_path=path,
        irf_sigma_ps=args.irf_sigma_ps if args.irf_sigma_ps is not None else table.get("irf_sigma_ps"),
        irf_tail_ps=table.get("irf_tail_ps"),
        fit_range_ns=None if fr is None else _range(fr, "--fit-range-ns" if args.fit_range_ns else src),
        band_edge_only=args.band_edge_only if args.band_edge_only is not None else be,
        fast_component=args.fast_component if args.fast_component is not None
        else bool(table.get("fast_component", True)),
        profile_intervals=bool(table.get("profile_intervals", True)) if getattr(args, "profile_intervals", None)
        is None else args.profile_intervals,
        biexciton_component=bool(table.get("biexciton_component", False))
        if getattr(args, "biexciton_component", None) is None else args.biexciton_component,
        grey_component=bool(table.get("grey_component", True))
        if getattr(args, "grey_component", None) is None else args.grey_component,
        rest_histogram=bool(table.get("rest_histogram", True))
        if getattr(args, "rest_histogram", None) is None else args.rest_histogram)
