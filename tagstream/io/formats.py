"""Format registry and auto-detection: magic bytes first, file extension second.

Another reader registers itself with
    register_format(name, extensions=(".ptu",), sniff=lambda head: head.startswith(b"PQTTTR"),
                    opener=lambda path, **opts: PtuReader(path, **opts))
``sniff(head: bytes) -> bool`` sees the first 4096 bytes. ``opener(path, **options)`` returns a
TagReader; options are reorder_window_ps, allow_truncated, skip_missing_channels (ignore what you
don't use).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tagstream.errors import EmptyFileError, TagFileError, UnknownFormatError

SNIFF_BYTES = 4096


@dataclass(frozen=True)
class FormatSpec:
    name: str
    extensions: tuple[str, ...]
    sniff: Callable[[bytes], bool] | None
    opener: Callable


_REGISTRY: dict[str, FormatSpec] = {}


def register_format(name: str, extensions, sniff, opener) -> None:
    """Register (or replace) a format. Extensions are matched case-insensitively, e.g. ".qutag"."""
    exts = tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in extensions)
    _REGISTRY[name] = FormatSpec(name, exts, sniff, opener)


def formats() -> list[str]:
    """Names of the registered formats."""
    return list(_REGISTRY)


def _suffixes(path: Path) -> list[str]:
    name = path.name.lower()
    return [name[i:] for i in range(len(name)) if name[i] == "."]


def detect_format(path) -> str:
    """Name of the format of path: the first registered sniffer that accepts the head wins; an
    extension decides between formats that share a magic (quTAG binary vs compressed) and for
    formats without one (raw, ASCII)."""
    path = Path(path)
    check_regular_file(path)
    try:
        with open(path, "rb") as f:
            head = f.read(SNIFF_BYTES)
    except FileNotFoundError:
        raise TagFileError("file not found", path) from None
    except IsADirectoryError:
        raise TagFileError("is a directory, not a time-tag file", path) from None
    if not head:
        raise EmptyFileError("file is empty", path, 0, 0)
    by_ext = [s.name for s in _REGISTRY.values() if any(x in s.extensions for x in _suffixes(path))]
    by_magic = [s.name for s in _REGISTRY.values() if s.sniff is not None and _safe_sniff(s, head)]
    if by_magic:
        for name in by_ext:          # the extension picks among formats sharing a magic
            if name in by_magic:
                return name
        for name in by_magic:
            if not getattr(_REGISTRY[name].sniff, "shared_magic_only", False):
                return name
        return by_magic[0]
    if head.startswith(b"SSTT2\x00"):
        raise UnknownFormatError("this is an SSTT V2 channel data file; open the .sstt header file that "
                                 "lists it instead", path, 0)
    if by_ext:
        return by_ext[0]
    known = ", ".join(f"{s.name} ({' '.join(s.extensions)})" for s in _REGISTRY.values())
    raise UnknownFormatError(f"unknown time-tag format (no known magic bytes, extension "
                             f"{path.suffix or 'none'!r}); known formats: {known}; or pass format=",
                             path, 0)


def check_regular_file(path: Path) -> None:
    """Refuse what is not a regular file before opening it: opening a FIFO blocks until a writer comes."""
    import stat

    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise TagFileError("file not found", path) from None
    if stat.S_ISDIR(mode):
        raise TagFileError("is a directory, not a time-tag file", path)
    if not stat.S_ISREG(mode):
        raise TagFileError("is not a regular file (a FIFO, socket or device): tagstream reads recordings from "
                           "files; copy the data to a file first (or use `tagstream live`)", path)


def _safe_sniff(spec: FormatSpec, head: bytes) -> bool:
    try:
        return bool(spec.sniff(head))
    except Exception:   # a sniffer must never break detection of other formats
        return False


def open_tags(path, format: str | None = None, reorder_window_ps: int = 1_000_000,
              skip_missing_channels: bool = False, allow_truncated: bool = False):
    """Open a time-tag recording for streaming: returns a TagReader (see tagstream/io/base.py).

    format: one of formats() or None to detect it. reorder_window_ps: largest step back in time that
    is silently re-sorted (larger ones raise TimeOrderError). skip_missing_channels: SSTT only, read
    the channel files present. allow_truncated: report a cut-off end in reader.warnings instead of
    raising TruncatedFileError after the last whole record.
    """
    path = Path(path)
    name = format or detect_format(path)
    if name not in _REGISTRY:
        raise UnknownFormatError(f"unknown format name {name!r}; known: {', '.join(_REGISTRY)}", path)
    check_regular_file(path)
    return _REGISTRY[name].opener(path, reorder_window_ps=reorder_window_ps,
                                  skip_missing_channels=skip_missing_channels,
                                  allow_truncated=allow_truncated)
