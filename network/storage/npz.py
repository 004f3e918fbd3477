"""Read and write ``.npz`` archives of plain arrays, trusting nothing a file declares.

``np.load`` trusts a member's ``.npy`` header: a few hundred hostile bytes that
declare a shape of (10**9,) make it allocate gigabytes before it notices the
data is missing.  ``NpzReader.read`` instead asks the caller for the shape and
dtype it expects, compares them with the header, and only then reads exactly
that many bytes (one more to prove there is nothing after them).  Every member
must be stored uncompressed, as ``np.savez`` writes it, so no member can expand
beyond the file's own size (no zip bombs), and reading to the end of a member
makes ``zipfile`` check its CRC-32, so a flipped data byte is caught too.

Every fault raises ``ModelFileError`` naming the file.  Never pickle: only
plain numeric and string dtypes are accepted.

Left out on purpose: compressed archives, Fortran-ordered arrays, memory
mapping, .npy format version 3 (np.savez never writes them for plain arrays).
"""

import io
import math
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..errors import ModelFileError
from .atomic import atomic_write_bytes
from .limits import CHUNK, MAX_NPZ_BYTES, regular_file

MAX_MEMBERS = 1000
_HEADER_LIMIT = 10_000     # bytes of .npy header dict, numpy's own default ceiling
# What a hostile archive can make zipfile or numpy's header parser raise; each becomes
# a ModelFileError naming the file.
_PARSE_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, TypeError, KeyError,
                 IndexError, OverflowError, SyntaxError, NotImplementedError, RuntimeError,
                 EOFError, OSError, zlib.error, struct.error, UnicodeError, MemoryError)


def write_npz(path, arrays):
    """Write ``{name: array}`` as an uncompressed .npz, atomically; return the Path."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue())


class NpzReader:
    """An open .npz whose members are read only at the shape and dtype the caller expects.

    Use as a context manager.  ``names`` is the set of member names (without
    ``.npy``).  ``max_bytes`` caps the file size; anything but a regular file (a
    pipe, a device) is refused before it is opened, since a zip archive is read
    from its end.
    """

    def __init__(self, path, what="file", max_bytes=MAX_NPZ_BYTES, error=ModelFileError,
                 hint="the file is corrupt or not written by this library"):
        self.path = Path(path)
        self.error, self.hint = error, hint
        self.size = regular_file(self.path, max_bytes, what, error)
        try:
            self._zip = zipfile.ZipFile(self.path)
            infos = self._zip.infolist()
        except _PARSE_ERRORS as exc:
            raise error(f"{self.path}: not a valid {what} (not a readable .npz/zip "
                        f"archive: {exc})") from None
        try:
            if len(infos) > MAX_MEMBERS:
                self._fail(f"{len(infos)} members, more than any {what} holds")
            self._infos = {}
            for info in infos:
                if not info.filename.endswith(".npy"):
                    self._fail(f"member {info.filename[:60]!r} is not a .npy array")
                name = info.filename[:-4]
                if name in self._infos:
                    self._fail(f"member {name[:60]!r} appears twice")
                if info.compress_type != zipfile.ZIP_STORED:
                    self._fail(f"member {name[:60]!r} is compressed (np.savez_compressed); "
                               f"only uncompressed archives (np.savez) are read, so that no "
                               f"member can expand beyond the file's size")
                self._infos[name] = info
        except self.error:
            self._zip.close()
            raise

    @property
    def names(self):
        return set(self._infos)

    def _fail(self, message):
        raise self.error(f"{self.path}: {message}; {self.hint}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._zip.close()

    def read(self, name, dtypes, shape, max_bytes=None):
        """The member ``name`` as a new native-endian array.

        ``dtypes``: accepted dtypes (byte order ignored) or the string "unicode" for
        a string array; ``shape``: the exact expected shape, or None for any shape
        whose bytes the member really holds; ``max_bytes``: for string members, the
        ceiling on the declared size.
        """
        info = self._infos.get(name)
        if info is None:
            self._fail(f"missing array {name!r}")
        try:
            with self._zip.open(info) as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    got_shape, fortran, dtype = np.lib.format.read_array_header_1_0(
                        f, max_header_size=_HEADER_LIMIT)
                elif version == (2, 0):
                    got_shape, fortran, dtype = np.lib.format.read_array_header_2_0(
                        f, max_header_size=_HEADER_LIMIT)
                else:
                    self._fail(f"array {name!r} has .npy format version {version}")
                self._check_header(name, dtypes, shape, got_shape, fortran, dtype, max_bytes)
                nbytes = dtype.itemsize * math.prod(got_shape)
                if nbytes > info.file_size:
                    self._fail(f"array {name!r} declares {nbytes} bytes but its member holds "
                               f"{info.file_size}")
                buffer = bytearray(nbytes)      # exactly what the checked header promises
                got = _fill(f, memoryview(buffer))
                extra = f.read(1)  # to the end: zipfile then checks the CRC-32
        except self.error:
            raise
        except _PARSE_ERRORS as exc:
            self._fail(f"array {name!r} is unreadable ({type(exc).__name__}: {str(exc)[:120]})")
        if got != nbytes or extra:
            fault = "truncated" if got < nbytes else "has trailing bytes"
            self._fail(f"array {name!r} {fault}")
        arr = np.frombuffer(buffer, dtype=dtype).reshape(got_shape)   # writable: a bytearray
        return arr if dtype.isnative else arr.astype(dtype.newbyteorder("="))

    def _check_header(self, name, dtypes, shape, got_shape, fortran, dtype, max_bytes):
        if fortran:
            self._fail(f"array {name!r} is Fortran-ordered")
        if dtypes == "unicode":
            if dtype.kind != "U" or (max_bytes is not None and dtype.itemsize > max_bytes):
                self._fail(f"array {name!r} should be a string of at most {max_bytes} bytes, "
                           f"got dtype {str(dtype)[:40]}")
        elif dtype.newbyteorder("=") not in [np.dtype(d) for d in dtypes]:
            want = " or ".join(np.dtype(d).name for d in dtypes)
            self._fail(f"array {name!r} has dtype {str(dtype)[:40]}, expected {want}")
        if shape is not None and tuple(got_shape) != tuple(shape):
            self._fail(f"array {name!r} has shape {str(got_shape)[:60]}, expected {shape}")


def _fill(f, view):
    """Read into ``view`` a chunk at a time (interruptible); return the bytes read."""
    pos = 0
    while pos < len(view):
        n = f.readinto(view[pos:pos + CHUNK])
        if not n:
            break
        pos += n
    return pos
