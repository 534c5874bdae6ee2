"""Errors that tagstream raises on purpose: each says what went wrong and where."""

from __future__ import annotations

from pathlib import Path


class TagstreamError(Exception):
    """Base of every error tagstream raises deliberately (the CLI prints these without a traceback)."""


class TagFileError(TagstreamError):
    """A time-tag file cannot be read as claimed. Carries the file, byte offset and record index."""

    def __init__(self, message: str, path: str | Path | None = None, byte_offset: int | None = None,
                 record: int | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.byte_offset = byte_offset
        self.record = record
        where = []
        if path is not None:
            where.append(f"file {self.path}")
        if byte_offset is not None:
            where.append(f"byte offset {byte_offset}")
        if record is not None:
            where.append(f"record {record}")
        self.message = message
        super().__init__(f"{message} ({', '.join(where)})" if where else message)


class UnknownFormatError(TagFileError):
    """Neither the magic bytes nor the extension identify a format tagstream reads."""


class BadMagicError(TagFileError):
    """The file's magic bytes do not match the format it was opened as."""


class HeaderError(TagFileError):
    """A header is malformed or disagrees with the file (e.g. stored size != actual size)."""


class TruncatedFileError(TagFileError):
    """The file ends inside a record. The whole records before it are still readable."""


class CorruptRecordError(TagFileError):
    """A record holds an impossible value (garbage bytes, unknown channel, invalid event)."""


class TimeOrderError(TagFileError):
    """Timestamps go backwards by more than the reorder window."""


class EmptyFileError(TagFileError):
    """The file holds no records (or no bytes at all)."""


class MissingChannelFilesError(TagFileError):
    """An SSTT header lists channel files that are not on disk."""

    def __init__(self, message: str, path: str | Path | None = None, missing: list[Path] | None = None) -> None:
        self.missing = list(missing or [])
        super().__init__(message, path=path)


class SetupError(TagstreamError):
    """The channel map (setup) is invalid or does not match the recording."""


class SourceError(TagstreamError):
    """A live source failed: device library missing, buffer overflow, data loss."""


class ExportError(TagstreamError):
    """An export would overwrite files, or cannot be written."""


class AnalysisError(TagstreamError):
    """An analysis input is unusable (bad histogram, mismatched frames and triggers, failed fit)."""


class SpectraFileError(TagFileError):
    """A spectra file (Andor SIF, simulator .spectra.npz) cannot be read."""


def read_user_text(path, what: str, kind: str, error: type[TagstreamError] = TagstreamError) -> str:
    """The text of a file the user named (a setup TOML, a parameter JSON): every OS or encoding failure
    is one `error` line naming the file. what: "setup file", ...; kind: what to give instead ("a TOML
    file"); parsing errors stay with the caller."""
    path = Path(path)
    try:
        return path.read_text()
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise error(f"{what} {path} is a folder; give {kind} inside it") from None
    except OSError as exc:
        raise error(f"{what} {path} cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise error(f"{what} {path} is not text (byte {exc.start}); give {kind}") from None
