"""The command line: ``python -m network <command> ...``.

Each command lives in its own module here with ``add_parser(subparsers)`` and
``run(args) -> int``.  This module only dispatches and turns the library's
errors into one line on stderr with exit status 2 (bad input) or 1 (a file
could not be written); a command-line user never sees a traceback for a fault
they can fix.

Deliberately left out: configuration files, shell completion.
"""

import argparse
import sys

from ..errors import NNDLError
from . import bench, evaluate, grid, play, train, vae

COMMANDS = [train, evaluate, grid, bench, vae, play]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and status 2), not a usage dump."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser():
    parser = _Parser(prog="python -m network",
                     description="Nielsen's networks in NumPy: train, evaluate, benchmark, play.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for module in COMMANDS:
        module.add_parser(subparsers)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except NNDLError as exc:
        print(f"{parser.prog} {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        name = f"{exc.filename}: " if exc.filename else ""
        print(f"{parser.prog} {args.command}: error: {name}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except MemoryError:
        print(f"{parser.prog} {args.command}: error: out of memory; use smaller sizes or less "
              f"data", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog} {args.command}: interrupted", file=sys.stderr)
        return 130
