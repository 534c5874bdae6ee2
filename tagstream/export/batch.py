"""Batch export: analyse many recordings the same way, in parallel, and compare them in one table.

    from tagstream.export.batch import run_batch
    out = run_batch(["day1/"], "day1_out", AnalysisOptions(config=AnalysisConfig(trace_bin_ms=100)), workers=2)
    out.summary            # polars DataFrame, one row per recording (also summary.parquet / summary.csv)
    out.n_failed           # recordings that raised (listed with their error in the summary)

Per recording: the analysis product (tagstream.product.analyze_recording, the one `tagstream
analyze` uses) with the same options, written as the same tables and report.png into OUT/<name>/
(tagstream.export.batch_job). Across recordings: OUT/summary.parquet and OUT/summary.csv, one
Analysis.summary_row() per recording. The parts: discovery (which files, output names, spectra
files: tagstream.export.discovery), resume (fingerprints, options hash, manifests:
tagstream.export.manifest), the job (tagstream.export.batch_job), where jobs run
(tagstream.export.executors). A recording's setup is the options' setup if given, else its
`<stem>.setup.toml` sidecar if present, else the default Setup; setup overrides apply on top.

Resume: a recording whose manifest matches (same inputs, resolved options, tagstream version) is not
recomputed (its row is taken from the manifest); force=True recomputes. Failed recordings are
retried at every run. Every file is written atomically (tagstream.atomic): an interrupted batch
leaves complete files or none. A file in the output folder that no manifest lists is a user's file:
the batch refuses to start (BatchError, nothing written) unless force=True.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

import tagstream
from tagstream.atomic import atomic_path, is_temp_name, write_json_atomic
from tagstream.errors import TagstreamError
from tagstream.export.batch_job import Job, process_recording  # noqa: F401 - public
from tagstream.export.discovery import (BatchError, find_recordings, find_spectra, is_sidecar,  # noqa: F401
                                        output_names)
from tagstream.export.executors import run_dask, run_local
from tagstream.export.manifest import (BATCH_MANIFEST, MANIFEST, SUMMARY_FILES, foreign_files,  # noqa: F401
                                       input_fingerprint, is_up_to_date, options_hash, read_json, read_manifest)


@dataclass
class BatchResult:
    summary: pl.DataFrame
    out_dir: Path
    n_done: int = 0
    n_skipped: int = 0
    n_failed: int = 0
    seconds: float = 0.0
    tags: int = 0                      # tags analysed in this run (skipped recordings excluded)
    outcomes: list = field(default_factory=list)   # per recomputed recording: seconds, peak_rss_mb, pid

    @property
    def ok(self) -> bool:
        return self.n_failed == 0


def plan(recordings: list[Path], out_dir: Path, options, spectra_pattern=None, report=True, force=False,
         report_note: str | None = None):
    """Split the recordings into up-to-date rows and jobs to run; check the output folder first.
    Returns (jobs, ready, errors): ready = {index: row}, errors = {index: (name, message)} for input
    problems. Each job's options carry the recording's resolved setup and spectra file."""
    names = output_names(recordings)
    jobs, ready, errors, foreign = [], {}, {}, []
    bm = read_json(out_dir / BATCH_MANIFEST)
    if out_dir.is_dir():
        for p in sorted(out_dir.iterdir()):
            if p.is_file() and not is_temp_name(p.name) and not (bm and (p.name in SUMMARY_FILES
                                                                          or p.name == BATCH_MANIFEST)):
                foreign.append(p)
    for i, (rec, name) in enumerate(zip(recordings, names)):
        folder = out_dir / name
        m = read_manifest(folder)
        foreign += foreign_files(folder, m)
        try:
            planned = options.for_recording(rec)
            if spectra_pattern:
                spectra = find_spectra(rec, spectra_pattern)
            else:
                spectra = options.resolve_spectra(rec)[0]
            inputs = input_fingerprint(rec, spectra)
        except (TagstreamError, OSError) as exc:
            errors[i] = (name, str(exc))
            continue
        opts = dataclasses.replace(planned, spectra=spectra, spectra_sidecar=False)
        h = options_hash(opts, report)
        if not force and is_up_to_date(m, folder, h, inputs):
            ready[i] = {"file": str(rec), "name": name, **dict(m["row"])}
            continue
        note = f"no spectra file matches {spectra_pattern!r}" if spectra_pattern and spectra is None else None
        jobs.append((i, Job(str(rec), name, str(folder), opts, inputs, h, report, note, report_note)))
    if foreign and not force:
        shown = ", ".join(str(p) for p in foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise BatchError(f"the output folder {out_dir} holds files tagstream did not write ({shown}); "
                         "choose another --out or use --force to write over them")
    return jobs, ready, errors


def run_batch(paths, out_dir, options=None, *, setup=None, setup_overrides: dict | None = None, config=None,
              spectra_pattern: str | None = None, workers: int | None = None, scheduler=None,
              force: bool = False, fits: bool = True, report: bool = True, progress: bool = False,
              log=None) -> BatchResult:
    """Analyse every recording found in `paths` into `out_dir` (see the module docstring).

    options: a tagstream.product.AnalysisOptions (what `tagstream analyze` takes); without it one is
    made of setup / setup_overrides / config and fits (True = the global fit, False = none).
    spectra_pattern: each recording's spectra file (see above); None = its <stem>.spectra.npz sidecar
    if present (unless options.spectra_sidecar is False).

    workers: local processes (default os.cpu_count(); 1 = in this process). scheduler: a Dask
    distributed address ("tcp://host:8786"), Client or cluster object: run there instead.
    progress: tqdm bar on stderr (files, tags/s, ETA). log(msg): one line per failed recording, and
    one if the report cannot be drawn (default: print to stderr). report: draw report.png per
    recording where matplotlib can be imported (else the tables only, said in one line and in the
    rows' report_skipped). The summary row columns: file, name, status ("done", "up-to-date",
    "error"), error, and tagstream.product.Analysis.summary_row() (README "Batch summary").
    """
    from tagstream.product import report_skipped

    t_start = time.perf_counter()
    out_dir = Path(out_dir).resolve()
    why = report_skipped() if report else None
    if scheduler is not None and not isinstance(scheduler, str) and hasattr(scheduler, "scheduler_address"):
        scheduler = scheduler.scheduler_address       # a LocalCluster / SpecCluster object
    if log is None:
        log = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    recordings = find_recordings(paths, exclude=[out_dir])
    if not recordings:
        raise BatchError("no recordings found in " + ", ".join(map(str, paths)))
    if options is None:
        from tagstream.pipeline import AnalysisConfig
        from tagstream.product import AnalysisOptions

        options = AnalysisOptions(config=config or AnalysisConfig(), setup=setup,
                                  setup_overrides=setup_overrides or {}, fit="global" if fits else None)
    if why is not None:
        log(f"report.png skipped: {why}; every table is written")
        report = False
    jobs, ready, errors = plan(recordings, out_dir, options, spectra_pattern, report, force, why)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = output_names(recordings)
    rows: dict[int, dict] = {i: {**r, "status": "up-to-date"} for i, r in ready.items()}
    for i, (name, msg) in errors.items():
        rows[i] = {"file": str(recordings[i]), "name": name, "error": msg, "status": "error"}
        log(f"FAILED {recordings[i]}: {msg}")

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(recordings), initial=len(ready) + len(errors), unit="file", file=sys.stderr,
                   desc="export", dynamic_ncols=True)
    res = BatchResult(pl.DataFrame(), out_dir, n_skipped=len(ready))
    t_run = time.perf_counter()
    try:
        job_list = [j for _, j in jobs]
        it = run_dask(job_list, scheduler) if scheduler is not None else run_local(job_list, workers or os.cpu_count() or 1)
        for k, oc in it:
            i = jobs[k][0]
            rows[i] = {**oc["row"], "status": "error" if oc["error"] else "done"}
            res.tags += oc["n_records"]
            res.outcomes.append({k2: oc[k2] for k2 in ("seconds", "peak_rss_mb", "pid", "n_records")})
            if oc["error"]:
                msg = f"FAILED {recordings[i]}: {oc['error']}"
                bar.write(msg, file=sys.stderr) if bar is not None else log(msg)
            if bar is not None:
                el = time.perf_counter() - t_run
                bar.set_postfix_str(f"{res.tags / el / 1e6:.2f} Mtags/s" if el > 0 else "", refresh=False)
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    ordered = [rows[i] for i in range(len(recordings))]
    res.summary = summary_frame(ordered)
    _write_summary(res.summary, out_dir, names)
    res.n_failed = sum(r["status"] == "error" for r in ordered)
    res.n_done = sum(r["status"] == "done" for r in ordered)
    res.seconds = time.perf_counter() - t_start
    return res


_FIRST = ["file", "name", "status", "error", "format"]


def summary_frame(rows: list[dict]) -> pl.DataFrame:
    """Rows -> DataFrame with the identifying columns first (missing values null)."""
    cols = list(_FIRST)
    for r in rows:
        cols += [k for k in r if k not in cols]
    data = {c: [r.get(c) for r in rows] for c in cols}
    schema = {}
    for c, v in data.items():
        vals = [x for x in v if x is not None]
        if c in ("file", "name", "status", "error", "format") or any(isinstance(x, str) for x in vals):
            schema[c] = pl.Utf8
            data[c] = [None if x is None else str(x) for x in v]
        elif vals and all(isinstance(x, (bool, np.bool_)) for x in vals):
            schema[c] = pl.Boolean
        elif vals and all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in vals):
            schema[c] = pl.Int64
        else:
            schema[c] = pl.Float64
    return pl.DataFrame(data, schema=schema)


def _write_summary(df: pl.DataFrame, out_dir: Path, names: list[str]) -> None:
    # the batch manifest first: a kill between it and the summary files leaves files it claims
    # (resumable), never summary files that no manifest claims (a user's files to the next run)
    write_json_atomic(out_dir / BATCH_MANIFEST, {"tagstream_version": tagstream.__version__,
                                                 "outputs": list(SUMMARY_FILES), "recordings": names})
    with atomic_path(out_dir / "summary.parquet") as tmp:
        df.write_parquet(tmp)
    with atomic_path(out_dir / "summary.csv") as tmp:
        df.write_csv(tmp)
