"""Instrument response (IRF) choices for decay fits: none (delta), Gaussian, EMG, or a measured histogram."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class IRF:
    """How the decay is smeared by the instrument. Build with the classmethods.

    kind:      "delta" (no smearing), "gaussian", "emg" (exponentially modified Gaussian), "measured".
    shift_ps:  initial value of the fit parameter ``irf_shift_ps`` (None = estimate from the data).
               For delta/gaussian/emg it is the time of the excitation pulse in the histogram (the
               Gaussian mean); for a measured IRF it is the delay of the data relative to that IRF.
    sigma_ps:  Gaussian standard deviation (gaussian, emg); tail_ps: EMG exponential tail.
    counts:    measured IRF histogram on the same bins as the data (measured only);
               background_per_bin is subtracted from it first.
    fit_*:     which IRF parameters the fit varies (the others stay fixed at their given values).
    """

    kind: str = "delta"
    shift_ps: float | None = None
    sigma_ps: float = 0.0
    tail_ps: float = 0.0
    counts: np.ndarray | None = None
    background_per_bin: float = 0.0
    fit_shift: bool = True
    fit_sigma: bool = False
    fit_tail: bool = False

    @classmethod
    def delta(cls, shift_ps: float | None = None, fit_shift: bool = True) -> "IRF":
        """No IRF smearing; the decay starts at shift_ps (fitted unless fit_shift=False)."""
        return cls("delta", shift_ps, fit_shift=fit_shift)

    @classmethod
    def gaussian(cls, sigma_ps: float, shift_ps: float | None = None, fit_shift: bool = True,
                 fit_sigma: bool = False) -> "IRF":
        """Gaussian IRF of width sigma_ps centred at shift_ps."""
        return cls("gaussian", shift_ps, sigma_ps=float(sigma_ps), fit_shift=fit_shift, fit_sigma=fit_sigma)

    @classmethod
    def emg(cls, sigma_ps: float, tail_ps: float, shift_ps: float | None = None, fit_shift: bool = True,
            fit_sigma: bool = False, fit_tail: bool = False) -> "IRF":
        """Exponentially modified Gaussian IRF (SPAD diffusion tail): Gaussian(shift, sigma) * exp(tail)."""
        return cls("emg", shift_ps, sigma_ps=float(sigma_ps), tail_ps=float(tail_ps), fit_shift=fit_shift,
                   fit_sigma=fit_sigma, fit_tail=fit_tail)

    @classmethod
    def measured(cls, counts: np.ndarray, shift_ps: float | None = None, fit_shift: bool = True,
                 background_per_bin: float = 0.0) -> "IRF":
        """A measured IRF histogram (same t_ps bins as the data), shifted by the fitted irf_shift_ps."""
        return cls("measured", shift_ps, counts=np.asarray(counts, dtype=np.float64),
                   background_per_bin=float(background_per_bin), fit_shift=fit_shift)

    def param_names(self) -> tuple[str, ...]:
        """The IRF's parameter names in a fit (fitted or fixed)."""
        names = ["irf_shift_ps"]
        if self.kind in ("gaussian", "emg"):
            names.append("irf_sigma_ps")
        if self.kind == "emg":
            names.append("irf_tail_ps")
        return tuple(names)

    def fitted(self) -> dict[str, bool]:
        """Which of param_names() the fit varies."""
        return {"irf_shift_ps": self.fit_shift, "irf_sigma_ps": self.fit_sigma, "irf_tail_ps": self.fit_tail}
