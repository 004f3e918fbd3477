"""The training images closest to a given image, by pixel distance.

Euclidean distance between pixel rows in [0, 1], computed as

    |x - X_i|^2 = |x|^2 - 2 X_i . x + |X_i|^2

with the squared norms of the training images worked out once.  The images stay
as the compact uint8 rows ``load_arrays(dtype=np.uint8)`` gives (40 MB for the
50,000 training images, not 160 MB as float32) and are made float one chunk at a
time.  A query over the 50,000 takes a few tens of milliseconds, quick enough to
run when the mouse is released.

Left out on purpose: any index (k-d trees, approximate search): one matrix-vector
product per chunk is fast enough for one query at a time.
"""

import numpy as np

CHUNK = 10_000  # rows made float at a time (31 MB as float32)


def _as_float(rows):
    """uint8 pixels -> float32 in [0, 1]; floats pass as float32."""
    if rows.dtype == np.uint8:
        return rows.astype(np.float32) * np.float32(1 / 255)
    return rows.astype(np.float32, copy=False)


class ClosestImages:
    """``X`` (n, 784), uint8 pixels or floats in [0, 1]; ``closest(x, k)`` finds the
    k rows nearest to the row ``x``."""

    def __init__(self, X):
        self.X = np.asarray(X)
        self.sq_norms = np.concatenate([                   # (n,) |X_i|^2
            np.einsum("ij,ij->i", f, f) for f in map(_as_float, self._chunks())])

    def _chunks(self):
        return (self.X[s:s + CHUNK] for s in range(0, len(self.X), CHUNK))

    def closest(self, x, k):
        """(indices, distances) of the k training rows nearest to ``x`` (784,), nearest first."""
        x = np.asarray(x, dtype=np.float32).ravel()
        # (n, 784) @ (784,) -> (n,), one chunk at a time
        dots = np.concatenate([_as_float(c) @ x for c in self._chunks()])
        sq = np.maximum(self.sq_norms - 2 * dots + x @ x, 0.0)  # rounding can dip below 0
        k = min(k, len(sq))
        nearest = np.argpartition(sq, k - 1)[:k]
        nearest = nearest[np.argsort(sq[nearest], kind="stable")]
        return nearest, np.sqrt(sq[nearest])
