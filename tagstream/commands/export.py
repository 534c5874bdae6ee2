"""Analyse many recordings the same way (in parallel) and compare them in one table.

For every recording found in PATHS (files, and folders searched recursively; sidecars such as
*.meta.json, *.truth.*, *.spectra.npz, *.setup.toml and SSTT channel files *.cNN are skipped) this
writes OUT/<name>/ with the Parquet tables of `analyze --export` and a one-page report.png, and
across recordings OUT/summary.parquet and OUT/summary.csv (one row per recording: rates, g2(0),
ON fraction, ON lifetime, per-regime fractions, lifetimes and fits, spectral peaks, errors).

Setup: --setup for all recordings, else each recording's <stem>.setup.toml if present, else the
defaults; channel flags apply on top. Spectra: --spectra-pattern relative to each recording's folder,
{stem} = file name without its extension, {name} = file name; wildcards allowed if they match one
file, e.g. '{stem}.spectra.npz' or '../spectra/{stem}_*.sif'.

Up-to-date recordings (same inputs, options and tagstream version, per OUT/<name>/tagstream-manifest.json)
are skipped; --force recomputes and writes over files tagstream did not write. A failed recording is
listed with its error in the summary and the exit status is 1; the others are processed normally.

Examples:
  tagstream export day1/ --out day1_out --bin-ms 100
  tagstream export day1/*.qutag --out out --spectra-pattern '{stem}.spectra.npz' --workers 2
  tagstream export /shared/day1 --out /shared/day1_out --scheduler tcp://head-node:8786
"""

from __future__ import annotations

import argparse
import os
import sys

from tagstream.commands import analyze
from tagstream.commands.argtypes import limited

NAME = "export"
HELP = "analyse many recordings in parallel (local processes or a Dask cluster) into one summary table"

_NOT_SHARED = {"recording", "export", "json", "force", "help", "fit", "spectra", "no_spectra",
               "skip_missing_channels"}  # own options below


def add_arguments(p) -> None:
    p.add_argument("paths", nargs="+", metavar="PATHS", help="recordings and/or folders of recordings")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    # the analysis options of `tagstream analyze`, exactly (same names, defaults and help)
    tmp = argparse.ArgumentParser(add_help=False)
    analyze.add_arguments(tmp)
    group = p.add_argument_group("analysis options (as in `tagstream analyze`)")
    for action in tmp._actions:
        if action.dest not in _NOT_SHARED:
            group._add_action(action)
    p.add_argument("--spectra-pattern", metavar="PATTERN",
                   help="spectra file of each recording, e.g. '{stem}.spectra.npz' (see above)")
    p.add_argument("--no-fit", action="store_true", help="skip the per-regime decay fits")
    p.add_argument("--no-report", action="store_true", help="skip the PNG report")
    p.add_argument("--workers", type=limited("workers", integer=True), default=None,
                   help=f"local worker processes (default: number of CPUs, here {os.cpu_count()})")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on an existing Dask distributed cluster (e.g. tcp://host:8786); "
                        "needs pip install 'tagstream[cluster]' and paths visible to the workers")
    p.add_argument("--force", action="store_true",
                   help="recompute up-to-date recordings and write over files tagstream did not write")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from tagstream.errors import SetupError
    from tagstream.export.batch import run_batch
    from tagstream.setup import Setup

    if args.workers is not None and args.workers < 1:
        raise SetupError("--workers must be >= 1")
    cfg = analyze.config(args)
    setup = Setup.from_toml(args.setup) if args.setup else None
    overrides = {k: v for k, v in dict(sync=args.sync, spad_a=args.spad_a, spad_b=args.spad_b, frame=args.frame,
                                       sync_divider=args.sync_divider, sync_filtered=args.sync_filtered).items()
                 if v is not None}
    overrides = {k: (None if v == "none" else v) for k, v in overrides.items()}   # --sync none
    res = run_batch(args.paths, args.out, setup=setup, setup_overrides=overrides, config=cfg,
                    spectra_pattern=args.spectra_pattern, workers=args.workers, scheduler=args.scheduler,
                    force=args.force, fits=not args.no_fit, report=False if args.no_report else None,
                    progress=not args.no_progress and sys.stderr.isatty())
    n = res.summary.height
    print(f"{n} recordings: {res.n_done} analysed, {res.n_skipped} up to date, {res.n_failed} failed "
          f"({res.seconds:.1f} s); summary: {res.out_dir / 'summary.parquet'}, {res.out_dir / 'summary.csv'}")
    return 1 if res.n_failed else 0
