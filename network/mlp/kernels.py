"""numba kernels for the Network's training loop: one whole epoch of mini-batch SGD, compiled.

The book's networks are small and train on mini-batches of 10, so a step does
little arithmetic and the per-step overhead of NumPy (a dozen small array
operations, each a Python call) dominates.  ``train_epoch`` runs every
mini-batch of an epoch in one compiled call: feedforward (FF), the output error
(BP1), backpropagation (BP2), and the update of weights and biases from (BP3)
and (BP4) with plain SGD or momentum, L2 or L1 and dropout.  It is held equal
to the plain NumPy reference (``network/mlp/backprop.py`` driven by
``Network._train_epoch_numpy``) to 1e-12 in float64 by tests/test_kernels.py.

How it differs from the matrix form, and why (same numbers, other order):

* Inputs are read sparsely: about 81% of MNIST pixels are 0, and a zero pixel
  adds exactly 0 to every weighted input and to every weight gradient, so each
  example visits only its non-zero pixels (``indptr``/``indices``/``values``,
  CSR form, the next example's fetched ahead).  Raw uint8 pixels are kept
  compact and scaled inside the kernel through a 256-entry table
  ``lut[v] = v / 255`` computed exactly as NumPy does.
* Weights are stored transposed, W^T of shape (n_in, n_out), in one flat array
  (``pack``) that starts on a 64-byte cache line: every inner loop then runs
  over contiguous, aligned memory (a row of W^T) and vectorises without
  ``fastmath``; only (BP2) sums across a row.  (Measured on a copy of the kernel
  timed side by side: an array 16 bytes off a cache line, as NumPy's allocator
  gives, made the whole epoch ~8% slower.)
* The first layer's two sparse loops, (FF) and (BP4), are small functions of
  their own (measured ~4% faster than the same loops written inside the big
  loop, where the register allocator kept their variables on the stack).
* The mini-batch gradient is never stored: after the backward pass of the
  whole mini-batch (with the old weights), each example's contribution
  (eta/m) a_k delta_j is subtracted from the weights (or the velocity) in place.
* L2 weight decay with plain SGD shrinks every weight by the same factor each
  step, so the kernel keeps W = ws * V and multiplies the scalar ws instead of
  all the weights (folded back every FOLD_EVERY mini-batches): no pass over the
  78,400 weights of [784,100,10] per mini-batch.

Hyperparameters arrive as small integer codes, so one compiled function serves
every cost, activation and regulariser (two specialisations in practice:
float64 and float32).  Its plain NumPy twin is the NumPy training path; the
sparse (CSR) pixels and the uint8 table live in ``network/mlp/pixels.py``.

Deliberately left out: Adam and other optimisers (the Network falls back to the
NumPy path for them), evaluation (one vectorised NumPy forward pass per data
set per epoch is already cheap), multi-threading (the machines are small and
shared), ``fastmath`` (it would break agreement with the reference; fused
multiply-add alone was tried and was no faster: the loops wait on memory).
"""

import numpy as np

from ..base.jit import HAVE_NUMBA  # noqa: F401  (the tests ask the kernels module)
from ..base.jit import jit as _jit
from .pixels import _prefetch, _value

# Integer codes for the kernel (one compiled function for every combination).
SIGMOID, TANH, RELU, IDENTITY, SILU, SOFTMAX = 0, 1, 2, 3, 4, 5
ACTIVATION_CODES = {"sigmoid": SIGMOID, "tanh": TANH, "relu": RELU, "identity": IDENTITY,
                    "silu": SILU, "softmax": SOFTMAX}
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


# ---- the epoch -----------------------------------------------------------------------

@_jit
def _activate(code, z):
    """(FF) sigma(z) for one weighted input (SOFTMAX is done per row by the caller)."""
    if code == SIGMOID:
        # (SIGMOID) stable form: exponentiate -|z| only, as activations.Sigmoid does:
        # 1 / (1 + e) for z >= 0, e / (1 + e) below.  The numerator is picked without
        # a branch (the sign of z is a coin toss: mispredicted branches cost ~5%).
        e = np.exp(-abs(z))
        return (1.0 if z >= 0 else e) / (1.0 + e)
    if code == TANH:
        return np.tanh(z)                  # (TANH)
    if code == RELU:
        return z if (z > 0 or z != z) else 0.0   # (RELU) max(z, 0); a NaN stays NaN
    if code == SILU:
        e = np.exp(-abs(z))
        return z * ((1.0 if z >= 0 else e) / (1.0 + e))
    return z                               # identity


@_jit
def _prime(code, z, a):
    """sigma'(z) given z and a = sigma(z), each formula as in activations.py."""
    if code == SIGMOID:
        return a * (1.0 - a)               # (SIGMOID) sigma' = sigma (1 - sigma)
    if code == TANH:
        return 1.0 - a * a                 # (TANH) 1 - tanh^2
    if code == RELU:
        return 1.0 if z > 0 else 0.0       # (RELU) 0 at z = 0
    if code == SILU:
        e = np.exp(-abs(z))
        s = (1.0 if z >= 0 else e) / (1.0 + e)
        return s * (1.0 + z * (1.0 - s))
    return 1.0                             # identity


@_jit
def _sparse_forward(z, W, width, values, indices, p, p_end, lut):
    """(FF) z += W^1 x over the non-zero inputs p..p_end of one example: x_k = 0 adds 0.
    W is W^1T flat, row k at k*width.  Four rows at a time: a quarter of the loads
    and stores of z."""
    while p + 3 < p_end:
        k1, k2, k3, k4 = indices[p], indices[p + 1], indices[p + 2], indices[p + 3]
        x1, x2 = _value(values, p, lut), _value(values, p + 1, lut)
        x3, x4 = _value(values, p + 2, lut), _value(values, p + 3, lut)
        w1 = W[k1 * width:(k1 + 1) * width]    # row k1 of W^T
        w2 = W[k2 * width:(k2 + 1) * width]
        w3 = W[k3 * width:(k3 + 1) * width]
        w4 = W[k4 * width:(k4 + 1) * width]
        for j in range(width):
            z[j] += (x1 * w1[j] + x2 * w2[j]) + (x3 * w3[j] + x4 * w4[j])
        p += 4
    while p < p_end:
        k = indices[p]
        x = _value(values, p, lut)
        w = W[k * width:(k + 1) * width]
        for j in range(width):
            z[j] += x * w[j]
        p += 1


@_jit
def _sparse_update(T, width, values, indices, p, p_end, lut, g):
    """(BP4) row k of T -= x_k g for the non-zero inputs p..p_end of one example, with
    g = (eta/m) delta^1: dC/dw_jk = x_k delta_j, and a zero pixel contributes 0."""
    for q in range(p, p_end):
        k = indices[q]
        x = _value(values, q, lut)
        t = T[k * width:(k + 1) * width]
        for j in range(width):
            t[j] -= x * g[j]


@_jit
def train_epoch(values, indptr, indices, lut, Y, order, mb_size, params, velocity, sizes,
                widths, w_off, b_off, u_off, hidden, output, cost, penalty, eta, lmbda_n, mu,
                dropout, uniforms, check_each_batch):
    """One epoch of mini-batch SGD (or momentum) over ``order``, updating ``params``
    (and ``velocity``) in place.

    indptr/indices/values the inputs' non-zero entries, row by row (``pixels.csr``),
    values uint8 pixels (scaled by ``lut``) or floats; Y (n, n_L) targets; order
    (n,) the epoch's permutation, mini-batch b = order[b*mb_size:(b+1)*mb_size];
    params (P,) from ``pack``, velocity (P,) for momentum or (0,) for plain SGD;
    sizes (L+1,) and the widths and offsets from ``layout``; hidden/output/cost/penalty integer
    codes; eta the learning rate, lmbda_n = lambda / n, mu the momentum coefficient;
    dropout p with ``uniforms`` the epoch's uniform draws, mini-batch by mini-batch,
    hidden layer by hidden layer, each (m, n_l) row-major (what the NumPy path draws
    from the same generator).

    Returns the index of the first mini-batch after which some parameter is not
    finite when ``check_each_batch`` (and stops there), else -1 without checking.
    """
    n = order.shape[0]
    Y_flat = Y.reshape(Y.size)                    # (n * n_L,), for prefetching rows
    L = sizes.shape[0] - 1                        # number of weight layers
    U = u_off[L]                                  # units in layers 1..L
    n_w = w_off[L]                                # weights come first in params
    P = params.shape[0]
    Z = np.zeros((mb_size, U), dtype=params.dtype)   # weighted inputs z^l, (m, n_l) blocks
    A = np.zeros((mb_size, U), dtype=params.dtype)   # activations a^l (after dropout)
    S = np.zeros((mb_size, U), dtype=params.dtype)   # sigma'(z^l) * dropout mask
    D = np.zeros((mb_size, U), dtype=params.dtype)   # errors delta^l
    G = np.zeros(U, dtype=params.dtype)              # (eta/m) delta^l of one example (width,)
    tiny = 1.1754943508222875e-38 if params.itemsize == 4 else 2.2250738585072014e-308
    keep = np.zeros(1, dtype=params.dtype)
    keep[0] = 1.0 / (1.0 - dropout)               # (DROPOUT) inverted dropout scale
    h_off = np.zeros(L + 1, dtype=np.int64)      # hidden units before layer l (unpadded)
    for l in range(L):
        h_off[l + 1] = h_off[l] + sizes[l + 1]
    n_hidden_units = h_off[L - 1]
    momentum = velocity.shape[0] > 0
    target = velocity if momentum else params     # where the gradient steps go
    # (L2) with plain SGD every weight shrinks by the same factor 1 - eta lambda/n each
    # step; instead of a pass over all weights per mini-batch, keep W = ws * V (V in
    # params) and fold ws back into V every FOLD_EVERY mini-batches and at the end.
    decay = 1.0 - eta * lmbda_n
    lazy = penalty == PENALTY_L2 and not momentum and 0.0 < decay < 1.0
    ws = 1.0
    u_base = 0                                    # next unused uniform draw
    n_batches = (n + mb_size - 1) // mb_size
    for b in range(n_batches):
        start = b * mb_size
        m = min(mb_size, n - start)
        # ---- forward pass, example by example: (FF) -------------------------------------
        for i in range(m):
            r = order[start + i]
            if start + i + 1 < n:
                # The examples sit at random places: start loading the next one now
                # (measured: a quarter off the first layer's forward pass, and the
                # target row: without it, (BP1) waited ~7% of the epoch on Y).
                r_next = order[start + i + 1]
                for c in range(indptr[r_next], indptr[r_next + 1], ALIGN // values.itemsize):
                    _prefetch(values, c)
                for c in range(indptr[r_next], indptr[r_next + 1], ALIGN // indices.itemsize):
                    _prefetch(indices, c)
                _prefetch(Y_flat, r_next * Y.shape[1])
                _prefetch(Y_flat, (r_next + 1) * Y.shape[1] - 1)
            for l in range(L):
                n_in = sizes[l]
                n_out = sizes[l + 1]
                width = widths[l]
                wo = w_off[l]
                uo = u_off[l]
                z = Z[i, uo:uo + width]                   # (width,), padding stays 0
                z[:] = 0.0
                if l == 0:
                    _sparse_forward(z, params[wo:wo + n_in * width], width, values, indices,
                                    indptr[r], indptr[r + 1], lut)   # (FF) z = W^1 x + b^1
                else:
                    a_prev = A[i, u_off[l - 1]:u_off[l - 1] + n_in]      # (n_in,)
                    k = 0
                    while k + 3 < n_in:    # four rows of W^T at a time, as in layer 1
                        a1, a2, a3, a4 = a_prev[k], a_prev[k + 1], a_prev[k + 2], a_prev[k + 3]
                        w1 = params[wo + k * width:wo + (k + 1) * width]
                        w2 = params[wo + (k + 1) * width:wo + (k + 2) * width]
                        w3 = params[wo + (k + 2) * width:wo + (k + 3) * width]
                        w4 = params[wo + (k + 3) * width:wo + (k + 4) * width]
                        for j in range(width):
                            z[j] += (a1 * w1[j] + a2 * w2[j]) + (a3 * w3[j] + a4 * w4[j])
                        k += 4
                    while k < n_in:
                        ak = a_prev[k]
                        w = params[wo + k * width:wo + (k + 1) * width]
                        for j in range(width):
                            # (FF) z = W a + b, a row of W^T at a time
                            z[j] += ak * w[j]
                        k += 1
                if lazy:
                    for j in range(n_out):
                        z[j] *= ws                      # W = ws * V
                bias = params[b_off[l]:b_off[l] + n_out]
                for j in range(n_out):
                    z[j] += bias[j]
                a = A[i, uo:uo + n_out]
                s = S[i, uo:uo + n_out]
                code = output if l == L - 1 else hidden
                if code == SOFTMAX:
                    # (SOFTMAX) shift by the row maximum: every exponent <= 0, no overflow.
                    zmax = z[0]
                    for j in range(1, n_out):
                        zmax = max(zmax, z[j])
                    total = 0.0
                    for j in range(n_out):
                        a[j] = np.exp(z[j] - zmax)
                        total += a[j]
                    for j in range(n_out):
                        a[j] = a[j] / total
                else:
                    for j in range(n_out):
                        a_j = _activate(code, z[j])
                        if abs(a_j) < tiny:
                            # Subnormal numbers (a float32 sigmoid below z = -87, and the
                            # errors and steps made from it) make arithmetic ~100x slower:
                            # they are flushed to 0 here and below; the change is < 1e-38.
                            a_j = 0.0
                        a[j] = a_j
                        s[j] = _prime(code, z[j], a[j])
                    if dropout > 0.0 and l < L - 1:
                        # (DROPOUT) mask = [u >= p] / (1 - p), the NumPy path's draws.
                        q = u_base + m * h_off[l] + i * n_out
                        for j in range(n_out):
                            if uniforms[q + j] >= dropout:
                                a[j] *= keep[0]
                                s[j] *= keep[0]   # (DROPOUT) a dropped unit passes no error
                            else:
                                a[j] *= 0.0
                                s[j] *= 0.0
        u_base += m * n_hidden_units
        # ---- backward pass with the old weights: (BP1), (BP2) ---------------------------
        for i in range(m):
            r = order[start + i]
            uo = u_off[L - 1]
            for j in range(sizes[L]):
                if cost == QUADRATIC:
                    d_j = (A[i, uo + j] - Y[r, j]) * S[i, uo + j]  # (QUAD) (BP1)
                else:
                    d_j = A[i, uo + j] - Y[r, j]          # (XENT)/(LOGLIK) (BP1) a - y
                D[i, uo + j] = 0.0 if abs(d_j) < tiny else d_j   # NaN stays NaN
            for l in range(L - 1, 0, -1):
                n_in = sizes[l]
                n_out = sizes[l + 1]
                width = widths[l]
                wo = w_off[l]
                d_next = D[i, u_off[l]:u_off[l] + n_out]             # delta^{l+1} (n_out,)
                for k in range(n_in):
                    w = params[wo + k * width:wo + k * width + n_out]  # row k of W^T
                    acc = 0.0
                    for j in range(n_out):
                        acc += w[j] * d_next[j]
                    if lazy:
                        acc *= ws                       # W = ws * V
                    # (BP2) delta^l = (W^{l+1 T} delta^{l+1}) * sigma'(z^l)
                    d_k = acc * S[i, u_off[l - 1] + k]
                    D[i, u_off[l - 1] + k] = 0.0 if abs(d_k) < tiny else d_k  # no subnormals
        # ---- update: penalty and momentum first, then (BP3)/(BP4) per example ----------
        if momentum:
            for q in range(P):
                velocity[q] *= mu                # (MOMENTUM) v -> mu v - eta grad C
        if lazy:
            ws *= decay                           # (L2) w -> (1 - eta lambda/n) w, all at once
        elif penalty == PENALTY_L2:
            for q in range(n_w):
                # (L2) the (lambda/n) w term of the gradient; biases are not decayed
                target[q] -= (eta * lmbda_n) * params[q]
        elif penalty == PENALTY_L1:
            for q in range(n_w):
                w_q = params[q]
                sgn = 1.0 if w_q > 0 else (-1.0 if w_q < 0 else 0.0)
                target[q] -= (eta * lmbda_n) * sgn         # (L1) (lambda/n) sgn(w), sgn(0) = 0
        step = eta / m                            # (SGD) w -> w - (eta/m) sum_x dC_x/dw
        w_step = step / ws                        # the same step for V = W / ws
        for l in range(L):
            n_in = sizes[l]
            n_out = sizes[l + 1]
            width = widths[l]
            wo = w_off[l]
            bo = b_off[l]
            g = G[:width]                             # padding: delta = 0, so g = 0
            for i in range(m):
                r = order[start + i]
                for j in range(n_out):
                    target[bo + j] -= step * D[i, u_off[l] + j]   # (BP3) dC/db = delta
                for j in range(width):
                    g_j = w_step * D[i, u_off[l] + j]
                    g[j] = 0.0 if abs(g_j) < tiny else g_j
                if l == 0:
                    _sparse_update(target[wo:wo + n_in * width], width, values, indices,
                                   indptr[r], indptr[r + 1], lut, g)   # (BP4) sparse x
                else:
                    a_prev = A[i, u_off[l - 1]:u_off[l - 1] + n_in]
                    t = target[wo:wo + n_in * width]      # all of W^T, rows contiguous
                    for k in range(n_in):
                        ak = a_prev[k]
                        if ak != 0.0:
                            base = k * width
                            for j in range(width):
                                t[base + j] -= ak * g[j]  # (BP4) a row of W^T at a time
        if momentum:
            for q in range(P):
                params[q] += velocity[q]          # (MOMENTUM) w -> w + v
        if lazy and (b % FOLD_EVERY == FOLD_EVERY - 1 or b == n_batches - 1):
            for q in range(n_w):
                params[q] *= ws                   # fold: rounding of ws stays ~1e-14
            ws = 1.0
        if check_each_batch:
            for q in range(P):
                if not np.isfinite(params[q]):
                    if lazy:
                        for q2 in range(n_w):
                            params[q2] *= ws
                    return b
    return -1
