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
        if self.sync_divider < 1:
            raise SetupError(f"sync divider must be >= 1, got {self.sync_divider}")
        named = [(r, getattr(self, r)) for r in ROLES if getattr(self, r) is not None]
        named += [("marker", m) for m in self.markers]
        seen: dict[int, str] = {}
        for role, ch in named:
            if not isinstance(ch, int) or ch < 0:
                raise SetupError(f"channel for {role} must be a non-negative integer, got {ch!r}")
            if ch in seen:
                raise SetupError(f"channel {ch} is given twice: as {seen[ch]} and as {role}")
            seen[ch] = role

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
        except tomllib.TOMLDecodeError as exc:
            raise SetupError(f"setup file {path} is not valid TOML: {exc}") from None
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: Mapping, source: str = "setup") -> "Setup":
        unknown = set(data) - {"channels", "sync", "delays_ps"}
        if unknown:
            raise SetupError(f"{source}: unknown section(s) {sorted(unknown)}; expected channels, sync, delays_ps")
        ch = dict(data.get("channels", {}))
        sync = dict(data.get("sync", {}))
        bad = (set(ch) - {*ROLES, "markers"}) | {f"sync.{k}" for k in set(sync) - {"divider", "filtered"}}
        if bad:
            raise SetupError(f"{source}: unknown key(s) {sorted(bad)}")
        try:
            delays = {int(k): int(v) for k, v in dict(data.get("delays_ps", {})).items()}
        except (TypeError, ValueError):
            raise SetupError(f"{source}: [delays_ps] must map channel numbers to integer picoseconds") from None
        kwargs = {k: ch[k] for k in ROLES if k in ch}
        if "markers" in ch:
            kwargs["markers"] = tuple(ch["markers"])
        if "divider" in sync:
            kwargs["sync_divider"] = int(sync["divider"])
        if "filtered" in sync:
            kwargs["sync_filtered"] = bool(sync["filtered"])
        return cls(**kwargs, delays_ps=delays)

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

        try:
            text = json.loads(meta.read_text()).get("setup_toml")
        except (OSError, ValueError):
            return None
        if text:
            try:
                return Setup.from_dict(tomllib.loads(text), source=str(meta)), meta
            except tomllib.TOMLDecodeError as exc:
                raise SetupError(f"{meta}: setup_toml is not valid TOML: {exc}") from None
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
