"""The setup a recording proposes for itself: its header's parts (reader.header_setup()), completed
from a look at its first tags (at most PROBE_RECORDS) where the header says nothing:

* sync: channel 5 (the quTAG convention) if it has tags, else none;
* SPADs: the first two photon channels present (< 99, not the sync);
* a sync-filtered stream (quTAG sync filter) is recognised from the sync interval distribution
  (tagstream.plausibility.sync_summary): filtered = true and the nominal period from the intervals.

tagstream.setup.resolve_setup puts this under the setup file and the CLI.
"""

from __future__ import annotations

import numpy as np

from tagstream.chunk import TagChunk
from tagstream.plausibility import FILTERED_FRACTION, sync_summary

PROBE_RECORDS = 1 << 20
DEFAULT_SYNC = 5


def probe(reader, n_records: int = PROBE_RECORDS) -> TagChunk:
    """The first n_records tags (one chunk; empty if the file has none)."""
    for chunk in reader.chunks(n_records):
        return chunk
    return TagChunk.from_arrays(np.empty(0, np.int64), np.empty(0, np.uint16))


def propose_setup(reader, n_records: int = PROBE_RECORDS) -> tuple[dict, dict]:
    """(setup parts with "notes" and "probed" (the parts read from the first tags, not the header),
    probe facts {present: channels, sync: sync_summary or None, max_microtime_ps: largest recorded
    microtime or None, hw_sync_divider: the divider before a T3 sync (1 if none)})."""
    parts = dict(reader.header_setup())
    notes = list(parts.pop("notes", []))
    stated = set(parts)
    first = probe(reader, n_records)
    t, c = first.timestamps_ps, first.channels
    present = sorted(int(x) for x in np.unique(c))
    if "sync" not in parts:
        parts["sync"] = DEFAULT_SYNC if DEFAULT_SYNC in present else None
        if parts["sync"] is None and present:
            notes.append(f"no tags on channel {DEFAULT_SYNC} (the default sync): no laser sync")
    sync = parts["sync"]
    photons = [x for x in present if x < 99 and x != sync]
    if "spad_a" not in parts and photons:
        parts["spad_a"] = photons[0]
    if "spad_b" not in parts and photons:
        rest = [x for x in photons if x != parts.get("spad_a", 1)]
        parts["spad_b"] = rest[0] if rest else None
    elif photons and parts.get("spad_b") is not None and parts["spad_b"] not in present:
        if len(t) < n_records:   # the whole file was probed: the channel is really empty
            notes.append(f"channel {parts['spad_b']} (SPAD B by the header) has no tags: one detector, no g2")
            parts["spad_b"] = None
    if sync is None:
        parts.pop("sync_divider", None)
    summary = sync_summary(t[c == sync]) if sync is not None else None
    if (summary and summary["filtered_fraction"] is not None and summary["filtered_fraction"] > FILTERED_FRACTION
            and "sync_filtered" not in parts):
        parts["sync_filtered"] = True
        parts.setdefault("laser_period_ps", summary["period_ps"])
        notes.append(f"sync filter detected: {100 * summary['filtered_fraction']:.1f} % of the sync intervals "
                     f"span 2 or more periods of {summary['period_ps']:.1f} ps")
    if summary and summary["period_ps"] and parts.get("sync_filtered"):
        rate_mhz = 1e6 / summary["period_ps"]
        notes.append(f"the filtered sync repeats every {summary['period_ps']:.1f} ps ({rate_mhz:.3f} MHz): if the "
                     f"laser is faster, its sync was divided before the tagger: give --laser-period-ps")
    parts["notes"] = notes
    parts["probed"] = sorted(set(parts) - stated - {"notes"})
    m = first.microtimes_ps
    max_micro = int(m.max()) if m is not None and m.size and m.max() >= 0 else None
    return parts, {"present": present, "sync": summary, "max_microtime_ps": max_micro,
                   "hw_sync_divider": int(getattr(reader, "hw_sync_divider", 1))}
