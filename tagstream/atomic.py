"""Atomic file writes: write a temporary file next to the target, then os.replace it into place.

A reader (or a resumed batch) therefore sees either the old file or the complete new one, never a
half-written file, even after Ctrl-C or a killed process. Temporary names are ``.<name>.<random>.tmp``
(the same pattern tagstream.export.parquet uses), so leftovers of a killed writer are recognisable:
``is_temp_name`` / ``remove_leftovers``.

    with atomic_path(out / "summary.parquet") as tmp:
        df.write_parquet(tmp)          # any writer that takes a path
    write_json_atomic(out / "manifest.json", {...})
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Iterator

# every atomic writer in tagstream uses this module, so leftovers are always .<name>.<random>.tmp
_UMASK = os.umask(0o022)
os.umask(_UMASK)      # read once at import (os.umask can only be read by setting it)
_TEMP_RE = re.compile(r"^\..+\.tmp$")


def is_temp_name(name: str) -> bool:
    """True for the temporary names tagstream's atomic writers use (``.<name>.<random>.tmp``)."""
    return bool(_TEMP_RE.match(name))


@contextlib.contextmanager
def atomic_path(path, fsync: bool = False) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success move it onto `path` (os.replace).

    On any exception (KeyboardInterrupt included) the temporary file is removed and `path` is left
    as it was. fsync=True flushes the data to disk before the rename (survives a power cut).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    os.chmod(tmp, 0o666 & ~_UMASK)     # mkstemp makes 0600; give the file the usual permissions
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_json_atomic(path, obj) -> Path:
    """JSON (indented, sorted keys) written atomically."""
    return write_bytes_atomic(path, (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode())


def remove_leftovers(folder) -> list[Path]:
    """Delete temporary files a killed atomic writer left in `folder`; returns what was removed."""
    removed = []
    folder = Path(folder)
    if folder.is_dir():
        for p in folder.iterdir():
            if p.is_file() and is_temp_name(p.name):
                p.unlink(missing_ok=True)
                removed.append(p)
    return removed
