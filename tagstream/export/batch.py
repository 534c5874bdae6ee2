"""Batch export: analyse many recordings the same way, in parallel, and compare them in one table.

    from tagstream.export.batch import run_batch
    out = run_batch(["day1/"], "day1_out", config=AnalysisConfig(trace_bin_ms=100), workers=2)
    out.summary            # polars DataFrame, one row per recording (also summary.parquet / summary.csv)
    out.n_failed           # recordings that raised (listed with their error in the summary)

Per recording (the job, `process_recording`, a top-level function so that spawned processes and Dask
workers can import it): tagstream.pipeline.analyze_file (streaming: memory bounded whatever the file
size) -> a single-exponential Poisson-MLE fit per lifetime regime (tagstream.analysis.regimes.fit_regimes) ->
optional spectra per regime (tagstream.spectra) -> the Parquet tables of `analyze --export`
(tagstream.export.parquet) and the one-page PNG report (tagstream.export.report) in OUT/<name>/.
Across recordings: OUT/summary.parquet and OUT/summary.csv.

Discovery: files named on the command line, and every file under the folders named (recursively,
hidden entries skipped) that tagstream.io.detect_format accepts (magic bytes or a registered extension;
for generic extensions .txt/.csv/.asc/.dat/.bin/.raw the first records must also read), except sidecars:
*.meta.json, *.truth.*, *.spectra.npz, *.setup.toml, SSTT channel files *.cNN, the output folder and
earlier export folders (holding a tagstream manifest). A recording's setup is --setup if given, else its `<stem>.setup.toml` sidecar if
present (simulate_to_files writes one), else the default Setup; CLI channel flags apply on top.

Spectra pattern: a path relative to the recording's folder (or absolute) in which `{stem}` is the
recording's name without its last extension (qd7.qutag -> qd7) and `{name}` its full file name; it may
hold glob wildcards (* ? [..]) and must then match exactly one file. Examples: `{stem}.spectra.npz`,
`../spectra/{stem}_*.sif`.

Resume: each OUT/<name>/ holds tagstream-manifest.json, written last and atomically: input size and a
BLAKE2 hash of its first and last 64 KiB (and of the spectra file), the options hash (analysis config,
setup, fits/report flags), the tagstream version, the outputs written and the summary row. A recording
whose manifest matches is not recomputed (its row is taken from the manifest); force=True recomputes.
Failed recordings are retried at every run. Every file is written atomically (tagstream.atomic):
an interrupted batch leaves complete files or none, and the manifest is marked incomplete before any
output is replaced. A file in the output folder that no manifest lists is a user's file: the batch
refuses to start (BatchError, nothing written) unless force=True.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import polars as pl

import tagstream
from tagstream.errors import TagstreamError
from tagstream.atomic import atomic_path, is_temp_name, remove_leftovers, write_json_atomic

MANIFEST = "tagstream-manifest.json"
BATCH_MANIFEST = "tagstream-batch.json"
SUMMARY_FILES = ("summary.parquet", "summary.csv")
REPORT_NAME = "report.png"
OUTPUT_SCHEMA = 1          # bump when the per-recording outputs change meaning: forces recomputation
HASH_BLOCK = 1 << 16
_SIDECAR_RE = re.compile(r"(\.meta\.json|\.truth\.[^.]+|\.spectra\.npz|\.setup\.toml|\.c\d+)$", re.I)


class BatchError(TagstreamError):
    """The batch cannot start (output folder holds files tagstream did not write, no recordings, ...)."""


# ------------------------------------------------------------------------------------------------
# discovery
# ------------------------------------------------------------------------------------------------
def is_sidecar(path) -> bool:
    """Side files written next to recordings (meta, truth, spectra, setup, SSTT channel files)."""
    return bool(_SIDECAR_RE.search(Path(path).name))


def find_recordings(paths: Iterable, exclude: Iterable = ()) -> list[Path]:
    """Recordings among `paths` (files and folders, folders searched recursively), in a stable order.

    Files named directly are kept even if their format is not recognised (they get an error row);
    files inside folders are kept if tagstream.io.detect_format accepts them (magic or extension).
    Sidecars, hidden files and anything under `exclude` (the output folder) are skipped.
    """
    from tagstream.io import detect_format

    excl = [Path(e).resolve() for e in exclude]
    out: list[Path] = []
    seen = set()

    def add(p: Path) -> None:
        r = p.resolve()
        if r not in seen:
            seen.add(r)
            out.append(r)

    for given in paths:
        given = Path(given)
        if given.is_dir():
            found = []
            for root, dirs, files in os.walk(given):
                rp = Path(root).resolve()
                if MANIFEST in files or BATCH_MANIFEST in files:      # an earlier export's output
                    dirs[:] = []
                    continue
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (rp / d) not in excl)
                for f in sorted(files):
                    p = rp / f
                    if not f.startswith(".") and not is_sidecar(f) and _looks_like_recording(p, detect_format):
                        found.append(p)
            for p in sorted(found):
                add(p)
        elif given.exists():
            if not is_sidecar(given):
                add(given)
        else:
            raise BatchError(f"{given}: no such file or folder")
    return out


# Extensions also used for other things (notes, tables): such a file counts as a recording in a folder
# scan only if its first records can be read.
GENERIC_EXTENSIONS = {".txt", ".csv", ".asc", ".dat", ".bin", ".raw"}


def _looks_like_recording(p: Path, detect_format) -> bool:
    try:
        detect_format(p)
    except TagstreamError:
        return False
    if p.suffix.lower() not in GENERIC_EXTENSIONS:
        return True          # magic bytes or a tag-file extension: a (possibly damaged) recording
    from tagstream.io import open_tags

    try:
        next(iter(open_tags(p).chunks(chunk_records=16)), None)
        return True
    except (TagstreamError, OSError, ValueError):
        return False


def output_names(recordings: list[Path]) -> list[str]:
    """One distinct output folder name per recording: its stem, prefixed by parent folders when two
    recordings share a stem (last resort: a short hash of the full path)."""
    def name(p: Path, depth: int) -> str:
        parts = [*p.parent.parts[len(p.parent.parts) - depth:], p.stem] if depth else [p.stem]
        return "__".join(s for s in parts if s not in ("/", "")) or "recording"

    names = [name(p, 0) for p in recordings]
    for depth in (1, 2, 3):
        dup = {n for n in names if names.count(n) > 1}
        if not dup:
            break
        names = [name(p, depth) if n in dup else n for p, n in zip(recordings, names)]
    dup = {n for n in names if names.count(n) > 1}
    return [f"{n}-{hashlib.blake2b(str(p).encode(), digest_size=4).hexdigest()}" if n in dup else n
            for p, n in zip(recordings, names)]


def find_spectra(recording: Path, pattern: str | None) -> Path | None:
    """The spectra file of `recording` for `pattern` (see the module docstring); None if no match.
    BatchError if a wildcard pattern matches several files."""
    if not pattern:
        return None
    rel = pattern.format(stem=recording.stem, name=recording.name)
    p = Path(rel) if os.path.isabs(rel) else recording.parent / rel
    if glob.has_magic(str(p)):
        hits = sorted(glob.glob(str(p)))
        if len(hits) > 1:
            raise BatchError(f"spectra pattern {pattern!r} matches {len(hits)} files for {recording.name}: "
                             + ", ".join(Path(h).name for h in hits[:5]))
        return Path(hits[0]).resolve() if hits else None
    return p.resolve() if p.is_file() else None


# ------------------------------------------------------------------------------------------------
# fingerprints and manifests
# ------------------------------------------------------------------------------------------------
def fingerprint(path) -> dict:
    """Size, mtime and a BLAKE2 hash of the first and last 64 KiB: cheap, and survives copying."""
    p = Path(path)
    st = p.stat()
    h = hashlib.blake2b(digest_size=16)
    with open(p, "rb") as f:
        h.update(f.read(HASH_BLOCK))
        if st.st_size > HASH_BLOCK:
            f.seek(max(HASH_BLOCK, st.st_size - HASH_BLOCK))
            h.update(f.read(HASH_BLOCK))
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "head_tail_blake2b": h.hexdigest()}


def channel_files(recording: Path) -> list[Path]:
    """SSTT channel data files belonging to a header (<header>.cNN)."""
    pat = re.compile(re.escape(recording.name) + r"\.c\d+$")
    try:
        return sorted(p for p in recording.parent.iterdir() if pat.match(p.name))
    except OSError:
        return []


def input_fingerprint(recording: Path, spectra: Path | None) -> dict:
    """What must not change for the outputs to stay valid (size + head/tail hashes of every input)."""
    def fp(p):
        d = fingerprint(p)
        return {"size": d["size"], "head_tail_blake2b": d["head_tail_blake2b"]}
    return {"recording": fp(recording), "channel_files": {p.name: fp(p) for p in channel_files(recording)},
            "spectra": None if spectra is None else fp(spectra)}


def read_manifest(folder) -> dict | None:
    try:
        with open(Path(folder) / MANIFEST, encoding="utf-8") as f:
            m = json.load(f)
        return m if isinstance(m, dict) else None
    except (OSError, ValueError):
        return None


def _jsonable(o):
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return {f.name: _jsonable(getattr(o, f.name)) for f in dataclasses.fields(o)}
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in sorted(o.items(), key=lambda kv: str(kv[0]))}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, np.generic):
        return o.item()
    return o


def options_hash(setup, config, fits: bool, report: bool) -> str:
    """Hash of everything that changes the outputs apart from the inputs themselves."""
    doc = {"schema": OUTPUT_SCHEMA, "config": _jsonable(config), "setup": setup.to_toml(),
           "fits": bool(fits), "report": bool(report)}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:32]


def is_up_to_date(manifest: dict | None, folder: Path, opts_hash: str, inputs: dict) -> bool:
    if not manifest or not manifest.get("complete"):
        return False
    if (manifest.get("tagstream_version") != tagstream.__version__ or manifest.get("options_hash") != opts_hash
            or manifest.get("inputs") != inputs or not isinstance(manifest.get("row"), list)):
        return False
    sizes = manifest.get("output_sizes", {})
    for name in manifest.get("outputs", []):
        p = folder / name
        if not p.is_file() or (name in sizes and p.stat().st_size != sizes[name]):
            return False
    return True


def foreign_files(folder: Path, manifest: dict | None) -> list[Path]:
    """Files in a recording folder that its manifest does not list (temporary leftovers excepted)."""
    if not folder.is_dir():
        return []
    listed = set(manifest.get("outputs", [])) if manifest else set()
    return sorted(p for p in folder.iterdir()
                  if not (p.name in listed or (manifest and p.name == MANIFEST) or is_temp_name(p.name)))


# ------------------------------------------------------------------------------------------------
# the per-recording job (runs in a worker process / Dask worker)
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Job:
    """Everything a worker needs for one recording (picklable; absolute paths)."""

    recording: str
    name: str
    folder: str
    setup: Any
    config: Any
    spectra: str | None
    inputs: dict
    options_hash: str
    fits: bool = True
    report: bool = True
    spectra_note: str | None = None     # why no spectra file is used (pattern matched nothing)


def regime_label(rng) -> str:
    from tagstream.export.parquet import regime_name

    return "regime_" + regime_name(*rng)


def spectral_peaks(res, spectra_path) -> dict:
    """Peak energy (Gaussian fit, tagstream.spectra) of the ON spectrum and of each regime's spectrum."""
    from tagstream.analysis.regimes import spectra_on_clock
    from tagstream.spectra import intervals_from_bins, overlap_weights, regime_spectrum

    _, timing, energy, dens = spectra_on_clock(res, spectra_path)
    tr = res.trace
    bin_ps = int(round(tr.bin_ms * 1e9))
    sel = {"on": intervals_from_bins(tr.bin_start_ps, bin_ps, tr.on)}
    sel.update({regime_label(r.range_ns): r.intervals_ps for r in res.regimes})
    out = {}
    for key, iv in sel.items():
        rs = regime_spectrum(energy, dens, overlap_weights(timing, iv), min_weight=0.0)
        ok = rs.peak is not None and rs.peak.success
        out[f"{key}_peak_ev"] = float(rs.peak.peak_ev) if ok else None
        out[f"{key}_peak_err_ev"] = float(rs.peak.peak_err_ev) if ok else None
        out[f"{key}_fwhm_ev"] = float(rs.peak.fwhm_ev) if ok else None
    return out


def _f(x) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def summary_row(res, fits=None) -> dict:
    """The summary columns of one analysed recording (see run_batch)."""
    tr = res.trace
    T = res.duration_s
    rate = lambda n: float(n / T) if T > 0 else None  # noqa: E731
    closed = np.ones(tr.counts.size, bool)
    if closed.size:
        closed[-1] = False
    n_on = int(tr.on.sum())
    ok = tr.on & np.isfinite(tr.lifetime_ns)
    w = tr.n_referenced[ok].astype(np.float64)
    g = res.g2
    row = {
        "duration_s": float(T), "n_records": int(res.n_records),
        "rate_a_hz": rate(res.counts.get("spad_a", 0)), "rate_b_hz": rate(res.counts.get("spad_b", 0)),
        "rate_photons_hz": rate(res.counts.get("spad_a", 0) + res.counts.get("spad_b", 0)),
        "rate_sync_hz": rate(res.counts.get("sync", 0)) if "sync" in res.counts else None,
        "laser_period_ps": _f(res.laser_period_ps),
        "unreferenced_fraction": (res.unreferenced_photons / max(1, res.counts.get("spad_a", 0)
                                                                 + res.counts.get("spad_b", 0))),
        "g2_zero": None if g is None else _f(g.g2_zero), "g2_zero_err": None if g is None else _f(g.g2_zero_err),
        "on_threshold": float(tr.on_threshold), "on_fraction": float(tr.on_fraction),
        # average lifetime of all ON photons = photon-weighted mean of the ON bins' average lifetimes
        "on_lifetime_ns": float(np.sum(w * tr.lifetime_ns[ok]) / w.sum()) if w.sum() > 0 else None,
    }
    fits = fits or [None] * len(res.regimes)
    for r, fit in zip(res.regimes, fits):
        k = regime_label(r.range_ns)
        b = r.bins
        wr = tr.n_referenced[b].astype(np.float64)
        row[f"{k}_fraction_of_on"] = float(r.n_bins / n_on) if n_on else None
        row[f"{k}_n_photons"] = int(r.n_photons)
        row[f"{k}_lifetime_ns"] = float(np.sum(wr * tr.lifetime_ns[b]) / wr.sum()) if wr.sum() > 0 else None
        tau = err = None
        if fit is not None and getattr(fit, "success", False):
            tau, err = _f(fit.params.get("tau_ns")), _f(fit.errors.get("tau_ns"))
        row[f"{k}_fit_tau_ns"] = tau
        row[f"{k}_fit_tau_err_ns"] = err
    return row


def report_available() -> bool:
    """Whether the PNG report renderer (tagstream.export.report) is installed."""
    import importlib.util

    return importlib.util.find_spec("tagstream.export.report") is not None


def _render_report(res, path: Path, job: "Job") -> None:
    """The one-page PNG report (tagstream.export.report.render_report writes it atomically)."""
    from tagstream.export.report import render_report_anywhere

    spectra = None
    if job.spectra:
        from tagstream.spectra import read_spectra

        try:
            spectra = read_spectra(job.spectra)
        except TagstreamError:
            spectra = None          # reported in the summary row's spectra_error
    render_report_anywhere(res, path, fits=[r.fit for r in res.regimes] if job.fits else None, spectra=spectra,
                  title=Path(job.recording).name, overwrite=True)


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
    from tagstream.export.parquet import results_frames
    from tagstream.io import detect_format
    from tagstream.pipeline import analyze_file

    from tagstream.plausibility import result_warnings

    fmt = detect_format(job.recording)
    warnings: list[str] = []
    res = analyze_file(job.recording, job.setup, job.config, warnings=warnings)
    fits = None
    if job.fits:
        from tagstream.analysis.regimes import fit_regimes   # the fit layer's Results -> regime fits

        fits = fit_regimes(res)
        res = res.with_regime_fits(fits)
    row = {"format": fmt, **summary_row(res, fits)}
    row["warnings"] = "; ".join(dict.fromkeys(warnings + result_warnings(res))) or None
    spectra_error = job.spectra_note
    if job.spectra:
        row["spectra_file"] = job.spectra
        try:
            row.update(spectral_peaks(res, job.spectra))
        except Exception as exc:  # spectra are an extra: keep the photon results, say what went wrong
            spectra_error = f"{type(exc).__name__}: {exc}"
    if spectra_error:
        row["spectra_error"] = spectra_error

    # --- write: mark the folder's manifest incomplete (listing old and new outputs), then the outputs,
    # --- then the manifest, last. Each file atomically.
    folder = Path(job.folder)
    folder.mkdir(parents=True, exist_ok=True)
    remove_leftovers(folder)
    old = read_manifest(folder) or {}
    new_outputs = sorted(results_frames(res)) + ([REPORT_NAME] if job.report else [])
    listed = sorted(set(old.get("outputs", [])) | set(new_outputs))
    write_json_atomic(folder / MANIFEST, {"complete": False, "outputs": listed,
                                         "tagstream_version": tagstream.__version__})
    _write_outputs(res, folder, job)
    for stale in set(old.get("outputs", [])) - set(new_outputs):
        (folder / stale).unlink(missing_ok=True)
    row["error"] = None
    write_json_atomic(folder / MANIFEST, {
        "complete": True, "tagstream_version": tagstream.__version__, "options_hash": job.options_hash,
        "recording": job.recording, "spectra": job.spectra, "inputs": job.inputs,
        "outputs": new_outputs, "output_sizes": {n: (folder / n).stat().st_size for n in new_outputs},
        "setup_toml": job.setup.to_toml(), "config": _jsonable(job.config),
        "row": [[k, _jsonable(v)] for k, v in row.items()],      # a list: keeps the column order
        "written_unix_s": time.time()})
    return row


def _write_outputs(res, folder: Path, job: Job) -> None:
    from tagstream.export.parquet import export_results

    export_results(res, folder, overwrite=True)
    if job.report:
        _render_report(res, folder / REPORT_NAME, job)


# ------------------------------------------------------------------------------------------------
# executors
# ------------------------------------------------------------------------------------------------
def die_with_parent(parent_pid: int) -> None:
    """Pool initializer: the worker ends when the batch process dies (kill -9 included), so no worker
    keeps writing into an output folder nobody watches. Linux: the kernel sends SIGKILL
    (prctl PR_SET_PDEATHSIG); elsewhere a daemon thread polls the parent's pid."""
    import signal
    import threading

    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)       # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent_pid:                        # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="tagstream-parent-watch", daemon=True).start()


def _run_local(jobs: list[Job], workers: int):
    """Yield (index, outcome) as jobs finish, on a spawn process pool (or in-process for 1 worker)."""
    if workers <= 1 or len(jobs) <= 1:
        for i, j in enumerate(jobs):
            yield i, process_recording(j)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ex = ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=multiprocessing.get_context("spawn"),
                             initializer=die_with_parent, initargs=(os.getpid(),))
    try:
        futs = {ex.submit(process_recording, j): i for i, j in enumerate(jobs)}
        for fut in as_completed(futs):
            yield futs[fut], _outcome(fut, jobs[futs[fut]])
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


def _run_dask(jobs: list[Job], scheduler):
    """Yield (index, outcome) from an existing Dask distributed cluster (address, Client or cluster).
    Paths must be visible to the workers under the same names (shared file system)."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise BatchError("--scheduler needs Dask distributed: pip install 'tagstream[cluster]' "
                         "(or pip install 'dask[distributed]')") from None
    own = not isinstance(scheduler, Client)
    try:
        client = Client(scheduler) if own else scheduler
    except (OSError, TimeoutError, ValueError) as exc:
        raise BatchError(f"cannot connect to the Dask scheduler {scheduler!r}: {exc}") from None
    try:
        futs = client.map(process_recording, jobs, pure=False)
        index = {f.key: i for i, f in enumerate(futs)}
        for fut in as_completed(futs):
            i = index[fut.key]
            yield i, _outcome(fut, jobs[i])
    finally:
        if own:
            client.close()


def _outcome(fut, job: Job) -> dict:
    """A finished future's outcome; a dead worker (killed, out of memory) becomes an error row."""
    try:
        return fut.result()
    except Exception as exc:
        err = f"worker failed: {type(exc).__name__}: {exc}"
        return {"row": {"file": job.recording, "name": job.name, "error": err}, "error": err,
                "n_records": 0, "seconds": 0.0, "peak_rss_mb": None, "pid": None}


# ------------------------------------------------------------------------------------------------
# the batch
# ------------------------------------------------------------------------------------------------
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


def _resolve_setup(recording: Path, setup, overrides: dict):
    from tagstream.setup import setup_for_recording

    if setup is None:   # the sidecar, else what the file's header (and first tags) propose
        from tagstream.io import open_tags
        from tagstream.io.propose import propose_setup
        from tagstream.setup import resolve_setup

        try:
            header = propose_setup(open_tags(recording))[0]
        except Exception:   # an unreadable file fails later, with its own message
            return dataclasses.replace(setup_for_recording(recording)[0], **overrides)
        return resolve_setup(recording, header, cli=overrides).setup
    return dataclasses.replace(setup, **overrides) if overrides else setup


def plan(recordings: list[Path], out_dir: Path, setup=None, setup_overrides=None, config=None,
         spectra_pattern=None, fits=True, report=True, force=False):
    """Split the recordings into up-to-date rows and jobs to run; check the output folder first.
    Returns (jobs, ready) with ready = {index: row}, errors = {index: message} for input problems."""
    from tagstream.pipeline import AnalysisConfig

    config = config or AnalysisConfig()
    names = output_names(recordings)
    jobs, ready, errors, foreign = [], {}, {}, []
    bm = _read_json(out_dir / BATCH_MANIFEST)
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
            s = _resolve_setup(rec, setup, setup_overrides or {})
            spectra = find_spectra(rec, spectra_pattern)
            inputs = input_fingerprint(rec, spectra)
        except (TagstreamError, OSError) as exc:
            errors[i] = (name, str(exc))
            continue
        h = options_hash(s, config, fits, report)
        if not force and is_up_to_date(m, folder, h, inputs):
            ready[i] = {"file": str(rec), "name": name, **dict(m["row"])}
            continue
        note = f"no spectra file matches {spectra_pattern!r}" if spectra_pattern and spectra is None else None
        jobs.append((i, Job(str(rec), name, str(folder), s, config, None if spectra is None else str(spectra),
                            inputs, h, fits, report, note)))
    if foreign and not force:
        shown = ", ".join(str(p) for p in foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise BatchError(f"the output folder {out_dir} holds files tagstream did not write ({shown}); "
                         "choose another --out or use --force to write over them")
    return jobs, ready, errors


def _read_json(p: Path) -> dict | None:
    try:
        with open(p, encoding="utf-8") as f:
            d = json.load(f)
        return d if isinstance(d, dict) else None
    except (OSError, ValueError):
        return None


def run_batch(paths, out_dir, *, setup=None, setup_overrides: dict | None = None, config=None,
              spectra_pattern: str | None = None, workers: int | None = None, scheduler=None,
              force: bool = False, fits: bool = True, report: bool | None = None, progress: bool = False,
              log=None) -> BatchResult:
    """Analyse every recording found in `paths` into `out_dir` (see the module docstring).

    workers: local processes (default os.cpu_count(); 1 = in this process). scheduler: a Dask
    distributed address ("tcp://host:8786"), Client or cluster object: run there instead.
    progress: tqdm bar on stderr (files, tags/s, ETA). log(msg): one line per failed recording
    (default: print to stderr). The summary row columns: file, name, status ("done", "up-to-date",
    "error"), error, format, duration_s, n_records, rates (Hz), laser_period_ps, g2_zero(_err),
    on_threshold, on_fraction, on_lifetime_ns, per regime <regime>_fraction_of_on / _n_photons /
    _lifetime_ns (photon-weighted average lifetime) / _fit_tau_ns / _fit_tau_err_ns, and with spectra
    on_/<regime>_peak_ev, _peak_err_ev, _fwhm_ev.
    """
    t_start = time.perf_counter()
    out_dir = Path(out_dir).resolve()
    if report is None:
        report = report_available()
    if scheduler is not None and not isinstance(scheduler, str) and hasattr(scheduler, "scheduler_address"):
        scheduler = scheduler.scheduler_address       # a LocalCluster / SpecCluster object
    if log is None:
        log = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    recordings = find_recordings(paths, exclude=[out_dir])
    if not recordings:
        raise BatchError("no recordings found in " + ", ".join(map(str, paths)))
    jobs, ready, errors = plan(recordings, out_dir, setup, setup_overrides, config, spectra_pattern,
                               fits, report, force)
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
        it = _run_dask(job_list, scheduler) if scheduler is not None else _run_local(job_list, workers or os.cpu_count() or 1)
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
