"""simulate_to_files: a simulated recording on disk, exactly as the seed lab's instruments would leave it,
plus its ground truth.

For ``out_path = run.qutag`` it writes (all atomically: into a temporary folder next to them, then
moved into place; nothing is replaced unless overwrite=True):

    run.qutag              tags (quTAG BINARY), or run.sstt + run.sstt.c<N> for format="sstt-v2"
    run.qutag.meta.json    recording sidecar (same keys as a live Recorder's), with the setup TOML
    run.setup.toml         the channel map / sync description for `tagstream analyze --setup`
    run.spectra.npz        EMCCD frames (omitted when the spectrometer is off)
    run.truth.parquet      ground-truth segments (Simulation.truth columns)
    run.truth.json         parameters, seed, duration, counts and summary of the truth
    run.dwells.parquet     ground-truth blinking dwells (start, end, state, censored)
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from tagstream.errors import TagstreamError
from tagstream.setup import Setup
from tagstream.simulate.params import SimulationParams
from tagstream.simulate.simulation import Frames, Simulation
from tagstream.simulate.spectra_file import write_spectra_npz
from tagstream.simulate.truth import truth_per_bin

FORMATS = ("qutag-binary", "sstt-v2")


class OutputExistsError(TagstreamError, FileExistsError):
    """An output file exists and overwriting was not allowed."""


@dataclass
class SimulationFiles:
    """What simulate_to_files wrote."""

    tags: Path
    tag_files: list[Path]
    meta: Path
    setup: Path
    truth_parquet: Path
    truth_json: Path
    spectra: Path | None
    n_records: int = 0
    counts: dict = field(default_factory=dict)
    n_frames: int = 0
    dwells_parquet: Path | None = None   # ground-truth blinking dwells (SlowProcesses.dwell_table)

    def all_paths(self) -> list[Path]:
        return [*self.tag_files, self.meta, self.setup, self.truth_parquet, self.truth_json] + (
            [self.spectra] if self.spectra else []) + ([self.dwells_parquet] if self.dwells_parquet else [])


def stem_of(out_path: Path) -> Path:
    """run.qutag -> run, run.sstt -> run (the base for the side files)."""
    return out_path.with_suffix("") if out_path.suffix else out_path


def planned_files(params: SimulationParams, out_path, format: str) -> SimulationFiles:
    """The paths simulate_to_files would write for these arguments."""
    if format not in FORMATS:
        raise TagstreamError(f"unknown output format {format!r}; choose one of {', '.join(FORMATS)}")
    out = Path(out_path)
    stem = stem_of(out)
    if format == "sstt-v2":
        chans = [params.ch_spad_a, params.ch_spad_b, params.ch_sync] + ([params.ch_frame] if params.spectrometer else [])
        tag_files = [out] + [out.with_name(f"{out.name}.c{c}") for c in sorted(chans)]
    else:
        tag_files = [out]
    return SimulationFiles(
        tags=out, tag_files=tag_files, meta=out.with_name(out.name + ".meta.json"),
        setup=stem.with_name(stem.name + ".setup.toml"),
        truth_parquet=stem.with_name(stem.name + ".truth.parquet"),
        truth_json=stem.with_name(stem.name + ".truth.json"),
        spectra=stem.with_name(stem.name + ".spectra.npz") if params.spectrometer else None,
        dwells_parquet=stem.with_name(stem.name + ".dwells.parquet"))


def setup_for(params: SimulationParams) -> Setup:
    """The Setup (channel map, sync divider/filter) that describes a simulated recording."""
    return Setup(sync=params.ch_sync, spad_a=params.ch_spad_a, spad_b=params.ch_spad_b,
                 frame=params.ch_frame if params.spectrometer else None,
                 sync_divider=params.sync_divider, sync_filtered=params.sync_filtered)


def simulate_to_files(params: SimulationParams | None, duration_s: float, out_path, format: str = "qutag-binary",
                      seed: int = 0, overwrite: bool = False, chunk_s: float = 1.0,
                      progress: bool = False) -> SimulationFiles:
    """Simulate `duration_s` seconds and write tags, spectra, setup and ground truth (see module doc).

    Raises OutputExistsError (naming the files) if any output exists and overwrite is False.
    """
    params = params if params is not None else SimulationParams()
    if not duration_s > 0:
        raise TagstreamError(f"duration must be > 0 s, got {duration_s}")
    plan = planned_files(params, out_path, format)
    existing = [p for p in plan.all_paths() if p.exists()]
    if existing and not overwrite:
        raise OutputExistsError(f"output exists: {', '.join(str(p) for p in existing)} (use --force / overwrite=True "
                                "to replace)")
    parent = plan.tags.parent
    if not parent.is_dir():
        raise TagstreamError(f"output folder {parent} does not exist")
    tmpdir = Path(tempfile.mkdtemp(prefix=".tagstream-simulate-", dir=parent))
    try:
        tmp = planned_files(params, tmpdir / plan.tags.name, format)
        _write_all(params, duration_s, seed, format, tmp, chunk_s, progress)
        for src, dst in zip(tmp.all_paths(), plan.all_paths()):
            os.replace(src, dst)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    plan.n_records, plan.counts, plan.n_frames = tmp.n_records, tmp.counts, tmp.n_frames
    return plan


def _write_all(params: SimulationParams, duration_s: float, seed: int, format: str, files: SimulationFiles,
               chunk_s: float, progress: bool) -> None:
    from tagstream.io import QutagBinaryWriter, SsttV2Writer

    sim = Simulation(params, seed=seed)
    setup = setup_for(params)
    if format == "sstt-v2":
        photon_info = {"HasPulsesChannel": 1, "CorrespondingPulsesChannel": params.ch_sync}
        info = {params.ch_sync: {"AdditionalSyncDivider": params.sync_divider, "IsPulsesChannel": 1},
                params.ch_spad_a: photon_info, params.ch_spad_b: photon_info}
        writer = SsttV2Writer(files.tags, channels=sorted(setup.roles.values()), channel_info=info)
    else:
        writer = QutagBinaryWriter(files.tags)
    frames: list[Frames] = []
    counts: dict[int, int] = {}
    n_chunks = int(np.ceil(duration_s / chunk_s))
    it = sim.chunks(chunk_s=chunk_s, duration_s=duration_s)
    if progress:
        from tqdm import tqdm
        it = tqdm(it, total=n_chunks, unit="chunk", desc="simulating")
    with writer:
        for chunk in it:
            writer.write(chunk)
            ch, n = np.unique(chunk.channels, return_counts=True)
            for c, k in zip(ch.tolist(), n.tolist()):
                counts[c] = counts.get(c, 0) + k
            f = sim.pop_frames()
            if len(f):
                frames.append(f)
    n_records = sim.n_records
    fr = Frames.concat(frames, params.n_pixels)
    if files.spectra is not None:
        write_spectra_npz(files.spectra, fr.frames_adu, params.wavelength_coeffs_nm, fr.frame_start_ps,
                          params.exposure_s, params.cycle_time_s, params.baseline_adu, params.em_gain,
                          params.read_noise_adu, params.adu_per_electron)
    end_ps = int(round(duration_s * 1e12))
    truth = sim.truth(end_ps)
    truth.write_parquet(files.truth_parquet)
    sim.slow.dwell_table(end_ps).write_parquet(files.dwells_parquet)
    files.setup.write_text(setup.to_toml())
    per_bin = truth_per_bin(truth, 100_000_000_000, end_ps)
    on_bins = per_bin.filter(pl.col("on_fraction") == 1.0)
    regimes = np.histogram(on_bins["expected_mean_microtime_ns"].to_numpy(), [0, 40, 50, 60, 70, np.inf])[0]
    summary = {
        "tagstream_simulation": 1,
        "seed": int(seed), "duration_s": float(duration_s), "format": format,
        "params": params.to_dict(),
        "derived": {"period_ps": params.period_ps, "sync_period_ps": params.sync_period_ps},
        "setup_toml": setup.to_toml(),
        "n_records": n_records, "counts_per_channel": {str(k): v for k, v in sorted(counts.items())},
        "n_frames": len(fr),
        "truth_summary": {
            "on_fraction": _time_fraction(truth, "on"), "grey_fraction": _time_fraction(truth, "grey"),
            "off_fraction": _time_fraction(truth, "off"),
            "mean_p_trap": float((truth["p_trap"] * (truth["end_ps"] - truth["start_ps"])).sum() / end_ps),
            "n_segments": truth.height,
            "bins_100ms_all_on": on_bins.height,
            "all_on_bins_by_expected_mean_microtime_ns": dict(zip(["<40", "40-50", "50-60", "60-70", ">=70"],
                                                                  regimes.tolist())),
        },
        "files": {"tags": files.tags.name, "truth_parquet": files.truth_parquet.name,
                  "dwells_parquet": files.dwells_parquet.name,
                  "spectra": files.spectra.name if files.spectra else None, "setup": files.setup.name,
                  "meta": files.meta.name},
    }
    files.truth_json.write_text(json.dumps(summary, indent=2) + "\n")
    meta = {"tagstream_recording": 1, "file": files.tags.name, "format": format, "complete": True,
            "n_records": n_records, "source": {"kind": "simulator", "seed": int(seed), "duration_s": float(duration_s)},
            "setup_toml": setup.to_toml(), "simulation_truth": files.truth_json.name}
    files.meta.write_text(json.dumps(meta, indent=2) + "\n")
    files.n_records, files.counts, files.n_frames = n_records, counts, len(fr)


def _time_fraction(truth: pl.DataFrame, state: str) -> float:
    d = truth["end_ps"] - truth["start_ps"]
    return float(d.filter(truth["state"] == state).sum() / d.sum())
