"""Results: frozen snapshots of the analysis, derived from the stages' sufficient statistics.

Everything a user can change afterwards (decay time zero t0, background subtraction, ON threshold,
lifetime regimes, FLID edges) is applied here, in `derive`, from raw per-bin statistics, so a
re-selection equals a fresh computation. Units are in the names (_ps, _ns, _ms, _s).

Average lifetime of a trace bin (the estimator, its assumptions and biases):
    tau_avg = (S_w - n_bg * (P/2 - g)) / (n - n_bg)
with n referenced photons of the bin, S_w the sum of their delays (microtime - t0) wrapped into
[-g, P - g) (periodic: a photon just before t0 is late from the previous pulse, unless within the guard
g = max(2 decay bins, 2 x the 10-90 % rise) that keeps the IRF's leading edge with its own pulse;
g = 0 when t0 is given, so --t0-ps 0 is the plain mean microtime of the seed), P the laser period, t0 the
decay's time zero and n_bg = R_bg * bin width the bin's expected uniform background (R_bg: the
background rate from the pre-pulse region of the total decay, see `estimate_background`). Without
subtraction n_bg = 0. Bias: an uncorrected uniform background fraction f pulls the mean towards
P/2: bias = f * (P/2 - t0 - tau) (5 % at P = 1 us, tau = 50 ns: about +22 ns); the subtraction
removes it on average, but its noise grows as the bin's signal falls. The mean of an exponential
truncated at the period end is low by T/(exp(T/tau) - 1), T = P - t0 (negligible for tau << P;
at 80 MHz use with care). The IRF adds no bias when t0 is the IRF centre; t0 estimated from the
rise (half maximum of the rising edge) sits ~sigma_IRF^2/tau before it.

Optional maximum-likelihood lifetime per bin: photons after t0 (at decay-bin centres) fitted by a
single exponential truncated at T; no background term (use it on bright bins).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from tagstream.kernels.g2 import sum_pairs_in_state
from tagstream.estimators import (estimate_background, estimate_t0, g2_peaks, live_window, mle_truncated_exp_ns,  # noqa: F401
                                  otsu_threshold, rise_10_90)
from tagstream.config import Selection
from tagstream.kernels.split_half import half_delay_sums, sum_half_decays
from tagstream.kernels.trace import sum_selected_decays, sums_from
from tagstream.stages.trace import average_lifetime_ns, photons_below, time_zero_bin
from tagstream.regime import Regime, parse_regimes

if TYPE_CHECKING:
    from tagstream.config import AnalysisConfig
    from tagstream.setup import Setup
    from tagstream.stages.frames import FrameStats
    from tagstream.stages.g2 import G2Stats
    from tagstream.stages.levels import LevelsStats
    from tagstream.stages.trace import TraceStats


# ------------------------------------------------------------------------------------------------
# dataclasses
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DecayResult:
    bin_ps: int | None
    t_ps: np.ndarray            # left edges
    counts: np.ndarray
    t0_ps: float | None
    t0_estimated: bool
    background_per_bin: float   # counts per decay bin (whole recording), 0 when not estimated
    background_fraction: float  # of referenced photons
    background_estimated: bool
    rise_10_90_ps: float | None
    live_window_ps: tuple | None = None   # (start, width) where the instrument records only part of the
    # period (estimators.live_window: a TAC range shorter than it); None: the whole period


@dataclass(frozen=True)
class G2Result:
    bin_ps: int
    window_ps: int
    tau_ps: np.ndarray          # left bin edges, tau = t(B) - t(A) with per-channel delays applied
    counts: np.ndarray
    normalized: np.ndarray      # counts / (N_A * N_B * bin / T)
    n_a: int
    n_b: int
    duration_s: float
    peak_tau_ps: np.ndarray     # k * period for the whole peaks inside the window
    peak_areas: np.ndarray
    g2_zero: float | None       # centre area / mean side-peak area
    g2_zero_err: float | None   # Poisson
    base_bin_ps: int


@dataclass(frozen=True)
class TraceResult:
    bin_ms: float
    bin_start_ps: np.ndarray
    counts_a: np.ndarray
    counts_b: np.ndarray
    counts: np.ndarray
    n_referenced: np.ndarray
    lifetime_ns: np.ndarray     # average lifetime, NaN without photons
    lifetime_mle_ns: np.ndarray | None
    on: np.ndarray              # bool; the open (last, still filling) bin is never ON
    regime: np.ndarray          # int8 index into Results.regimes, -1 = none
    on_threshold: float
    on_threshold_method: str    # "fixed" | "otsu"
    on_fraction: float          # of closed bins


@dataclass(frozen=True)
class FlidResult:
    count_edges: np.ndarray
    lifetime_edges_ns: np.ndarray
    hist: np.ndarray            # (n_count_bins, n_lifetime_bins), all closed bins
    on_lifetime_hist: np.ndarray


@dataclass(frozen=True)
class RegimeResult:
    range_ns: tuple[float, float]
    n_bins: int
    n_photons: int
    bins: np.ndarray            # trace-bin indices
    intervals_ps: np.ndarray    # (k, 2) [start, stop) of merged consecutive bins
    t_ps: np.ndarray            # decay left edges over one period
    counts: np.ndarray
    fit: Any = None             # hook for tagstream.analysis: anything with to_json_dict() or a dict
    # the decay the fits use (split-half cross-selection, `split_half_lifetimes_ns`): of each ON bin the
    # photon half (even / odd positions) whose OTHER half's average lifetime lies in the range; and the
    # trace bin of every half in it (a bin twice when both halves are)
    fit_counts: np.ndarray | None = None
    fit_half_bins: np.ndarray | None = None

    @property
    def regime(self) -> Regime:
        return Regime(*self.range_ns)

    @property
    def fitted_counts(self) -> np.ndarray:
        """The regime's decay as fitted and drawn: fit_counts (cross-selected), else counts."""
        return self.counts if self.fit_counts is None else self.fit_counts

    def to_json_dict(self) -> dict:
        d = {"range_ns": list(self.range_ns), "n_bins": self.n_bins, "n_photons": self.n_photons,
             "n_fit_photons": int(self.fitted_counts.sum()),   # the decay the fits use (cross-selected)
             "duration_s": float((self.intervals_ps[:, 1] - self.intervals_ps[:, 0]).sum() / 1e12)
             if len(self.intervals_ps) else 0.0}
        if self.fit is not None:
            d["fit"] = self.fit.to_json_dict() if hasattr(self.fit, "to_json_dict") else dict(self.fit)
        return d


@dataclass(frozen=True)
class FrameTrace:
    frame_start_ps: np.ndarray
    counts_a: np.ndarray
    counts_b: np.ndarray


@dataclass(frozen=True)
class Results:
    final: bool
    duration_s: float
    n_records: int
    laser_period_ps: float | None
    counts: dict                 # role -> tags (sync, spad_a, spad_b, frame, markers), plus "total"
    counts_by_channel: dict      # channel -> tags
    unreferenced_photons: int
    unreferenced_by_reason: dict
    decay: DecayResult
    g2: G2Result | None
    trace: TraceResult
    flid: FlidResult
    regimes: tuple[RegimeResult, ...]
    frames: FrameTrace | None
    selection: Selection
    _raw: Any = field(default=None, repr=False, compare=False)
    g2_on: G2Result | None = None  # pairs with both photons in ON bins (AnalysisConfig.g2_per_state)
    levels: Any = None           # tagstream.levels.result.LevelsResult when AnalysisConfig.levels_confidence is set
    intensity_correlation: Any = None  # tagstream.stages.correlation.IntensityCorrelation (1 us - 10 s)
    blinking: Any = None         # tagstream.blinking.BlinkingResult (dwell times, power laws) with levels
    g2_time: Any = None          # tagstream.blinking.g2time.G2Time: g2(0) per window / per state (g2_per_state)

    @property
    def memory_mode(self) -> str:
        """"bounded" (selection fixed up front, no per-photon store) or "reselectable"."""
        tr = getattr(self._raw, "trace", None) if self._raw is not None else None
        return "bounded" if getattr(tr, "bounded", None) is not None else "reselectable"

    def reselect(self, **changes) -> "Results":
        """The same results with a different Selection (on_threshold, regimes_ns, t0_ps, ...),
        recomputed from the raw statistics: equal to a fresh analysis with that selection."""
        if "regimes_ns" in changes and changes["regimes_ns"] is not None:
            changes["regimes_ns"] = normalize_regimes(changes["regimes_ns"])
        return derive(self._raw, dataclasses.replace(self.selection, **changes))

    def with_regime_fits(self, fits: Sequence[Any]) -> "Results":
        """Attach one fit object per regime (the fit developer's hook)."""
        regs = tuple(dataclasses.replace(r, fit=f) for r, f in zip(self.regimes, fits, strict=True))
        return dataclasses.replace(self, regimes=regs)

    def to_json_dict(self) -> dict:
        g = self.g2
        tr = self.trace
        return {
            "final": self.final,
            "duration_s": self.duration_s,
            "n_records": self.n_records,
            "laser_period_ps": self.laser_period_ps,
            "counts": dict(self.counts),
            "unreferenced_photons": self.unreferenced_photons,
            "unreferenced_by_reason": dict(self.unreferenced_by_reason),
            "decay": {"bin_ps": self.decay.bin_ps, "t0_ps": self.decay.t0_ps,
                      "t0_estimated": self.decay.t0_estimated,
                      "background_fraction": self.decay.background_fraction,
                      "live_window_ps": None if self.decay.live_window_ps is None else list(self.decay.live_window_ps),
                      "background_subtracted": self.selection.subtract_background and self.decay.background_estimated},
            "g2": None if g is None else {
                "bin_ps": g.bin_ps, "window_ps": g.window_ps, "g2_zero": _f(g.g2_zero),
                "g2_zero_err": _f(g.g2_zero_err), "n_a": g.n_a, "n_b": g.n_b,
                "peak_areas": [int(a) for a in g.peak_areas]},
            "trace": {"bin_ms": tr.bin_ms, "n_bins": int(tr.counts.shape[0]), "on_threshold": tr.on_threshold,
                      "on_threshold_method": tr.on_threshold_method, "on_fraction": tr.on_fraction},
            "regimes": [r.to_json_dict() for r in self.regimes],
            "memory_mode": self.memory_mode,
            **({} if self.g2_on is None else {"g2_on": {
                "g2_zero": _f(self.g2_on.g2_zero), "g2_zero_err": _f(self.g2_on.g2_zero_err),
                "n_a": self.g2_on.n_a, "n_b": self.g2_on.n_b, "duration_s": self.g2_on.duration_s,
                "peak_areas": [int(a) for a in self.g2_on.peak_areas]}}),
            **({} if self.levels is None else {"levels": self.levels.to_json_dict()}),
            **({} if self.blinking is None else {"blinking": self.blinking.to_json_dict()}),
            **({} if self.intensity_correlation is None else {
                "intensity_correlation": self.intensity_correlation.to_json_dict()}),
            **({} if self.g2_time is None else {"g2_vs_time": self.g2_time.to_json_dict()}),
        }


def _f(x):
    return None if x is None or not np.isfinite(x) else float(x)


def normalize_regimes(regimes) -> tuple[Regime, ...]:
    """Accept "40-50,50-60" or [(40, 50), ...]; return Regimes (tagstream.regime.parse_regimes)."""
    return parse_regimes(regimes)


# ------------------------------------------------------------------------------------------------
# derive
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RawStats:
    """Copies of every stage's sufficient statistics at one moment (what a Results is built from).
    stages: stage name -> its frozen statistics (tagstream.stages: TraceStats, G2Stats, FrameStats,
    LevelsStats), None where a stage has nothing yet."""

    final: bool
    config: "AnalysisConfig"
    setup: "Setup"
    first_time_ps: int | None
    last_time_ps: int | None
    n_records: int
    period_ps: float | None
    ch_counts: dict
    unreferenced: dict
    stages: Mapping[str, Any]

    @property
    def trace(self) -> "TraceStats":
        return self.stages["trace"]

    @property
    def g2(self) -> "G2Stats | None":
        return self.stages.get("g2")

    @property
    def frames(self) -> "FrameStats | None":
        return self.stages.get("frames")

    @property
    def levels(self) -> "LevelsStats | None":
        return self.stages.get("levels")

    @property
    def correlation(self) -> dict | None:
        return self.stages.get("correlation")


def background_mean_delay_ps(live, cut_bin: int, dbin, P) -> float:
    """Mean delay from the cut (cut_bin's left edge) of a background uniform over a live window (first bin,
    n bins), wrapped into [0, P): the mean over its bins' centres (over the whole period it is P / 2, the
    lifetime estimators' default)."""
    centres_ps = (live[0] + np.arange(live[1]) + 0.5) * float(dbin)
    return float(np.mean((centres_ps - cut_bin * float(dbin)) % P))


def split_half_lifetimes_ns(store, offsets, n_bg, cut_bin, dbin, P, t0_ps, sums=None, bg_mean_ps=None) -> np.ndarray:
    """(bins, 2) average lifetimes (ns) of each trace bin's two photon halves (even / odd positions in
    the bin, tagstream.kernels.split_half): the bin-lifetime estimator (same cut, wrap and background,
    n_bg / 2 per half) at decay-bin centres. NaN where a half has < 1 signal photon. The regimes' fit
    decays select a bin by one half and take the other half's photons (no selection bias). sums: the
    trace stage's memo (tagstream.stages.trace.DecaySums), so a snapshot sums only the bins that changed."""
    nb = offsets.size - 1
    delta_ps = (cut_bin * float(dbin) - t0_ps + 0.5 * P) % P - 0.5 * P  # c - t0 in (-P/2, P/2]
    if sums is not None:
        hn, hs = sums.half_delays(store, offsets, int(cut_bin), float(dbin), float(P))
    else:
        hn, hs = np.zeros((nb, 2), np.int64), np.zeros((nb, 2), np.float64)
        half_delay_sums(store, offsets, int(cut_bin), float(dbin), float(P), hn, hs)
    bg = 0.5 * np.asarray(n_bg, np.float64)[:, None]
    sig = hn - bg
    out = np.full((nb, 2), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        lt = ((hs + hn * delta_ps - bg * ((P / 2.0 if bg_mean_ps is None else bg_mean_ps) + delta_ps)) / sig) / 1e3
    good = (hn > 0) & (sig >= 1.0)
    out[good] = lt[good]
    return out


def _check_bounded_selection(fixed, sel: Selection) -> None:
    """A bounded-memory run kept no per-photon store: only its own selection can be derived."""
    same = (sel.on_threshold is not None and float(sel.on_threshold) == float(fixed.on_threshold)
            and sel.t0_ps is not None and float(sel.t0_ps) == float(fixed.t0_ps)
            and tuple(sel.regimes_ns) == tuple(fixed.regimes_ns) and not sel.subtract_background
            and not sel.on_from_levels)
    if not same:
        raise ValueError("this analysis ran in bounded-memory mode (selection fixed up front, no per-photon "
                         "store): it cannot be re-selected; analyse again without bounded_memory")


def _merge_intervals(bins: np.ndarray, origin: int, bin_ps: int) -> np.ndarray:
    if bins.size == 0:
        return np.zeros((0, 2), np.int64)
    brk = np.flatnonzero(np.diff(bins) != 1)
    starts = np.concatenate(([bins[0]], bins[brk + 1]))
    stops = np.concatenate((bins[brk], [bins[-1]])) + 1
    return np.stack([origin + starts * bin_ps, origin + stops * bin_ps], axis=1).astype(np.int64)


def derive(raw: RawStats, sel: Selection) -> Results:
    cfg = raw.config
    tr = raw.trace
    P = raw.period_ps
    nb = tr.n_bins
    bin_ps = tr.bin_ps
    dbin = tr.decay_bin_ps
    h = tr.total_decay
    duration_ps = (raw.last_time_ps - raw.first_time_ps) if raw.first_time_ps is not None else 0

    # --- decay: background and t0 --------------------------------------------------------------
    bg_level, bg_ok, t0, rise = 0.0, False, None, None
    live = None   # (first bin, n bins): the part of the period the instrument records, if not all of it
    if dbin and h.sum() > 0:
        hp = h[: int(P // dbin)] if P else h  # whole decay bins inside one period
        t0_guess = estimate_t0(hp, dbin, float(np.median(hp)), P)
        t0_ref = t0_guess if sel.t0_ps is None else sel.t0_ps
        b = estimate_background(hp, dbin, t0_ref)
        if b is not None:
            bg_level, bg_ok = b, True
        if P:
            window = live_window(hp, dbin, t0_ref)
            if window is not None:   # photons only in part of the period (a TAC range): background over it
                live, bg_level, bg_ok = window[:2], window[2], True
        t0 = estimate_t0(hp, dbin, bg_level, P) if sel.t0_ps is None else float(sel.t0_ps)
        rise = rise_10_90(hp, dbin, bg_level)
    n_ref_total = int(tr.n_ref.sum())
    n_period_bins = (P / dbin) if (P and dbin) else 0
    if live is not None:
        n_period_bins = live[1]
    bg_total = bg_level * n_period_bins
    bg_fraction = bg_total / n_ref_total if n_ref_total else 0.0
    decay = DecayResult(dbin, (np.arange(len(h), dtype=np.int64) * (dbin or 0)), h.copy(), t0, sel.t0_ps is None,
                        bg_level, float(bg_fraction), bg_ok, rise,
                        None if live is None else (live[0] * dbin, live[1] * dbin))

    # --- trace: lifetimes -----------------------------------------------------------------------
    n = tr.n_ref.astype(np.float64)
    counts = tr.counts_a + tr.counts_b
    offsets = np.concatenate(([0], np.cumsum(tr.n_ref))).astype(np.int64)
    lifetime = np.full(nb, np.nan)
    half_lifetime = np.full((nb, 2), np.nan)  # of each bin's photon halves: the regimes' fit decays
    bounded = tr.bounded
    if bounded is not None:
        _check_bounded_selection(bounded.selection, sel)
    if t0 is not None and P:
        n_bg = np.zeros(nb)
        if sel.subtract_background and bg_ok and duration_ps > 0:
            n_bg = np.full(nb, bg_total * bin_ps / max(duration_ps, bin_ps))
        # delays (microtime - t0) wrapped into one period starting at the cut c = t0 - guard (a decay-bin
        # edge; guard: the IRF's leading edge belongs to its own pulse; 0 for a user-given t0)
        guard = max(2.0 * dbin, 2.0 * (rise or 0.0)) if sel.t0_ps is None else 0.0
        cb = time_zero_bin(t0, guard, dbin, P)
        bg_mean_ps = None if live is None else background_mean_delay_ps(live, cb, dbin, P)
        if bounded is None and getattr(tr, "sums", None) is not None:   # memoised: live, only the new bins
            n_below = tr.sums.half_index_sums(tr.store, offsets, cb)[1].sum(axis=1)
        elif bounded is None:
            n_below = photons_below(tr.store, tr.n_ref, cb, dbin)
        else:   # folded bins: counted as they closed; the open bins from the store
            k = bounded.n_folded
            if k and cb != bounded.cut_bin:
                raise ValueError(f"bounded-memory run: t0's decay bin {cb} differs from the one used as bins closed "
                                 f"({bounded.cut_bin})")
            n_below = np.concatenate((bounded.n_below, photons_below(tr.store, tr.n_ref[k:], cb, dbin)))
        lifetime = average_lifetime_ns(tr.n_ref, tr.sum_micro_ps, n_below.astype(np.float64), t0, P, dbin, cb, n_bg,
                                       bg_mean_ps)
        if bounded is None:
            half_lifetime = split_half_lifetimes_ns(tr.store, offsets, n_bg, cb, dbin, P, t0, tr.sums, bg_mean_ps)
    mle = None
    if getattr(cfg, "lifetime_mle", False) and t0 is not None and P:
        first = int(np.ceil(t0 / dbin))
        on_n = np.zeros(nb, np.int64)
        on_s = np.zeros(nb, np.float64)
        sums_from(tr.store, offsets, first, float(dbin), on_n, on_s)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = on_s / on_n - t0
        mle = mle_truncated_exp_ns(on_n, mean, P - t0)

    # --- levels (change points of the summed SPADs), ON from levels -----------------------------------
    lev = None
    if raw.levels is not None:
        from tagstream.levels.result import derive_levels, equivalent_threshold

        lev = derive_levels(raw.levels, tr.store, t0, P, dbin,
                            bg_total / duration_ps if (sel.subtract_background and bg_ok and duration_ps > 0) else 0.0,
                            _flid_lifetime_edges(sel, P), sel.level_states)
    closed = np.ones(nb, bool)
    if nb:
        closed[-1] = False  # the bin holding the last tag is still filling (live) or partial (final)
    if sel.on_from_levels:
        if lev is None:
            raise ValueError("on_from_levels needs levels: AnalysisConfig(levels_confidence=...)")
        thr, method = equivalent_threshold(lev, bin_ps), "levels"
    elif sel.on_threshold is None:
        thr, method = otsu_threshold(counts[closed]), "otsu"
    else:
        thr, method = float(sel.on_threshold), "fixed"
    on = ((lev.on_bins(tr.origin_ps + np.arange(nb, dtype=np.int64) * bin_ps, bin_ps) if sel.on_from_levels
           else counts > thr) & closed)
    on_fraction = float(on.sum() / closed.sum()) if closed.any() else 0.0

    # --- FLID --------------------------------------------------------------------------------------
    if sel.flid_count_edges is not None:
        cedges = np.asarray(sel.flid_count_edges, float)
    else:
        cmax = int(counts.max()) if nb else 0
        cedges = np.linspace(0, cmax + 1, min(cmax + 2, 101))
    ledges = _flid_lifetime_edges(sel, P)
    fin = closed & np.isfinite(lifetime)
    flid_h, _, _ = np.histogram2d(counts[fin], lifetime[fin], bins=(cedges, ledges))
    on_lt, _ = np.histogram(lifetime[on & np.isfinite(lifetime)], bins=ledges)
    flid = FlidResult(cedges, ledges, flid_h.astype(np.int64), on_lt.astype(np.int64))

    # --- regimes --------------------------------------------------------------------------------
    regime_idx = np.full(nb, -1, np.int8)
    regs = []
    t_dec = np.arange(tr.n_decay, dtype=np.int64) * (dbin or 0)
    for r, (lo, hi) in enumerate(sel.regimes_ns):
        if bounded is not None:   # decided and summed as the bins closed (their photons are gone)
            selb = np.flatnonzero(bounded.regime == r)
            dec = bounded.regime_decays[r].copy() if bounded.regime_decays.size else np.zeros(tr.n_decay, np.int64)
        else:
            selb = np.flatnonzero(on & (lifetime >= lo) & (lifetime < hi))
            dec = np.zeros(tr.n_decay, np.int64)
            if selb.size and tr.n_decay:
                if getattr(tr, "sums", None) is not None:   # live snapshots: only the bins that changed regime
                    dec = tr.sums.selected(r, tr.store, offsets, selb.astype(np.int64), tr.n_decay)
                else:
                    sum_selected_decays(tr.store, offsets, selb.astype(np.int64), tr.n_decay, dec)
        regime_idx[selb] = r
        fit_dec, halves = None, None
        if bounded is None:
            fit_dec, halves = np.zeros(tr.n_decay, np.int64), []
            for h in (0, 1):  # half h of the bins the other half's lifetime puts in this regime
                lt_o = half_lifetime[:, 1 - h]
                halves.append(np.flatnonzero(on & (lt_o >= lo) & (lt_o < hi)).astype(np.int64))
                if tr.n_decay and getattr(tr, "sums", None) is not None:   # live: only the bins that changed
                    fit_dec += tr.sums.selected(r, tr.store, offsets, halves[-1], tr.n_decay, half=h)
                elif tr.n_decay:
                    sum_half_decays(tr.store, offsets, halves[-1], h, tr.n_decay, fit_dec)
            halves = np.sort(np.concatenate(halves))
        regs.append(RegimeResult(Regime(lo, hi), int(selb.size), int(dec.sum()), selb,
                                 _merge_intervals(selb, tr.origin_ps or 0, bin_ps), t_dec, dec, fit_counts=fit_dec,
                                 fit_half_bins=halves))

    trace = TraceResult(bin_ps / 1e9, (tr.origin_ps or 0) + np.arange(nb, dtype=np.int64) * bin_ps,
                        tr.counts_a, tr.counts_b, counts, tr.n_ref, lifetime, mle, on, regime_idx,
                        thr, method, on_fraction)

    # --- g2 -------------------------------------------------------------------------------------
    g2 = None
    if raw.g2 is not None:
        g2 = derive_g2(raw.g2, cfg, rise, P)
    g2_on = None
    if raw.g2 is not None and raw.g2.per_state is not None:
        g2_on = derive_g2_in_state(raw.g2, on, tr, cfg, rise, P)

    # --- blinking (dwells of the grouped levels), intensity correlation, g2(0) per window / state ----------
    blink = corr = g2t = None
    if lev is not None and lev.n_levels >= 2:
        from tagstream.blinking import blinking_from_levels

        blink = blinking_from_levels(lev, final=raw.final)  # cut-off fit and bootstrap errors: final result only
    if raw.correlation is not None:
        from tagstream.stages.correlation import derive_correlation

        corr = derive_correlation(raw.correlation)
    if raw.g2 is not None and raw.g2.per_state is not None:
        from tagstream.blinking.g2time import g2_vs_time

        g2t = g2_vs_time(raw.g2, tr, closed, cfg, rise, P, getattr(cfg, "g2_time_window_s", 10.0),
                         None if blink is None else blink.dwells)

    # --- counts ----------------------------------------------------------------------------------
    chc = raw.ch_counts
    roles = raw.setup.roles
    cnt = {role: int(chc.get(ch, 0)) for role, ch in roles.items()}
    cnt["total"] = int(raw.n_records)
    frames = None if raw.frames is None else FrameTrace(raw.frames.frame_start_ps, raw.frames.counts_a,
                                                         raw.frames.counts_b)
    unref = dict(raw.unreferenced)
    return Results(raw.final, duration_ps / 1e12, raw.n_records, P, cnt, dict(chc), int(sum(unref.values())),
                   unref, decay, g2, trace, flid, tuple(regs), frames, sel, raw, g2_on=g2_on, levels=lev,
                   intensity_correlation=corr, blinking=blink, g2_time=g2t)


def _flid_lifetime_edges(sel: Selection, P: float | None) -> np.ndarray:
    if sel.flid_lifetime_edges_ns is not None:
        return np.asarray(sel.flid_lifetime_edges_ns, float)
    lmax = 200.0 if (P is None or P >= 400e3) else P / 2e3
    return np.linspace(0.0, lmax, 101)


def derive_g2_in_state(g: "G2Stats", state: np.ndarray, tr: "TraceStats", cfg, rise_ps: float | None,
                      period_ps: float | None) -> G2Result:
    """g2 of the pairs whose both photons lie in trace bins with state[b] true (e.g. ON), exactly,
    from the per-pair store (tagstream.stages.g2). Normalisation: N_A, N_B = photons of those bins,
    T = their total width (pairs across a boundary to an unselected bin are left out, so near-edge
    pairs are slightly under-counted in `normalized`; g2_zero is a ratio of peak areas, unaffected)."""
    ps = g.per_state
    nb = state.shape[0]
    per_bin = np.zeros(nb, np.int64)
    m = min(nb, ps.pairs_per_bin.shape[0])
    per_bin[:m] = ps.pairs_per_bin[:m]
    offsets = np.concatenate(([0], np.cumsum(per_bin))).astype(np.int64)
    hist = np.zeros_like(g.hist)
    sum_pairs_in_state(ps.store, offsets, state.astype(np.bool_), ps.cross_flag, hist)
    sub = dataclasses.replace(g, hist=hist, n_a=int(tr.counts_a[state].sum()), n_b=int(tr.counts_b[state].sum()),
                              first_ps=0, last_ps=int(state.sum()) * int(tr.bin_ps), t_from_ps=None)
    return derive_g2(sub, cfg, rise_ps, period_ps)


def derive_g2(g: "G2Stats", cfg, rise_ps: float | None, period_ps: float | None) -> G2Result:
    base = g.base_bin_ps
    hist = g.hist
    half = hist.shape[0] // 2
    m = 1
    if getattr(cfg, "g2_bin_ps", None) is None and rise_ps:
        target = max(1, int(rise_ps // base))
        m = max(d for d in range(1, half + 1) if half % d == 0 and d <= target)
    counts = hist.reshape(-1, m).sum(axis=1) if m > 1 else hist.copy()
    b = base * m
    W = g.window_ps
    tau = -W + np.arange(counts.shape[0], dtype=np.int64) * b
    dur_ps = 0
    if g.first_ps is not None:
        start = g.first_ps if g.t_from_ps is None else max(g.first_ps, g.t_from_ps)
        dur_ps = max(g.last_ps - start, 0)
    denom = g.n_a * g.n_b * b / dur_ps if dur_ps > 0 else 0.0
    norm = counts / denom if denom > 0 else np.full(counts.shape, np.nan)
    ptau, areas, g0, g0e = g2_peaks(hist, -W + np.arange(hist.shape[0], dtype=np.int64) * base, base, W, period_ps)
    return G2Result(int(b), int(W), tau, counts, norm, int(g.n_a), int(g.n_b), dur_ps / 1e12,
                    np.asarray(ptau, float), areas, g0, g0e, int(base))
