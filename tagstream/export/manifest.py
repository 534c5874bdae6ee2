"""Batch resume: input fingerprints, the options hash and the per-recording manifest.

Each OUT/<name>/ holds tagstream-manifest.json, written last and atomically: input size and a
BLAKE2 hash of its first and last 64 KiB (and of the spectra file), the options hash (resolved
analysis options, report flag), the tagstream version, the outputs written and the summary row. A
recording whose manifest matches is up to date. A file in the output folder that no manifest lists
is a user's file (foreign_files).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path

import numpy as np

import tagstream
from tagstream.atomic import is_temp_name

MANIFEST = "tagstream-manifest.json"
BATCH_MANIFEST = "tagstream-batch.json"
SUMMARY_FILES = ("summary.parquet", "summary.csv")
OUTPUT_SCHEMA = 2          # bump when the per-recording outputs change meaning: forces recomputation
HASH_BLOCK = 1 << 16


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


def jsonable(o):
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return {f.name: jsonable(getattr(o, f.name)) for f in dataclasses.fields(o)}
    if isinstance(o, dict):
        return {str(k): jsonable(v) for k, v in sorted(o.items(), key=lambda kv: str(kv[0]))}
    if isinstance(o, (list, tuple)):
        return [jsonable(v) for v in o]
    if isinstance(o, np.generic):
        return o.item()
    return o


def options_hash(options, report: bool) -> str:
    """Hash of everything that changes the outputs apart from the inputs themselves (the resolved
    AnalysisOptions: config, setup, fit model and options; the report flag)."""
    doc = {"schema": OUTPUT_SCHEMA, "config": jsonable(options.config), "setup": options.setup.to_toml(),
           "fit": options.fit, "fit_options": jsonable(options.fit_options), "report": bool(report)}
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


def read_json(p: Path) -> dict | None:
    try:
        with open(p, encoding="utf-8") as f:
            d = json.load(f)
        return d if isinstance(d, dict) else None
    except (OSError, ValueError):
        return None
