"""Helpers of the fuzz suite (tests/test_fuzz_*.py): small valid recordings of every format, and one
classifier that runs a reader or a CLI call and says what came out.

Outcomes (the issue-13 table): "error" (a TagstreamError / argparse exit with one clear line),
"warning" (read, with a warning), "prefix" (read without a warning: the tags are a per-channel prefix
of the original), "ok" (read, different from the original but plausible and without a warning: a
byte flip the format cannot detect), "traceback" (any other exception), "hang" (over the time
limit), "wrong" (the result depends on the chunking, or a clean-looking result contradicts the
original where the format could tell). Tests assert zero traceback / hang / wrong.
"""

from __future__ import annotations

import collections
import contextlib
import io
import signal
import struct
from pathlib import Path

import numpy as np

from tagstream.chunk import TagChunk
from tagstream.errors import TagstreamError

BAD = ("traceback", "hang", "wrong")
COUNTS: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)   # suite -> outcomes


class Hang(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise Hang after `seconds` (SIGALRM: main thread only, as pytest runs tests)."""
    def on_alarm(signum, frame):
        raise Hang()
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# ------------------------------------------------------------------------------------------ recordings
def sample_tags(n: int = 240, seed: int = 0) -> TagChunk:
    """A small time-ordered stream: sync on 5 every 1 us, photons on 1 and 2."""
    rng = np.random.default_rng(seed)
    sync = np.arange(n // 3) * 1_000_000 + 1_000
    ph = np.sort(rng.integers(0, sync[-1], n - sync.size))
    t = np.concatenate([sync, ph])
    c = np.concatenate([np.full(sync.size, 5), rng.integers(1, 3, ph.size)]).astype(np.uint16)
    o = np.argsort(t, kind="stable")
    return TagChunk(t[o].astype(np.int64), c[o], 0)


def make_recording(fmt: str, folder: Path, tags: TagChunk | None = None) -> Path:
    """Write `tags` (default sample_tags()) in format fmt under folder; returns the file to open."""
    from tagstream.io import write_photon_hdf5, write_qutag_binary, write_sstt_v2
    from tagstream.io.qutag import HEADER_BYTES, QUTAG_MAGIC, encode_binary_records, encode_compressed_records

    tags = tags or sample_tags()
    folder.mkdir(parents=True, exist_ok=True)
    t, c = tags.timestamps_ps, tags.channels
    if fmt == "qutag-binary":
        p = folder / "rec.qutag"
        write_qutag_binary(p, tags, overwrite=True)
    elif fmt == "qutag-raw":
        p = folder / "rec.raw"
        p.write_bytes(encode_binary_records(t, c))
    elif fmt == "qutag-compressed":
        p = folder / "rec.qutagc"
        body = encode_compressed_records(t, np.where(c == 5, 5, c))
        p.write_bytes(QUTAG_MAGIC + struct.pack("<I", HEADER_BYTES + len(body)) + b"\0" * 32 + body)
    elif fmt == "qutag-ascii":
        p = folder / "rec.txt"
        p.write_text("# quTAG\n" + "".join(f"{a},{b}\n" for a, b in zip(t.tolist(), c.tolist())))
    elif fmt == "sstt-v2":
        p = folder / "rec.sstt"
        write_sstt_v2(p, tags, overwrite=True)
    elif fmt == "photon-hdf5":
        p = folder / "rec.h5"
        write_photon_hdf5(p, tags, overwrite=True)
    elif fmt == "ptu":
        p = folder / "rec.ptu"
        p.write_bytes(_ptu_bytes(t, c))
    else:
        raise ValueError(fmt)
    return p


def _ptu_bytes(t: np.ndarray, c: np.ndarray) -> bytes:
    """A minimal HydraHarp T2 (rec type 0x01010204) PTU: 1 ps resolution, sync = special channel 0."""
    def tag(name, typ, value, idx=-1):
        ident = name.encode().ljust(32, b"\0")
        if typ == 0x10000008:     # tyInt8
            return ident + struct.pack("<iIq", idx, typ, int(value))
        if typ == 0x20000008:     # tyFloat8
            return ident + struct.pack("<iId", idx, typ, float(value))
        return ident + struct.pack("<iIq", idx, typ, 0)
    head = b"PQTTTR\0\0" + b"1.0.00\0\0"
    words = []
    ofl = 0
    for ti, ci in zip(t.tolist(), c.tolist()):
        while ti - ofl >= 33554432:
            words.append((1 << 31) | (0x3F << 25) | 1)
            ofl += 33554432
        if ci == 5:
            words.append((1 << 31) | (0 << 25) | (ti - ofl))
        else:
            words.append(((ci - 1) << 25) | (ti - ofl))
    head += tag("TTResultFormat_TTTRRecType", 0x10000008, 0x01010204)
    head += tag("MeasDesc_GlobalResolution", 0x20000008, 1e-12)
    head += tag("TTResult_NumberOfRecords", 0x10000008, len(words))
    head += tag("MeasDesc_AcquisitionTime", 0x10000008, int(t.max()) // 10**9 + 1)   # ms
    head += tag("Header_End", 0xFFFF0008, 0)
    return head + np.asarray(words, "<u4").tobytes()


# ------------------------------------------------------------------------------------------ classify
def read_tags(path: Path, fmt: str | None, chunk_records: int, allow_truncated: bool = True,
              skip_missing: bool = True):
    """(timestamps, channels, warnings) of a whole read."""
    from tagstream.io import open_tags

    r = open_tags(path, format=fmt, allow_truncated=allow_truncated, skip_missing_channels=skip_missing)
    ts, cs = [], []
    for ch in r.chunks(chunk_records):
        ts.append(ch.timestamps_ps)
        cs.append(ch.channels)
    t = np.concatenate(ts) if ts else np.empty(0, np.int64)
    c = np.concatenate(cs) if cs else np.empty(0, np.uint16)
    return t, c, list(r.warnings)


def is_channel_prefix(t, c, ref: TagChunk) -> bool:
    """Every channel's times are a prefix of that channel's times in ref."""
    for ch in np.unique(c).tolist():
        a = np.sort(t[c == ch])
        b = np.sort(ref.timestamps_ps[ref.channels == ch])
        if a.size > b.size or not np.array_equal(a, b[:a.size]):
            return False
    return True


def classify_read(path: Path, fmt: str | None, ref: TagChunk | None, small_chunk: int = 7,
                  limit_s: float = 20.0, suite: str = "readers") -> tuple[str, str]:
    """Read path twice (default and small chunks) with allow_truncated; return (outcome, detail)."""
    outcome, detail = _classify_read(path, fmt, ref, small_chunk, limit_s)
    COUNTS[suite][outcome] += 1
    return outcome, detail


def _classify_read(path, fmt, ref, small_chunk, limit_s):
    results = []
    for chunk in (1 << 20, small_chunk):
        try:
            with time_limit(limit_s):
                results.append(("read",) + read_tags(path, fmt, chunk))
        except Hang:
            return "hang", f"over {limit_s} s"
        except TagstreamError as exc:
            msg = str(exc)
            if "\n" in msg or not msg.strip():
                return "traceback", f"error message not one line: {msg!r}"
            results.append(("error", type(exc).__name__))
        except Exception as exc:   # noqa: BLE001 - this is what the suite hunts
            return "traceback", f"{type(exc).__name__}: {exc}"
    (k1, *r1), (k2, *r2) = results
    if k1 != k2:
        return "wrong", f"chunking changes the outcome: {k1} vs {k2}"
    if k1 == "error":   # two faults in one file: which is met first may depend on the chunking
        return "error", r1[0]
    t1, c1, w1 = r1
    t2, c2, w2 = r2
    if not (np.array_equal(t1, t2) and np.array_equal(c1, c2)):
        return "wrong", "chunking changes the tags"
    if w1:
        return "warning", w1[0]
    if ref is None:
        return "ok", ""
    if is_channel_prefix(t1, c1, ref):
        return "prefix", f"{t1.size} of {len(ref)} tags"
    return "ok", "accepted, differs from the original"


def run_cli(argv: list[str], limit_s: float = 60.0, suite: str = "cli") -> tuple[str, str]:
    """Run tagstream.cli.main(argv) in-process; outcome error/ok/traceback/hang (and the stderr)."""
    from tagstream.cli import main

    err, out = io.StringIO(), io.StringIO()
    try:
        with time_limit(limit_s), contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            rc = main(argv)
    except Hang:
        outcome, text = "hang", f"over {limit_s} s"
    except SystemExit as exc:   # --help only
        outcome, text = ("ok" if exc.code in (0, None) else "traceback"), f"SystemExit {exc.code}"
    except Exception as exc:   # noqa: BLE001
        outcome, text = "traceback", f"{type(exc).__name__}: {exc}"
    else:
        text = err.getvalue()
        errors = [ln for ln in text.splitlines() if ": error:" in ln]
        if "Traceback" in text or "internal error" in text or rc not in (0, 1, 2):
            outcome = "traceback"
        elif rc == 2:
            outcome = "error" if len(errors) == 1 else "traceback"
        else:
            outcome = "warning" if ": warning:" in text else "ok"
    COUNTS[suite][outcome] += 1
    return outcome, text.strip().splitlines()[-1] if text.strip() else ""


def table() -> str:
    """The outcome table of everything classified in this session."""
    cols = ["error", "warning", "prefix", "ok", "traceback", "hang", "wrong"]
    lines = ["suite | tried | " + " | ".join(cols)]
    for suite, cnt in sorted(COUNTS.items()):
        lines.append(f"{suite} | {sum(cnt.values())} | " + " | ".join(str(cnt.get(c, 0)) for c in cols))
    return "\n".join(lines)


FORMATS = ("qutag-binary", "qutag-raw", "qutag-compressed", "qutag-ascii", "sstt-v2", "photon-hdf5", "ptu")


def expected(fmt: str, tags: TagChunk) -> TagChunk:
    """The tags a reader of fmt gives back for `tags` (PTU numbers the sync channel 99)."""
    if fmt != "ptu":
        return tags
    from tagstream.io.ptu import SYNC_CHANNEL

    return TagChunk(tags.timestamps_ps, np.where(tags.channels == 5, SYNC_CHANNEL, tags.channels).astype(np.uint16))


def open_format(fmt: str) -> str | None:
    """The format= to pass (raw has no magic and shares nothing: name it)."""
    return "qutag-raw" if fmt == "qutag-raw" else None
