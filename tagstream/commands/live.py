"""Live display at the microscope: the desktop app (PyQt6 + pyqtgraph).

Starts on the simulated quantum dot unless told otherwise; choose a quTAG or a recording in the
Source box. Settings (source, channel map, bin width, regimes, recording file, window layout) are
remembered between sessions.

examples:
  tagstream live                              # simulated QD, real time
  tagstream live --speed 10                   # simulated, 10x real time
  tagstream live --replay run1.qutag          # replay a recording through the same pipeline
  tagstream live --no-start                   # open the window, choose the source, press Start
"""

from __future__ import annotations

from pathlib import Path

from tagstream.errors import SetupError

NAME = "live"
HELP = "live display (simulated QD, quTAG, or replay of a recording) with recording and export"


def add_arguments(p) -> None:
    from tagstream.commands.argtypes import number

    p.add_argument("--replay", metavar="FILE", help="replay this recording (any format `inspect` reads)")
    p.add_argument("--speed", type=number(1e-3, 1e6), help="simulated/replayed seconds per wall second (default: as last time)")
    p.add_argument("--no-start", action="store_true", help="open the window without starting")
    p.add_argument("--settings", metavar="INI", help="settings file (default: the user's Qt settings)")
    p.add_argument("--theme", choices=("dark", "light"), default="dark")


def run(args) -> int:
    if args.replay and not Path(args.replay).is_file():
        raise SetupError(f"--replay: {args.replay} does not exist")
    if args.speed is not None and not args.speed > 0:
        raise SetupError("--speed must be > 0")
    from tagstream.app.main import run as run_app

    return run_app(replay=args.replay, speed=args.speed, start=not args.no_start, settings_path=args.settings,
                   theme=args.theme)
