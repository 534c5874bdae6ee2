"""Summarise a time-tag recording: format, header, duration, per-channel counts and rates, laser
period, the time-order disorder found, and the setup `analyze` would use (each part with where it
came from: CLI, setup sidecar, the file's header, defaults) with warnings where something is
implausible. Streams the file in bounded memory.

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

from tagstream.plausibility import estimate_period_ps, sync_summary, sync_warnings  # noqa: F401 (re-exported)

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
    p.add_argument("--sync-channel", type=channel, help="laser sync channel (default: the file header's, e.g. the "
                   "SSTT pulses channel or PTU T2 channel 99, else the sidecar's, else 5 if it has tags)")
    p.add_argument("--sync-divider", type=limited("sync_divider", integer=True), help="sync divider applied "
                   "before recording (default: "
                   "SSTT TotalSyncDivider, else the recording's setup sidecar, else 1)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def inspect_file(path, format=None, reorder_window_ps=1_000_000, skip_missing_channels=False,
                 sync_channel=None, sync_divider=None) -> dict:
    """Stream the recording once and return the summary as a JSON-serialisable dict."""
    from tagstream.io import open_tags
    from tagstream.errors import SetupError
    from tagstream.io.propose import propose_setup
    from tagstream.setup import resolve_setup

    reader = open_tags(path, format=format, reorder_window_ps=reorder_window_ps,
                       skip_missing_channels=skip_missing_channels, allow_truncated=True)
    md = reader.metadata
    cli = {k: v for k, v in (("sync", sync_channel), ("sync_divider", sync_divider)) if v is not None}
    header, probe = propose_setup(reader)
    try:
        rs = resolve_setup(path, header, None, cli)
    except SetupError as exc:   # inspect still shows what the file holds; analyze refuses
        reader._warn(f"{exc}; its sync divider and channels are not used (--sync-channel, --sync-divider)")
        rs = resolve_setup(None, header, None, cli)
    sync_channel = rs.setup.sync
    sync_divider = rs.setup.sync_divider
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
    summary = sync_summary(np.concatenate(([0], np.cumsum(iv)))) if iv.size >= 2 else None
    from tagstream.plausibility import channel_warnings, microtime_warnings, period_warnings

    checks = channel_warnings(rs.setup, probe["present"]) + sync_warnings(summary, rs.setup.sync_filtered,
                                                                           sync_divider)
    if rs.setup.sync is None:
        checks += period_warnings(rs.laser_period_ps)
    checks += microtime_warnings(probe["max_microtime_ps"], rs.laser_period_ps, probe["hw_sync_divider"])
    laser = None
    if sync_period is not None:
        laser = {"sync_channel": sync_channel, "sync_divider": sync_divider,
                 "sync_interval_ps": sync_period, "laser_period_ps": sync_period / sync_divider,
                 "laser_rate_hz": 1e12 * sync_divider / sync_period, "from_intervals": int(iv.size)}
    return {"file": str(reader.path), "format": reader.format, "n_records": n,
            "first_timestamp_ps": first, "last_timestamp_ps": last, "duration_s": duration_ps * 1e-12,
            "channels": channels, "laser": laser, "disorder": reader.disorder,
            "metadata": {k: v for k, v in md.items() if k not in ("disorder", "warnings")},
            "setup": rs.to_json_dict(), "setup_used": rs.describe(),
            "warnings": list(reader.warnings) + checks}


def _print_text(s: dict, out) -> None:
    w = out.write
    w(f"file:      {s['file']}\nformat:    {s['format']}\nrecords:   {s['n_records']:,}\n")
    w(f"duration:  {s['duration_s']:.6f} s (first tag {s['first_timestamp_ps']} ps, last "
      f"{s['last_timestamp_ps']} ps)\n")
    w("channels:\n")
    for ch, c in s["channels"].items():
        rate = "-" if c["rate_hz"] is None else f"{c['rate_hz']:,.1f} /s"
        w(f"  {ch:>5}: {c['count']:>12,}  {rate}\n")
    w(f"setup:     {s['setup_used']}\n")
    for n in s["setup"]["notes"]:
        w(f"           {n}\n")
    if s["laser"]:
        L = s["laser"]
        w(f"laser:     period {L['laser_period_ps']:.1f} ps ({L['laser_rate_hz'] / 1e6:.4f} MHz) from "
          f"{L['from_intervals']:,} intervals of sync channel {L['sync_channel']} (divider "
          f"{L['sync_divider']})\n")
    elif s["setup"]["laser_period_ps"] and s["setup"]["sync"] is None:
        w(f"laser:     period {s['setup']['laser_period_ps']:.3f} ps from the file header (sync implicit)\n")
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
