"""Batch discovery: which files under the given paths are recordings, their output folder names and
spectra files (tagstream.export.batch).

Files named on the command line are kept; under folders (recursively, hidden entries skipped) a
file counts if tagstream.io.detect_format accepts it (magic bytes or a registered extension; for
generic extensions .txt/.csv/.asc/.dat/.bin/.raw the first records must also read). Sidecars are
skipped: *.meta.json, *.truth.*, *.spectra.npz, *.setup.toml, SSTT channel files *.cNN, the output
folder and earlier export folders (holding a tagstream manifest).

Spectra pattern: a path relative to the recording's folder (or absolute) in which `{stem}` is the
recording's name without its last extension (qd7.qutag -> qd7) and `{name}` its full file name; it
may hold glob wildcards (* ? [..]) and must then match exactly one file. Examples:
`{stem}.spectra.npz`, `../spectra/{stem}_*.sif`.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
from pathlib import Path
from typing import Iterable

from tagstream.errors import TagstreamError
from tagstream.export.manifest import BATCH_MANIFEST, MANIFEST

_SIDECAR_RE = re.compile(r"(\.meta\.json|\.truth\.[^.]+|\.spectra\.npz|\.setup\.toml|\.c\d+)$", re.I)


class BatchError(TagstreamError):
    """The batch cannot start (output folder holds files tagstream did not write, no recordings, ...)."""


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
