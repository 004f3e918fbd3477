"""Turn whatever the caller hands over into the one layout used inside: rows are examples.

Accepted, for training and evaluation alike (no ``convert`` flag):

* the book's format: a list (or zip, or any iterable) of ``(x, y)`` pairs with x a
  column vector (n_in, 1) and y either a one-hot column (k, 1) or an int label;
* arrays ``(X, y)``: X (n, n_in) and y int labels (n,) or one-hot rows (n, k).

Pixel arrays of dtype uint8 are raw 0..255 intensities and are scaled by 1/255.
They are kept compact (one byte a pixel, not eight: the 70,000 MNIST images take
55 MB instead of 440 MB) and scaled whenever rows are read, by ``rows`` and
``chunks`` here or inside the numba kernel; the floats are exactly those of
``X.astype(dtype) / 255.0``.
Everything is validated here, once, at the edge, so the hot path never checks.
The caller's data is never modified.

Deliberately left out: streaming data sets that do not fit in memory.
"""

from dataclasses import dataclass, field

import numpy as np

from ..errors import UsageError


@dataclass
class Examples:
    """A data set in the inside layout: ``inputs`` (n, n_in), labels (n,) ints, and
    Y (n, k) one-hot (or fractional) targets in ``dtype``.

    ``inputs`` are floats in ``dtype``, or raw uint8 pixels kept compact (a read-only
    view of the caller's array); read them as floats with ``rows``/``chunks``/``X``.
    """

    inputs: np.ndarray
    labels: np.ndarray
    Y: np.ndarray
    dtype: np.dtype = np.dtype(np.float64)
    _nonzero: tuple = field(default=None, repr=False, compare=False)

    def __len__(self):
        return self.inputs.shape[0]

    @property
    def compact(self):
        """True when the inputs are raw uint8 pixels, scaled by 1/255 on reading."""
        return self.inputs.dtype == np.uint8

    def rows(self, idx):
        """The inputs of rows ``idx`` (indices or a slice) as floats in ``dtype``."""
        part = self.inputs[idx]
        if part.dtype != np.uint8:
            return part
        floats = part.astype(self.dtype)
        floats /= 255.0  # raw 0..255 pixels to [0, 1], the same numbers as x / 255.0
        return floats

    def chunks(self, size):
        """The inputs as floats, ``size`` rows at a time (bounds memory for compact data)."""
        for start in range(0, len(self), size):
            yield self.rows(slice(start, start + size))

    @property
    def X(self):
        """All inputs as floats (n, n_in): a full float copy for compact data."""
        return self.rows(slice(None))

    def nonzero_entries(self):
        """(indptr, indices, values): the inputs' non-zero entries row by row (CSR),
        computed once and kept, for the numba kernel's sparse reads."""
        if self._nonzero is None:
            from .pixels import csr
            self._nonzero = csr(self.inputs)
        return self._nonzero


def _labels_from(y_rows, k, what):
    """Labels (n,) and targets (n, k) from int labels or one-hot/fractional rows."""
    y = np.asarray(y_rows)
    if y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1 and k != 1):
        y = y.reshape(-1)
        if y.dtype.kind == "f":
            if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
                raise UsageError(f"{what}: labels must be whole numbers 0..{k - 1}")
        elif y.dtype.kind not in "iub":
            raise UsageError(f"{what}: labels must be integers, got dtype {y.dtype}")
        # Range-check in the labels' own dtype: a uint64 of 2**63 must not wrap to negative.
        if y.size and (y.min() < 0 or y.max() >= k):
            bad = y[(y < 0) | (y >= k)][0]
            raise UsageError(f"{what}: label {bad} is out of range for a network with {k} "
                             f"outputs; labels must be 0..{k - 1}")
        labels = y.astype(np.int64)
        Y = np.zeros((labels.size, k))
        Y[np.arange(labels.size), labels] = 1.0
        return labels, Y
    if y.ndim == 2 and y.shape[1] == k:
        Y = y.astype(np.float64)
        if not np.all(np.isfinite(Y)):
            raise UsageError(f"{what}: targets contain NaN or infinity")
        return np.argmax(Y, axis=1).astype(np.int64), Y
    raise UsageError(f"{what}: targets of shape {y.shape} do not fit a network with {k} outputs; "
                     f"give int labels (n,) or one-hot rows (n, {k})")


def as_examples(data, n_in, k, dtype=np.float64, what="data"):
    """Convert book-format pairs or (X, y) arrays to ``Examples`` (validated; float
    inputs copied, uint8 pixels kept compact as a read-only view)."""
    if isinstance(data, Examples):
        return data
    # An (X, y) pair of arrays, as opposed to a book pair (x column, y) or a list of pairs.
    if data is None:
        raise UsageError(f"{what}: no data given (None); pass (X, y) arrays or a list of "
                         f"(x, y) pairs")
    owned = False   # True once X is an array made here, which may be converted in place
    if isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], np.ndarray) \
            and data[0].ndim >= 2 and np.ndim(data[1]) >= 1 and data[0].shape != (n_in, 1):
        X, y = data
    else:
        try:
            pairs = list(data)  # a zip iterator is consumed once, here, and nowhere else
        except TypeError:
            raise UsageError(f"{what}: expected (X, y) arrays or a list of (x, y) pairs, got "
                             f"{type(data).__name__}") from None
        if not pairs:
            raise UsageError(f"{what}: no examples given")
        try:
            X = np.stack([np.asarray(x).reshape(-1) for x, _ in pairs])
            owned = True
        except (ValueError, TypeError) as exc:
            raise UsageError(f"{what}: examples must be (x, y) pairs with x of {n_in} values "
                             f"({exc})") from None
        ys = [y for _, y in pairs]
        if all(np.ndim(y) == 0 for y in ys):
            y = np.asarray(ys)
        else:
            try:
                y = np.stack([np.asarray(v, dtype=np.float64).reshape(-1) for v in ys])
            except ValueError:
                raise UsageError(f"{what}: targets have different shapes; use one-hot "
                                 f"columns ({k}, 1) or int labels throughout") from None
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != n_in:
        raise UsageError(f"{what}: inputs of shape {X.shape} do not fit a network with {n_in} "
                         f"inputs; give X as (n, {n_in})")
    if X.shape[0] == 0:
        raise UsageError(f"{what}: no examples given")
    dtype = np.dtype(dtype)
    if X.dtype == np.uint8:
        X = np.ascontiguousarray(X).view()  # compact: scaled by 1/255 when read (Examples)
        X.flags.writeable = False     # a view: the caller's own array stays writeable
    elif X.dtype.kind in "fiub":
        # a copy, so the caller's array is never touched -- unless X was stacked here from
        # the book's pairs already (a second copy of 50,000 images would cost 313 MB)
        X = X.astype(dtype, copy=not owned)
        if not np.all(np.isfinite(X)):
            raise UsageError(f"{what}: inputs contain NaN or infinity; clean the data first")
    else:
        raise UsageError(f"{what}: inputs must be numbers, got dtype {X.dtype}")
    labels, Y = _labels_from(y, k, what)
    if labels.shape[0] != X.shape[0]:
        raise UsageError(f"{what}: {X.shape[0]} inputs but {labels.shape[0]} targets")
    return Examples(inputs=X, labels=labels, Y=Y.astype(dtype), dtype=dtype)
