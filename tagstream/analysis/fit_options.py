"""FitOptions: how the regime decay fits are made (IRF, fit range, band-edge test), and the IRF they use.

Built by tagstream.commands.fit_options from the CLI / setup TOML `[fit]` table; consumed by
tagstream.analysis.regimes.fit_results. Default: a Gaussian IRF whose shift and width are fitted,
starting from the recording's measured rise (10-90 % rise time / 2.56 = sigma of a Gaussian).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tagstream.analysis.irf import IRF
from tagstream.errors import AnalysisError

IRF_KINDS = ("gaussian", "emg", "delta", "measured")
BAND_EDGE_ONLY = ("free", "test", "always")


@dataclass(frozen=True)
class FitOptions:
    """irf: "gaussian" (default), "emg", "delta" or "measured" (then irf_path: a decay histogram .npz /
    .csv / .txt with t_ps, counts on the data's bins, or a tag file of scattered laser light analysed
    with the recording's setup). irf_sigma_ps / irf_tail_ps: start values (None: from the measured rise).
    fit_range_ns: (start, stop) in ns after the decay's rise t0 (periodic; the IRF parameters are then
    fixed by a full-period fit first). band_edge_only: the seed's "shortest regime is pure band edge":
    "free" (default: every regime's trap fraction is free; the likelihood-ratio test of the constraint is
    reported as a note), "test" (imposed where that test does not reject it at p < 0.01 -- a pretest:
    when the shortest regime holds a few % trap photons the test often lacks the power to see them and
    the constraint then biases tau_BE by several sigma), "always" (imposed). fast_component: the global
    fit gets a shared fast exponential (lifetime 0.05-20 ns, amplitude per regime, bounded at 0) for the
    OFF-state, grey-state and biexciton photons of ON bins that straddle a blink (default on: unmodelled,
    they pull tau_BE down and the trap fractions up). grey_component (default on): a second one (shared
    lifetime 3-25 ns, amplitude per regime) for the grey-state photons; the fast one then 0.05-3 ns for the
    OFF-state and biexciton photons. rest_histogram (default on): the photons outside the fitted regime
    decays (grey / OFF bins, ON bins outside the regimes, the other halves of cross-selected bins) join the
    global fit as one more histogram with its own amplitudes and background and the shared lifetimes: they
    hold most of a recording's grey / OFF photons and so pin tau_fast and tau_grey, which the regimes' few %
    cannot (free, those lifetimes slid into the band edge's range and biased tau_BE by several sigma in some
    simulator seeds); left out, with a line saying why, where the model does not describe them (adequacy
    z > 3) or that fit fails. biexciton_component (default off): a sub-ns exponential (shared lifetime
    0.05-2 ns) whose photons are one shared ratio of each regime's band-edge + trap photons (biexciton cascade
    photons; the fast component then starts at 2 ns; the previous default, before the grey component and
    the rest histogram: bench/bench_fit_pulls.py's docstring has both pull tables). profile_intervals: the global fit's tau_BE, tau_trap and trap fractions also get
    profile-likelihood 68 % intervals (the rest re-fitted; a few s), the errors tagstream then quotes
    (tagstream.analysis.quoted; without them the covariance 1-sigma)."""

    irf: str = "gaussian"
    irf_path: str | None = None
    irf_sigma_ps: float | None = None
    irf_tail_ps: float | None = None
    fit_range_ns: tuple[float, float] | None = None
    band_edge_only: str = "free"
    fast_component: bool = True
    biexciton_component: bool = False
    grey_component: bool = True
    rest_histogram: bool = True
    profile_intervals: bool = True

    def __post_init__(self) -> None:
        if self.irf not in IRF_KINDS:
            raise AnalysisError(f"unknown IRF {self.irf!r}; use one of {', '.join(IRF_KINDS)}")
        if self.band_edge_only not in BAND_EDGE_ONLY:
            raise AnalysisError(f"band_edge_only {self.band_edge_only!r}: use one of {', '.join(BAND_EDGE_ONLY)}")
        if self.irf == "measured" and not self.irf_path:
            raise AnalysisError("a measured IRF needs a file (--irf FILE)")
        if self.fit_range_ns is not None and not self.fit_range_ns[1] > self.fit_range_ns[0]:
            raise AnalysisError(f"fit range {self.fit_range_ns} ns: stop must exceed start")

    def fit_range_ps(self, res) -> tuple[float, float] | None:
        """The fit range in histogram time (ps), relative to the decay's t0."""
        if self.fit_range_ns is None:
            return None
        t0 = res.decay.t0_ps or 0.0
        return (t0 + 1e3 * self.fit_range_ns[0], t0 + 1e3 * self.fit_range_ns[1])

    def build_irf(self, res, setup=None, config=None) -> IRF:
        """The IRF for the fits of Results res (a measured one is put on res's decay bins)."""
        d = res.decay
        rise = d.rise_10_90_ps if d is not None and d.rise_10_90_ps else None
        bin_ps = float(d.bin_ps or 1.0)
        sigma = self.irf_sigma_ps or max((rise or bin_ps) / 2.56, 0.25 * bin_ps)
        # fitted unless given: even below a bin the width shapes the rising bin (a wrong fixed width
        # biases the lifetimes); below a tenth of a bin it is held at that bound
        resolved = self.irf_sigma_ps is None
        if self.irf == "delta":
            return IRF.delta()
        if self.irf == "gaussian":
            return IRF.gaussian(sigma, fit_sigma=resolved)
        if self.irf == "emg":
            return IRF.emg(sigma, self.irf_tail_ps or sigma, fit_sigma=resolved, fit_tail=resolved)
        return IRF.measured(measured_irf_counts(self.irf_path, res, setup, config))


def measured_irf_counts(path, res, setup=None, config=None) -> np.ndarray:
    """A measured IRF on res's decay bins over one laser period: from a histogram file (t_ps, counts
    columns of a .csv/.txt, or arrays t_ps/counts of an .npz) or from a tag file of scattered laser
    light, analysed with the same setup and decay binning."""
    P, w = res.laser_period_ps, res.decay.bin_ps
    if not P or not w:
        raise AnalysisError("measured IRF: the recording has no laser period / decay histogram")
    n = int(math.ceil(P / w))
    path = Path(path)
    if not path.is_file():
        raise AnalysisError(f"IRF file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix in (".npz", ".csv", ".txt", ".dat"):
        try:
            if suffix == ".npz":
                with np.load(path) as z:
                    t, c = np.asarray(z["t_ps"]), np.asarray(z["counts"])
            else:
                a = np.loadtxt(path, delimiter="," if suffix == ".csv" else None, comments="#", ndmin=2)
                t, c = a[:, 0], a[:, 1]
        except (KeyError, ValueError, OSError) as exc:
            raise AnalysisError(f"IRF file {path}: cannot read t_ps, counts columns ({exc})") from None
        t = np.asarray(t, float)
        if t.size < 2 or not np.allclose(np.diff(t), w) or abs(t[0] % w) > 1e-6:
            raise AnalysisError(f"IRF file {path}: bins must be {w} ps wide from 0 ps like the recording's "
                                "decay histogram (rebin it, or give the IRF tag file instead)")
        out = np.zeros(n)
        idx = np.round(t / w).astype(np.int64) % n
        np.add.at(out, idx, np.asarray(c, float))
        return out
    from tagstream.pipeline import AnalysisConfig, analyze_file
    from tagstream.setup import setup_for_recording

    if setup is None:
        setup, _ = setup_for_recording(path, None)
    base = config or AnalysisConfig()
    cfg = AnalysisConfig(trace_bin_ms=base.trace_bin_ms, laser_period_ps=P, decay_bin_ps=int(w), g2=False,
                         regimes_ns=(), microtime_offset_ps=base.microtime_offset_ps)
    irf_res = analyze_file(path, setup, cfg)
    if irf_res.decay.bin_ps != w:
        raise AnalysisError(f"IRF tag file {path}: decay bins {irf_res.decay.bin_ps} ps differ from {w} ps")
    c = np.asarray(irf_res.decay.counts, float)[:n]
    return np.pad(c, (0, n - c.size))
