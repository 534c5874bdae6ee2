"""Simulated single-QD photon stream: the ground truth every test and benchmark of tagstream uses.

The model follows the single-QD experiment of the seed paper (InP/ZnSe/ZnS QDs, Fig. 4 and Methods).

Excitation
    A pulsed laser (``rep_rate_hz``, default 1 MHz; period rounded to whole ps) creates N ~ Poisson(<n>)
    excitations per pulse (``mean_excitations`` = 0.1). N >= 2 is treated as a biexciton (higher
    multiexcitons Auger-relax to it): it emits a photon with yield ``qy_xx`` after Exp(``tau_xx_ns``),
    then leaves one exciton. So g2(0) (centre / side peak area) ~ qy_xx / qy_be at low <n>; exactly
    2 P(N>=2) qy_xx y_X / (P(N>=1) y_X + P(N>=2) qy_xx)^2.
Hot-carrier trapping
    Each exciton is trapped with probability P_trap(t) and then emits trap light (``tau_trap_ns`` = 57,
    Gaussian spectrum centred ``trap_center_ev`` = 2.037 eV, FWHM ``trap_fwhm_ev`` = 75 meV, so that a
    35 % trap mixture has a ~60 meV FWHM as in the seed's Fig. 4g) with yield ``qy_trap``; otherwise
    band-edge light (``tau_be_ns`` = 35, 2.064 eV, FWHM 51 meV) with yield ``qy_be``. P_trap(t) is
    piecewise constant: levels uniform in [``ptrap_min``, ``ptrap_max``] = [0, 0.65], held for
    Exp(``ptrap_dwell_s`` = 1.5 s), independent of blinking.
Blinking
    States ON / grey / OFF; dwell times from a truncated power law t^-alpha on [``dwell_min_s``,
    ``dwell_max_s``] (alpha per state), next state from the ``*_prob`` transition parameters; the
    recording starts ON. Grey and OFF add a non-radiative rate k = 1/tau_state - 1/tau_be
    (``grey_tau_be_ns`` = 10, ``off_tau_be_ns`` = 1.2) to both band-edge and trap decay, so they are
    both dimmer (yield x tau_state/tau) and faster. With the defaults the two SPADs together see
    ~790 counts / 100 ms ON (band edge), ~230 grey, ~30 OFF (dark counts included).
Detection
    ``collection_efficiency`` then a split: ``hbt_fraction`` (0.5) to the HBT, the rest to the
    spectrograph. HBT: 50/50 onto SPAD A/B, ``spad_efficiency``, arrival = pulse + ``irf_offset_ns``
    (12 ns: cables/electronics) + emission delay + Gaussian jitter (``irf_sigma_ps``, clipped at
    +-irf_offset), uniform dark counts (``dark_count_rate_hz`` per SPAD), non-paralyzable dead time
    (``dead_time_ns``), optional afterpulses (``afterpulse_prob``, delay dead time + Exp(tau)).
    Spectrograph: ``spectrometer_efficiency``, photon energy from the Gaussian of its kind (the XX
    photon uses the band-edge spectrum), wavelength -> pixel through the calibration polynomial
    ``wavelength_coeffs_nm``; counted if inside a frame's exposure. EMCCD readout per frame:
    gamma(n, ``em_gain``) multiplication, x ``adu_per_electron``, + N(0, ``read_noise_adu``) + baseline.
Tags
    SPAD A/B (channels 1, 2), a frame-trigger tag at every frame start (channel 3, frames start at
    t = 0, every ``cycle_time_s``), laser sync (channel 5) at the pulse times of every
    ``sync_divider``-th pulse (pulse 0 at t = 0); with ``sync_filtered`` only the syncs followed by a
    SPAD event before the next sync are stored.
Average lifetime convention
    ``expected_mean_microtime_ns`` in the truth is the mean delay of the detected events after their
    laser pulse, *including* the 12 ns instrument offset and dark counts (as a seed-style average
    lifetime computed from microtimes without subtracting t0): 47.5 ns for P_trap = 0 (band edge),
    58.9 ns for 0.52, 61.7 ns for 0.65, so ON bins populate all three seed regimes 40-50 / 50-60 /
    60-70 ns. ``mean_delay_ns`` is the physical mean emission delay (35 ns ... 49 ns): with t0
    subtracted, the seed's regimes cannot all be populated by tau_be = 35 ns, tau_trap = 57 ns and
    P_trap <= 0.65 (pure band edge would be 35 ns, below 40).

Randomness: one seed; every random process has its own stream (xoshiro256** in numba kernels, numpy
Generators for the slow processes and the camera) consumed in the time order of its own events, so
the stream is identical for any chunking. Entry points:

    Simulation(params, seed).chunks(chunk_s=1.0, duration_s=30)  -> TagChunk iterator
    simulate_to_files(params, duration_s, out_path, format="qutag-binary", seed=0)
    truth_per_bin(truth, bin_ps)                                   -> per-bin ground truth
"""

from tagstream.lazy import lazy_getattr

from tagstream.simulate.params import SimulationParams, SimulationParamsError, STATE_NAMES

QDParams = SimulationParams  # alias named in the foundation issue

# The simulation and truth tables (numba, polars) load on first use: reading a spectra sidecar
# (tagstream.simulate.spectra_file) must not import them.
_LAZY = {"Frames": "simulation", "Simulation": "simulation", "emccd_readout": "simulation",
         "pixel_wavelengths_nm": "simulation", "segment_expectations": "truth", "truth_per_bin": "truth",
         "truth_table": "truth", "SpectraFile": "spectra_file", "read_spectra_npz": "spectra_file",
         "write_spectra_npz": "spectra_file", "OutputExistsError": "files", "SimulationFiles": "files",
         "setup_for": "files", "simulate_to_files": "files"}

__getattr__ = lazy_getattr("tagstream.simulate", _LAZY)


__all__ = [
    "SimulationParams", "QDParams", "SimulationParamsError", "STATE_NAMES", "Simulation", "Frames",
    "emccd_readout", "pixel_wavelengths_nm", "segment_expectations", "truth_per_bin", "truth_table",
    "SpectraFile", "read_spectra_npz", "write_spectra_npz", "OutputExistsError", "SimulationFiles", "setup_for",
    "simulate_to_files",
]
