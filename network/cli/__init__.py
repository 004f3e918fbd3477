"""The command line: ``python -m network <command> ...``.

Each command lives in its own module here with ``add_parser(subparsers)`` and
``run(args) -> int``.  This module only dispatches and turns the library's
errors into one line on stderr with exit status 2 (bad input) or 1 (a file
could not be written); a command-line user never sees a traceback for a fault
they can fix.

Deliberately left out: configuration files, shell completion.
"""

import sys

from ..errors import NNDLError
from . import bench, evaluate, grid, play, train, vae
from .options import Parser

COMMANDS = [train, evaluate, grid, bench, vae, play]


def build_parser():
    parser = Parser(prog="python -m network",
                     description="Nielsen's networks in NumPy: train, evaluate, benchmark, play.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
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
        print(f"{_command(parser, args)}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        name = f"{exc.filename}: " if exc.filename else ""
        print(f"{_command(parser, args)}: error: {name}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except MemoryError:
        print(f"{_command(parser, args)}: error: out of memory; use smaller sizes or less "
              f"data", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{_command(parser, args)}: interrupted", file=sys.stderr)
        return 130


def _command(parser, args):
    """The command as typed, sub-command included: "python -m network vae train"."""
    sub = [getattr(args, key) for key in ("vae_command", "play_command") if getattr(args, key, None)]
    return " ".join([parser.prog, args.command, *sub])
