"""Read and write IDX files (the MNIST format), checking every claim before allocating.

An IDX file is a 4-byte magic number -- two zero bytes, an element-type code,
the number of dimensions -- then one big-endian uint32 per dimension, then the
elements in C order, big-endian. MNIST ships them gzipped.

``read_idx`` trusts nothing in the header. In order it checks: the file exists;
the magic number; the element type; the number of dimensions (and, if the
caller says, the expected shape and type); that the declared size is below a
sane ceiling (2 GiB) and that the file could hold it at all (a gzip stream
cannot expand more than ~1032:1); only then does it allocate exactly the
declared bytes and fill them, refusing a stream that is shorter or longer; and
last it checks the MD5/SHA-256 of the *uncompressed* bytes if given. Every
fault is a DataError that names the file, the fault and what to do.

``write_idx`` writes the same format atomically (optionally gzipped) so tests
can make small fake data sets and round-trip them.

Left out on purpose: memory mapping, partial reads (first n images), and
streaming iterators -- MNIST fits in memory; the reader aims at being safe.
"""

import gzip
import hashlib
import zlib
from math import prod
from pathlib import Path

import numpy as np

from network.errors import DataError
from network.storage.atomic import atomic_write_bytes

# Type code -> big-endian dtype, the standard IDX set.
IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF = {dt.newbyteorder("="): code for code, dt in IDX_TYPES.items()}

MAX_BYTES = 2 * 1024**3      # refuse any header that declares more data than this
GZIP_MAX_RATIO = 1032        # deflate's best possible compression ratio
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20             # decompress 1 MiB at a time into the final buffer
_REFETCH = "re-download it or delete it so it is fetched again"


def _describe(shape, itemsize):
    """'60000 images of 28x28 (47040000 bytes)' -- the header's promise in words."""
    nbytes = prod(shape) * itemsize
    if len(shape) == 1:
        what = f"{shape[0]} entries"
    else:
        noun = "images" if len(shape) == 3 else "items"
        what = f"{shape[0]} {noun} of {'x'.join(str(d) for d in shape[1:])}"
    return f"{what} ({nbytes} bytes)"


def _open(path):
    """Open ``path`` for reading, sniffing gzip by its magic bytes (not the suffix)."""
    if not path.exists():
        raise DataError(f"{path}: file not found; check the path, or let the dataset "
                        f"lookup download it (see network.data.datasets)")
    if not path.is_file():
        raise DataError(f"{path}: not a regular file; pass the path of an IDX file")
    try:
        raw = open(path, "rb")
    except OSError as exc:
        raise DataError(f"{path}: cannot open it ({exc.strerror}); check its permissions") from None
    is_gzip = raw.read(2) == _GZIP_MAGIC
    raw.seek(0)
    return (gzip.GzipFile(fileobj=raw, mode="rb") if is_gzip else raw), raw, is_gzip


def _read_exact(f, n, path, what):
    """Read exactly n bytes of header, or raise 'truncated'."""
    data = f.read(n)
    if len(data) != n:
        raise DataError(f"{path}: truncated: the file ends inside its {what} "
                        f"({len(data)} of {n} bytes); {_REFETCH}")
    return data


def _parse_header(f, path, shape, dtype):
    """Read and check the magic number and sizes; return (big-endian dtype, shape, header)."""
    magic = _read_exact(f, 4, path, "4-byte magic number")
    if magic[0] != 0 or magic[1] != 0:
        raise DataError(f"{path}: wrong magic number {magic.hex()}: an IDX file starts with "
                        f"two zero bytes; this is not an IDX file (or is corrupt); {_REFETCH}")
    code, ndim = magic[2], magic[3]
    if code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X} {t.name}" for c, t in IDX_TYPES.items())
        raise DataError(f"{path}: wrong element type 0x{code:02X} in the magic number; "
                        f"IDX knows {known}; the file is corrupt or not IDX; {_REFETCH}")
    big = IDX_TYPES[code]
    if dtype is not None and big.newbyteorder("=") != np.dtype(dtype).newbyteorder("="):
        raise DataError(f"{path}: wrong element type: holds {big.name}, expected "
                        f"{np.dtype(dtype).name}; is this the right file?")
    if ndim == 0:
        raise DataError(f"{path}: wrong dimensions: the header declares 0 dimensions; {_REFETCH}")
    if shape is not None and ndim != len(shape):
        raise DataError(f"{path}: wrong dimensions: the header declares {ndim} dimensions, "
                        f"expected {len(shape)}; is this the right file (images vs labels)?")
    dims_bytes = _read_exact(f, 4 * ndim, path, f"{ndim} dimension sizes")
    dims = tuple(int(d) for d in np.frombuffer(dims_bytes, dtype=">u4"))
    if shape is not None and any(e is not None and e != d for e, d in zip(shape, dims)):
        want = "x".join("N" if e is None else str(e) for e in shape)
        raise DataError(f"{path}: wrong dimensions: the header declares "
                        f"{'x'.join(map(str, dims))}, expected {want}; is this the right file?")
    return big, dims, magic + dims_bytes


def read_idx_header(path, shape=None, dtype=None):
    """Return (dtype, shape) from the header of ``path`` without reading the data."""
    path = Path(path)
    f, raw, _ = _open(path)
    try:
        with raw, f:
            big, dims, _ = _parse_header(f, path, shape, dtype)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: unreadable ({exc}); {_REFETCH}") from None
    return big.newbyteorder("="), dims


def read_idx(path, shape=None, dtype=None, md5=None, sha256=None, max_bytes=MAX_BYTES,
             name=None):
    """Read an IDX file (plain or gzipped) into a native-endian array.

    shape: optional expected shape, ``None`` entries match anything, e.g.
        ``(None, 28, 28)``; a mismatch is refused before any data is read.
    dtype: optional expected element type (e.g. ``np.uint8``).
    md5, sha256: optional hex digests of the *uncompressed* file (header included).
    max_bytes: ceiling on the declared data size; larger headers are refused.
    name: what error messages call the file (default: its path), e.g. the URL
        a temporary download came from.
    """
    path = Path(path)
    f, raw, is_gzip = _open(path)
    on_disk = path.stat().st_size
    label = name or path  # what the messages call the file
    try:
        with raw, f:
            big, dims, header = _parse_header(f, label, shape, dtype)
            declared = prod(dims) * big.itemsize        # Python int: cannot overflow
            promise = _describe(dims, big.itemsize)
            if declared > max_bytes:
                raise DataError(f"{label}: header declares {promise}, more than the "
                                f"{max_bytes}-byte limit; the header is corrupt; {_REFETCH}")
            if not is_gzip and on_disk - len(header) != declared:
                held = on_disk - len(header)
                fault = "truncated" if held < declared else "trailing bytes"
                raise DataError(f"{label}: {fault}: header declares {promise} but the file "
                                f"holds {held} bytes after its {len(header)}-byte header; "
                                f"{_REFETCH}")
            if is_gzip and declared > GZIP_MAX_RATIO * on_disk:
                raise DataError(f"{label}: truncated: header declares {promise} but a "
                                f"{on_disk}-byte gzip file cannot hold that much; {_REFETCH}")
            buf = np.empty(declared, dtype=np.uint8)  # exactly the promise, checked above
            got = _fill(f, memoryview(buf), label, promise)
            if got < declared:
                raise DataError(f"{label}: truncated: header declares {promise} but the file "
                                f"holds {got} bytes after its {len(header)}-byte header; "
                                f"{_REFETCH}")
            if f.read(1):
                raise DataError(f"{label}: trailing bytes: the file holds more than the "
                                f"header's {promise}; {_REFETCH}")
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{label}: unreadable or corrupt compressed data ({exc}); "
                        f"{_REFETCH}") from None
    _check_digests(label, header, buf, md5, sha256)
    arr = buf.view(big).reshape(dims)           # a view: no copy for uint8
    # Multi-byte types are big-endian on disk; one copy makes them native.
    return arr if big.itemsize == 1 else arr.astype(big.newbyteorder("="))


def _fill(f, view, path, promise):
    """Decompress/read into ``view`` chunk by chunk; return the bytes filled."""
    pos, n = 0, len(view)
    while pos < n:
        try:
            k = f.readinto(view[pos:min(pos + _CHUNK, n)])
        except EOFError:
            # gzip stream cut short: report how far it got, in the header's terms.
            raise DataError(f"{path}: truncated: header declares {promise} but the "
                            f"compressed stream ends after {pos} bytes; {_REFETCH}") from None
        if not k:
            break
        pos += k
    return pos


def _check_digests(path, header, data, md5, sha256):
    """Compare digests of header+data (the uncompressed file) with the expected ones."""
    for name, expected in (("md5", md5), ("sha256", sha256)):
        if expected is None:
            continue
        h = hashlib.new(name, header)
        h.update(data)
        actual = h.hexdigest()
        if actual != expected.lower():
            raise DataError(f"{path}: checksum mismatch: {name} of the uncompressed bytes is "
                            f"{actual}, expected {expected}; the file is corrupt or not the "
                            f"original; delete it and download it again")


def idx_bytes(array):
    """The uncompressed IDX encoding of ``array`` (header + big-endian data)."""
    array = np.asarray(array)
    code = _CODE_OF.get(array.dtype.newbyteorder("="))
    if code is None:
        raise DataError(f"write_idx: element type {array.dtype} has no IDX code; use one "
                        f"of uint8, int8, int16, int32, float32, float64")
    if not 1 <= array.ndim <= 255:
        raise DataError(f"write_idx: an IDX array needs 1 to 255 dimensions, not {array.ndim}")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(array, dtype=IDX_TYPES[code]).tobytes()


def write_idx(path, array, compress=None):
    """Write ``array`` as an IDX file, atomically; gzip if ``compress`` (default: name ends .gz).

    The gzip header carries no timestamp, so equal arrays give equal files.
    """
    path = Path(path)
    data = idx_bytes(array)
    if compress is None:
        compress = path.suffix == ".gz"
    if compress:
        data = gzip.compress(data, mtime=0)
    return atomic_write_bytes(path, data)
