"""Setup: which channel is what (laser sync, SPAD A/B, camera frame trigger, markers) and how the
sync was recorded (divider, sync filter), plus per-channel delays. Read from a small TOML file
and/or CLI flags.

Example ``setup.toml``::

    [channels]
    sync = 5          # laser sync channel (1-based, as stored in files)
    spad_a = 1
    spad_b = 2
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

from tagstream.errors import SetupError
from tagstream.validate import check_limit

ROLES = ("sync", "spad_a", "spad_b", "frame")


@dataclass(frozen=True)
class Setup:
    """Channel map and sync description of one experiment. Channels are 1-based file channels."""

    sync: int | None = 5
    spad_a: int = 1
    spad_b: int = 2
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
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise SetupError(f"setup file {path} does not exist") from None
        except IsADirectoryError:
            raise SetupError(f"setup file {path} is a folder; give the setup TOML file inside it") from None
        except OSError as exc:
            raise SetupError(f"setup file {path} cannot be read: {exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise SetupError(f"setup file {path} is not text (byte {exc.start}); give a TOML file") from None
        except tomllib.TOMLDecodeError as exc:
            raise SetupError(f"setup file {path} is not valid TOML: {exc}") from None
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: Mapping, source: str = "setup") -> "Setup":
        for name in ("channels", "sync", "delays_ps"):
            if name in data and not isinstance(data[name], Mapping):
                raise SetupError(f"{source}: [{name}] must be a table, got {data[name]!r}")
        unknown = set(data) - {"channels", "sync", "delays_ps"}
        if unknown:
            raise SetupError(f"{source}: unknown section(s) {sorted(unknown)}; expected channels, sync, delays_ps")
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
        kwargs = {k: integer(f"channels.{k}", ch[k]) for k in ROLES if k in ch}
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
        try:
            return cls(**kwargs, delays_ps=delays)
        except SetupError as exc:
            raise SetupError(f"{source}: {exc}") from None

    def to_toml(self) -> str:
        """The TOML text that from_toml reads back to an equal Setup."""
        lines = ["[channels]"]
        for role in ROLES:
            if getattr(self, role) is not None:
                lines.append(f"{role} = {getattr(self, role)}")
        lines.append(f"markers = [{', '.join(str(m) for m in self.markers)}]")
        lines += ["", "[sync]", f"divider = {self.sync_divider}", f"filtered = {str(self.sync_filtered).lower()}"]
        if self.delays_ps:
            lines += ["", "[delays_ps]"] + [f"{k} = {v}" for k, v in sorted(self.delays_ps.items())]
        return "\n".join(lines) + "\n"


def sidecar_setup(recording: str | Path) -> tuple[Setup, Path] | None:
    """The setup saved next to a recording, with the file it came from, or None.

    Looked for in this order: ``<stem>.setup.toml`` (written by `tagstream simulate` and by hand),
    then the ``setup_toml`` key of ``<recording>.meta.json`` (written by the live recorder). A sync
    divider cannot be seen in the tags themselves, so this is how a recording carries it.
    """
    p = Path(recording)
    toml = p.with_name(p.name.split(".")[0] + ".setup.toml")
    if toml.is_file():
        return Setup.from_toml(toml), toml
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
                return Setup.from_dict(tomllib.loads(text), source=str(meta)), meta
            except tomllib.TOMLDecodeError as exc:
                raise SetupError(f"{meta}: setup_toml is not valid TOML: {exc}; {fix}") from None
    return None


def setup_for_recording(recording: str | Path, setup_file: str | Path | None = None) -> tuple[Setup, str]:
    """The setup to analyse `recording` with, and where it came from (for messages).

    An explicit setup file wins; otherwise the recording's sidecar (see sidecar_setup); otherwise the
    defaults (SPAD A = 1, SPAD B = 2, sync = 5, no divider).
    """
    if setup_file is not None:
        return Setup.from_toml(setup_file), str(setup_file)
    found = sidecar_setup(recording)
    if found is not None:
        return found[0], str(found[1])
    return Setup(), "defaults"
