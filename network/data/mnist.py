"""MNIST as the book's code expects it, plus the array form the rest of this project uses.

Three entry points, all reading the verified IDX files through
``network.data.datasets`` (no pickle, so no Python 2 encoding trouble):

- ``load_arrays()`` -> ((X_train, y_train), (X_val, y_val), (X_test, y_test)),
  rows are examples: X (n, 784), y int64 (n,). This is the project's layout.
- ``load_data()`` -> the book's three (X, y) pairs, X float32 (n, 784).
- ``load_data_wrapper()`` -> the book's lists of column vectors: training pairs
  (x (784, 1), one-hot y (10, 1)); validation/test pairs (x (784, 1), int label).

The book's split: training = first 50,000 training images, validation = the
last 10,000, test = the 10,000 t10k images. Pixels are x/255 (the book's pickle
used x/256; nothing material changes).

Fixed defects of the original: it returned ``zip`` iterators (no ``len``, no
slicing, usable once); these are lists. Memory: each array is made once; the
column vectors of ``load_data_wrapper`` are views into one (n, 784) array.

Left out on purpose: data expansion (see the chapter 3/6 scripts), caching
between calls, and any normalisation other than x/255.
"""

import numpy as np

from network.data.datasets import load_dataset
from network.errors import UsageError

N_TRAIN = 50_000  # the book's training/validation boundary inside the 60,000 training images


def _scale(images, dtype):
    """(n, 28, 28) uint8 -> (n, 784) in ``dtype``: x/255, or raw pixels for uint8."""
    flat = images.reshape(len(images), 784)              # (n, 784), a view
    if dtype == np.uint8:
        return flat
    out = flat.astype(dtype)                             # the one copy
    out /= dtype.type(255)                               # in place: no second temporary
    return out


def load_arrays(name="mnist", path=None, dtype=np.float64, download=True):
    """Return ((X_train, y_train), (X_val, y_val), (X_test, y_test)) in the book's split.

    X is (n, 784) with pixels x/255 in [0, 1], as ``dtype`` (a float type).
    With ``dtype=np.uint8`` X holds the raw 0..255 pixels instead: four times
    smaller than float32, for the fast training path, which scales by 1/255
    inside its kernel; the training and validation X are then views of one
    buffer. y is int64 (n,), the digit 0..9.
    ``name`` is "mnist" or "fashion-mnist"; ``path`` and ``download`` are passed
    to ``network.data.datasets.find_dataset``.
    """
    dtype = np.dtype(dtype)
    if dtype != np.uint8 and dtype.kind != "f":
        raise UsageError(f"load_arrays: dtype {dtype} is neither a float type nor uint8; "
                         f"use np.float64, np.float32 or np.uint8")
    data = load_dataset(name, path=path, download=download)
    images, labels = data["train_images"], data["train_labels"]
    return (
        (_scale(images[:N_TRAIN], dtype), labels[:N_TRAIN].astype(np.int64)),
        (_scale(images[N_TRAIN:], dtype), labels[N_TRAIN:].astype(np.int64)),
        (_scale(data["test_images"], dtype), data["test_labels"].astype(np.int64)),
    )


def load_data(name="mnist", path=None):
    """The book's ``load_data``: (training, validation, test), each (X float32 (n, 784), y int64 (n,))."""
    return load_arrays(name, path, dtype=np.float32)


def vectorized_result(j):
    """A (10, 1) one-hot column with 1.0 in row j: the network's desired output for digit j."""
    e = np.zeros((10, 1))
    e[j] = 1.0
    return e


def load_data_wrapper(name="mnist", path=None, dtype=np.float64):
    """The book's ``load_data_wrapper``, as lists.

    training: list of (x (784, 1), one-hot y (10, 1)); validation and test: list
    of (x (784, 1), int label). The x columns are views into one (n, 784) array
    per split, so the lists cost little beyond the arrays themselves.
    """
    (X_tr, y_tr), (X_va, y_va), (X_te, y_te) = load_arrays(name, path, dtype=dtype)
    onehot = np.zeros((len(y_tr), 10, 1))                # (n, 10, 1)
    onehot[np.arange(len(y_tr)), y_tr, 0] = 1.0
    training = [(X_tr[i].reshape(784, 1), onehot[i]) for i in range(len(y_tr))]
    validation = [(X_va[i].reshape(784, 1), int(y_va[i])) for i in range(len(y_va))]
    test = [(X_te[i].reshape(784, 1), int(y_te[i])) for i in range(len(y_te))]
    return training, validation, test
