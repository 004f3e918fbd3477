"""A fully connected (or softmax) layer's two stages, compiled and shared among threads:
(FF) z = x w^T + b with a = sigma(z), and (BP2)-(BP4).

How the work is shared: the forward stage by units (pairs of rows of w), the
backward stage by units for nabla_w and nabla_b and by columns for dC/dx, each
thread forming all of delta_z for itself (m n_out numbers, cheaper than waiting
for the others).  Small layers (the softmax layer's 100 x 10) run on the calling
thread alone.

Deliberately left out: dropout (layer by layer, the layer multiplies by the mask in
NumPy: one product of m n_in numbers; the training step, step.py, does it compiled).
"""

import numpy as np

from ..base.activations import IDENTITY, _activate, _prime
from ..base.jit import jit, prange, share, thread_count
from .activation import activation_code
from .matmul import LANES, _nn_columns, _nt_rows
from .scratch import scratch

SERIAL_WORK = 32_768   # multiply-adds below which a stage runs on the calling thread alone:
                       # starting the threads would cost more than they save


@jit(vector_sums=True)
def _forward_units(x, w, b, code, z, a, o0, o1):
    """(FF) units o0..o1: z = x w^T + b (dot products, network/conv/matmul.py), a = sigma(z)
    (a = z for the softmax layer, code IDENTITY)."""
    _nt_rows(x, w, z, o0, o1)                    # (FF) (m, n_in) @ (n_in, n_out)
    for n in range(z.shape[0]):
        for o in range(o0, o1):
            z[n, o] += b[o]
            a[n, o] = _activate(code, z[n, o])


@jit(parallel=True)
def _dense_forward(x, w, b, code, T, z, a):
    """``_forward_units`` with thread t taking its share of the units, in pairs."""
    n_out = z.shape[1]
    for t in prange(T):
        o0, o1 = share(n_out, 2, t, T)
        if o1 > o0:
            _forward_units(x, w, b, code, z, a, o0, o1)


@jit
def _output_errors(delta_a, z, a, code, dz, dzT, n0, n1):
    """(BP2) delta_z = delta_a * sigma'(z) for images n0..n1, into dz (m, n_out) and its
    transpose dzT (n_out, m)."""
    for n in range(n0, n1):
        for o in range(delta_a.shape[1]):
            d = delta_a[n, o] * _prime(code, z[n, o], a[n, o])
            dz[n, o] = d
            dzT[o, n] = d


@jit(fma=True)
def _unit_gradients(dz, dzT, x, g_w, g_b, o0, o1):
    """(BP4) nabla_w = delta^T x and (BP3) nabla_b for units o0..o1, each a sum over the
    images in order."""
    if o1 > o0:
        _nn_columns(dzT[o0:o1], x, g_w[o0:o1], 0, x.shape[1])   # (BP4) (n_out, m) @ (m, n_in)
        for o in range(o0, o1):
            g_b[o] = 0.0
            for n in range(dz.shape[0]):         # (BP3) images in order
                g_b[o] += dz[n, o]


@jit(fma=True)
def _backward_part(delta_a, z, a, x, w, code, input_grad, dz, dzT, g_w, g_b, dx, o0, o1,
                   c0, c1):
    """(BP2) all of delta_z (m n_out numbers) into dz and dzT, then (BP4) nabla_w and (BP3)
    nabla_b for units o0..o1, and (BP2) dC/dx's columns c0..c1."""
    _output_errors(delta_a, z, a, code, dz, dzT, 0, delta_a.shape[0])
    _unit_gradients(dz, dzT, x, g_w, g_b, o0, o1)
    if input_grad and c1 > c0:
        _nn_columns(dz, w, dx, c0, c1)           # (BP2) (m, n_out) @ (n_out, n_in)


@jit(parallel=True)
def _dense_backward(delta_a, z, a, x, w, code, T, input_grad, dz, dzT, g_w, g_b, dx):
    """``_backward_part`` on each thread, with its own dz[t], dzT[t] (cheaper to form than
    to wait for), its share of the units (four at a time) and of dC/dx's columns (whole
    vectors)."""
    n_out, n_in = w.shape
    for t in prange(T):
        o0, o1 = share(n_out, 4, t, T)
        c0, c1 = share(n_in, LANES, t, T)
        _backward_part(delta_a, z, a, x, w, code, input_grad, dz[t], dzT[t], g_w, g_b, dx, o0,
                       o1, c0, c1)


def dense_forward_numba(x, w, b, activation, work=None):
    """(FF) x (m, n_in) -> z, a (m, n_out); a = z for the softmax layer (Softmax is applied
    by the layer: it needs a whole row)."""
    x = np.ascontiguousarray(x)
    m, n_out = x.shape[0], w.shape[0]
    z, a = np.empty((m, n_out), dtype=x.dtype), np.empty((m, n_out), dtype=x.dtype)
    code = IDENTITY if activation.name == "softmax" else activation_code(activation)
    if m * w.size < SERIAL_WORK:
        _forward_units(x, w, b, code, z, a, 0, n_out)
    else:
        _dense_forward(x, w, b, code, max(1, min(thread_count(), -(-n_out // 2))), z, a)
    return z, (activation.fn(z) if activation.name == "softmax" else a)


def dense_backward_numba(delta_a, z, a, x, w, activation, need_input_grad, work=None):
    """dC/da (m, n_out) (for the softmax layer: dC/dz, activation None) -> nabla_w, nabla_b,
    dC/dx (m, n_in) or None.  nabla_w is one of the layer's work arrays (scratch.py): the
    next call overwrites it."""
    m, n_out = delta_a.shape
    code = IDENTITY if activation is None else activation_code(activation)
    T = 1 if m * w.size < SERIAL_WORK else max(1, thread_count())
    dz, dzT = scratch(work, "dz", (T, m, n_out), x.dtype), scratch(work, "dzT", (T, n_out, m), x.dtype)
    g_w, g_b = scratch(work, "nabla_w", w.shape, w.dtype), np.empty(n_out, dtype=w.dtype)
    dx = np.empty((m, x.shape[1]) if need_input_grad else (0, 0), dtype=x.dtype)
    delta_a = np.ascontiguousarray(delta_a)
    if T == 1:
        _backward_part(delta_a, z, a, x, w, code, need_input_grad, dz[0], dzT[0], g_w, g_b, dx,
                       0, n_out, 0, x.shape[1])
    else:
        _dense_backward(delta_a, z, a, x, w, code, T, need_input_grad, dz, dzT, g_w, g_b, dx)
    return g_w, g_b, (dx if need_input_grad else None)
