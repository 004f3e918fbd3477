"""Convolution and max-pooling kernels: numba loops, each with a plain NumPy twin.

Layout: images are channels-last, ``(m, H, W, C)`` (rows are still examples).
A convolution is computed as im2col followed by one matrix product:

    cols[n, i, j, c, p, q] = x[n, i + p, j + q, c]          (m, OH, OW, C, k, k)
    z[n, i, j, f] = sum_{c,p,q} w[f, c, p, q] cols[n, i, j, c, p, q]      (CONV-FWD)

so ``z = cols.reshape(-1, C*k*k) @ w.reshape(F, -1).T``, with the filters kept in
the book's (network3's) ``(F, C, k, k)`` order.  Going back, the error with
respect to the input is the "col2im" scatter-add of the error with respect to
the columns (CONV-BP).  Max-pooling over disjoint 2x2 (in general s x s) blocks
records which element of each block won, and the backward pass routes each
pooled error to that element alone (POOL-BP).

Each numba kernel (``*_numba``, compiled through the one switch in
network/base/jit.py) has a NumPy twin (``*_numpy``) computing the same thing
from array operations; tests hold them equal.  The layers use the numba ones
where numba runs (``DEFAULT``), which measured faster on this machine (see
notes/chap6.md, "Speed"), and the twins where it does not (NNDL_NO_NUMBA=1):

- im2col: numba (a strided-view reshape in NumPy makes a slow generic copy);
- col2im: numba (the twin is k*k slice additions);
- max-pool forward and backward: numba (the twin needs transposes and argmax).

Ties in a pooling block go to the first maximum in row-major (p, q) order, in
both implementations.

Deliberately left out: strides other than 1, padding, pooling windows that
overlap; rows or columns that do not fill a whole pooling block are dropped
(network3's ``ignore_border=True``).
"""

import numpy as np

from ..base.jit import HAVE_NUMBA, jit

# ---- im2col ---------------------------------------------------------------------------


@jit
def _im2col_numba(x, k):
    m, H, W, C = x.shape
    OH, OW = H - k + 1, W - k + 1
    cols = np.empty((m, OH, OW, C, k, k), dtype=x.dtype)
    for n in range(m):
        for i in range(OH):
            for j in range(OW):
                for c in range(C):
                    for p in range(k):
                        for q in range(k):
                            cols[n, i, j, c, p, q] = x[n, i + p, j + q, c]
    return cols


def im2col_numba(x, k):
    """(m, H, W, C) -> (m, OH, OW, C, k, k) patches, OH = H - k + 1 (valid, stride 1)."""
    return _im2col_numba(np.ascontiguousarray(x), k)


def im2col_numpy(x, k):
    """The NumPy twin of ``im2col_numba``: a sliding-window view, then a copy."""
    view = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))  # (m, OH, OW, C, k, k)
    return np.ascontiguousarray(view)


# ---- col2im (the adjoint of im2col) -------------------------------------------------


@jit
def _col2im_numba(dcols, H, W):
    m, OH, OW, C, k, _ = dcols.shape
    dx = np.zeros((m, H, W, C), dtype=dcols.dtype)
    for n in range(m):
        for i in range(OH):
            for j in range(OW):
                for c in range(C):
                    for p in range(k):
                        for q in range(k):
                            dx[n, i + p, j + q, c] += dcols[n, i, j, c, p, q]  # (CONV-BP)
    return dx


def col2im_numba(dcols, H, W):
    """(m, OH, OW, C, k, k) -> (m, H, W, C): add each patch's error back where it came from."""
    return _col2im_numba(np.ascontiguousarray(dcols), H, W)


def col2im_numpy(dcols, H, W):
    """The NumPy twin of ``col2im_numba``: one slice addition per filter offset (p, q)."""
    m, OH, OW, C, k, _ = dcols.shape
    dx = np.zeros((m, H, W, C), dtype=dcols.dtype)
    for p in range(k):
        for q in range(k):
            dx[:, p:p + OH, q:q + OW, :] += dcols[:, :, :, :, p, q]  # (CONV-BP)
    return dx


# ---- max-pooling --------------------------------------------------------------------


@jit
def _maxpool_numba(x, s):
    m, H, W, C = x.shape
    PH, PW = H // s, W // s
    out = np.empty((m, PH, PW, C), dtype=x.dtype)
    arg = np.zeros((m, PH, PW, C), dtype=np.int8)
    for n in range(m):
        for i in range(PH):
            for j in range(PW):
                # channels innermost: contiguous in memory, so the loop vectorises
                for c in range(C):
                    out[n, i, j, c] = x[n, i * s, j * s, c]
                for p in range(s):
                    for q in range(s):
                        if p == 0 and q == 0:
                            continue
                        for c in range(C):
                            v = x[n, i * s + p, j * s + q, c]
                            if v > out[n, i, j, c]:   # strict: ties keep the first maximum
                                out[n, i, j, c] = v   # (POOL-FWD)
                                arg[n, i, j, c] = p * s + q
    return out, arg


def maxpool_numba(x, s=2):
    """(m, H, W, C) -> (pooled (m, H//s, W//s, C), winner index p*s+q as int8)."""
    return _maxpool_numba(np.ascontiguousarray(x), s)


def _blocks(x, s):
    """(m, H, W, C) -> (m, PH, PW, C, s*s): each pooling block's elements in row-major order."""
    m, H, W, C = x.shape
    PH, PW = H // s, W // s
    b = x[:, :PH * s, :PW * s, :].reshape(m, PH, s, PW, s, C)
    return b.transpose(0, 1, 3, 5, 2, 4).reshape(m, PH, PW, C, s * s)


def maxpool_numpy(x, s=2):
    """The NumPy twin of ``maxpool_numba`` (argmax also takes the first maximum)."""
    b = _blocks(x, s)
    arg = np.argmax(b, axis=-1)                                    # (m, PH, PW, C)
    out = np.take_along_axis(b, arg[..., None], axis=-1)[..., 0]   # (POOL-FWD)
    return out, arg.astype(np.int8)


@jit
def _maxpool_backward_numba(dout, arg, s, H, W):
    m, PH, PW, C = dout.shape
    dx = np.zeros((m, H, W, C), dtype=dout.dtype)
    for n in range(m):
        for i in range(PH):
            for j in range(PW):
                for c in range(C):
                    a = arg[n, i, j, c]
                    # (POOL-BP) only the winner of the block receives the error
                    dx[n, i * s + a // s, j * s + a % s, c] = dout[n, i, j, c]
    return dx


def maxpool_backward_numba(dout, arg, s, H, W):
    """Route pooled errors (m, PH, PW, C) back to the winners in (m, H, W, C)."""
    return _maxpool_backward_numba(np.ascontiguousarray(dout), np.ascontiguousarray(arg),
                                   s, H, W)


def maxpool_backward_numpy(dout, arg, s, H, W):
    """The NumPy twin of ``maxpool_backward_numba``: a one-hot of the winner times the error."""
    m, PH, PW, C = dout.shape
    onehot = (np.arange(s * s) == arg[..., None].astype(np.int64))         # (m, PH, PW, C, s*s)
    blocks = onehot * dout[..., None]                                      # (POOL-BP)
    blocks = blocks.reshape(m, PH, PW, C, s, s).transpose(0, 1, 4, 2, 5, 3)  # (m, PH, s, PW, s, C)
    dx = np.zeros((m, H, W, C), dtype=dout.dtype)
    dx[:, :PH * s, :PW * s, :] = blocks.reshape(m, PH * s, PW * s, C)
    return dx


# ---- the implementations the layers use ---------------------------------------------

IMPLEMENTATIONS = {
    "numba": dict(im2col=im2col_numba, col2im=col2im_numba, maxpool=maxpool_numba,
                  maxpool_backward=maxpool_backward_numba),
    "numpy": dict(im2col=im2col_numpy, col2im=col2im_numpy, maxpool=maxpool_numpy,
                  maxpool_backward=maxpool_backward_numpy),
}
# numba where it runs (network/base/jit.py; NNDL_NO_NUMBA=1 turns it off), else the twins.
DEFAULT = "numba" if HAVE_NUMBA else "numpy"
