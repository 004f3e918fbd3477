"""The layers' stages by their definitions, in NumPy: the reference the compiled stages match.

Layout: images are channels-last, ``(m, H, W, C)`` (rows are still examples).
A convolution is im2col followed by one matrix product:

    cols[n, i, j, c, p, q] = x[n, i + p, j + q, c]          (m, OH, OW, C, k, k)
    z[n, i, j, f] = sum_{c,p,q} w[f, c, p, q] cols[n, i, j, c, p, q]      (CONV-FWD)

so ``z = cols.reshape(-1, C*k*k) @ w.reshape(F, -1).T``, with the filters kept in
the book's (network3's) ``(F, C, k, k)`` order.  Going back, the error with
respect to the input is the "col2im" scatter-add of the error with respect to
the columns (CONV-BP).  Max-pooling over disjoint 2x2 (in general s x s) blocks
records which element of each block won, and the backward pass routes each
pooled error to that element alone (POOL-BP).

im2col, col2im and max-pooling here build the NumPy twin of each compiled stage
(``conv_pool_forward_numpy`` ... ``dense_backward_numpy``): BLAS products over dense
arrays, as the book's equations read.  Tests hold the compiled stages
(network/conv/conv_pool.py, dense.py) equal to them to 1e-12 in float64, and the
layers run them where numba does not (NNDL_NO_NUMBA=1).  Ties in a pooling block
go to the first maximum in row-major (p, q) order, here and in the compiled stages.

Deliberately left out: strides other than 1, padding, pooling windows that
overlap; rows or columns that do not fill a whole pooling block are dropped
(network3's ``ignore_border=True``).
"""

import numpy as np

# ---- im2col ---------------------------------------------------------------------------


def im2col(x, k):
    """(m, H, W, C) -> (m, OH, OW, C, k, k) patches, OH = H - k + 1 (valid, stride 1):
    a sliding-window view, then a copy."""
    view = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))  # (m, OH, OW, C, k, k)
    return np.ascontiguousarray(view)


# ---- col2im (the adjoint of im2col) -------------------------------------------------


def col2im(dcols, H, W):
    """(m, OH, OW, C, k, k) -> (m, H, W, C): add each patch's error back where it came from,
    one slice addition per filter offset (p, q)."""
    m, OH, OW, C, k, _ = dcols.shape
    dx = np.zeros((m, H, W, C), dtype=dcols.dtype)
    for p in range(k):
        for q in range(k):
            dx[:, p:p + OH, q:q + OW, :] += dcols[:, :, :, :, p, q]  # (CONV-BP)
    return dx


# ---- max-pooling --------------------------------------------------------------------


def _blocks(x, s):
    """(m, H, W, C) -> (m, PH, PW, C, s*s): each pooling block's elements in row-major order."""
    m, H, W, C = x.shape
    PH, PW = H // s, W // s
    b = x[:, :PH * s, :PW * s, :].reshape(m, PH, s, PW, s, C)
    return b.transpose(0, 1, 3, 5, 2, 4).reshape(m, PH, PW, C, s * s)


def maxpool(x, s=2):
    """(m, H, W, C) -> (pooled (m, H//s, W//s, C), winner index p*s+q as int8); argmax
    takes the first maximum."""
    b = _blocks(x, s)
    arg = np.argmax(b, axis=-1)                                    # (m, PH, PW, C)
    out = np.take_along_axis(b, arg[..., None], axis=-1)[..., 0]   # (POOL-FWD)
    return out, arg.astype(np.int8)


def maxpool_backward(dout, arg, s, H, W):
    """Route pooled errors (m, PH, PW, C) back to the winners in (m, H, W, C): a one-hot of
    the winner times the error."""
    m, PH, PW, C = dout.shape
    onehot = (np.arange(s * s) == arg[..., None].astype(np.int64))         # (m, PH, PW, C, s*s)
    blocks = onehot * dout[..., None]                                      # (POOL-BP)
    blocks = blocks.reshape(m, PH, PW, C, s, s).transpose(0, 1, 4, 2, 5, 3)  # (m, PH, s, PW, s, C)
    dx = np.zeros((m, H, W, C), dtype=dout.dtype)
    dx[:, :PH * s, :PW * s, :] = blocks.reshape(m, PH * s, PW * s, C)
    return dx


# ---- the stages' twins: the compiled stages (conv_pool.py, dense.py) are held to them ----

def conv_pool_forward_numpy(x, w, b, s, activation, work=None):
    """The twin of ``conv_pool_forward_numba``: im2col, one BLAS product, max-pooling; the
    backward stage gets the patches and the input's shape."""
    F, C, k, _ = w.shape
    m, H, W, _ = x.shape
    cols = im2col(x, k).reshape(-1, C * k * k)                  # (m*OH*OW, C*k*k)
    conv = (cols @ w.reshape(F, -1).T).reshape(m, H - k + 1, W - k + 1, F)  # (CONV-FWD)
    pooled, arg = maxpool(conv, s)                              # (POOL-FWD)
    z = pooled + b                                                      # shared bias per map
    return z, activation.fn(z), arg, (cols, x.shape)


def conv_pool_backward_numpy(delta_a, z, a, arg, saved, w, s, activation, need_input_grad,
                             work=None):
    """The twin of ``conv_pool_backward_numba``: the pooled errors routed back to a full map
    (mostly zeros), then dense BLAS products and col2im."""
    cols, (m, H, W, _) = saved
    F, C, k, _ = w.shape
    OH, OW = H - k + 1, W - k + 1
    delta_z = delta_a * activation.prime(z)                           # (BP2) elementwise sigma'
    nabla_b = delta_z.sum(axis=(0, 1, 2))                             # (CONV-BP) shared bias
    d2 = maxpool_backward(delta_z, arg, s, OH, OW).reshape(-1, F)  # (POOL-BP) (m*OH*OW, F)
    nabla_w = (d2.T @ cols).reshape(w.shape)                          # (CONV-BP) (F, m*OH*OW) @ (m*OH*OW, Ckk)
    if not need_input_grad:
        return nabla_w, nabla_b, None
    dcols = (d2 @ w.reshape(F, C * k * k)).reshape(m, OH, OW, C, k, k)  # (CONV-BP) (m*OH*OW, Ckk)
    return nabla_w, nabla_b, col2im(dcols, H, W)              # (CONV-BP) (m, H, W, C)


def dense_forward_numpy(x, w, b, activation, work=None):
    """The twin of ``dense_forward_numba``: a BLAS product."""
    z = x @ w.T + b                                                # (FF) (m, n_in) @ (n_in, n_out)
    return z, activation.fn(z)


def dense_backward_numpy(delta_a, z, a, x, w, activation, need_input_grad, work=None):
    """The twin of ``dense_backward_numba``: BLAS products."""
    delta_z = delta_a if activation is None else delta_a * activation.prime(z)   # (BP2)
    nabla_b = delta_z.sum(axis=0)                                  # (BP3)
    nabla_w = delta_z.T @ x                                        # (BP4) (n_out, m) @ (m, n_in)
    dx = delta_z @ w if need_input_grad else None                  # (BP2) (m, n_out) @ (n_out, n_in)
    return nabla_w, nabla_b, dx
