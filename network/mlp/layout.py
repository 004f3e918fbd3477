"""How the compiled epoch sees a Network: one flat parameter array, a table of layers,
hyperparameters as small codes, and work buffers on cache lines.

``kernels.train_epoch`` takes arrays and numbers only (numba compiles it once for
every cost, activation and regulariser), so the Network's lists of weight matrices,
its cost and activation classes and its settings are translated here, at the edge,
and back again after the epoch (``pack``/``unpack``).  network/mlp/kernels.py says
why each choice is what it is (a row of W^T contiguous and aligned, padding to LANES,
arrays the kernel borrows rather than reference-counts).

Left out on purpose: anything that runs per example (that is kernels.py).
"""

from collections import namedtuple

import numpy as np

from ..base.activations import CODES as ACTIVATION_CODES
from ..base.jit import jit as _jit

# Integer codes for the kernel (one compiled function for every combination); the
# activations' are network/base/activations.py's, shared with the conv net's kernels.
QUADRATIC, CROSS_ENTROPY, LOG_LIKELIHOOD = 0, 1, 2
COST_CODES = {"quadratic": QUADRATIC, "cross-entropy": CROSS_ENTROPY,
              "log-likelihood": LOG_LIKELIHOOD}
NO_PENALTY, PENALTY_L2, PENALTY_L1 = 0, 1, 2
PENALTY_CODES = {"L2": PENALTY_L2, "L1": PENALTY_L1}



# ---- parameters in one flat array ----------------------------------------------------

# The hot loops run over a row of W^T, which is padded with zeros to a multiple of
# LANES so the vectorised loop body covers it with no scalar remainder (measured:
# ~5% faster for 30 units).  A padded unit's error is 0, so padding changes no number.
LANES = 8
FOLD_EVERY = 256
ALIGN = 64   # bytes: a cache line


def layout(sizes):
    """Offsets into the flat parameter array [W^1T, ..., W^LT, b^1, ..., b^L] and into a
    row of per-unit buffers: (widths, w_off, b_off, u_off), each int64.  W^lT is
    (n_{l-1}, widths[l]) with widths[l] = n_l rounded up to a multiple of LANES."""
    sizes = np.asarray(sizes, dtype=np.int64)
    n_in, n_out = sizes[:-1], sizes[1:]
    widths = -(-n_out // LANES) * LANES
    w_off = np.concatenate([[0], np.cumsum(n_in * widths)])
    b_off = w_off[-1] + np.concatenate([[0], np.cumsum(n_out)])
    u_off = np.concatenate([[0], np.cumsum(widths)])
    return tuple(a.astype(np.int64) for a in (widths, w_off, b_off, u_off))


def aligned_zeros(n, dtype):
    """np.zeros(n, dtype) starting on a cache line (NumPy only promises 16 bytes)."""
    itemsize = np.dtype(dtype).itemsize
    buffer = np.zeros(n + ALIGN // itemsize, dtype=dtype)
    start = (-buffer.ctypes.data % ALIGN) // itemsize
    return buffer[start:start + n]


def pack(weights, biases, dtype):
    """Book-shaped weights (n_out, n_in) and biases (n_out, 1) -> one flat array, weights
    transposed to (n_in, n_out), zero-padded to (n_in, width), so rows are contiguous;
    the array starts on a cache line, so (widths being multiples of LANES) every row does."""
    sizes = [weights[0].shape[1]] + [w.shape[0] for w in weights]
    widths, w_off, b_off, _ = layout(sizes)
    flat = aligned_zeros(b_off[-1], dtype)
    for l, (w, b) in enumerate(zip(weights, biases)):
        flat[w_off[l]:w_off[l + 1]].reshape(w.shape[1], widths[l])[:, :w.shape[0]] = w.T
        flat[b_off[l]:b_off[l + 1]] = np.asarray(b).ravel()
    return flat


def unpack(flat, sizes, weights, biases):
    """Write a flat array back into the book-shaped arrays, in place."""
    widths, w_off, b_off, _ = layout(sizes)
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        weights[l][...] = flat[w_off[l]:w_off[l + 1]].reshape(n_in, widths[l])[:, :n_out].T
        biases[l][...] = flat[b_off[l]:b_off[l + 1]].reshape(n_out, 1)


# ---- the kernel's arguments, grouped -------------------------------------------------

TrainingSet = namedtuple("TrainingSet", "indptr indices values lut Y")
TrainingSet.__doc__ = """The training examples as the kernel reads them: the inputs' non-zero
entries row by row (CSR from ``pixels.csr``: indptr (n+1,), indices and values (nnz,)),
values raw uint8 pixels scaled by ``lut`` (``pixels.pixel_table``) or floats; Y (n, n_L)
targets."""

Layer = namedtuple("Layer", "n_in n_out width w_off b_off u_off in_off d_off")
Layer.__doc__ = """One layer (the book's l + 1 for the kernel's l = 0..L-1) as plain integers:
n_in inputs and n_out units, padded to width; its W^T at w_off and b at b_off in the
parameters; its units at column u_off of the buffers, its inputs a^{l-1} at in_off; d_off
hidden units before it (where its dropout draws start)."""


def layers(sizes):
    """The kernel's table of layers, (L, 8) int64: row l holds ``Layer`` l's fields.  One
    array rather than a tuple of arrays: numba updated a reference count (atomically) for
    every array taken out of a tuple, in every stage of every mini-batch (measured: the
    epoch ~3% faster with the table, before the kernel borrowed its arrays); a row read
    as ``_layer(layers, l)`` costs none."""
    sizes = np.asarray(sizes, dtype=np.int64)
    widths, w_off, b_off, u_off = layout(sizes)
    d_off = np.concatenate([[0], np.cumsum(sizes[1:])])
    in_off = np.concatenate([[0], u_off[:-2]])
    return np.stack([sizes[:-1], sizes[1:], widths, w_off[:-1], b_off[:-1], u_off[:-1], in_off,
                     d_off[:-1]], axis=1).astype(np.int64)


@_jit
def _layer(layers, l):
    """``Layer`` l of the table ``layers``."""
    row = layers[l]
    return Layer(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7])


Hyperparameters = namedtuple("Hyperparameters",
                             "hidden output cost penalty eta lmbda_n mu dropout keep")
Hyperparameters.__doc__ = """hidden/output activation, cost and penalty as integer codes; eta
the learning rate, lmbda_n = lambda / n, mu the momentum coefficient (0 for plain SGD),
dropout p and keep = 1 / (1 - p) in the weights' dtype (see ``hyperparameters``)."""


def hyperparameters(*, hidden, output, cost, penalty, eta, lmbda_n, mu, dropout, dtype):
    """``Hyperparameters`` from names (activations, cost; penalty "L2", "L1" or None) and
    numbers.  The (DROPOUT) scale 1 / (1 - p) is rounded to ``dtype``, as the NumPy path's
    mask is."""
    return Hyperparameters(ACTIVATION_CODES[hidden], ACTIVATION_CODES[output], COST_CODES[cost],
                           PENALTY_CODES[penalty] if penalty else NO_PENALTY, float(eta),
                           float(lmbda_n), float(mu), float(dropout),
                           np.dtype(dtype).type(1.0 / (1.0 - dropout)))


Workspace = namedtuple("Workspace", "Z A S D G")
Workspace.__doc__ = """A mini-batch's per-unit buffers, (m, >= U) with layer l's units in
columns u_off[l]..u_off[l] + widths[l]: weighted inputs Z, activations A (after dropout),
S = sigma'(z) * dropout mask, errors D; and G, one example's (eta/m) delta^l."""


def workspace(layers, mb_size, dtype):
    """Zeroed ``Workspace`` buffers for mini-batches of up to ``mb_size``, every row starting
    on a cache line (rows padded to whole lines), like the parameters: numba's own
    np.zeros starts on 32 bytes only, so an epoch's speed would depend on where each
    buffer happened to land (measured: a few percent from run to run)."""
    per_line = ALIGN // np.dtype(dtype).itemsize
    last = Layer(*layers[-1])
    stride = -(-int(last.u_off + last.width) // per_line) * per_line
    def rows():
        return aligned_zeros(mb_size * stride, dtype).reshape(mb_size, stride)
    return Workspace(rows(), rows(), rows(), rows(), aligned_zeros(stride, dtype))
