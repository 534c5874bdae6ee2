"""Setup: which channel is what (laser sync, SPAD A/B, camera frame trigger, markers) and how the
sync was recorded (divider, sync filter), plus per-channel delays. Read from a small TOML file
and/or CLI flags.

Example ``setup.toml``::

    [channels]
    sync = 5          # laser sync channel (1-based, as stored in files); "none": no sync
                      # channel (CW/HBT recording, or PicoQuant T3 whose sync is implicit)
    spad_a = 1
    spad_b = 2        # "none" for a single-detector recording (no g2)
    frame = 3         # camera frame trigger (optional)
    markers = []      # marker channels (optional)

    [sync]
    divider = 1       # the sync tag is recorded every `divider` laser pulses
    filtered = false  # quTAG sync filter: only syncs next to a photon are stored

    [delays_ps]       # optional fixed delay added to each channel's timestamps
    1 = 0
    2 = 0
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from tagstream.errors import SetupError, read_user_text
from tagstream.validate import check_limit

ROLES = ("sync", "spad_a", "spad_b", "frame")


@dataclass(frozen=True)
class Setup:
    """Channel map and sync description of one experiment. Channels are 1-based file channels."""

    sync: int | None = 5
    spad_a: int = 1
    spad_b: int | None = 2
    frame: int | None = None
    markers: tuple[int, ...] = ()
    sync_divider: int = 1
    sync_filtered: bool = False
    delays_ps: Mapping[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_limit("sync divider", self.sync_divider, "sync_divider", integer=True,
                    hint="the number of laser pulses per stored sync tag (--sync-divider, [sync] divider)")
        object.__setattr__(self, "sync_divider", int(self.sync_divider))
        if not isinstance(self.sync_filtered, bool):
            raise SetupError(f"sync filtered must be true or false, got {self.sync_filtered!r}")
        named = [(r, getattr(self, r)) for r in ROLES if getattr(self, r) is not None]
        named += [("marker", m) for m in self.markers]
        seen: dict[int, str] = {}
        for role, ch in named:
            if isinstance(ch, bool) or not isinstance(ch, int) or not 0 <= ch <= 65535:
                raise SetupError(f"channel for {role} must be an integer between 0 and 65535, got {ch!r}")
            if ch in seen:
                raise SetupError(f"channel {ch} is given twice: as {seen[ch]} and as {role}")
            seen[ch] = role
        for ch, d in dict(self.delays_ps).items():
            check_limit(f"delay of channel {ch}", d, "delay_ps", integer=True)

    @property
    def roles(self) -> dict[str, int]:
        """Named channels: role -> channel (markers as marker1, marker2, ...)."""
        out = {r: getattr(self, r) for r in ROLES if getattr(self, r) is not None}
        out.update({f"marker{i + 1}": m for i, m in enumerate(self.markers)})
        return out

    def check_channels(self, present: Iterable[int], source: str = "the recording") -> None:
        """Raise SetupError if a channel named here never occurs in `present` (lists what is there)."""
        present = sorted(set(int(c) for c in present))
        missing = [f"{role}={ch}" for role, ch in self.roles.items() if ch not in present]
        if missing:
            raise SetupError(
                f"setup names channel(s) {', '.join(missing)} but {source} has only channel(s) "
                f"{present or 'none'}; fix the setup (--setup FILE or --sync/--spad-a/--spad-b/--frame)"
            )

    def replace(self, **changes) -> "Setup":
        """A copy with the given fields changed (None values are ignored: 'not given on the CLI')."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_toml(cls, path: str | Path) -> "Setup":
        return cls.from_dict(_read_toml(path), source=str(path))

    @classmethod
    def from_dict(cls, data: Mapping, source: str = "setup") -> "Setup":
        parts = setup_parts(data, source)
        try:
            return cls(**parts)
        except SetupError as exc:
            raise SetupError(f"{source}: {exc}") from None

    def to_toml(self) -> str:
        """The TOML text that from_toml reads back to an equal Setup (absent channels as "none")."""
        lines = ["[channels]"]
        for role in ROLES:
            v = getattr(self, role)
            if v is not None:
                lines.append(f"{role} = {v}")
            elif role != "frame":
                lines.append(f'{role} = "none"')
        lines.append(f"markers = [{', '.join(str(m) for m in self.markers)}]")
        lines += ["", "[sync]", f"divider = {self.sync_divider}", f"filtered = {str(self.sync_filtered).lower()}"]
        if self.delays_ps:
            lines += ["", "[delays_ps]"] + [f"{k} = {v}" for k, v in sorted(self.delays_ps.items())]
        return "\n".join(lines) + "\n"


def parse_channel(value, role: str = "channel", source: str = "setup") -> int | None:
    """A channel number, or None for "none" (no such channel): CLI `--sync none`, TOML `sync = "none"`."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "off", "no", "")):
        return None
    if isinstance(value, bool) or isinstance(value, float):
        raise SetupError(f"{source}: {role} must be a channel number or \"none\", got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SetupError(f"{source}: {role} must be a channel number or \"none\", got {value!r}") from None


def setup_parts(data: Mapping, source: str = "setup") -> dict:
    """The Setup fields a TOML document sets explicitly (so that a file overrides only what it says),
    each checked for its type (the ranges are checked by Setup itself)."""
    for name in ("channels", "sync", "delays_ps"):
        if name in data and not isinstance(data[name], Mapping):
            raise SetupError(f"{source}: [{name}] must be a table, got {data[name]!r}")
    unknown = set(data) - {"channels", "sync", "delays_ps", "fit"}   # [fit]: tagstream.commands.fit_options
    if unknown:
        raise SetupError(f"{source}: unknown section(s) {sorted(unknown)}; expected channels, sync, delays_ps, fit")
    ch = dict(data.get("channels", {}))
    sync = dict(data.get("sync", {}))
    bad = (set(ch) - {*ROLES, "markers"}) | {f"sync.{k}" for k in set(sync) - {"divider", "filtered"}}
    if bad:
        raise SetupError(f"{source}: unknown key(s) {sorted(bad)}")

    def integer(where, v):
        if isinstance(v, bool) or not isinstance(v, int):
            raise SetupError(f"{source}: {where} must be an integer, got {v!r}")
        return v

    delays = {}
    for k, v in dict(data.get("delays_ps", {})).items():
        try:
            key = int(k)
        except ValueError:
            raise SetupError(f"{source}: [delays_ps] key {k!r} is not a channel number") from None
        delays[key] = integer(f"[delays_ps] {k}", v)
    kwargs = {k: parse_channel(ch[k], f"channels.{k}", source) for k in ROLES if k in ch}
    if "spad_a" in kwargs and kwargs["spad_a"] is None:
        raise SetupError(f"{source}: spad_a cannot be \"none\"")
    if "markers" in ch:
        if not isinstance(ch["markers"], list):
            raise SetupError(f"{source}: channels.markers must be a list of integers, got {ch['markers']!r}")
        kwargs["markers"] = tuple(integer("channels.markers", m) for m in ch["markers"])
    if "divider" in sync:
        kwargs["sync_divider"] = integer("sync.divider", sync["divider"])
    if "filtered" in sync:
        if not isinstance(sync["filtered"], bool):
            raise SetupError(f"{source}: sync.filtered must be true or false, got {sync['filtered']!r}")
        kwargs["sync_filtered"] = sync["filtered"]
    if "delays_ps" in data:
        kwargs["delays_ps"] = delays
    return kwargs


def sidecar_parts(recording: str | Path) -> tuple[dict, Path] | None:
    """The setup fields saved next to a recording, with the file they came from, or None.

    Looked for in this order: ``<stem>.setup.toml`` (written by `tagstream simulate` and by hand),
    then the ``setup_toml`` key of ``<recording>.meta.json`` (written by the live recorder). A sync
    divider cannot be seen in the tags themselves, so this is how a recording carries it.
    """
    p = Path(recording)
    toml = p.with_name(p.name.split(".")[0] + ".setup.toml")
    if toml.is_file():
        return _toml_parts(toml), toml
    meta = p.with_name(p.name + ".meta.json")
    if meta.is_file():
        import json

        fix = "fix or remove it, or give the setup explicitly (--setup FILE / --sync-divider)"
        try:
            data = json.loads(meta.read_text())
        except OSError as exc:
            raise SetupError(f"recording sidecar {meta} cannot be read ({exc.strerror or exc}); {fix}") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise SetupError(f"recording sidecar {meta} is not valid JSON ({exc}); {fix}") from None
        if not isinstance(data, dict):
            raise SetupError(f"recording sidecar {meta} must hold a JSON object; {fix}")
        text = data.get("setup_toml")
        if text is not None and not isinstance(text, str):
            raise SetupError(f"recording sidecar {meta}: setup_toml must be a string; {fix}")
        if text:
            try:
                return setup_parts(tomllib.loads(text), source=str(meta)), meta
            except tomllib.TOMLDecodeError as exc:
                raise SetupError(f"{meta}: setup_toml is not valid TOML: {exc}; {fix}") from None
    return None


def _read_toml(path: str | Path) -> dict:
    """A setup TOML file's document; every way it can fail is one SetupError naming the file."""
    text = read_user_text(path, "setup file", "the setup TOML file", SetupError)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SetupError(f"setup file {path} is not valid TOML: {exc}") from None


def _toml_parts(path: str | Path) -> dict:
    return setup_parts(_read_toml(path), source=str(path))


def sidecar_setup(recording: str | Path) -> tuple[Setup, Path] | None:
    """The sidecar setup of a recording (see sidecar_parts) as a Setup, or None."""
    found = sidecar_parts(recording)
    if found is None:
        return None
    try:
        return Setup(**found[0]), found[1]
    except SetupError as exc:
        raise SetupError(f"{found[1]}: {exc}") from None


def setup_for_recording(recording: str | Path, setup_file: str | Path | None = None) -> tuple[Setup, str]:
    """The setup to analyse `recording` with, and where it came from (for messages).

    An explicit setup file wins; otherwise the recording's sidecar (see sidecar_setup); otherwise the
    defaults (SPAD A = 1, SPAD B = 2, sync = 5, no divider). (resolve_setup also reads the file header.)
    """
    if setup_file is not None:
        return Setup.from_toml(setup_file), str(setup_file)
    found = sidecar_setup(recording)
    if found is not None:
        return found[0], str(found[1])
    return Setup(), "defaults"


# --- the setup of a recording, part by part ---------------------------------------------------------
PARTS = ("sync", "spad_a", "spad_b", "frame", "markers", "sync_divider", "sync_filtered", "delays_ps",
         "laser_period_ps")


@dataclass(frozen=True)
class ResolvedSetup:
    """The setup a recording is analysed with, the nominal laser period (ps, None = measured from
    the sync or unknown), where each part came from ("CLI", a setup file, "file header", "first tags",
    "defaults"),
    and the header's notes (e.g. "T3: the sync is implicit")."""

    setup: Setup
    laser_period_ps: float | None
    origins: Mapping[str, str]
    notes: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line: each part with its value and origin, grouped by origin."""
        s = self.setup
        val = {"sync": "none" if s.sync is None else s.sync, "spad_a": s.spad_a,
               "spad_b": "none" if s.spad_b is None else s.spad_b, "frame": s.frame,
               "sync_divider": s.sync_divider, "sync_filtered": s.sync_filtered,
               "laser_period_ps": None if self.laser_period_ps is None else f"{self.laser_period_ps:.3f}"}
        by: dict[str, list[str]] = {}
        for k, v in val.items():
            if k == "frame" and v is None:
                continue
            if k == "laser_period_ps" and v is None:
                v = "from the sync" if s.sync is not None else "none"
            by.setdefault(self.origins.get(k, "defaults"), []).append(f"{k}={v}")
        return "; ".join(f"{', '.join(v)} ({o})" for o, v in by.items())

    def to_json_dict(self) -> dict:
        s = self.setup
        return {"sync": s.sync, "spad_a": s.spad_a, "spad_b": s.spad_b, "frame": s.frame,
                "markers": list(s.markers), "sync_divider": s.sync_divider, "sync_filtered": s.sync_filtered,
                "delays_ps": {str(k): v for k, v in dict(s.delays_ps).items()},
                "laser_period_ps": self.laser_period_ps, "origins": dict(self.origins), "notes": list(self.notes)}


def resolve_setup(recording: str | Path | None = None, header: Mapping | None = None,
                  setup_file: str | Path | None = None, cli: Mapping | None = None) -> ResolvedSetup:
    """Merge the layers, part by part: CLI > setup file (--setup, else the recording's sidecar) >
    the file header's proposal (reader.header_setup()) > defaults.

    header/cli: dicts of PARTS (cli: only what was given; a channel given as None means "none").
    Notes under header["notes"] are kept; parts listed in header["probed"] are labelled "first tags"
    (read from the recording's first tags, io/propose.py) instead of "file header".
    """
    layers: list[tuple[str, Mapping]] = [("defaults", {**{f.name: getattr(Setup(), f.name)
                                                          for f in dataclasses.fields(Setup)},
                                                       "laser_period_ps": None})]
    header = dict(header or {})
    notes = tuple(header.pop("notes", ()))
    probed = set(header.pop("probed", ()))
    layers.append(("file header", {k: v for k, v in header.items() if k not in probed}))
    layers.append(("first tags", {k: v for k, v in header.items() if k in probed}))
    if setup_file is not None:
        layers.append((str(setup_file), _toml_parts(setup_file)))
    elif recording is not None:
        found = sidecar_parts(recording)
        if found is not None:
            layers.append((str(found[1]), found[0]))
    layers.append(("CLI", dict(cli or {})))
    merged: dict = {}
    origins: dict = {}
    for origin, parts in layers:
        for k, v in parts.items():
            if k not in PARTS:
                raise SetupError(f"{origin}: unknown setup part {k!r}")
            merged[k] = v
            origins[k] = origin
    period = merged.pop("laser_period_ps")
    if merged.get("spad_a") is None:
        raise SetupError(f"SPAD A cannot be none ({origins.get('spad_a')})")
    try:
        setup = Setup(**merged)
    except SetupError as exc:   # name where the offending parts came from
        given = sorted({o for k, o in origins.items() if o != "defaults"})
        raise SetupError(f"{exc} (setup from {', '.join(given) or 'the defaults'})") from None
    return ResolvedSetup(setup, None if period is None else float(period), origins, notes)
