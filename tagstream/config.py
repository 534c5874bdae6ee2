"""What to compute: AnalysisConfig (fixed for a run: bins, period, g2, levels, ...) and Selection
(what a user may change afterwards without re-reading: ON threshold, regimes, t0, background, FLID
edges). AnalysisConfig.selection() is the run's first Selection; Results.reselect() changes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from tagstream.errors import SetupError
from tagstream.regime import Regime, parse_regimes
from tagstream.validate import G2_MAX_BINS, check_limit

DEFAULT_REGIMES = parse_regimes("40-50,50-60,60-70")


@dataclass(frozen=True)
class Selection:
    """What the user may change without re-reading. None = estimate from the data."""

    on_threshold: float | None = None          # counts per trace bin (ON if counts > threshold); None = Otsu
    regimes_ns: tuple[Regime, ...] = DEFAULT_REGIMES
    t0_ps: float | None = None                 # decay time zero; None = half-max of the total decay's rise
    subtract_background: bool = True
    flid_count_edges: tuple[float, ...] | None = None
    flid_lifetime_edges_ns: tuple[float, ...] | None = None
    on_from_levels: bool = False               # ON = bins inside brightest-state levels (tagstream.levels.result)
    level_states: int | None = None            # number of grouped level states; None = BIC's choice


@dataclass(frozen=True)
class AnalysisConfig:
    """Analysis parameters (units in names). None = chosen from the data, as documented per field.

    trace_bin_ms: intensity/lifetime trace bin (the seed used 100 ms).
    laser_period_ps: nominal laser period; required for a sync-filtered stream, otherwise
        measured from the sync intervals (interval / divider).
    microtime_offset_ps: fixed delay subtracted from every microtime before wrapping into [0, P).
    max_extrapolation_periods: photons further than this from their reference sync are
        unreferenced (default: divider + 0.5 for a plain/divided sync, 1e5 for a filtered sync).
    period_memory_pulses: forgetting scale of the running period estimate (pulses).
    decay_bin_ps: decay histogram resolution (default: 1-2-5 value >= period / 2048).
    g2: compute the g2 histogram at all.
    g2_window_ps: half-width W of the g2 histogram (default 3.5 laser periods).
    g2_bin_ps: g2 bin width (default: accumulate at the 1-2-5 value >= period / 1024, display
        re-binned to about the 10-90 % rise time of the total decay, the IRF proxy).
    on_threshold: ON if counts per trace bin > this (default: Otsu's threshold on the counts histogram).
    regimes_ns: average-lifetime ranges [lo, hi) for the per-regime decays.
    t0_ps: decay time zero (default: half maximum of the total decay's rising edge).
    subtract_background: remove the uniform background (pre-pulse region) from average lifetimes.
    lifetime_mle: also compute a per-bin maximum-likelihood single-exponential lifetime.
    flid_count_edges, flid_lifetime_edges_ns: FLID histogram edges.
    g2_per_state: also keep every g2 pair with its trace bin, so Results.g2_on (the g2 of the pairs
        whose BOTH photons lie in ON trace bins) is exact for any ON threshold, also after
        reselect(). Costs 2 B per counted pair (tagstream.stages.g2); needs the g2 reach (window +
        channel delay difference) shorter than the trace bin.
    levels_confidence: change-point levels of the summed SPADs at this confidence (0.69, 0.90, 0.95,
        0.99; tagstream.stages.levels); None = no levels.
    on_from_levels: ON = trace bins entirely inside levels of the brightest grouped state (needs levels).
    level_states: group the levels into this many states (None = the BIC's choice on the EM-refined
        Poisson mixture, Watkins & Yang; 3 = force ON/grey/OFF when a state's rate drifts and the BIC
        resolves it into two).
    intensity_correlation: the exact A-B intensity correlation on log lags 1 us - 10 s, 8 per decade
        (tagstream.stages.correlation; holds the photons of the last 10 s). Off by default (the CLI runs it
        with --correlation or --levels, the app with its checkbox): ~300 ns CPU per photon, which on a dense
        file is 3x the rest of the engine.
    g2_time_window_s: window of g2(0) against time (needs g2_per_state; also g2(0) per blinking state with levels).
    bounded_memory: drop each trace bin's per-photon decay indices once the bin closes (its photons go
        straight into its regime's decay, tagstream.stages.trace): memory flat in the recording length
        instead of 2 B per photon, but the results cannot be re-selected. Needs the selection fixed up
        front: on_threshold and t0_ps given, subtract_background=False, no levels, no lifetime_mle
        (bounded_possible()).
    """

    trace_bin_ms: float = 10.0
    laser_period_ps: float | None = None
    microtime_offset_ps: int = 0
    max_extrapolation_periods: float | None = None
    period_memory_pulses: float = 1e6
    decay_bin_ps: int | None = None
    g2: bool = True
    g2_window_ps: int | None = None
    g2_bin_ps: int | None = None
    on_threshold: float | None = None
    regimes_ns: tuple[Regime, ...] = DEFAULT_REGIMES
    t0_ps: float | None = None
    subtract_background: bool = True
    lifetime_mle: bool = False
    flid_count_edges: tuple[float, ...] | None = None
    flid_lifetime_edges_ns: tuple[float, ...] | None = None
    g2_per_state: bool = False
    levels_confidence: float | None = None
    on_from_levels: bool = False
    level_states: int | None = None
    intensity_correlation: bool = False
    g2_time_window_s: float = 10.0
    bounded_memory: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "regimes_ns", parse_regimes(self.regimes_ns))
        check_limit("trace bin", self.trace_bin_ms, "trace_bin_ms", hint="e.g. --bin-ms 10")
        bin_ps = self.trace_bin_ms * 1e9
        if abs(bin_ps - round(bin_ps)) > 1e-6 * bin_ps:
            raise SetupError(f"trace bin {self.trace_bin_ms} ms is not a whole number of ps")
        ints = ("microtime_offset_ps", "g2_window_ps", "g2_bin_ps", "decay_bin_ps", "level_states")
        for name in ("laser_period_ps", "microtime_offset_ps", "max_extrapolation_periods", "period_memory_pulses",
                     "decay_bin_ps", "g2_window_ps", "g2_bin_ps", "on_threshold", "t0_ps", "level_states"):
            v = getattr(self, name)
            if v is not None:
                object.__setattr__(self, name, check_limit(name, v, integer=name in ints))
        if self.laser_period_ps is not None:
            object.__setattr__(self, "laser_period_ps", float(self.laser_period_ps))
        if self.g2_window_ps is not None and self.g2_bin_ps is not None:
            if self.g2_bin_ps > self.g2_window_ps:
                raise SetupError(f"g2 bin ({self.g2_bin_ps} ps) is wider than the g2 half-window "
                                 f"({self.g2_window_ps} ps): give a bin <= the window (--g2-bin-ps, --g2-window-ps)")
            if 2 * -(-self.g2_window_ps // self.g2_bin_ps) > G2_MAX_BINS:
                raise SetupError(f"g2 window +-{self.g2_window_ps} ps in bins of {self.g2_bin_ps} ps is more than "
                                 f"{G2_MAX_BINS} bins: use a wider --g2-bin-ps or a shorter --g2-window-ps")
        if self.levels_confidence is not None and self.levels_confidence not in (0.69, 0.90, 0.95, 0.99):
            raise SetupError(f"levels confidence must be 0.69, 0.90, 0.95 or 0.99, got {self.levels_confidence}")
        if self.on_from_levels and self.levels_confidence is None:
            raise SetupError("ON from levels needs levels (levels_confidence / --levels)")
        if self.level_states is not None and self.levels_confidence is None:
            raise SetupError(f"{self.level_states} level states asked for without levels: add --levels "
                             f"(or --on-from-levels)")
        if self.on_from_levels and self.on_threshold is not None:
            raise SetupError(f"ON from levels and an ON threshold ({self.on_threshold:g}) contradict each other: "
                             f"give --on-from-levels or --on-threshold, not both")

        if self.bounded_memory and not self.bounded_possible():
            raise SetupError("bounded memory needs the selection fixed up front: an ON threshold and t0 given "
                             "(--on-threshold, --t0-ps), no background subtraction (--no-background), no levels "
                             "and no lifetime MLE")

    def bounded_possible(self) -> bool:
        """True when nothing will need the per-photon regime store (the selection is fixed up front)."""
        return (self.on_threshold is not None and self.t0_ps is not None and not self.subtract_background
                and self.levels_confidence is None and not self.on_from_levels and not self.lifetime_mle)

    @property
    def trace_bin_ps(self) -> int:
        return int(round(self.trace_bin_ms * 1e9))

    def selection(self) -> Selection:
        return Selection(self.on_threshold, self.regimes_ns, self.t0_ps, self.subtract_background,
                         self.flid_count_edges, self.flid_lifetime_edges_ns, self.on_from_levels,
                         self.level_states)
