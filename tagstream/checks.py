"""Plausibility checks of an analysis: suspicious-but-possible input said in words, never silence.

Each check returns a list of one-line warnings (empty = nothing suspicious); the CLI prints them on
stderr and puts them in --json `warnings`. They look only at Results (and the reader's own
findings), so they work the same for a file, a batch row or a live snapshot.
"""

from __future__ import annotations

GAP_FRACTION_WARN = 0.05     # photons further than the sync divider (+ 0.5) periods from their sync
BACKGROUND_WARN = 0.5        # of referenced photons


def result_warnings(res) -> list[str]:
    """Warnings about one analysis result (see the module doc)."""
    out: list[str] = []
    photons = int(res.counts.get("spad_a", 0)) + int(res.counts.get("spad_b", 0))
    gap = int(res.unreferenced_by_reason.get("after_gap", 0))
    if photons and gap > GAP_FRACTION_WARN * photons:
        out.append(f"{gap} of {photons} photons ({100 * gap / photons:.0f} %) are further from their sync than the "
                   f"sync divider allows ('after gap'): the laser period (--laser-mhz / --laser-period-ps) or "
                   f"--sync-divider probably does not match the recording")
    bg = res.decay.background_fraction
    if photons and bg is not None and bg == bg and bg > BACKGROUND_WARN:
        out.append(f"the uniform background is {100 * bg:.0f} % of the referenced photons: little or no decay "
                   f"is seen in the laser period ({res.laser_period_ps or float('nan'):.0f} ps); check the "
                   f"sync divider, the laser period and the sync channel")
    for role in ("spad_a", "spad_b"):
        if int(res.counts.get(role, 0)) == 0 and res.n_records:
            out.append(f"no photons on {role} (channel {_channel(res, role)}): g2 and the "
                       f"{role} counts are empty; check the channel map (--spad-a / --spad-b / --setup)")
    if res.laser_period_ps is None and res.n_records:
        out.append("no laser period: no sync tags on the sync channel (or too few); lifetimes and decays are "
                   "not computed (check --sync or give --laser-period-ps with a sync-filtered stream)")
    return out


def _channel(res, role):
    raw = getattr(res, "_raw", None)
    setup = getattr(raw, "setup", None)
    return getattr(setup, role, "?")


def report(name: str, warnings: list[str], stream) -> None:
    """Print warnings as `name: warning: ...` lines."""
    for w in warnings:
        print(f"{name}: warning: {w}", file=stream)
