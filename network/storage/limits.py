"""How much an untrusted file may hold, and reading one without ever going past that.

The limits are the library's, the same for every format: no model has more than
``MAX_PARAMETERS`` parameters (the book's largest network, [784, 100, 10], has
79,510; the 784-400-20 VAE 652,824); a JSON file is at most ``MAX_JSON_BYTES``;
an ``.npz`` archive at most what the parameters, an optimiser's two copies of
them and a header can fill (``MAX_NPZ_BYTES``).

``read_capped`` reads a file of any kind -- regular, a pipe, ``/dev/stdin``, a
device, a ``/proc`` file -- a chunk at a time and stops as soon as it holds more
than the cap, so ``/dev/zero`` is refused after ``max_bytes`` and a Ctrl-C is
honoured between chunks.  ``regular_file`` is for readers that must seek (a zip
archive): anything else is refused before it is opened.

Left out on purpose: each format's own checks, memory mapping.
"""

import os
import stat
from pathlib import Path

from ..errors import ModelFileError

MAX_PARAMETERS = 50_000_000
MAX_JSON_BYTES = 256 * 1024**2    # ~12 million float64 parameters written as text
MAX_NPZ_BYTES = 3 * 8 * MAX_PARAMETERS + 64 * 1024**2   # parameters + Adam's m and v, float64
CHUNK = 1 << 20


def parameter_count(sizes):
    """Weights and biases of fully connected layers ``sizes`` (n_0, n_1, ..., n_L)."""
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def check_parameters(n_params, source, error=ModelFileError):
    """Refuse a file that declares more than MAX_PARAMETERS, before anything is built."""
    if n_params > MAX_PARAMETERS:
        raise error(f"{source}: declares {n_params} parameters, more than the "
                    f"{MAX_PARAMETERS} of any model this library writes; refusing to build it")


def _open(path, what, error):
    path = Path(path)
    try:
        return open(path, "rb")   # noqa: SIM115 - closed by the caller
    except FileNotFoundError:
        raise error(f"{path}: no such {what}; check the path") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, not a {what}") from None
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None


def read_capped(path, max_bytes, what, error=ModelFileError):
    """The bytes of ``path``, refusing (``error`` naming the file) a missing or unreadable
    file, or one holding more than ``max_bytes``, without reading more than one chunk
    past the cap, whatever kind of file it is."""
    with _open(path, what, error) as f:
        size = os.fstat(f.fileno()).st_size
        if stat.S_ISREG(os.fstat(f.fileno()).st_mode) and size > max_bytes:
            raise error(f"{path}: {size} bytes is larger than any {what} this library writes "
                        f"({max_bytes} bytes at most); refusing to read it")
        chunks, total = [], 0
        while True:
            try:
                chunk = f.read(min(CHUNK, max_bytes + 1 - total))
            except OSError as exc:
                raise error(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise error(f"{path}: holds more than {max_bytes} bytes, more than any {what} "
                            f"this library writes; refusing to read it")


def regular_file(path, max_bytes, what, error=ModelFileError):
    """The size of ``path``, which must be a regular file of at most ``max_bytes``; a
    folder, pipe, device or socket is refused before it is opened."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise error(f"{path}: no such {what}; check the path") from None
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{path}: not a regular file (a folder, pipe or device); give the path "
                    f"of a {what}")
    if info.st_size > max_bytes:
        raise error(f"{path}: {info.st_size} bytes is larger than any {what} this library "
                    f"writes ({max_bytes} bytes at most); refusing to read it")
    return info.st_size
