"""Simulate a single-QD recording (seed-paper model) with its spectra and ground truth.

A pulsed laser excites one InP-type quantum dot that blinks between ON, grey and OFF and whose
hot-carrier trapping probability P_trap wanders between 0 and 0.65 on a seconds timescale (band-edge
emission 35 ns, trap emission 57 ns). Its light is split between an HBT setup (two SPADs with jitter,
dead time and dark counts) and an EMCCD spectrograph (frames with a trigger tag at each start).
The model and all parameters: `python -c "import tagstream.simulate as s; help(s)"`.

Written next to OUT (e.g. run.qutag):
  run.qutag (or run.sstt + run.sstt.c1 ...)   the time tags: SPAD A = 1, SPAD B = 2, frame trigger = 3,
                                              laser sync = 5 (one tag per --sync-divider pulses)
  run.qutag.meta.json, run.setup.toml         channel map and sync description
  run.spectra.npz                             EMCCD frames (unless --no-spectra)
  run.truth.parquet, run.truth.json           ground truth: blinking state and P_trap per segment,
                                              expected rates; parameters and seed
  run.dwells.parquet                          ground-truth blinking dwells (state, start, end, censored)
Existing files are never replaced without --force. Same seed and options = same files.

examples:
  tagstream simulate --duration-s 30 --seed 1 -o run.qutag
  tagstream simulate --duration-s 10 --seed 2 -o run.sstt                  # SSTT V2
  tagstream simulate --duration-s 5 --sync-divider 1 --sync-filtered -o filtered.qutag
  tagstream simulate --duration-s 60 --no-blinking --ptrap-max 0 -o bandedge.qutag --force
  tagstream simulate --params run.truth.json --duration-s 120 -o longer.qutag   # reuse parameters
  tagstream simulate --duration-s 300 --no-grey --on-alpha 1.5 --off-alpha 1.8 --dwell-max-s 100 -o blink.qutag
then:
  tagstream inspect run.qutag
  tagstream analyze run.qutag --setup run.setup.toml --bin-ms 100 --on-threshold 400
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tagstream.commands.argtypes import limited, number
from tagstream.errors import TagstreamError, read_user_text

NAME = "simulate"
HELP = "simulate a single-QD recording (tags, spectra, ground truth)"


def add_arguments(p) -> None:
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="tag file to write (.sstt -> SSTT V2, otherwise quTAG binary)")
    p.add_argument("--duration-s", type=number(1e-6, 1e6, "s"), default=30.0, metavar="S", help="recording length (default 30)")
    p.add_argument("--seed", type=number(0, 2**63 - 1, integer=True), default=0, help="random seed (default 0)")
    p.add_argument("--format", choices=("qutag-binary", "sstt-v2"),
                   help="tag file format (default: from the extension of OUT)")
    p.add_argument("--rep-rate-hz", type=number(1e3, 1e9, "Hz"), metavar="HZ", help="laser repetition rate (default 1e6)")
    p.add_argument("--sync-divider", type=limited("sync_divider", integer=True), metavar="N",
                   help="store one sync tag every N laser pulses (default 1000, as the seed lab)")
    p.add_argument("--sync-filtered", action="store_true",
                   help="quTAG sync filter: keep only syncs followed by a SPAD event before the next sync")
    p.add_argument("--spectra", action=argparse.BooleanOptionalAction, default=True,
                   help="simulate the EMCCD spectrograph: frame triggers on channel 3 and OUT.spectra.npz "
                        "(default: on)")
    p.add_argument("--delay-ns", type=number(-1e6, 1e6), metavar="NS",
                   help="instrument delay: the decay rises NS after the recorded sync (negative: before it; "
                        "default 12, the photons' cable delay)")
    p.add_argument("--irf-sigma-ps", type=number(0, 1e6), metavar="PS", help="Gaussian timing jitter of the SPADs (default 80)")
    p.add_argument("--mean-excitations", type=number(1e-9, 20), metavar="N", help="<n> excitations per pulse (default 0.1)")
    p.add_argument("--ptrap-max", type=number(0, 1), metavar="P", help="upper end of P_trap levels (default 0.65)")
    p.add_argument("--no-blinking", action="store_true", help="stay in the ON state")
    blink = p.add_argument_group("power-law blinking (dwell pdf ~ t^-alpha exp(-t/cutoff) on [t_min, t_max])")
    for state in ("on", "grey", "off"):
        blink.add_argument(f"--{state}-alpha", type=float, metavar="A", help=f"{state.upper()} dwell exponent")
        blink.add_argument(f"--{state}-cutoff-s", type=float, metavar="S",
                           help=f"{state.upper()} exponential cut-off (default 0 = none)")
    blink.add_argument("--dwell-min-s", type=float, metavar="S", help="t_min of every dwell (default 0.01)")
    blink.add_argument("--dwell-max-s", type=float, metavar="S", help="t_max of every dwell (default 10)")
    blink.add_argument("--no-grey", action="store_true", help="two-state blinking: ON <-> OFF only")
    p.add_argument("--params", metavar="JSON",
                   help="parameters from a JSON file (a dict of SimulationParams fields, or a .truth.json); "
                        "options given on the command line override it")
    p.add_argument("--chunk-s", type=number(1e-6, 1e4, "s"), default=1.0, metavar="S",
                   help="simulated seconds per internal chunk (memory only; output is identical)")
    p.add_argument("--progress", action="store_true", help="show a progress bar")
    p.add_argument("--force", action="store_true", help="replace existing output files")


def params_from_args(args):
    from tagstream.simulate import SimulationParams

    base = {}
    if args.params:
        path = Path(args.params)
        text = read_user_text(path, "parameter file", "a .truth.json or parameter JSON file")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TagstreamError(f"parameter file {path} is not JSON: {exc}") from None
        base = dict(data.get("params", data)) if isinstance(data, dict) else None
        if base is None:
            raise TagstreamError(f"parameter file {path} must hold a JSON object")
    changes = {
        "rep_rate_hz": args.rep_rate_hz, "sync_divider": args.sync_divider,
        "mean_excitations": args.mean_excitations, "ptrap_max": args.ptrap_max,
    }
    for name in ("on_alpha", "grey_alpha", "off_alpha", "on_cutoff_s", "grey_cutoff_s", "off_cutoff_s",
                 "dwell_min_s", "dwell_max_s"):
        changes[name] = getattr(args, name, None)
    if getattr(args, "no_grey", False):
        changes.update(on_to_grey_prob=0.0, off_to_on_prob=1.0)
    base.update({k: v for k, v in changes.items() if v is not None})
    if args.irf_sigma_ps is not None:
        base["irf_sigma_ps"] = args.irf_sigma_ps
    if args.delay_ns is not None:
        base.pop("irf_offset_ns", None)
        base.pop("sync_delay_ns", None)
        return SimulationParams.with_instrument_delay(args.delay_ns, **_with_flags(args, base))
    return SimulationParams.from_dict(_with_flags(args, base))


def _with_flags(args, base):
    from tagstream.simulate import SimulationParams

    if args.sync_filtered:
        base["sync_filtered"] = True
    if not args.spectra:
        base["spectrometer"] = False
    if args.no_blinking:
        base["blinking"] = False
    if "ptrap_max" in base and "ptrap_min" not in base and base["ptrap_max"] < SimulationParams.ptrap_min:
        base["ptrap_min"] = base["ptrap_max"]
    return base


def run(args) -> int:
    from tagstream.simulate.files import simulate_to_files

    out = Path(args.output)
    fmt = args.format or ("sstt-v2" if out.suffix.lower() == ".sstt" else "qutag-binary")
    if args.chunk_s <= 0:
        raise TagstreamError("--chunk-s must be > 0")
    params = params_from_args(args)
    files = simulate_to_files(params, args.duration_s, out, format=fmt, seed=args.seed, overwrite=args.force,
                              chunk_s=args.chunk_s, progress=args.progress)
    counts = ", ".join(f"ch{c}: {n}" for c, n in sorted(files.counts.items()))
    print(f"simulated {args.duration_s:g} s (seed {args.seed}): {files.n_records} tags ({counts})"
          + (f", {files.n_frames} frames" if files.spectra else ""))
    for p in files.all_paths():
        print(f"  wrote {p}")
    return 0
