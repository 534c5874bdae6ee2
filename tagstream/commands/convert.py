"""Convert a time-tag recording to quTAG BINARY, SSTT V2 or Photon-HDF5, streaming (bounded memory).

Recorded microtimes (PicoQuant T3 dtimes, Photon-HDF5 nanotimes, bh SPC) fit only in Photon-HDF5
(.h5): it keeps them with the laser period. quTAG binary and SSTT V2 hold one time per tag, so such
an input is refused unless --drop-microtimes (the tags' times, which include the microtime, are kept).

The output is written under a temporary name and moved into place when complete, so a failed
conversion never leaves a half-written output. Existing outputs are kept unless --force.

examples:
  tagstream convert QD02_r_1.sstt run.qutag --skip-missing-channels
  tagstream convert run.qutag run.sstt                 # SSTT V2 (from the .sstt extension)
  tagstream convert data.txt data.qutag --to qutag-binary --force
  tagstream convert t3.ptu t3.h5                       # Photon-HDF5 with nanotimes and laser period
  tagstream convert t3.ptu t3.qutag --drop-microtimes  # times only
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from tagstream.errors import TagFileError

NAME = "convert"
HELP = "convert a recording to quTAG binary, SSTT V2 or Photon-HDF5"
TARGETS = ("qutag-binary", "sstt-v2", "photon-hdf5")


def add_arguments(p) -> None:
    from tagstream.commands.argtypes import limited
    from tagstream.io import formats

    p.add_argument("input", help="recording to read (any format tagstream reads)")
    p.add_argument("output", help="file to write (.sstt -> SSTT V2 header + .c<N> files, .h5/.hdf5 -> Photon-HDF5, "
                   "else quTAG binary)")
    p.add_argument("--to", choices=TARGETS, help="output format (default: from the output extension)")
    p.add_argument("--format", choices=formats(), help="input format (default: detect)")
    p.add_argument("--force", action="store_true", help="replace existing output files")
    p.add_argument("--reorder-window-ps", type=limited("reorder_window_ps", integer=True), default=1_000_000, metavar="N",
                   help="reorder window for the input (default 1000000 = 1 us)")
    p.add_argument("--skip-missing-channels", action="store_true",
                   help="SSTT input: convert the channel files present when some are missing")
    p.add_argument("--drop-microtimes", action="store_true",
                   help="allow writing a T3 / nanotime input to a format without microtimes (they are lost)")


def target_format(output: Path, to: str | None) -> str:
    """The output format: --to, else from the extension; an extension of another format is refused
    (a quTAG file named .h5 would mislead every reader)."""
    from tagstream.io.formats import _REGISTRY

    ext = output.suffix.lower()
    own = {name: _REGISTRY[name].extensions for name in ("sstt-v2", "qutag-binary", "photon-hdf5")}
    guess = next((name for name, exts in own.items() if ext in exts), None)
    others = [s.name for s in _REGISTRY.values() if ext in s.extensions and s.name not in own]
    if to is None and guess is None:
        raise TagFileError(f"cannot tell the output format from the extension {ext or '(none)'!r}: name the "
                           f"output .qutag (quTAG binary), .sstt (SSTT V2) or .h5 (Photon-HDF5), or pass --to", output)
    to = to or guess
    if others or (guess is not None and guess != to):
        raise TagFileError(f"the extension {ext!r} is that of {(others or [guess])[0]}, not of {to}: name the "
                           f"output {' or '.join(own[to])}", output)
    return to


def convert(input, output, to=None, format=None, force=False, reorder_window_ps=1_000_000,
            skip_missing_channels=False, drop_microtimes=False) -> dict:
    """Convert; returns {"records": n, "outputs": [paths], "format": to, "microtimes": kept?}."""
    from tagstream.io import open_tags, write_photon_hdf5, write_qutag_binary, write_sstt_v2

    output = Path(output)
    to = target_format(output, to)
    reader = open_tags(input, format=format, reorder_window_ps=reorder_window_ps,
                       skip_missing_channels=skip_missing_channels)
    if reader.has_microtimes and to != "photon-hdf5" and not drop_microtimes:
        raise TagFileError(f"{reader.format} input records microtimes, which {to} cannot hold: convert to "
                           f"Photon-HDF5 (.h5) to keep them, or pass --drop-microtimes", reader.path)
    if output.resolve() == reader.path.resolve():
        raise TagFileError("output is the input file", output)
    if output.exists() and not force:
        raise TagFileError("output exists; pass --force to replace it", output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=".tagstream-convert-", dir=output.parent))
    try:
        tmp = tmpdir / output.name
        if to == "photon-hdf5":
            period = reader.header_setup().get("laser_period_ps") if reader.has_microtimes else None
            write_photon_hdf5(tmp, reader.chunks(), description=f"converted by tagstream from {reader.path.name}",
                              period_ps=period, source_file=str(reader.path))
            n = int(reader.metadata.get("tags_read") or 0) or _count(tmp)
        elif to == "qutag-binary":
            extra = None
            hx = reader.metadata.get("header_hex")
            if reader.format == "qutag-binary" and hx:
                extra = bytes.fromhex(hx)[8:40]
            n = write_qutag_binary(tmp, reader, header_extra=extra)
        else:
            md = reader.metadata
            info = {int(k): v for k, v in md.get("sync_dividers", {}).items()}
            unit_s = md.get("time_unit_s", 1e-12) if reader.format.startswith("sstt") else 1e-12
            n = write_sstt_v2(tmp, reader, time_unit_s=unit_s, channel_info=info,
                              device_type=md.get("device_type") or "tagstream")
        produced = sorted(tmpdir.iterdir())
        targets = [output.parent / p.name for p in produced]
        clash = [t for t in targets if t.exists()]
        if clash and not force:
            raise TagFileError(f"output files exist: {', '.join(t.name for t in clash)}; pass --force", output)
        # channel files first, the header (the file readers open) last
        for p in sorted(produced, key=lambda q: q.name == output.name):
            os.replace(p, output.parent / p.name)
        return {"records": n, "outputs": [str(t) for t in targets], "format": to,
                "microtimes": bool(reader.has_microtimes and to == "photon-hdf5")}
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _count(h5) -> int:
    import h5py

    with h5py.File(h5, "r") as h:
        return int(h["photon_data/timestamps"].shape[0])


def run(args) -> int:
    r = convert(args.input, args.output, to=args.to, format=args.format, force=args.force,
                reorder_window_ps=args.reorder_window_ps, skip_missing_channels=args.skip_missing_channels,
                drop_microtimes=args.drop_microtimes)
    kept = " (with microtimes)" if r["microtimes"] else ""
    print(f"wrote {r['records']:,} tags as {r['format']}{kept}: {', '.join(r['outputs'])}")
    return 0
