"""Reading files that may be damaged or hostile: the checks that come before any parsing.

The readers of the library's own formats (model JSON, checkpoints, the VAE's and
the convolutional network's files) share these, so each refuses the same faults
with the same kind of message, a ModelFileError naming the file: missing or
unreadable, larger than anything the library writes, JSON with NaN or Infinity,
nested absurdly deep, or holding numbers too long to parse.

Deliberately left out: each format's own checks (fields, shapes, names), which
stay with its reader; IDX data files, whose reader (network/data/idx.py) checks
headers its own way.
"""

import json
from pathlib import Path

from ..errors import ModelFileError


def checked_size(path, max_bytes, what):
    """The size of the file at ``path`` in bytes; refuse a missing or unreadable file, or
    one larger than ``max_bytes``, before a single byte is read."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such {what}; check the path") from None
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read the {what} ({exc.strerror})") from None
    if size > max_bytes:
        raise ModelFileError(f"{path}: {size} bytes is larger than any {what} this library "
                             f"writes ({max_bytes} bytes at most); refusing to read it")
    return size


def reject_constant(name):
    """json.loads' parse_constant hook: NaN, Infinity and -Infinity are refused."""
    raise ValueError(f"{name} is not a finite number")


def strict_json(text, path, what):
    """Parse ``text`` as JSON without NaN/Infinity; every fault is a ModelFileError.

    Python's own limits do the rest: nesting deep enough to exhaust the recursion
    limit raises RecursionError, an integer of more than 4,300 digits ValueError.
    """
    try:
        return json.loads(text, parse_constant=reject_constant)
    except RecursionError:
        raise ModelFileError(f"{path}: JSON nested far too deeply; not a {what}") from None
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, integers with huge digit counts
        raise ModelFileError(f"{path}: not valid {what} JSON ({exc})") from None
