"""Plausibility checks: things that make a number untrustworthy (a sync-filtered stream taken for a
plain one, an implausible or jittery laser period, channels the setup names but the recording lacks,
a stream without sync). Each check returns a list of one-line warnings (empty = nothing to say), for
the text output and the `warnings` list of --json.
"""

from __future__ import annotations

import numpy as np

MIN_PLAUSIBLE_PERIOD_PS = 500.0          # 2 GHz: no pulsed laser of a QD setup is faster
MAX_PLAUSIBLE_PERIOD_PS = 1_000_000.0    # 1 MHz: slower is a divided / filtered sync, not a laser
MAX_JITTER = 0.02                        # rms interval deviation per period, as a fraction of it
FILTERED_FRACTION = 0.01                 # > 1 % of intervals spanning >= 2 periods: sync-filtered


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


def sync_summary(sync_ps: np.ndarray) -> dict | None:
    """What the sync tags say: period_ps (the whole-multiple period, see estimate_period_ps),
    median_interval_ps, filtered_fraction (intervals of >= 2 periods), jitter (rms deviation of the
    intervals from whole periods, per period). None with fewer than 3 sync tags."""
    s = np.asarray(sync_ps, np.int64)
    if s.size < 3:
        return None
    d = np.diff(s).astype(np.float64)
    T = estimate_period_ps(d)
    out = {"n_intervals": int(d.size), "median_interval_ps": float(np.median(d)), "period_ps": T,
           "filtered_fraction": None, "jitter": None}
    if T:
        k = np.maximum(np.round(d / T), 1)
        out["filtered_fraction"] = float(np.mean(k >= 2))
        out["jitter"] = float(np.sqrt(np.mean(((d - k * T) / k) ** 2)) / T)
    return out


def sync_warnings(summary: dict | None, sync_filtered: bool, sync_divider: int = 1) -> list[str]:
    """A filtered stream analysed as plain (or the reverse), an implausible or jittery period."""
    if summary is None:
        return []
    out = []
    T, f = summary["period_ps"], summary["filtered_fraction"]
    if T is None:
        out.append(f"sync intervals are not whole multiples of one period (median {summary['median_interval_ps']:.0f} "
                   f"ps): the sync is irregular or not a laser sync")
        return out
    if f is not None and f > FILTERED_FRACTION and not sync_filtered:
        out.append(f"the sync looks sync-filtered ({100 * f:.1f} % of sync intervals span 2 or more periods of "
                   f"{T:.1f} ps): use --sync-filtered --laser-period-ps {T:.1f} (or [sync] filtered = true)")
    laser = T / max(sync_divider, 1) if not sync_filtered else T
    if not MIN_PLAUSIBLE_PERIOD_PS <= laser <= MAX_PLAUSIBLE_PERIOD_PS:
        out.append(f"implausible laser period {laser:.1f} ps from the sync (divider {sync_divider}); check the "
                   f"sync channel, divider and filter")
    if summary["jitter"] is not None and summary["jitter"] > MAX_JITTER:
        out.append(f"sync period jitters by {100 * summary['jitter']:.1f} % of {T:.1f} ps (rms): microtimes are "
                   f"unreliable")
    return out


def period_warnings(period_ps: float | None, what: str = "laser period") -> list[str]:
    """An implausible laser period (outside 0.5 ns .. 1 us)."""
    if period_ps is None or MIN_PLAUSIBLE_PERIOD_PS <= period_ps <= MAX_PLAUSIBLE_PERIOD_PS:
        return []
    return [f"implausible {what} {period_ps:.1f} ps (expected {MIN_PLAUSIBLE_PERIOD_PS:g} ps to "
            f"{MAX_PLAUSIBLE_PERIOD_PS / 1e3:g} ns): lifetimes and g2 peaks are not trustworthy"]


def microtime_warnings(max_microtime_ps: int | None, period_ps: float | None, sync_divider: int = 1) -> list[str]:
    """Recorded microtimes (T3 dtimes, nanotimes) longer than the sync period the header implies
    (laser period x divider): the header's period or divider is doubtful."""
    if max_microtime_ps is None or not period_ps:
        return []
    span = period_ps * max(int(sync_divider), 1)
    if max_microtime_ps <= 1.05 * span:
        return []
    return [f"recorded microtimes reach {max_microtime_ps / 1e3:.1f} ns, beyond the {span / 1e3:.1f} ns sync period the "
            f"header implies (laser period {period_ps:.1f} ps x divider {sync_divider}): the header's period or "
            f"divider is doubtful; the decay is folded into {period_ps:.1f} ps"]


def channel_warnings(setup, present) -> list[str]:
    """Roles the setup leaves out or names without tags in the recording (the fatal case, a missing
    SPAD A or sync, is a SetupError in Setup.check_channels)."""
    present = set(int(c) for c in present)
    out = []
    if setup.spad_b is None:
        out.append("one detector only (no SPAD B): no g2")
    if setup.frame is not None and setup.frame not in present:
        out.append(f"frame channel {setup.frame} has no tags")
    return out


GAP_FRACTION_WARN = 0.05     # photons further than the sync divider (+ 0.5) periods from their sync
BACKGROUND_WARN = 0.5        # of referenced photons


def result_warnings(res) -> list[str]:
    """Figures of a finished analysis that should not be trusted as they stand (they look only at
    Results, so they work the same for a file, a batch row or a live snapshot)."""
    out = period_warnings(res.laser_period_ps)
    d = res.decay
    photons = int(res.counts.get("spad_a", 0)) + int(res.counts.get("spad_b", 0))
    gap = int(res.unreferenced_by_reason.get("after_gap", 0))
    if photons and gap > GAP_FRACTION_WARN * photons:
        out.append(f"{gap} of {photons} photons ({100 * gap / photons:.0f} %) are further from their sync than the "
                   f"sync divider allows ('after gap'): the laser period (--laser-mhz / --laser-period-ps) or "
                   f"--sync-divider probably does not match the recording")
    if res.laser_period_ps is None:
        out.append("no laser period: lifetime outputs (decays, average lifetimes, regimes, FLID lifetimes) are absent")
    elif d.live_window_ps is not None and res.laser_period_ps:
        a, w = d.live_window_ps
        out.append(f"photons arrive only {a / 1e3:.2f} to {(a + w) / 1e3:.2f} ns (modulo the {res.laser_period_ps / 1e3:.3g} ns "
                   f"period; the instrument's TAC range?): background and average lifetimes are taken over that "
                   f"window; decay fits model the whole period (give --fit-range-ns to fit inside the window)")
    if res.laser_period_ps is not None and d.background_fraction is not None and d.background_fraction > BACKGROUND_WARN:
        out.append(f"background is {100 * d.background_fraction:.0f} % of referenced photons: the decay is mostly "
                   f"flat (wrong period, sync filter or no pulsed excitation?)")
    setup = getattr(getattr(res, "_raw", None), "setup", None)
    for role in ("spad_a", "spad_b"):
        if setup is not None and getattr(setup, role) is None:
            continue
        if int(res.counts.get(role, 0)) == 0 and res.n_records:
            out.append(f"no photons on {role} (channel {getattr(setup, role, '?')}): g2 and the {role} counts are "
                       f"empty; check the channel map (--spad-a / --spad-b / --setup)")
    return out


def report(name: str, warnings: list[str], stream) -> None:
    """Print warnings as `name: warning: ...` lines."""
    for w in warnings:
        print(f"{name}: warning: {w}", file=stream)
