"""Analyse many recordings the same way (in parallel) and compare them in one table.

For every recording found in PATHS (files, and folders searched recursively; sidecars such as
*.meta.json, *.truth.*, *.spectra.npz, *.setup.toml and SSTT channel files *.cNN are skipped) this
writes OUT/<name>/ with exactly the tables and report.png of `analyze REC --export` with the same
options (one analysis, tagstream.product), and across recordings OUT/summary.parquet and
OUT/summary.csv (one row per recording: rates, g2(0), ON fraction, ON lifetime, per-regime fractions,
lifetimes and fits, spectral peaks, warnings, errors).

Setup: --setup for all recordings, else each recording's <stem>.setup.toml if present, else the
defaults; channel flags apply on top. Spectra: each recording's <stem>.spectra.npz sidecar if present
(as analyze; --no-spectra to skip), or --spectra-pattern relative to each recording's folder,
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

import os
import sys

from tagstream.commands.analysis_options import add_analysis_arguments, analysis_options
from tagstream.commands.argtypes import limited

NAME = "export"
HELP = "analyse many recordings in parallel (local processes or a Dask cluster) into one summary table"


def add_arguments(p) -> None:
    p.add_argument("paths", nargs="+", metavar="PATHS", help="recordings and/or folders of recordings")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    add_analysis_arguments(p.add_argument_group("analysis options (as in `tagstream analyze`)"))
    p.add_argument("--spectra-pattern", metavar="PATTERN",
                   help="spectra file of each recording, e.g. '{stem}.spectra.npz' (see above)")
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

    if args.workers is not None and args.workers < 1:
        raise SetupError("--workers must be >= 1")
    if args.spectra_pattern and args.no_spectra:
        raise SetupError("--spectra-pattern and --no-spectra exclude each other")
    res = run_batch(args.paths, args.out, analysis_options(args), spectra_pattern=args.spectra_pattern,
                    workers=args.workers, scheduler=args.scheduler, force=args.force,
                    report=not args.no_report, progress=not args.no_progress and sys.stderr.isatty())
    n = res.summary.height
    print(f"{n} recordings: {res.n_done} analysed, {res.n_skipped} up to date, {res.n_failed} failed "
          f"({res.seconds:.1f} s); summary: {res.out_dir / 'summary.parquet'}, {res.out_dir / 'summary.csv'}")
    return 1 if res.n_failed else 0
