"""Summarise a time-tag recording: format, header, duration, per-channel counts and rates, laser
period, and the time-order disorder found. Streams the file in bounded memory.

examples:
  tagstream inspect run.qutag
  tagstream inspect QD02_r_1.sstt --skip-missing-channels
  tagstream inspect data.txt --format qutag-ascii --json
  tagstream inspect run.qutag --reorder-window-ps 200000 --sync-channel 5
"""

from __future__ import annotations

import json
import sys

import numpy as np

NAME = "inspect"
HELP = "show format, header, counts, rates, laser period and disorder of a recording"
MAX_SYNC_INTERVALS = 2_000_000


def add_arguments(p) -> None:
    from tagstream.commands.argtypes import channel, limited
    from tagstream.io import formats

    p.add_argument("file", help="recording (quTAG .qutag/.raw/.txt, SSTT .sstt header, ...)")
    p.add_argument("--format", choices=formats(), help="file format (default: detect from magic bytes, "
                   "then extension)")
    p.add_argument("--reorder-window-ps", type=limited("reorder_window_ps", integer=True), default=1_000_000, metavar="N",
                   help="largest step back in time that is re-sorted silently (default 1000000 = 1 us)")
    p.add_argument("--skip-missing-channels", action="store_true",
                   help="SSTT: read the channel files present when some listed ones are missing")
    p.add_argument("--sync-channel", type=channel, help="laser sync channel (default: the SSTT pulses "
                   "channel, else 5)")
    p.add_argument("--sync-divider", type=limited("sync_divider", integer=True), help="sync divider applied before recording (default: "
                   "SSTT TotalSyncDivider, else the recording's setup sidecar, else 1)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def estimate_period_ps(intervals_ps: np.ndarray) -> float | None:
    """Period T of a sync stream from intervals that are (noisy) whole multiples k*T.

    Sync-filtered streams keep only syncs next to photons, so the median interval is meaningless.
    The smallest interval t0 is T or a small multiple of it: for m = 1..8 we refine T = t0/m by least
    squares (T = sum(k d) / sum(k^2), k = round(d / T)) over intervals of up to 20, 200, then 2000
    periods, and accept the first T that explains 99% of those intervals as whole multiples to
    within 10% of a period.
    """
    d = np.asarray(intervals_ps, dtype=np.float64)
    d = d[d > 0]
    if d.size == 0:
        return None
    t0 = float(np.min(d))
    for m in range(1, 9):
        t = t0 / m
        for limit in (20, 200, 2000):
            sel = d[d <= (limit + 0.5) * t]
            k = np.round(sel / t)
            t = float(np.sum(k * sel) / np.sum(k * k))
        sel = d[d <= 2000.5 * t]
        k = np.round(sel / t)
        if np.mean(np.abs(sel / t - k) < 0.1) >= 0.99:
            return t
    return None


def inspect_file(path, format=None, reorder_window_ps=1_000_000, skip_missing_channels=False,
                 sync_channel=None, sync_divider=None) -> dict:
    """Stream the recording once and return the summary as a JSON-serialisable dict."""
    from tagstream.io import open_tags
    from tagstream.errors import SetupError
    from tagstream.setup import sidecar_setup

    reader = open_tags(path, format=format, reorder_window_ps=reorder_window_ps,
                       skip_missing_channels=skip_missing_channels, allow_truncated=True)
    md = reader.metadata
    try:
        side = sidecar_setup(path)
    except SetupError as exc:
        side = None
        reader._warn(f"{exc}; its sync divider and channels are not used (--sync-channel, --sync-divider)")
    if sync_channel is None:
        pulses = [int(ch) for ch, s in md.get("sync_dividers", {}).items() if s.get("IsPulsesChannel")]
        sync_channel = pulses[0] if pulses else (side[0].sync if side and side[0].sync is not None else 5)
    if sync_divider is None:
        sync_divider = int(md.get("sync_dividers", {}).get(str(sync_channel), {}).get("TotalSyncDivider", 0))
        sync_divider = sync_divider or (side[0].sync_divider if side else 1)
    counts = np.zeros(1 << 16, np.int64)
    first = last = None
    n = 0
    last_sync = None
    intervals = []
    n_intervals = 0
    for chunk in reader.chunks():
        if not len(chunk):
            continue
        t = chunk.timestamps_ps
        counts += np.bincount(chunk.channels, minlength=1 << 16)
        first = int(t[0]) if first is None else first
        last = int(t[-1])
        n += len(chunk)
        if n_intervals < MAX_SYNC_INTERVALS:
            s = t[chunk.channels == sync_channel]
            if s.size:
                if last_sync is not None:
                    s = np.concatenate(([last_sync], s))
                last_sync = int(s[-1])
                iv = np.diff(s)[: MAX_SYNC_INTERVALS - n_intervals]
                intervals.append(iv)
                n_intervals += iv.size
    duration_ps = (last - first) if n else 0
    channels = {}
    for ch in np.flatnonzero(counts).tolist():
        channels[str(ch)] = {"count": int(counts[ch]),
                             "rate_hz": (int(counts[ch]) / (duration_ps * 1e-12)) if duration_ps else None}
    iv = np.concatenate(intervals) if intervals else np.empty(0, np.int64)
    sync_period = estimate_period_ps(iv)
    laser = None
    if sync_period is not None:
        laser = {"sync_channel": sync_channel, "sync_divider": sync_divider,
                 "sync_interval_ps": sync_period, "laser_period_ps": sync_period / sync_divider,
                 "laser_rate_hz": 1e12 * sync_divider / sync_period, "from_intervals": int(iv.size)}
    return {"file": str(reader.path), "format": reader.format, "n_records": n,
            "first_timestamp_ps": first, "last_timestamp_ps": last, "duration_s": duration_ps * 1e-12,
            "channels": channels, "laser": laser, "disorder": reader.disorder,
            "metadata": {k: v for k, v in md.items() if k not in ("disorder", "warnings")},
            "warnings": list(reader.warnings)}


def _print_text(s: dict, out) -> None:
    w = out.write
    w(f"file:      {s['file']}\nformat:    {s['format']}\nrecords:   {s['n_records']:,}\n")
    w(f"duration:  {s['duration_s']:.6f} s (first tag {s['first_timestamp_ps']} ps, last "
      f"{s['last_timestamp_ps']} ps)\n")
    w("channels:\n")
    for ch, c in s["channels"].items():
        rate = "-" if c["rate_hz"] is None else f"{c['rate_hz']:,.1f} /s"
        w(f"  {ch:>5}: {c['count']:>12,}  {rate}\n")
    if s["laser"]:
        L = s["laser"]
        w(f"laser:     period {L['laser_period_ps']:.1f} ps ({L['laser_rate_hz'] / 1e6:.4f} MHz) from "
          f"{L['from_intervals']:,} intervals of sync channel {L['sync_channel']} (divider "
          f"{L['sync_divider']})\n")
    else:
        w("laser:     no period found (no sync tags on the sync channel; see --sync-channel)\n")
    d = s["disorder"] or {}
    w(f"disorder:  {d.get('n_decreases', 0):,} decreases, largest {d.get('max_decrease_ps', 0):,} ps "
      f"(re-sorted within a window of {d.get('reorder_window_ps', 0):,} ps)\n")
    w("header/metadata:\n")
    for k, v in s["metadata"].items():
        w(f"  {k}: {json.dumps(v)}\n")
    for x in s["warnings"]:
        w(f"warning:   {x}\n")


def run(args) -> int:
    s = inspect_file(args.file, format=args.format, reorder_window_ps=args.reorder_window_ps,
                     skip_missing_channels=args.skip_missing_channels, sync_channel=args.sync_channel,
                     sync_divider=args.sync_divider)
    if args.json:
        json.dump(s, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_text(s, sys.stdout)
    return 0
