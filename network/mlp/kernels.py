"""numba kernels for the Network's training loop: one whole epoch of mini-batch SGD, compiled.

The book's networks are small and train on mini-batches of 10, so a step does
little arithmetic and the per-step overhead of NumPy (a dozen small array
operations, each a Python call) dominates.  ``train_epoch`` runs every
mini-batch of an epoch in one compiled call: feedforward (FF), the output error
(BP1), backpropagation (BP2), and the update of weights and biases from (BP3)
and (BP4) with plain SGD or momentum, L2 or L1 and dropout.  It is held equal
to the plain NumPy reference (``network/mlp/backprop.py`` driven by
``Network._train_epoch_numpy``) to 1e-12 in float64 by tests/test_kernels.py.

The epoch reads like the book's SGD: ``train_epoch`` loops over the mini-batches,
and each mini-batch goes through stages named for their equations,
``_feedforward`` (FF) with (DROPOUT), ``_backpropagate`` (BP1) and (BP2),
``_penalty_step`` (L2)/(L1) and ``_gradient_step`` (BP3)/(BP4), with (MOMENTUM)
around the last two.  A stage goes example by example through small helpers for
one layer's row (``_activate_row``, ``_output_error``, ``_hidden_error``, ...).
numba copies the helpers into the stages and the stages into ``train_epoch``
(``inline`` in network/base/jit.py): what runs is one function, as before the
epoch was split.  The arguments come grouped in named tuples
(network/mlp/layout.py: ``TrainingSet``, ``Hyperparameters``, ``Workspace``, a
table of ``Layer`` rows), and ``train_epoch`` first takes them as views numba does
not reference-count (``borrowed`` in network/base/jit.py): numba updates an
array's count, atomically, whenever the array is passed, sliced or taken out of a
tuple, and with the stages as calls that was ~45 updates an example, which at
mini-batch 1 made the epoch ~15% slower than before the split (docs/speed.md,
"The epoch in stages").

How it differs from the matrix form, and why (same numbers, other order):

* Inputs are read sparsely: about 81% of MNIST pixels are 0, and a zero pixel
  adds exactly 0 to every weighted input and to every weight gradient, so each
  example visits only its non-zero pixels (``indptr``/``indices``/``values``,
  CSR form, the next example's fetched ahead).  Raw uint8 pixels are kept
  compact and scaled inside the kernel through a 256-entry table
  ``lut[v] = v / 255`` computed exactly as NumPy does.
* Weights are stored transposed, W^T of shape (n_in, n_out), in one flat array
  (``layout.pack``) that starts on a 64-byte cache line: every inner loop then runs
  over contiguous, aligned memory (a row of W^T) and vectorises without
  ``fastmath``; only (BP2) sums across a row.  (Measured on a copy of the kernel
  timed side by side: an array 16 bytes off a cache line, as NumPy's allocator
  gives, made the whole epoch ~8% slower.)  The per-example buffers
  (``layout.workspace``) start on cache lines too: numba's own np.zeros promises 32
  bytes, and the epoch's speed varied by a few percent with where they landed.
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

from ..base.activations import SOFTMAX, _activate, _prime
from ..base.jit import HAVE_NUMBA  # noqa: F401  (the tests ask the kernels module)
from ..base.jit import borrowed
from ..base.jit import inline as _inline
from ..base.jit import jit as _jit
from .layout import ALIGN, FOLD_EVERY, PENALTY_L1, PENALTY_L2, QUADRATIC, _layer
from .pixels import _prefetch, _value

# ---- one unit, one row: the formulas -------------------------------------------------

@_inline
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


@_inline
def _sparse_update(T, width, values, indices, p, p_end, lut, g):
    """(BP4) row k of T -= x_k g for the non-zero inputs p..p_end of one example, with
    g = (eta/m) delta^1: dC/dw_jk = x_k delta_j, and a zero pixel contributes 0."""
    for q in range(p, p_end):
        k = indices[q]
        x = _value(values, q, lut)
        t = T[k * width:(k + 1) * width]
        for j in range(width):
            t[j] -= x * g[j]


@_inline
def _dense_forward(z, W, width, a_prev):
    """(FF) z += W^l a^{l-1} over the activations a_prev (n_in,) of the layer below; W is
    W^lT flat, row k at k*width.  Four rows at a time, as in layer 1."""
    n_in = a_prev.shape[0]
    k = 0
    while k + 3 < n_in:
        a1, a2, a3, a4 = a_prev[k], a_prev[k + 1], a_prev[k + 2], a_prev[k + 3]
        w1 = W[k * width:(k + 1) * width]          # row k of W^T
        w2 = W[(k + 1) * width:(k + 2) * width]
        w3 = W[(k + 2) * width:(k + 3) * width]
        w4 = W[(k + 3) * width:(k + 4) * width]
        for j in range(width):
            z[j] += (a1 * w1[j] + a2 * w2[j]) + (a3 * w3[j] + a4 * w4[j])
        k += 4
    while k < n_in:
        ak = a_prev[k]
        w = W[k * width:(k + 1) * width]
        for j in range(width):
            z[j] += ak * w[j]                      # (FF) z = W a + b, a row of W^T at a time
        k += 1


@_inline
def _dense_update(T, width, a_prev, g):
    """(BP4) row k of T -= a_k g over the activations a_prev (n_in,) of the layer below,
    with g = (eta/m) delta^l: dC/dw_jk = a_k delta_j, and a zero (or dropped) unit adds 0."""
    for k in range(a_prev.shape[0]):
        ak = a_prev[k]
        if ak != 0.0:
            base = k * width
            for j in range(width):
                T[base + j] -= ak * g[j]           # (BP4) a row of W^T at a time


@_jit
def _tiny(a):
    """The smallest normal number of a's dtype.  Subnormal numbers (a float32 sigmoid below
    z = -87, and the errors and steps made from it) make arithmetic ~100x slower: values
    below this are flushed to 0 (a change < 1e-38)."""
    return 1.1754943508222875e-38 if a.itemsize == 4 else 2.2250738585072014e-308


@_inline
def _activate_row(code, z, a, s):
    """(FF) a = sigma(z) and s = sigma'(z) for one layer of one example, a unit at a time."""
    tiny = _tiny(a)
    for j in range(a.shape[0]):
        a_j = _activate(code, z[j])
        if abs(a_j) < tiny:
            a_j = 0.0                              # no subnormals (see _tiny)
        a[j] = a_j
        s[j] = _prime(code, z[j], a[j])


@_inline
def _softmax_row(z, a):
    """(SOFTMAX) a = e^z / sum e^z, shifted by the row maximum: every exponent <= 0, no
    overflow.  (Only with the log-likelihood cost, whose (BP1) needs no sigma'.)"""
    n_out = a.shape[0]
    zmax = z[0]
    for j in range(1, n_out):
        zmax = max(zmax, z[j])
    total = 0.0
    for j in range(n_out):
        a[j] = np.exp(z[j] - zmax)
        total += a[j]
    for j in range(n_out):
        a[j] = a[j] / total


@_inline
def _drop_out(a, s, u, p, keep):
    """(DROPOUT) a *= mask and s *= mask with mask = [u >= p] / (1 - p), u the NumPy
    path's uniform draws for these units: a dropped unit passes on no signal and no error."""
    for j in range(a.shape[0]):
        if u[j] >= p:
            a[j] *= keep
            s[j] *= keep
        else:
            a[j] *= 0.0
            s[j] *= 0.0


@_inline
def _output_error(a, s, y, d, cost):
    """(BP1) delta^L = grad_a C * sigma'(z^L) for one example."""
    tiny = _tiny(d)
    for j in range(d.shape[0]):
        if cost == QUADRATIC:
            d_j = (a[j] - y[j]) * s[j]             # (QUAD) (BP1) (a - y) sigma'(z)
        else:
            d_j = a[j] - y[j]                      # (XENT)/(LOGLIK) (BP1) a - y
        d[j] = 0.0 if abs(d_j) < tiny else d_j     # NaN stays NaN


@_inline
def _hidden_error(W, width, ws, d_next, s, d):
    """(BP2) delta^l = (W^{l+1 T} delta^{l+1}) * sigma'(z^l) for one example; W is
    W^{l+1}T flat (row k at k*width), scaled by ws (see ``train_epoch``), so unit k's
    error sums row k: contiguous."""
    tiny = _tiny(d)
    n_out = d_next.shape[0]
    for k in range(d.shape[0]):
        w = W[k * width:k * width + n_out]        # row k of W^T
        acc = 0.0
        for j in range(n_out):
            acc += w[j] * d_next[j]
        acc *= ws                                  # W = ws * V
        d_k = acc * s[k]                           # (BP2)
        d[k] = 0.0 if abs(d_k) < tiny else d_k     # no subnormals


# ---- one mini-batch: the stages ------------------------------------------------------

@_inline
def _feedforward(data, batch, following, params, ws, layers, hyper, work, draws):
    """(FF) z^l = W^l a^{l-1} + b^l, a^l = sigma(z^l) for l = 1..L and every example of
    the mini-batch (batch[i] in row i of ``work``), (DROPOUT) on the hidden layers with
    ``draws``, this mini-batch's uniforms: (m, n_l) row-major, layer after layer.
    following[i] is the example after batch[i] (if any), fetched ahead."""
    indptr, indices, values, lut, Y = data
    Z, A, S, _, _ = work
    Y_flat = Y.reshape(Y.size)                     # (n * n_L,), to prefetch a row's ends
    L = layers.shape[0]
    m = batch.shape[0]
    for i in range(m):
        r = batch[i]
        if i < following.shape[0]:
            r_next = following[i]                  # fetch the next example ahead
            for c in range(indptr[r_next], indptr[r_next + 1], ALIGN // values.itemsize):
                _prefetch(values, c)
            for c in range(indptr[r_next], indptr[r_next + 1], ALIGN // indices.itemsize):
                _prefetch(indices, c)
            _prefetch(Y_flat, r_next * Y.shape[1])
            _prefetch(Y_flat, (r_next + 1) * Y.shape[1] - 1)
        for l in range(L):
            lay = _layer(layers, l)
            W = params[lay.w_off:lay.w_off + lay.n_in * lay.width]   # V^lT (n_in, width), flat
            z = Z[i, lay.u_off:lay.u_off + lay.width]    # (width,), padding stays 0
            z[:] = 0.0
            if l == 0:                             # (FF) z = W^1 x, sparse x
                _sparse_forward(z, W, lay.width, values, indices, indptr[r], indptr[r + 1],
                                lut)
            else:                                  # (FF) z = W^l a^{l-1}
                _dense_forward(z, W, lay.width, A[i, lay.in_off:lay.in_off + lay.n_in])
            if ws != 1.0:
                for j in range(lay.n_out):
                    z[j] *= ws                     # W = ws * V (lazy (L2), see train_epoch)
            bias = params[lay.b_off:lay.b_off + lay.n_out]
            for j in range(lay.n_out):
                z[j] += bias[j]                    # (FF) + b^l
            a, s = A[i, lay.u_off:lay.u_off + lay.n_out], S[i, lay.u_off:lay.u_off + lay.n_out]
            code = hyper.output if l == L - 1 else hyper.hidden
            if code == SOFTMAX:
                _softmax_row(z, a)
            else:
                _activate_row(code, z, a, s)
                if hyper.dropout > 0.0 and l < L - 1:
                    q = m * lay.d_off + i * lay.n_out
                    _drop_out(a, s, draws[q:q + lay.n_out], hyper.dropout, hyper.keep)


@_inline
def _backpropagate(data, batch, params, ws, layers, hyper, work):
    """(BP1) then (BP2) down to layer 1 for every example of the mini-batch, with the
    weights as they were before this step (the update comes after)."""
    Y = data.Y
    _, A, S, D, _ = work
    L = layers.shape[0]
    out = _layer(layers, L - 1)
    for i in range(batch.shape[0]):
        o, n_L = out.u_off, out.n_out
        _output_error(A[i, o:o + n_L], S[i, o:o + n_L], Y[batch[i]], D[i, o:o + n_L],
                      hyper.cost)
        for l in range(L - 1, 0, -1):              # delta^l from delta^{l+1}, W^{l+1}
            lay = _layer(layers, l)
            below = lay.in_off
            _hidden_error(params[lay.w_off:lay.w_off + lay.n_in * lay.width], lay.width, ws,
                          D[i, lay.u_off:lay.u_off + lay.n_out], S[i, below:below + lay.n_in],
                          D[i, below:below + lay.n_in])


@_inline
def _penalty_step(params, target, n_w, hyper):
    """The penalty's gradient term, (L2) (lambda/n) w or (L1) (lambda/n) sgn(w), times eta,
    from ``target`` (the weights, or the velocity with momentum); biases are not
    regularised."""
    if hyper.penalty == PENALTY_L2:
        for q in range(n_w):
            target[q] -= (hyper.eta * hyper.lmbda_n) * params[q]   # (L2) (lambda/n) w
    elif hyper.penalty == PENALTY_L1:
        for q in range(n_w):
            w_q = params[q]
            sgn = 1.0 if w_q > 0 else (-1.0 if w_q < 0 else 0.0)
            target[q] -= (hyper.eta * hyper.lmbda_n) * sgn     # (L1) sgn(0) = 0


@_inline
def _gradient_step(data, batch, target, step, ws, layers, work):
    """(BP3)/(BP4) target -= (eta/m) sum_x dC_x/d(b, w), one example's contribution at a
    time (the mini-batch gradient is never stored); ``step`` = eta/m.  With W = ws * V
    the weights' step is step / ws on V."""
    indptr, indices, values, lut, _ = data
    _, A, _, D, G = work
    tiny = _tiny(target)
    w_step = step / ws                             # the same step for V = W / ws
    for l in range(layers.shape[0]):
        lay = _layer(layers, l)
        width, o = lay.width, lay.u_off
        T = target[lay.w_off:lay.w_off + lay.n_in * width]   # all of V^lT, rows contiguous
        g = G[:width]                              # padding: delta = 0, so g = 0
        for i in range(batch.shape[0]):
            d = D[i, o:o + width]
            for j in range(lay.n_out):
                target[lay.b_off + j] -= step * d[j]   # (BP3) dC/db = delta
            for j in range(width):
                g_j = w_step * d[j]
                g[j] = 0.0 if abs(g_j) < tiny else g_j
            if l == 0:                             # (BP4) sparse x
                r = batch[i]
                _sparse_update(T, width, values, indices, indptr[r], indptr[r + 1], lut, g)
            else:                                  # (BP4) a^{l-1}
                _dense_update(T, width, A[i, lay.in_off:lay.in_off + lay.n_in], g)


@_jit
def _scale(a, c):
    """a *= c, in place."""
    for q in range(a.shape[0]):
        a[q] *= c


@_jit
def _all_finite(a):
    for q in range(a.shape[0]):
        if not np.isfinite(a[q]):
            return False
    return True


# ---- the epoch -----------------------------------------------------------------------

@_jit
def train_epoch(data, order, mb_size, params, velocity, layers, hyper, work, uniforms,
                check_each_batch):
    """One epoch of mini-batch SGD (or momentum) over ``order``, updating ``params``
    (and ``velocity``) in place.

    data a ``TrainingSet``; order (n,) the epoch's permutation, mini-batch b =
    order[b*mb_size:(b+1)*mb_size]; params (P,) from ``layout.pack``, velocity (P,) for
    momentum or (0,) for plain SGD; layers the table from ``layers``; hyper
    ``Hyperparameters``; work a ``Workspace`` for mini-batches of mb_size (its contents
    are overwritten);
    uniforms the epoch's dropout draws, mini-batch by mini-batch, hidden layer by
    hidden layer, each (m, n_l) row-major (what the NumPy path draws from the same
    generator), or (0,) without dropout.

    Returns the index of the first mini-batch after which some parameter is not
    finite when ``check_each_batch`` (and stops there), else -1 without checking.
    """
    # Views numba does not reference-count (see ``borrowed``): ~45 atomic updates an
    # example at mini-batch 1 otherwise.  The arguments keep the arrays alive.
    data, order, params, velocity, layers, work, uniforms = borrowed(
        (data, order, params, velocity, layers, work, uniforms))
    n = order.shape[0]
    L = layers.shape[0]
    n_w = _layer(layers, 0).b_off                  # the weights come first in params
    n_hidden = _layer(layers, L - 1).d_off         # dropout draws per example
    momentum = velocity.shape[0] > 0
    target = velocity if momentum else params      # where the gradient steps go
    # (L2) with plain SGD every weight shrinks by the same factor 1 - eta lambda/n each
    # step; instead of a pass over all weights per mini-batch, keep W = ws * V (V in
    # params) and fold ws back into V every FOLD_EVERY mini-batches and at the end.
    decay = 1.0 - hyper.eta * hyper.lmbda_n
    lazy = hyper.penalty == PENALTY_L2 and not momentum and 0.0 < decay < 1.0
    ws = 1.0
    n_batches = (n + mb_size - 1) // mb_size
    for b in range(n_batches):
        start = b * mb_size
        batch = order[start:start + mb_size]       # (m,), the last one may be short
        m = batch.shape[0]
        _feedforward(data, batch, order[start + 1:start + m + 1], params, ws, layers, hyper,
                     work, uniforms[start * n_hidden:(start + m) * n_hidden])   # (FF)
        _backpropagate(data, batch, params, ws, layers, hyper, work)  # (BP1), (BP2)
        if momentum:
            _scale(velocity, hyper.mu)             # (MOMENTUM) v -> mu v - eta grad C
        if lazy:
            ws *= decay                            # (L2) w -> (1 - eta lambda/n) w, all at once
        else:
            _penalty_step(params, target, n_w, hyper)               # (L2)/(L1)
        step = hyper.eta / m                       # (SGD) w -> w - (eta/m) sum_x dC_x/dw
        _gradient_step(data, batch, target, step, ws, layers, work)   # (BP3)/(BP4)
        if momentum:
            params += velocity                     # (MOMENTUM) w -> w + v
        if lazy and (b % FOLD_EVERY == FOLD_EVERY - 1 or b == n_batches - 1):
            _scale(params[:n_w], ws)               # fold: rounding of ws stays ~1e-14
            ws = 1.0
        if check_each_batch and not _all_finite(params):
            if lazy:
                _scale(params[:n_w], ws)
            return b
    return -1
