"""The `tagstream` command: one subcommand per module in tagstream/commands.

Each command module has ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.
Errors tagstream raises on purpose (TagstreamError) are printed as one clear line, exit status 2;
so are OS errors (naming the path) and running out of memory. A closed stdout (`inspect ... | head`)
ends quietly. main() never shows a traceback for bad input.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
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


def os_error_message(exc: OSError) -> str:
    """One line for an OS error: what failed, on which path, and what to do."""
    where = " -> ".join(str(x) for x in (exc.filename, exc.filename2) if x is not None) or "(no path)"
    reason = exc.strerror or str(exc) or type(exc).__name__
    hint = {errno.EACCES: "check its permissions", errno.EPERM: "check its permissions",
            errno.EROFS: "write to another folder (this one is read-only)",
            errno.ENOSPC: "free disk space or write elsewhere", errno.EISDIR: "give a file, not a folder",
            errno.ENOTDIR: "a part of the path is a file, not a folder", errno.ENOENT: "check the path",
            errno.EEXIST: "remove it or pass --force", errno.ENAMETOOLONG: "use a shorter path"}
    return f"{where}: {reason}; {hint.get(exc.errno, 'check the path and try again')}"


def _quiet_broken_pipe() -> int:
    """stdout was closed by the reader (`| head`): stop quietly, as Unix tools do."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 141


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:   # a bad option: argparse printed usage and one line; --help exits 0
        if exc.code in (0, None):
            raise
        return int(exc.code) if isinstance(exc.code, int) else 2
    if not getattr(args, "_run", None):
        parser.print_help()
        return 1
    name = f"tagstream {args.command}"
    try:
        status = int(args._run(args) or 0)
        sys.stdout.flush()
        return status
    except TagstreamError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except OSError as exc:
        print(f"{name}: error: {os_error_message(exc)}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"{name}: error: out of memory; use larger bins / smaller windows (e.g. --bin-ms, "
              f"--g2-window-ps) or a machine with more memory", file=sys.stderr)
        return 2
    except RecursionError:
        print(f"{name}: error: input nested too deeply to read", file=sys.stderr)
        return 2
    except Exception as exc:   # a bug: still one line (TAGSTREAM_DEBUG=1 shows the traceback)
        if os.environ.get("TAGSTREAM_DEBUG"):
            raise
        print(f"{name}: internal error: {type(exc).__name__}: {exc} (a bug: please report it with the "
              f"command line; TAGSTREAM_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
