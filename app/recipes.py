"""Recipes (tagstream.app.engine.Recipe) of the window's sources: made in the process that runs the live
engine (a child process, tagstream.app.live_process), so they are picklable descriptions, not objects.
Each is function(engine, **kwargs) -> (source, spectra or None) for sources, -> spectra for spectra."""

from __future__ import annotations

from tagstream.app.engine import Recipe


def simulated_camera(engine, *, seed: int, speed: float | None, duration_s: float | None = None,
                     chunk_s: float | None = None):
    """The simulated QD with its EMCCD camera (spectra accumulated on the acquisition thread)."""
    from tagstream.app.camera import SimulatedCameraSource
    from tagstream.app.spectra_model import SpectraAccumulator

    kw = {} if chunk_s is None else {"chunk_s": chunk_s}
    src = SimulatedCameraSource(seed=seed, speed=speed, duration_s=duration_s, **kw)
    acc = None
    if src.has_camera:
        p = src.params
        acc = SpectraAccumulator(src.wavelength_nm, p.exposure_s, baseline_adu=p.baseline_adu)
        src.on_frames = acc.add
    return src, acc


def replay(engine, *, path: str, speed: float | None):
    from tagstream.sources import ReplaySource

    return ReplaySource(path, speed=speed), None


def qutag(engine, *, channels: tuple, sync_divider: int):
    from tagstream.sources import QutagSource

    return QutagSource(channels=tuple(channels), sync_divider=sync_divider), None


def watched_sif(engine, *, folder: str):
    """A folder Andor Solis saves SIF files to, its frames placed at the engine's newest frame triggers."""
    from tagstream.app.sif_source import WatchedSifSpectra

    def triggers():
        b = engine.latest()
        fr = None if b is None else b.results.frames
        return None if fr is None else fr.frame_start_ps

    return WatchedSifSpectra(folder, triggers, on_error=engine._report)


def recipe(name: str, **kwargs) -> Recipe:
    return Recipe(f"{__name__}:{name}", kwargs)
