"""The one JSON reader for files that may be hostile, and the one writer of JSON numbers.

``parse`` turns text into Python values and refuses, with the caller's error
class naming the source: text that is not UTF-8; NaN, Infinity and numbers
that overflow a float; integers of more than 4,300 digits (Python's own limit);
structures nested deeper than ``max_depth``; and text whose containers, strings
and numbers would take more than ``AMPLIFICATION`` times its own size once
built (counted on the raw bytes before anything is built, so 150 MB of ``[],``
is refused in a fraction of a second instead of filling 3 GB).  ``load`` does
the same for a file, read through ``limits.read_capped``.

``json_safe`` is the other direction: NumPy numbers become Python ones and a
NaN or infinite float becomes null, which is how every metrics, results and
checkpoint file of the library writes a diverged cost.

Left out on purpose: each format's own fields (its reader checks them), JSON
streaming.
"""

import json
import math

import numpy as np

from ..errors import ModelFileError
from . import limits

MAX_DEPTH = 32
# Upper bounds, in bytes, of what one token costs once parsed (CPython 3.11, 64-bit):
# a list with its slot in the parent, a dict, a string per quote character (two per
# string), an element (a float and its slot) per comma.  A legitimate model file,
# floats written by json.dumps, needs at most ~7x its size; 150 MB of "[]," would need 32x.
_COSTS = {b"[": 72, b"{": 240, b'"': 32, b",": 32}
AMPLIFICATION = 10
SLACK = 1 << 20


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range for a float")
    return value


def _reject_constant(name):
    raise ValueError(f"{name} is not a finite number")


def _depth_exceeds(value, limit):
    """Whether a parsed JSON value is nested deeper than ``limit`` (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if d > limit:
            return True
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return False


def parse_cost(data):
    """An upper bound on the bytes ``json.loads`` would allocate for ``data`` (bytes)."""
    return sum(data.count(token) * cost for token, cost in _COSTS.items())


def _holds_boolean(value):
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, bool):
            return True
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return False


def parse(data, source, what, error=ModelFileError, max_depth=MAX_DEPTH, booleans=True):
    """``data`` (bytes or str) as JSON, every fault an ``error`` naming ``source``.

    ``booleans=False``: refuse true/false anywhere (a model file holds none, and NumPy
    would silently read True among weights as 1.0)."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    cost = parse_cost(raw)
    if cost > AMPLIFICATION * len(raw) + SLACK:
        raise error(f"{source}: {len(raw)} bytes of JSON that would take about "
                    f"{cost // 2**20} MiB to build (deep or wide empty structures); not a {what}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise error(f"{source}: not a text file (invalid UTF-8); a {what} is JSON") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise error(f"{source}: JSON nested far too deeply; not a {what}") from None
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, overflow, huge integers
        raise error(f"{source}: not valid JSON ({str(exc)[:160]}); not a {what}") from None
    if _depth_exceeds(value, max_depth):
        raise error(f"{source}: JSON nested deeper than {max_depth} levels; not a {what}")
    if not booleans and (b"true" in raw or b"false" in raw) and _holds_boolean(value):
        raise error(f"{source}: holds true or false where a {what} has only numbers and names")
    return value


def load(path, what, max_bytes=None, error=ModelFileError, max_depth=MAX_DEPTH, booleans=True):
    """The JSON file at ``path``, read with a cap (default ``limits.MAX_JSON_BYTES``) and
    parsed strictly (see ``parse``)."""
    data = limits.read_capped(path, max_bytes or limits.MAX_JSON_BYTES, what, error)
    return parse(data, path, what, error, max_depth, booleans)


def json_safe(value):
    """``value`` ready for ``json.dumps(allow_nan=False)``: NumPy scalars and arrays become
    Python numbers and lists, NaN and infinities become None, recursively; anything else
    that is not JSON becomes a short string."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)[:200]


def dumps_line(value):
    """One complete line of canonical JSON (sorted keys, nulls for NaN) + newline, as bytes."""
    return (json.dumps(json_safe(value), sort_keys=True, allow_nan=False) + "\n").encode("utf-8")
