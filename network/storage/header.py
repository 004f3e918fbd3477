"""The one header frame: the JSON object that says what a file is, checked field by field.

Every file the library writes opens with such an object -- a model file *is*
one (JSON), an ``.npz`` (a VAE or conv model, any checkpoint) keeps it as a
string member -- holding a ``format`` name, a ``version`` and the fields its
reader needs before it builds anything.  ``Header`` gives typed access to those
fields: each ``get``/``number`` checks type and range with the library's one
number rule (network/base/checks.py) and every fault raises ``ModelFileError``
naming the file and the dotted field.  ``check_format`` refuses another format
-- a checkpoint of the other kind is refused with the command that resumes it
(``KINDS``).

Left out on purpose: the fields of each format (its reader asks for them), any
repair of a damaged header.
"""

from ..base.checks import number
from ..errors import ModelFileError, UsageError
from . import strict_json

MAX_HEADER_BYTES = 16 * 1024**2   # the JSON header of a checkpoint (history, config)
# Every kind of checkpoint the library writes: format -> (what it holds, the command resuming it).
KINDS = {"nndl-checkpoint": ("a Network's training", "python -m network train --resume"),
         "nndl-vae-checkpoint": ("a VAE's training", "python -m network vae train --resume")}


_KIND_NAMES = {list: "a list", dict: "an object", str: "a string", int: "a whole number",
               float: "a number", bool: "true or false"}


def _kind(kind):
    return _KIND_NAMES.get(kind, kind.__name__)


class Header:
    """Typed access to a file's header (a dict); every fault names the file and the field."""

    def __init__(self, data, path):
        self.data, self.path = data, path

    def fail(self, message):
        raise ModelFileError(f"{self.path}: {message}; the file is corrupt or not written by "
                             f"this library")

    def get(self, obj, key, kind, where=""):
        """``obj[key]``, which must be of ``kind`` (a type or a tuple; bool only if named)."""
        if not isinstance(obj, dict) or key not in obj:
            self.fail(f"missing field {where}{key!r}")
        value = obj[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if (type(value) is bool and bool not in kinds) or not isinstance(value, kinds):
            self.fail(f"field {where}{key!r} should be {_kind(kinds[0])}, got "
                      f"{_kind(type(value))}")
        return value

    def number(self, obj, key, where="", low=None, high=None, integer=False):
        """``obj[key]`` as a float (an int if ``integer``) within [low, high]."""
        value = self.get(obj, key, int if integer else (int, float), where)
        try:
            return number(f"field {where}{key!r}", value, low=low, high=high, whole=integer)
        except UsageError as exc:
            self.fail(str(exc))

    def name(self, obj, key, allowed, where=""):
        """``obj[key]``, a string that must be one of ``allowed``."""
        value = self.get(obj, key, str, where)
        if value not in allowed:
            self.fail(f"unknown {where}{key} {value[:60]!r}; expected one of "
                      f"{', '.join(sorted(str(a) for a in allowed))}")
        return value

    def keys(self, obj, expected, where="", optional=()):
        """Refuse fields of ``obj`` other than ``expected`` (all present) and ``optional``."""
        where = where or "the header"
        missing = sorted(set(expected) - set(obj))
        if missing:
            self.fail(f"missing field {', '.join(map(repr, missing[:5]))} in {where}")
        extra = sorted(str(k) for k in set(obj) - set(expected) - set(optional))
        if extra:
            self.fail(f"unknown field {', '.join(repr(k[:40]) for k in extra[:5])} in {where}")


def from_member(reader, member, what):
    """The header kept as the JSON string member ``member`` of an open NpzReader."""
    text = reader.read(member, "unicode", (), max_bytes=4 * MAX_HEADER_BYTES)
    data = strict_json.parse(str(text[()]), reader.path, what)
    return Header(data, reader.path)


def check_format(h, fmt, versions=(1,)):
    """Refuse a header that is not an object of format ``fmt`` in one of ``versions``;
    return the version."""
    data = h.data
    if not isinstance(data, dict):
        h.fail(f"the header should be a JSON object, got {type(data).__name__}")
    found = data.get("format")
    if found != fmt and isinstance(found, str) and found in KINDS and fmt in KINDS:
        raise ModelFileError(f"{h.path}: this checkpoint holds {KINDS[found][0]}, not "
                             f"{KINDS[fmt][0]}; resume it with: {KINDS[found][1]} {h.path}")
    if found != fmt:
        h.fail(f"format is {str(found)[:40]!r}, expected {fmt!r}")
    version = data.get("version")
    if type(version) is not int or version not in versions:
        h.fail(f"unsupported version {str(version)[:20]} (this code reads "
               f"{', '.join(map(str, versions))})")
    return version
