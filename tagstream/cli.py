"""The `tagstream` command: one subcommand per module in tagstream/commands.

Each command module has ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.
Errors tagstream raises on purpose (TagstreamError) are printed as one clear line, exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from tagstream.errors import TagstreamError

# Listed explicitly so that `--help` has a stable order; a module missing here is not a command.
COMMANDS = ["inspect", "analyze", "simulate", "convert", "export", "live"]


def _load_commands():
    for name in COMMANDS:
        try:
            yield importlib.import_module(f"tagstream.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"tagstream.commands.{name}":
                raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tagstream",
        description="Streaming analysis of single-quantum-dot photon time tags (quTAG, SSTT, ...): "
        "g2 antibunching, blinking traces, FLID, lifetime regimes, spectra.",
        epilog="Run `tagstream COMMAND --help` for each command's options and examples.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _load_commands():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 1
    try:
        return int(args._run(args) or 0)
    except TagstreamError as exc:
        print(f"tagstream {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tagstream {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
