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

Setup: each part (channels, sync divider/filter, laser period) comes from the CLI, else --setup / the
recording's sidecar, else the file's header (PTU, Photon-HDF5, SSTT, B&H SPC; quTAG sync filter
recognised from the first tags), else the defaults; the output says which. `--sync none` analyses a
CW / HBT stream (g2, traces, levels; no lifetimes). Implausible input (filtered sync taken as plain,
implausible period, missing channels) is a warning line and a `warnings` entry in --json.

Lifetime convention: by default t0 is the decay's rise (textbook average lifetime); the seed's regimes
40-50 / 50-60 / 60-70 ns are delays from the laser sync: use --t0-ps 0.

Fits (on by default when regimes are given; --no-fit skips them): --fit global (default) fits all
regimes at once with shared band-edge and trap lifetimes, the shortest regime band edge only;
--fit single / be_trap fit each regime alone. A regime with too few photons (< 200) or a failed fit
gets null fields and a message. The fits use each regime's split-half cross-selected decay (its
photon count is n_fit_photons in --json, "fits use N" in the text). The quoted errors of tau_BE, tau_trap
and the trap fractions are their profile-likelihood 68 % intervals ("35.73 +0.79 -0.88 ns (68 % profile;
covariance 1-sigma 0.83)"); --no-profile-intervals skips them (then the covariance 1-sigma). --json
regimes[i] then has tau_be_ns, tau_be_err_minus_ns, tau_be_err_plus_ns, tau_be_err_kind (profile /
covariance / fixed / none), tau_be_cov_err_ns, the same for tau_trap and trap_fraction
(trap_fraction_err_minus, ...), reduced_deviance (and fit_message); --json fit.global the shared
lifetimes the same way.

Spectra: --spectra FILE (.sif or .spectra.npz); without it the recording's sidecar <stem>.spectra.npz
is used if present (the output says so; --no-spectra to skip). Frames are placed on the photon clock
by the frame-trigger channel. Adds peak_ev, fwhm_mev per regime and a top-level trap_spectrum
{peak_ev, fwhm_mev, consistency: chi2/dof/p between the regimes' reconstructions}.

--export DIR writes g2, trace, FLID, decay_<regime>, regime_fits, spectra_<regime>, trap_spectrum
(.parquet) and report.png, each atomically: the same tables `tagstream export` writes per recording.
Memory: the per-photon regime store (2 B per photon, what lets a selection change afterwards) is kept
unless nothing will be re-selected: with --on-threshold, --t0-ps and --no-background all given (and no
--levels) analyze runs in bounded-memory mode (flat memory whatever the recording length). The summary
("memory:") and --json ("memory_mode": "bounded" or "reselectable") say which mode was used.

--workers N splits one recording into N time slices analysed in parallel and merged exactly
(tagstream.slices), --scheduler ADDRESS does the same on a Dask cluster.

The numbers come from tagstream.product (one analysis for analyze, export and the live app); the
analysis flags are tagstream.commands.analysis_options, shared with `tagstream export`.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from tagstream.commands.analysis_options import add_analysis_arguments, analysis_options
from tagstream.commands.argtypes import limited
from tagstream.errors import SetupError

NAME = "analyze"
HELP = "g2, intensity/lifetime traces, FLID and lifetime regimes of a recording"


def add_arguments(p) -> None:
    p.add_argument("recording", help="time-tag file (quTAG, SSTT, ...)")
    add_analysis_arguments(p)
    p.add_argument("--spectra", metavar="FILE", help="EMCCD spectra (.sif / .spectra.npz): mean spectrum per "
                   "regime and trap spectrum; default: the recording's <stem>.spectra.npz sidecar if present")
    p.add_argument("--export", metavar="DIR", help="write Parquet tables and report.png to DIR")
    p.add_argument("--force", action="store_true", help="overwrite existing files in the export DIR")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the summary")
    p.add_argument("--workers", type=limited("workers", integer=True), default=1, metavar="N",
                   help="analyse the recording in N time slices on N local processes, merged exactly (the same "
                   "numbers as one core; quTAG BINARY/RAW, other formats run on one core with a warning)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="analyse the time slices on the Dask cluster at ADDRESS "
                   "(e.g. tcp://head-node:8786; needs pip install 'tagstream[cluster]' and the recording's path "
                   "visible to the workers)")


def run(args) -> int:
    from tagstream.errors import ExportError
    from tagstream.product import REPORT_NAME, analyze_recording

    if args.spectra and args.no_spectra:
        raise SetupError("--spectra FILE and --no-spectra exclude each other")
    if args.workers < 1:
        raise SetupError("--workers must be >= 1")
    options = dataclasses.replace(analysis_options(args, spectra=args.spectra), workers=args.workers,
                                  scheduler=args.scheduler)
    report_path = Path(args.export) / REPORT_NAME if args.export else None
    if report_path is not None and report_path.exists() and not args.force:
        raise ExportError(f"{report_path} exists; use --force to overwrite")
    a = analyze_recording(args.recording, options, progress=sys.stdout.isatty() and not args.json,
                          strict_spectra=True)
    if args.json:   # the text summary lists notes and warnings itself
        for line in a.notes:
            if line.startswith("spectra: using the sidecar"):
                print(line, file=sys.stderr)
        for w in a.warnings:
            print(f"tagstream analyze: warning: {w}", file=sys.stderr)
    skipped = []
    say = (lambda line: print(line, file=sys.stderr)) if args.json else print
    written = a.write(args.export, overwrite=args.force, log=lambda line: (skipped.append(line), say(line))) \
        if args.export else []
    if args.json:
        d = a.to_json()
        if written:
            d["exported"] = [str(p) for p in written]
            d["report_skipped"] = skipped[0] if skipped else None
        json.dump(d, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(a.summary_text())
        for p in written:
            print(f"wrote {p}")
    return 0
