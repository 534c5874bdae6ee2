"""The batch's per-recording job (a top-level function, so spawned processes and Dask workers can
import it): tagstream.product.analyze_recording -> Analysis.write into OUT/<name>/ (the tables and
report of `analyze --export`), framed by the manifest (marked incomplete before any output is
replaced, complete and last after them), and the summary row. Never raises for a bad recording.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tagstream
from tagstream.atomic import remove_leftovers, write_json_atomic
from tagstream.errors import TagstreamError
from tagstream.export.manifest import MANIFEST, jsonable, read_manifest


@dataclass(frozen=True)
class Job:
    """Everything a worker needs for one recording (picklable; absolute paths). options: the
    tagstream.product.AnalysisOptions with this recording's setup and spectra file resolved."""

    recording: str
    name: str
    folder: str
    options: Any
    inputs: dict
    options_hash: str
    report: bool = True
    spectra_note: str | None = None     # why no spectra file is used (pattern matched nothing)
    report_note: str | None = None      # why no report is drawn (no renderer where the batch started)

    @property
    def spectra(self) -> str | None:
        return None if self.options.spectra is None else str(self.options.spectra)


def _peak_rss_mb() -> float | None:
    try:
        import resource

        r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return r / 1024.0 if sys.platform != "darwin" else r / 2**20
    except Exception:   # pragma: no cover - not on Windows
        return None


def process_recording(job: Job) -> dict:
    """Analyse, fit, export and report one recording. Never raises for a bad recording: returns
    {"row", "error", "n_records", "seconds", "peak_rss_mb", "pid"}; the row has an "error" column."""
    t0 = time.perf_counter()
    row: dict = {"file": job.recording, "name": job.name}
    try:
        row.update(_process(job))
        err = None
    except Exception as exc:  # one bad file must never stop the batch: report it in its row
        err = f"{type(exc).__name__}: {exc}" if not isinstance(exc, TagstreamError) else str(exc)
        row["error"] = err
    return {"row": row, "error": err, "n_records": int(row.get("n_records") or 0),
            "seconds": time.perf_counter() - t0, "peak_rss_mb": _peak_rss_mb(), "pid": os.getpid()}


def _process(job: Job) -> dict:
    from tagstream.product import analyze_recording

    a = analyze_recording(job.recording, job.options)
    row = a.summary_row()
    if job.spectra_note and not row.get("spectra_error"):
        row["spectra_error"] = job.spectra_note

    # --- write: mark the folder's manifest incomplete (listing old and new outputs), then the outputs,
    # --- then the manifest, last. Each file atomically.
    folder = Path(job.folder)
    folder.mkdir(parents=True, exist_ok=True)
    remove_leftovers(folder)
    old = read_manifest(folder) or {}
    new_outputs = a.output_names(report=job.report)
    listed = sorted(set(old.get("outputs", [])) | set(new_outputs))
    write_json_atomic(folder / MANIFEST, {"complete": False, "outputs": listed,
                                         "tagstream_version": tagstream.__version__})
    skipped = []
    a.write(folder, overwrite=True, report=job.report, log=skipped.append)   # no renderer on this worker
    row["report_skipped"] = skipped[0] if skipped else (None if job.report else job.report_note)
    for stale in set(old.get("outputs", [])) - set(new_outputs):
        (folder / stale).unlink(missing_ok=True)
    row["error"] = None
    write_json_atomic(folder / MANIFEST, {
        "complete": True, "tagstream_version": tagstream.__version__, "options_hash": job.options_hash,
        "recording": job.recording, "spectra": job.spectra, "inputs": job.inputs,
        "outputs": new_outputs, "output_sizes": {n: (folder / n).stat().st_size for n in new_outputs},
        "setup_toml": a.setup.to_toml(), "config": jsonable(job.options.config),
        "row": [[k, jsonable(v)] for k, v in row.items()],      # a list: keeps the column order
        "written_unix_s": time.time()})
    return row
