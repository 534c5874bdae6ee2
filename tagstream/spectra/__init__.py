"""tagstream.spectra: EMCCD spectra (Andor SIF, simulator files), alignment to the photon stream,
spectra per lifetime regime, peak energy/FWHM, trap-emission spectrum.

    from tagstream.spectra import read_spectra, to_energy, subtract_baseline, align_frames, overlap_weights
"""

from tagstream.spectra.energy import HC_EV_NM, energy_bin_widths_ev, subtract_baseline, to_energy
from tagstream.spectra.peaks import PeakFit, fit_peak, halfmax_peak, peak_trace
from tagstream.spectra.regimes import (
    Correlation,
    RegimeSpectrum,
    compare_spectra,
    lifetime_per_frame,
    regime_spectrum,
    spectrum_lifetime_correlation,
    trap_spectrum,
    weighted_mean_spectrum,
)
from tagstream.spectra.series import SpectralSeries, read_sif, read_spectra, read_spectra_npz
from tagstream.spectra.timing import (
    FrameTiming,
    FrameTimingWarning,
    align_frames,
    intervals_from_bins,
    merge_intervals,
    overlap_ps,
    overlap_weights,
)

__all__ = ["HC_EV_NM", "Correlation", "FrameTiming", "FrameTimingWarning", "PeakFit", "RegimeSpectrum",
           "SpectralSeries", "align_frames", "compare_spectra", "energy_bin_widths_ev", "fit_peak",
           "halfmax_peak", "intervals_from_bins", "lifetime_per_frame", "merge_intervals", "overlap_ps",
           "overlap_weights", "peak_trace", "read_sif", "read_spectra", "read_spectra_npz", "regime_spectrum",
           "spectrum_lifetime_correlation", "subtract_baseline", "to_energy", "trap_spectrum",
           "weighted_mean_spectrum"]
