"""SimulationParams: every knob of the single-QD simulator, with the seed paper's values as defaults.

Units are in the names. The model these numbers drive is described in ``tagstream.simulate``'s
module docstring. ``SimulationParams().replace(tau_be_ns=30.0)`` gives a modified copy;
``to_dict()`` / ``from_dict()`` round-trip through JSON.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from tagstream.errors import TagstreamError

HC_EV_NM = 1239.841984  # photon energy (eV) x wavelength (nm)

STATE_NAMES = ("on", "grey", "off")  # state codes 0, 1, 2 in kernels and truth tables


class SimulationParamsError(TagstreamError):
    """A simulator parameter is out of range (says which one and what is allowed)."""


@dataclass(frozen=True)
class SimulationParams:
    """Parameters of the simulated single-QD experiment (defaults: the seed paper's setup)."""

    # --- laser and sync recording
    rep_rate_hz: float = 1e6            # laser repetition rate; the period is rounded to whole ps
    sync_divider: int = 1000            # one sync tag every `sync_divider` pulses (seed lab: 1000)
    sync_filtered: bool = False         # quTAG sync filter: keep a sync only if a SPAD event follows it
    #                                     before the next (divided) sync
    mean_excitations: float = 0.1       # <n>: Poisson mean of excitations per pulse

    # --- emitter (ON state values)
    tau_be_ns: float = 35.0             # band-edge exciton lifetime
    tau_trap_ns: float = 57.0           # trap-emission lifetime (after hot-carrier trapping)
    tau_xx_ns: float = 0.6              # biexciton lifetime (Auger-limited)
    qy_be: float = 0.95                 # photon yield of band-edge emission (ON state)
    qy_trap: float = 0.95               # photon yield of trap emission (seed: QY independent of lifetime)
    qy_xx: float = 0.07                 # biexciton photon yield -> g2(0) ~ qy_xx / qy_be

    # --- hot-carrier trapping probability P_trap(t): piecewise constant
    ptrap_min: float = 0.0
    ptrap_max: float = 0.65
    ptrap_dwell_s: float = 1.5          # mean (exponential) time between P_trap level changes

    # --- blinking: ON / grey / OFF with truncated power-law dwell times
    blinking: bool = True               # False: always ON
    grey_tau_be_ns: float = 10.0        # band-edge lifetime in the grey state (extra non-radiative rate)
    off_tau_be_ns: float = 1.2          # band-edge lifetime in the OFF state
    on_alpha: float = 1.5               # dwell-time pdf ~ t^-alpha on [dwell_min_s, dwell_max_s]
    grey_alpha: float = 1.8
    off_alpha: float = 1.7
    dwell_min_s: float = 0.01
    dwell_max_s: float = 10.0
    on_to_grey_prob: float = 0.35       # leaving ON: to grey with this probability, else to OFF
    grey_to_on_prob: float = 0.6        # leaving grey: to ON, else to OFF
    off_to_on_prob: float = 0.75        # leaving OFF: to ON, else to grey

    # --- emission spectra (Gaussian in photon energy)
    be_center_ev: float = 2.064
    be_fwhm_ev: float = 0.051
    trap_center_ev: float = 2.037
    trap_fwhm_ev: float = 0.075

    # --- detection optics
    collection_efficiency: float = 0.35  # emitted photon reaches the 50/50 spectrograph/HBT split
    hbt_fraction: float = 0.5           # fraction of collected light sent to the HBT (rest: spectrograph)
    spad_efficiency: float = 0.5        # SPAD detection efficiency (both SPADs)
    irf_sigma_ps: float = 80.0          # Gaussian timing jitter (clipped at +-irf_offset_ns)
    irf_offset_ns: float = 12.0         # photon arrival delay after its laser pulse (cables, electronics)
    sync_delay_ns: float = 0.0          # the recorded sync tag lags its laser pulse by this much: the decay
    #                                     rises irf_offset_ns - sync_delay_ns after the sync (< 0: before it)
    dead_time_ns: float = 30.0          # non-paralyzable dead time of each SPAD
    dark_count_rate_hz: float = 5.0     # per SPAD: dark counts + stray light (seed: < 5 Hz), uniform in time
    afterpulse_prob: float = 0.0        # probability that a registered detection causes an afterpulse
    afterpulse_tau_ns: float = 100.0    # afterpulse delay after the dead time: exponential mean

    # --- EMCCD spectrometer
    spectrometer: bool = True           # False: no camera, no frame triggers, no spectra
    spectrometer_efficiency: float = 0.3  # grating x optics x camera QE
    exposure_s: float = 0.1
    cycle_time_s: float = 0.1           # frame start to frame start (>= exposure_s)
    n_pixels: int = 1024
    wavelength_coeffs_nm: tuple[float, ...] = (415.0, 0.36, 1.0e-5)  # lambda_nm(p) = sum c_i p^i
    em_gain: float = 200.0
    adu_per_electron: float = 0.05      # ADU per electron after EM multiplication
    read_noise_adu: float = 3.0
    baseline_adu: float = 500.0

    # --- channel map (1-based file channels)
    ch_spad_a: int = 1
    ch_spad_b: int = 2
    ch_frame: int = 3
    ch_sync: int = 5

    def __post_init__(self) -> None:
        object.__setattr__(self, "wavelength_coeffs_nm", tuple(float(c) for c in self.wavelength_coeffs_nm))
        self.validate()

    # ------------------------------------------------------------------ derived quantities
    @property
    def period_ps(self) -> int:
        """Laser period in whole picoseconds."""
        return int(round(1e12 / self.rep_rate_hz))

    @property
    def sync_period_ps(self) -> int:
        """Time between recorded sync tags (period x divider)."""
        return self.period_ps * self.sync_divider

    @property
    def sync_delay_ps(self) -> int:
        return int(round(self.sync_delay_ns * 1000))

    @property
    def instrument_delay_ns(self) -> float:
        """Where the decay rises relative to the recorded sync (negative: before it)."""
        return self.irf_offset_ns - self.sync_delay_ns

    @classmethod
    def with_instrument_delay(cls, delay_ns: float, **changes) -> "SimulationParams":
        """Params whose decay rises delay_ns after the recorded sync (negative: before it): photons keep
        their physical offset after the pulse, the sync tag is recorded late instead."""
        sigma = changes.get("irf_sigma_ps", cls.irf_sigma_ps)
        offset = max(float(delay_ns), 5e-3 * sigma, changes.get("irf_offset_ns", 0.0))
        return cls.from_dict({**changes, "irf_offset_ns": offset, "sync_delay_ns": offset - float(delay_ns)})

    @property
    def cycle_ps(self) -> int:
        return int(round(self.cycle_time_s * 1e12))

    @property
    def exposure_ps(self) -> int:
        return int(round(self.exposure_s * 1e12))

    def replace(self, **changes) -> "SimulationParams":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["wavelength_coeffs_nm"] = list(self.wavelength_coeffs_nm)
        if d["sync_delay_ns"] == 0.0:  # the default: files of earlier versions stay byte-identical
            del d["sync_delay_ns"]
        return d

    @classmethod
    def from_dict(cls, data: dict) -> "SimulationParams":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise SimulationParamsError(f"unknown simulation parameter(s): {sorted(unknown)}")
        for f in dataclasses.fields(cls):   # JSON gives any type: check against the default's
            if f.name not in data or f.default is dataclasses.MISSING:
                continue
            v, d = data[f.name], f.default
            if isinstance(d, bool):
                ok = isinstance(v, bool)
            elif isinstance(d, (int, float)):
                ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                ok = ok and (not isinstance(d, int) or float(v).is_integer())
                if ok and isinstance(d, int):
                    data = {**data, f.name: int(v)}
            else:
                ok = True
            if not ok:
                raise SimulationParamsError(f"simulation parameter {f.name} must be a finite "
                                            f"{type(d).__name__}, got {v!r}")
        return cls(**data)

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        def need(cond: bool, what: str) -> None:
            if not cond:
                raise SimulationParamsError(f"simulation parameter {what}")

        need(self.rep_rate_hz > 0 and self.period_ps >= 1000, f"rep_rate_hz={self.rep_rate_hz} must give a period >= 1 ns")
        need(isinstance(self.sync_divider, int) and self.sync_divider >= 1, f"sync_divider={self.sync_divider} must be an integer >= 1")
        need(0 < self.mean_excitations <= 20, f"mean_excitations={self.mean_excitations} must be in (0, 20]")
        for name in ("tau_be_ns", "tau_trap_ns", "tau_xx_ns", "grey_tau_be_ns", "off_tau_be_ns",
                     "ptrap_dwell_s", "dwell_min_s", "be_fwhm_ev", "trap_fwhm_ev", "be_center_ev",
                     "trap_center_ev", "exposure_s", "em_gain", "adu_per_electron", "afterpulse_tau_ns"):
            need(getattr(self, name) > 0, f"{name}={getattr(self, name)} must be > 0")
        need(self.grey_tau_be_ns <= self.tau_be_ns and self.off_tau_be_ns <= self.tau_be_ns,
             "grey_tau_be_ns and off_tau_be_ns must be <= tau_be_ns (they add a non-radiative rate)")
        for name in ("qy_be", "qy_trap", "qy_xx", "ptrap_min", "ptrap_max", "on_to_grey_prob",
                     "grey_to_on_prob", "off_to_on_prob", "collection_efficiency", "hbt_fraction",
                     "spad_efficiency", "spectrometer_efficiency", "afterpulse_prob"):
            v = getattr(self, name)
            need(0.0 <= v <= 1.0, f"{name}={v} must be in [0, 1]")
        need(self.ptrap_min <= self.ptrap_max, "ptrap_min must be <= ptrap_max")
        need(0 < self.dwell_min_s < self.dwell_max_s, "needs 0 < dwell_min_s < dwell_max_s")
        for name in ("on_alpha", "grey_alpha", "off_alpha"):
            need(getattr(self, name) > 1.0, f"{name}={getattr(self, name)} must be > 1")
        need(self.irf_sigma_ps >= 0 and self.dead_time_ns >= 0 and self.dark_count_rate_hz >= 0
             and self.read_noise_adu >= 0, "irf_sigma_ps, dead_time_ns, dark_count_rate_hz, read_noise_adu must be >= 0")
        need(self.irf_offset_ns * 1000 >= 5 * self.irf_sigma_ps,
             "irf_offset_ns must be at least 5 irf_sigma_ps (photons never arrive before their pulse)")
        need(math.isfinite(self.sync_delay_ns) and 0 <= self.sync_delay_ns * 1000 < self.sync_period_ps,
             f"sync_delay_ns={self.sync_delay_ns} must be in [0, sync period)")
        need(self.cycle_time_s >= self.exposure_s, "cycle_time_s must be >= exposure_s")
        need(self.n_pixels >= 2, "n_pixels must be >= 2")
        lam = [sum(c * p ** i for i, c in enumerate(self.wavelength_coeffs_nm)) for p in (-0.5, self.n_pixels - 0.5)]
        deriv_ok = all(
            sum(i * c * p ** (i - 1) for i, c in enumerate(self.wavelength_coeffs_nm) if i > 0) > 0
            for p in (-0.5, (self.n_pixels - 1) / 2, self.n_pixels - 0.5)
        )
        need(len(self.wavelength_coeffs_nm) >= 2 and deriv_ok and lam[0] > 0,
             "wavelength_coeffs_nm must give positive wavelengths increasing with pixel")
        chans = [self.ch_spad_a, self.ch_spad_b, self.ch_sync] + ([self.ch_frame] if self.spectrometer else [])
        need(len(set(chans)) == len(chans) and all(0 <= c < 100 for c in chans),
             f"channels {chans} must be distinct numbers in 0..99")
        need(math.isfinite(self.rep_rate_hz), "rep_rate_hz must be finite")
