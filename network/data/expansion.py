"""Expanded MNIST: each training image plus its four one-pixel shifts (chapter 3).

The book's ``expand_mnist.py`` turns the 50,000 training images into 250,000 by
adding copies shifted one pixel up, down, left and right, the row or column
that moves in from outside being zero (background).  Here:

- ``shift(X, dy, dx)`` shifts (n, 784) images by one pixel (dy, dx in -1, 0, 1);
- ``expand(X, y)`` -> 5n images: the originals, then all up-, down-, left- and
  right-shifted copies, in blocks of n (training shuffles anyway);
- ``random_shifts(X, rng)`` -> n images, each one of those five versions of
  itself drawn at random: the expansion done afresh every epoch instead of once
  (problem 6.8), five times less data per epoch;
- ``rotate(X, degrees)``, ``skew(X, s)`` and, under both, ``affine(X, matrices,
  shifts)``: small rotations and skews (shears) about the image centre, resampled
  bilinearly in NumPy alone (no SciPy); ``random_distortions(X, rng)`` draws a
  rotation, a skew and one of the five shifts for every image, every epoch: the
  rotations, skewing and translations of problem 6.8;
- ``load_expanded(...)`` returns the 250,000 images, building them once and
  caching them as a plain ``.npz`` file (uint8 pixels and int labels), written
  atomically and read back by the library's one npz reader (network/storage/npz.py).

The cache records the fingerprint of the 50,000 source images (the library's one
data fingerprint), so a cache built from other data is rebuilt rather than trusted.  Run ``python -m network.data.expansion
[--out DIR]`` to build it ahead of time.

Deliberately left out: elastic distortions (Simard et al., which the book cites),
large rotations (a 6 turned into a 9: chapter 3's exercise 3.14), expanding the
validation or test sets (they must stay the book's).
"""

import argparse
import sys
from pathlib import Path

import numpy as np

from ..errors import DataError, ModelFileError, NNDLError, UsageError
from ..storage.npz import NpzReader, write_npz
from ..storage.training_state import fingerprint

CACHE_NAME = "mnist_expanded.npz"
SHIFTS = ((-1, 0), (1, 0), (0, -1), (0, 1))   # (dy, dx): up, down, left, right


def _images(X, what):
    """X as an array of (n, 784) images, or a UsageError naming ``what``."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != 784:
        raise UsageError(f"{what}: images must be (n, 784), got {X.shape}")
    return X


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
    X = _images(X, "expand")
    Xs = [X] + [shift(X, dy, dx) for dy, dx in SHIFTS]
    return np.concatenate(Xs), np.tile(np.asarray(y), len(Xs))


def random_shifts(X, rng):
    """Images (n, 784), each replaced by one of the five versions ``expand`` makes of
    it -- itself, or shifted up, down, left or right -- chosen uniformly and
    independently with ``rng``.  A new array; X is not changed."""
    X = _images(X, "random_shifts")
    pick = rng.integers(0, 1 + len(SHIFTS), len(X))    # 0: unmoved, c: SHIFTS[c - 1]
    out = X.copy()
    for c, (dy, dx) in enumerate(SHIFTS, start=1):
        rows = np.flatnonzero(pick == c)
        out[rows] = shift(X[rows], dy, dx)
    return out


# ---- rotations and skews (problem 6.8) ------------------------------------------------------

CENTRE = 13.5                 # the middle of a 28x28 image, between pixels 13 and 14
_ROWS, _COLS = np.mgrid[0:28, 0:28]
_QX = (_COLS.ravel() - CENTRE).astype(np.float32)   # (784,) column offset of each output pixel
_QY = (_ROWS.ravel() - CENTRE).astype(np.float32)   # (784,) row offset, pointing down


def rotation_matrix(degrees):
    """(n, 2, 2) maps of (x, y) = (column, row) offsets turning a digit counter-clockwise
    as displayed (y points down) by ``degrees``."""
    t = np.radians(np.asarray(degrees, dtype=float).ravel())
    c, s = np.cos(t), np.sin(t)
    return np.stack([np.stack([c, s], -1), np.stack([-s, c], -1)], 1)    # (n, 2, 2)


def skew_matrix(s):
    """(n, 2, 2) horizontal shears: a row ``y`` pixels above the centre moves ``s * y``
    pixels to the right, so s > 0 slants a digit like italics."""
    s = np.asarray(s, dtype=float).ravel()
    one, zero = np.ones_like(s), np.zeros_like(s)
    return np.stack([np.stack([one, -s], -1), np.stack([zero, one], -1)], 1)   # (n, 2, 2)


def affine(X, matrices, shifts=None, chunk=1024):
    """Images (n, 784) each moved by its own affine map about the image centre: the ink at
    offset p from the centre goes to M p + t.  ``matrices`` (n, 2, 2) act on (x, y) =
    (column, row) offsets, y pointing down; ``shifts`` (n, 2) are (dx, dy) in pixels.

    Each output pixel q takes the input at M^-1 (q - t), interpolated bilinearly between
    its four neighbours; what comes from outside the image is 0 (background), as in
    ``shift``.  Whole-pixel shifts with M = I copy pixels exactly.  uint8 in, uint8 out
    (rounded); floats keep their dtype.  Works ``chunk`` images at a time to bound memory.
    """
    X = _images(X, "affine")
    n = len(X)
    M = np.asarray(matrices, dtype=float).reshape(n, 2, 2)
    det = M[:, 0, 0] * M[:, 1, 1] - M[:, 0, 1] * M[:, 1, 0]
    if not np.all(np.abs(det) > 1e-6):
        raise UsageError("affine: every matrix must be invertible (a map that squashes the "
                         "image onto a line has no inverse to sample from)")
    inv = np.stack([np.stack([M[:, 1, 1], -M[:, 0, 1]], -1),
                    np.stack([-M[:, 1, 0], M[:, 0, 0]], -1)], 1) / det[:, None, None]
    inv = inv.astype(np.float32)                                          # (n, 2, 2)
    t = np.zeros((n, 2), np.float32) if shifts is None else \
        np.asarray(shifts, dtype=np.float32).reshape(n, 2)
    out = np.empty_like(X)
    for s in range(0, n, chunk):
        e = min(s + chunk, n)
        dx = _QX[None, :] - t[s:e, :1]                                   # (k, 784)
        dy = _QY[None, :] - t[s:e, 1:]
        px = inv[s:e, 0, :1] * dx + inv[s:e, 0, 1:] * dy + CENTRE       # source column
        py = inv[s:e, 1, :1] * dx + inv[s:e, 1, 1:] * dy + CENTRE       # source row
        values = _bilinear(X[s:e], px, py)
        if X.dtype == np.uint8:
            values = np.clip(np.rint(values), 0, 255)      # back to pixels: round, not truncate
        out[s:e] = values
    return out


def _bilinear(images, px, py):
    """(k, 784) images sampled at (px, py) (k, 784), 0 outside the 28x28 grid.

    The images get a border of zeros (30x30) and the coordinates are clipped into it, so
    each of the four neighbours has a valid index and needs no mask: a point far outside
    samples the border, 0.  In the padded frame coordinates are >= 0, so truncation to an
    integer is the floor."""
    k = len(images)
    padded = np.zeros((k, 30, 30), np.float32)
    padded[:, 1:29, 1:29] = images.reshape(k, 28, 28)
    flat = padded.ravel()
    gx = np.clip(px, -1, 27.9999) + 1                                   # padded column
    gy = np.clip(py, -1, 27.9999) + 1
    x0, y0 = gx.astype(np.int32), gy.astype(np.int32)
    fx, fy = gx - x0, gy - y0
    base = y0 * 30 + x0 + (np.arange(k, dtype=np.int32) * 900)[:, None]   # (k, 784) into flat
    top = flat[base] + fx * (flat[base + 1] - flat[base])                 # along the row
    bottom = flat[base + 30] + fx * (flat[base + 31] - flat[base + 30])   # the row below
    return top + fy * (bottom - top)


def rotate(X, degrees):
    """Images (n, 784) turned counter-clockwise by ``degrees`` (one angle, or one per image)."""
    X = _images(X, "rotate")
    return affine(X, rotation_matrix(np.broadcast_to(degrees, len(X))))


def skew(X, s):
    """Images (n, 784) slanted by the shear ``s`` (one value, or one per image): ``skew_matrix``."""
    X = _images(X, "skew")
    return affine(X, skew_matrix(np.broadcast_to(s, len(X))))


def random_distortions(X, rng, max_degrees=10.0, max_skew=0.2):
    """Images (n, 784), each rotated by an angle uniform in +-``max_degrees``, skewed by a
    shear uniform in +-``max_skew`` and moved to one of the five versions of
    ``random_shifts`` (itself or one pixel up, down, left, right), all drawn with ``rng``
    afresh on every call: problem 6.8's expansion on the fly, for ``ConvNetwork.SGD(...,
    augment=...)``.  The shift is drawn first, as ``random_shifts`` draws it, so with both
    maxima 0 the two functions give the same images.  A new array; X is not changed."""
    X = _images(X, "random_distortions")
    n = len(X)
    pick = rng.integers(0, 1 + len(SHIFTS), n)         # 0: unmoved, c: SHIFTS[c - 1]
    degrees = rng.uniform(-max_degrees, max_degrees, n)
    shear = rng.uniform(-max_skew, max_skew, n)
    moves = np.array([(0, 0)] + [(dx, dy) for dy, dx in SHIFTS], dtype=float)   # (5, 2) as (dx, dy)
    M = rotation_matrix(degrees) @ skew_matrix(shear)  # (n, 2, 2): skew first, then rotate
    return affine(X, M, moves[pick])



def _default_folder(path):
    from .datasets import find_dataset
    return Path(find_dataset("mnist", path=path))


def save_expanded(filename, X, y, source):
    """Write the arrays and the source images' fingerprint as an uncompressed .npz, atomically."""
    return write_npz(filename, {"X": X, "y": y, "source_sha256": np.array(source)})


def read_expanded(filename, n):
    """(X uint8 (n, 784), y int64 (n,), the source fingerprint) from a cache file, or None
    when the file is stale (another source, size or layout); a damaged file raises DataError."""
    try:
        with NpzReader(filename, "expanded-MNIST cache") as reader:
            if reader.names != {"X", "y", "source_sha256"}:
                return None   # an older cache layout (it kept an MD5): rebuilt
            source = str(reader.read("source_sha256", "unicode", (), max_bytes=4 * 64)[()])
            X = reader.read("X", [np.uint8], (n, 784))
            y = reader.read("y", [np.int64], (n,))
    except ModelFileError as exc:
        raise DataError(f"{exc}; delete it and it will be rebuilt") from None
    return X, y, source


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
    source = fingerprint(X)
    folder = Path(out) if out is not None else _default_folder(path)
    filename = folder / CACHE_NAME
    if filename.exists():
        cached = _read_if_matching(filename, 5 * len(X), source)
        if cached is not None:
            return cached
        if verbose:
            print(f"{filename}: built from other images (or by an older version); rebuilding",
                  file=sys.stderr)
    Xe, ye = expand(X, y)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        save_expanded(filename, Xe, ye, source)
    except OSError as exc:
        raise DataError(f"cannot write the expanded-MNIST cache {filename} ({exc}); "
                        f"pass a writable folder with --out") from None
    if verbose:
        print(f"wrote {filename} ({len(Xe)} images)", file=sys.stderr)
    return Xe, ye


def _read_if_matching(filename, n, source):
    """The cached arrays if the cache holds n images expanded from ``source``, else None."""
    try:
        cached = read_expanded(filename, n)
    except DataError:
        return None   # damaged, or of another size: rebuilt
    if cached is None or cached[2] != source:
        return None
    return cached[0], cached[1]


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
