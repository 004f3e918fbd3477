"""Expanded MNIST: each training image plus its four one-pixel shifts (chapter 3).

The book's ``expand_mnist.py`` turns the 50,000 training images into 250,000 by
adding copies shifted one pixel up, down, left and right, the row or column
that moves in from outside being zero (background).  Here:

- ``shift(X, dy, dx)`` shifts (n, 784) images by one pixel (dy, dx in -1, 0, 1);
- ``expand(X, y)`` -> 5n images: the originals, then all up-, down-, left- and
  right-shifted copies, in blocks of n (training shuffles anyway);
- ``random_shifts(X, rng)`` -> n images, each one of those five versions of
  itself drawn at random: the expansion done afresh every epoch instead of once
  (chapter 6, problem 6.7), five times less data per epoch;
- ``load_expanded(...)`` returns the 250,000 images, building them once and
  caching them as a plain ``.npz`` file (uint8 pixels and int labels, never a
  pickle: read back with ``allow_pickle=False``), written atomically.

The cache records an MD5 of the 50,000 source images, so a cache built from other
data is rebuilt rather than trusted.  Run ``python -m network.data.expansion
[--out DIR]`` to build it ahead of time.

Deliberately left out: rotations, elastic distortions (chapter 6), expanding the
validation or test sets (they must stay the book's).
"""

import argparse
import hashlib
import io
import sys
from pathlib import Path

import numpy as np

from ..errors import DataError, NNDLError, UsageError
from ..storage.atomic import atomic_write_bytes

CACHE_NAME = "mnist_expanded.npz"
SHIFTS = ((-1, 0), (1, 0), (0, -1), (0, 1))   # (dy, dx): up, down, left, right


def shift(X, dy, dx):
    """Images (n, 784) moved dy rows down and dx columns right (each -1, 0 or 1);
    the row/column shifted in from outside is 0, nothing wraps around."""
    if dy not in (-1, 0, 1) or dx not in (-1, 0, 1):
        raise UsageError(f"shift: dy and dx must be -1, 0 or 1, got ({dy}, {dx})")
    X = np.asarray(X)
    images = X.reshape(-1, 28, 28)                  # (n, 28, 28) view
    out = np.zeros_like(images)
    rows_dst = slice(max(dy, 0), 28 + min(dy, 0))
    rows_src = slice(max(-dy, 0), 28 + min(-dy, 0))
    cols_dst = slice(max(dx, 0), 28 + min(dx, 0))
    cols_src = slice(max(-dx, 0), 28 + min(-dx, 0))
    out[:, rows_dst, cols_dst] = images[:, rows_src, cols_src]
    return out.reshape(X.shape)


def expand(X, y):
    """(X, y) -> (5n images, 5n labels): originals, then up/down/left/right shifts."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != 784:
        raise UsageError(f"expand: images must be (n, 784), got {X.shape}")
    Xs = [X] + [shift(X, dy, dx) for dy, dx in SHIFTS]
    return np.concatenate(Xs), np.tile(np.asarray(y), len(Xs))


def random_shifts(X, rng):
    """Images (n, 784), each replaced by one of the five versions ``expand`` makes of
    it -- itself, or shifted up, down, left or right -- chosen uniformly and
    independently with ``rng``.  A new array; X is not changed."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != 784:
        raise UsageError(f"random_shifts: images must be (n, 784), got {X.shape}")
    pick = rng.integers(0, 1 + len(SHIFTS), len(X))    # 0: unmoved, c: SHIFTS[c - 1]
    out = X.copy()
    for c, (dy, dx) in enumerate(SHIFTS, start=1):
        rows = np.flatnonzero(pick == c)
        out[rows] = shift(X[rows], dy, dx)
    return out


def _fingerprint(X):
    return hashlib.md5(np.ascontiguousarray(X).tobytes()).hexdigest()


def _default_folder(path):
    from .datasets import find_dataset
    return Path(find_dataset("mnist", path=path))


def save_expanded(filename, X, y, source_md5):
    """Write the arrays as an uncompressed .npz, atomically."""
    buf = io.BytesIO()
    np.savez(buf, X=X, y=y, source_md5=np.array(source_md5))
    return atomic_write_bytes(filename, buf.getvalue())


def read_expanded(filename):
    """(X uint8 (n, 784), y int64 (n,), source md5) from a cache file, validated."""
    try:
        with np.load(filename, allow_pickle=False) as f:
            X, y, md5 = f["X"], f["y"], str(f["source_md5"])
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{filename}: not a readable expanded-MNIST cache ({exc}); "
                        f"delete it and it will be rebuilt") from None
    if X.dtype != np.uint8 or X.ndim != 2 or X.shape[1] != 784 or y.shape != (X.shape[0],) \
            or y.dtype.kind not in "iu":
        raise DataError(f"{filename}: arrays of shape {X.shape}/{y.shape} are not expanded "
                        f"MNIST; delete the file and it will be rebuilt")
    return X, y.astype(np.int64), md5


def load_expanded(out=None, path=None, source=None, verbose=True):
    """The 250,000 expanded training images as (X uint8 (250000, 784), y int64).

    The cache lives in ``out`` if given, else next to the MNIST files (``path``, or
    wherever ``network.data.datasets`` finds them); it is built when missing or
    when it was made from different source images.  ``source``: the (X uint8, y)
    images to expand instead of the book's 50,000 training images.
    """
    if source is None:
        from .mnist import load_arrays
        (X, y), _, _ = load_arrays("mnist", path=path, dtype=np.uint8)
    else:
        X, y = np.asarray(source[0]), np.asarray(source[1])
        if X.dtype != np.uint8:
            raise UsageError(f"load_expanded: source images must be uint8 pixels, got {X.dtype}")
    md5 = _fingerprint(X)
    folder = Path(out) if out is not None else _default_folder(path)
    filename = folder / CACHE_NAME
    if filename.exists():
        Xe, ye, cached_md5 = read_expanded(filename)
        if cached_md5 == md5 and len(Xe) == 5 * len(X):
            return Xe, ye
        if verbose:
            print(f"{filename}: built from other images; rebuilding", file=sys.stderr)
    Xe, ye = expand(X, y)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        save_expanded(filename, Xe, ye, md5)
    except OSError as exc:
        raise DataError(f"cannot write the expanded-MNIST cache {filename} ({exc}); "
                        f"pass a writable folder with --out") from None
    if verbose:
        print(f"wrote {filename} ({len(Xe)} images)", file=sys.stderr)
    return Xe, ye


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m network.data.expansion",
                                description="Build the 250,000-image expanded MNIST cache (.npz).")
    p.add_argument("--out", default=None, help="folder for the cache (default: next to MNIST)")
    p.add_argument("--data-path", default=None, help="folder holding the MNIST IDX files")
    args = p.parse_args(argv)
    try:
        X, _ = load_expanded(args.out, args.data_path)
    except NNDLError as exc:
        print(f"expand_mnist: {exc}", file=sys.stderr)
        return 2
    print(f"{len(X)} images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
