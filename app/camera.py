"""The simulated source with its EMCCD camera: frames handed over on the acquisition thread.

SimulatedSource.pop_frames() must be called from the thread that advances the simulator; this
subclass does so right after each advance and passes the finished frames to `on_frames`
(e.g. SpectraAccumulator.add), so the GUI never touches the simulator.
"""

from __future__ import annotations

import numpy as np

from tagstream.sources.simulated import SimulatedSource


class SimulatedCameraSource(SimulatedSource):
    """SimulatedSource + on_frames(frame_start_ps int64[n], frames_adu float32[n, n_pixels])."""

    def __init__(self, *args, on_frames=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.on_frames = on_frames

    @property
    def has_camera(self) -> bool:
        return bool(self.params.spectrometer)

    @property
    def wavelength_nm(self) -> np.ndarray:
        p = self.params
        return np.polynomial.polynomial.polyval(np.arange(p.n_pixels, dtype=np.float64), p.wavelength_coeffs_nm)

    def _read(self, timeout_s: float):
        chunk = super()._read(timeout_s)
        if self.has_camera:
            fr = self.sim.pop_frames()
            if len(fr.frame_start_ps) and self.on_frames is not None:
                self.on_frames(fr.frame_start_ps, fr.frames_adu)
        return chunk
