"""The layers' stages, compiled and shared among threads, each with a plain NumPy twin.

A conv-pool layer is two stages, a fully connected layer two more:

- ``conv_pool_forward``: patches, (CONV-FWD) as one matrix product, (POOL-FWD), the
  shared bias and sigma;
- ``conv_pool_backward``: (BP2) sigma', then (CONV-BP) for nabla_w, nabla_b and
  dC/dx through the pooling winners only (POOL-BP);
- ``dense_forward`` / ``dense_backward``: (FF) and (BP2)-(BP4) of a fully connected
  or softmax layer, through the products of network/conv/matmul.py.

Each ``*_numba`` stage has a ``*_numpy`` twin that computes the same from the
definitions (network/conv/patches.py and BLAS products); tests hold them equal to
1e-12 in float64.  The layers use the compiled stages where numba runs
(``DEFAULT``) and the twins where it does not (NNDL_NO_NUMBA=1).

How the work is shared, so that a result never depends on the thread count
(the threads: ``threads`` in network/base/jit.py; tests hold 1 and 2 threads equal
bit for bit):

- forward, and dC/dx backward: by images.  An image's numbers are computed by one
  thread from its own input, and the k x k patches of a thread's images form one
  matrix (C k k, images x OH x OW) multiplied by the filters (F, C k k) at once;
- nabla_w and nabla_b: by filters.  A thread owns its filters' gradients and adds
  the images' contributions in image order, so every sum has one order.

How the compiled stages differ from the twins (same numbers, other order):

- (POOL-BP) sends a pooled error to the one winner of its s x s block, so the
  other s^2 - 1 positions contribute exactly 0 to nabla_w and dC/dx.  The compiled
  backward visits the winners only, a quarter of the products of the twin's dense
  ones with 2 x 2 pooling, and skips errors that are exactly 0 (ReLU units that
  were off), which add nothing;
- the patches are laid out transposed, (C k k, positions), so the product runs
  along positions (a multiple of the vector width for 24 x 24 and 8 x 8 maps);
  the backward pass reads the input itself, where a filter row of one channel
  layout is k C contiguous numbers.

Deliberately left out: anything the layers do not use (strides, padding,
overlapping pools); softmax inside a conv layer (it is not elementwise).
"""

import numpy as np

from ..base.jit import HAVE_NUMBA, jit, prange, thread_count
from ..errors import UsageError
from . import patches
from .matmul import U, _nn_columns, matmul_nn, matmul_nn_numpy, matmul_nt, matmul_nt_numpy

# ---- sigma and sigma', one number at a time -----------------------------------------

IDENTITY, SIGMOID, TANH, RELU, SILU = 0, 1, 2, 3, 4
CODES = {"identity": IDENTITY, "sigmoid": SIGMOID, "tanh": TANH, "relu": RELU, "silu": SILU}


def activation_code(activation):
    """The compiled stages' code for an activation class (network/base/activations.py)."""
    if activation.name not in CODES:
        raise UsageError(f"a conv-pool layer's activation must be one of {', '.join(CODES)}, "
                         f"got {activation.name!r}")
    return CODES[activation.name]


@jit
def _activate(code, z):
    """(FF) sigma(z), each formula as in activations.py."""
    if code == SIGMOID:
        e = np.exp(-abs(z))                  # (SIGMOID) stable: exponentiate -|z| only
        return (1.0 if z >= 0 else e) / (1.0 + e)
    if code == TANH:
        return np.tanh(z)                    # (TANH)
    if code == RELU:
        return z if (z > 0 or z != z) else 0.0   # (RELU) max(z, 0); a NaN stays NaN
    if code == SILU:
        e = np.exp(-abs(z))
        return z * ((1.0 if z >= 0 else e) / (1.0 + e))   # z sigma(z)
    return z


@jit
def _prime(code, z, a):
    """sigma'(z) given z and a = sigma(z)."""
    if code == SIGMOID:
        return a * (1.0 - a)                 # (SIGMOID) sigma' = sigma (1 - sigma)
    if code == TANH:
        return 1.0 - a * a                   # (TANH) 1 - tanh^2
    if code == RELU:
        return 1.0 if z > 0 else 0.0         # (RELU) 0 at z = 0
    if code == SILU:
        e = np.exp(-abs(z))
        sig = (1.0 if z >= 0 else e) / (1.0 + e)
        return sig * (1.0 + z * (1.0 - sig))
    return 1.0


# ---- conv-pool forward ----------------------------------------------------------------

@jit
def _patches(x, k, n0, n1, cols, xt):
    """cols[(c k + p) k + q, (n - n0) OH OW + i OW + j] = x[n, i + p, j + q, c] for the
    images n0 <= n < n1: im2col, transposed, so each row runs along positions.  With
    several channels each image is first turned channel-first into xt (C, H, W), so the
    copies run along rows of the image (measured: 2x faster than reading across channels);
    U(...): unsigned indices, see network/conv/matmul.py."""
    _, H, W, C = x.shape
    OH, OW = H - k + 1, W - k + 1
    P = OH * OW
    for n in range(n0, n1):
        for h in range(H):
            for w in range(W):
                for c in range(C):
                    xt[c, h, w] = x[n, h, w, c]
        for c in range(C):
            for p in range(k):
                for q in range(k):
                    row = (c * k + p) * k + q
                    for i in range(OH):
                        at, ip = U((n - n0) * P + i * OW), U(i + p)
                        for j in range(OW):
                            cols[row, at + U(j)] = xt[c, ip, U(j + q)]


@jit
def _pool(conv, b, s, code, P, OW, n0, n1, z, a, arg):
    """(POOL-FWD) the maximum of each s x s block of the maps conv[f, (n - n0) P + i OW + j],
    the shared bias, then sigma: z, a and the winner p s + q for images n0 <= n < n1.
    All F maps of a block at once, and no branches: which element wins is a coin toss,
    and written as "if v > best: ..." (or as a conditional expression, which LLVM made
    a branch again) the mispredictions made the forward stage 2.4x slower (measured).
    ``max`` and arithmetic on the comparison's 0 or 1 leave nothing to predict."""
    _, PH, PW, F = z.shape
    for n in range(n0, n1):
        for pi in range(PH):
            for pj in range(PW):
                o = (n - n0) * P + pi * s * OW + pj * s
                for f in range(F):
                    z[n, pi, pj, f] = conv[f, o]
                    arg[n, pi, pj, f] = 0
                for p in range(s):
                    for q in range(s):
                        if p + q > 0:
                            pq = p * s + q
                            for f in range(F):
                                v, best = conv[f, o + p * OW + q], z[n, pi, pj, f]
                                wins = np.int8(v > best)  # strict: ties keep the first maximum
                                z[n, pi, pj, f] = max(v, best)
                                arg[n, pi, pj, f] += wins * (pq - arg[n, pi, pj, f])
                for f in range(F):
                    z[n, pi, pj, f] += b[f]               # shared bias per map (POOL-ORDER)
        for pi in range(PH):
            for pj in range(PW):
                for f in range(F):
                    a[n, pi, pj, f] = _activate(code, z[n, pi, pj, f])


@jit(parallel=True, fma=True)
def _conv_pool_forward(x, wmat, b, k, s, code, T, group, cols, conv, xt, z, a, arg):
    """Thread t takes images m t / T to m (t + 1) / T, ``group`` at a time, with its own
    buffers cols[t] (C k k, group OH OW), conv[t] (F, group OH OW) and xt[t] (C, H, W)."""
    m, H, W, _ = x.shape
    OH, OW = H - k + 1, W - k + 1
    P = OH * OW
    for t in prange(T):
        n = m * t // T
        while n < m * (t + 1) // T:
            n1 = min(n + group, m * (t + 1) // T)
            width = (n1 - n) * P
            _patches(x, k, n, n1, cols[t], xt[t])
            _nn_columns(wmat, cols[t], conv[t], 0, width)      # (CONV-FWD) w (F, Ckk) @ cols
            _pool(conv[t], b, s, code, P, OW, n, n1, z, a, arg)
            n = n1


# Images per pass of a thread: its maps' rows (group OH OW numbers each) stay within 3 kB.
# With rows 23 kB apart (10 images of 24 x 24) pooling read the F rows of a block ~10x
# slower (measured; likely the L1 cache's way predictor on this AMD CPU), as at 4 kB.
GROUP_BYTES = 3072


def conv_pool_forward_numba(x, w, b, s, activation):
    """x (m, H, W, C) -> z, a (m, PH, PW, F), the winners arg (int8), and what the backward
    stage needs (here the input itself)."""
    x = np.ascontiguousarray(x)
    m, H, W, C = x.shape
    F, _, k, _ = w.shape
    OH, OW = H - k + 1, W - k + 1
    T = max(1, min(thread_count(), m))
    group = max(1, min(-(-m // T), GROUP_BYTES // (OH * OW * x.itemsize)))
    cols = np.empty((T, C * k * k, group * OH * OW), dtype=x.dtype)
    conv = np.empty((T, F, group * OH * OW), dtype=x.dtype)
    xt = np.empty((T, C, H, W), dtype=x.dtype)
    shape = (m, OH // s, OW // s, F)
    z, a = np.empty(shape, dtype=x.dtype), np.empty(shape, dtype=x.dtype)
    arg = np.empty(shape, dtype=np.int8)
    _conv_pool_forward(x, np.ascontiguousarray(w.reshape(F, -1)), b, k, s,
                       activation_code(activation), T, group, cols, conv, xt, z, a, arg)
    return z, a, arg, x


def conv_pool_forward_numpy(x, w, b, s, activation):
    """The twin of ``conv_pool_forward_numba``: im2col, one BLAS product, max-pooling; the
    backward stage gets the patches and the input's shape."""
    F, C, k, _ = w.shape
    m, H, W, _ = x.shape
    cols = patches.im2col(x, k).reshape(-1, C * k * k)                  # (m*OH*OW, C*k*k)
    conv = (cols @ w.reshape(F, -1).T).reshape(m, H - k + 1, W - k + 1, F)  # (CONV-FWD)
    pooled, arg = patches.maxpool(conv, s)                              # (POOL-FWD)
    z = pooled + b                                                      # shared bias per map
    return z, activation.fn(z), arg, (cols, x.shape)


# ---- conv-pool backward ---------------------------------------------------------------

@jit
def _candidates(x3, n, pi, pj, k, s, C, pat):
    """pat[p' s + q'] = the input patch under output position (pi s + p', pj s + q') of image
    n, in (p, q, c) order: the s x s patches one of which won each pooling block."""
    KC = k * C
    for pp in range(s):
        for qq in range(s):
            i, j = pi * s + pp, pj * s + qq
            for p in range(k):
                to, ip, at = U(p * KC), U(i + p), U(j * C)
                for e in range(KC):
                    pat[pp * s + qq, to + U(e)] = x3[n, ip, at + U(e)]


@jit(parallel=True, fma=True)
def _conv_pool_backward(delta_a, z, a, arg, x3, w_r, k, s, C, code, T, input_grad,
                        dz, g_r, g_b, pat, dx3):
    """x3 is x as (m, H, W C); w_r (F, k, k C) is w in (p, q, c) order, so a filter row
    meets k C contiguous inputs; g_r (F, K') receives nabla_w in (p, q, c) order, K' the
    k k C numbers rounded up to whole vectors; pat[t] (s s, K') is thread t's patch buffer
    (zero beyond k k C); dx3 is dC/dx as (m, H, W C)."""
    m, PH, PW, F = delta_a.shape
    KC = k * C
    for t in prange(T):                          # (BP2) delta_z = delta_a * sigma'(z), by images
        for n in range(m * t // T, m * (t + 1) // T):
            for pi in range(PH):
                for pj in range(PW):
                    for f in range(F):
                        dz[n, pi, pj, f] = delta_a[n, pi, pj, f] * _prime(
                            code, z[n, pi, pj, f], a[n, pi, pj, f])
    for t in prange(T):                          # (CONV-BP) nabla_w, nabla_b, by filters
        f0, f1 = F * t // T, F * (t + 1) // T
        for f in range(f0, f1):
            g_b[f] = 0.0
            for e in range(g_r.shape[1]):
                g_r[f, e] = 0.0
        for n in range(m):                       # images in order, whatever the threads
            for pi in range(PH):
                for pj in range(PW):
                    _candidates(x3, n, pi, pj, k, s, C, pat[t])
                    for f in range(f0, f1):
                        d = dz[n, pi, pj, f]
                        g_b[f] += d              # (CONV-BP) shared bias: sum over positions
                        if d != 0.0:             # (POOL-BP) only the winner's patch counts
                            win = arg[n, pi, pj, f]
                            for e in range(g_r.shape[1]):
                                g_r[f, e] += d * pat[t, win, e]
    if input_grad:
        for t in prange(T):                      # (CONV-BP) dC/dx, by images
            for n in range(m * t // T, m * (t + 1) // T):
                for h in range(dx3.shape[1]):
                    for e in range(dx3.shape[2]):
                        dx3[n, h, e] = 0.0
                for pi in range(PH):
                    for pj in range(PW):
                        for f in range(F):
                            d = dz[n, pi, pj, f]
                            if d != 0.0:         # (POOL-BP) only the winner's patch
                                win = arg[n, pi, pj, f]
                                i, j = pi * s + win // s, pj * s + win % s
                                for p in range(k):
                                    ip, at = U(i + p), U(j * C)
                                    for e in range(KC):
                                        dx3[n, ip, at + U(e)] += d * w_r[f, p, e]


LANES = 16   # the patch rows are padded to whole 64-byte vectors of float32


def conv_pool_backward_numba(delta_a, z, a, arg, x, w, s, activation, need_input_grad):
    """dC/da (m, PH, PW, F) -> nabla_w (F, C, k, k), nabla_b (F,), dC/dx (m, H, W, C) or
    None; ``x`` is what ``conv_pool_forward_numba`` returned for the backward stage."""
    m, H, W, C = x.shape
    F, _, k, _ = w.shape
    K = k * k * C
    T = max(1, min(thread_count(), F))
    w_r = np.ascontiguousarray(w.transpose(0, 2, 3, 1)).reshape(F, k, k * C)
    g_r = np.empty((F, -(-K // LANES) * LANES), dtype=w.dtype)
    g_b = np.empty(F, dtype=w.dtype)
    pat = np.zeros((T, s * s, g_r.shape[1]), dtype=x.dtype)
    dz = np.empty_like(z)
    dx = np.empty((m, H, W, C) if need_input_grad else (0, H, W, C), dtype=x.dtype)
    _conv_pool_backward(np.ascontiguousarray(delta_a), z, a, arg, x.reshape(m, H, W * C), w_r,
                        k, s, C, activation_code(activation), T, need_input_grad, dz, g_r, g_b,
                        pat, dx.reshape(len(dx), H, W * C))
    nabla_w = np.ascontiguousarray(g_r[:, :K].reshape(F, k, k, C).transpose(0, 3, 1, 2))
    return nabla_w, g_b, (dx if need_input_grad else None)


def conv_pool_backward_numpy(delta_a, z, a, arg, saved, w, s, activation, need_input_grad):
    """The twin of ``conv_pool_backward_numba``: the pooled errors routed back to a full map
    (mostly zeros), then dense BLAS products and col2im."""
    cols, (m, H, W, _) = saved
    F, C, k, _ = w.shape
    OH, OW = H - k + 1, W - k + 1
    delta_z = delta_a * activation.prime(z)                           # (BP2) elementwise sigma'
    nabla_b = delta_z.sum(axis=(0, 1, 2))                             # (CONV-BP) shared bias
    d2 = patches.maxpool_backward(delta_z, arg, s, OH, OW).reshape(-1, F)  # (POOL-BP) (m*OH*OW, F)
    nabla_w = (d2.T @ cols).reshape(w.shape)                          # (CONV-BP) (F, m*OH*OW) @ (m*OH*OW, Ckk)
    if not need_input_grad:
        return nabla_w, nabla_b, None
    dcols = (d2 @ w.reshape(F, C * k * k)).reshape(m, OH, OW, C, k, k)  # (CONV-BP) (m*OH*OW, Ckk)
    return nabla_w, nabla_b, patches.col2im(dcols, H, W)              # (CONV-BP) (m, H, W, C)


# ---- fully connected layers -----------------------------------------------------------

def _dense_forward(matmul_nt_):
    def dense_forward(x, w, b):
        """(FF) z = x w^T + b: (m, n_in) @ (n_in, n_out)."""
        return matmul_nt_(x, w) + b
    return dense_forward


def _dense_backward(matmul_nn_):
    def dense_backward(delta_z, x, w, need_input_grad):
        """(BP3) nabla_b, (BP4) nabla_w = delta^T x, (BP2) dC/dx = delta w (or None)."""
        nabla_b = delta_z.sum(axis=0)                                  # (BP3)
        nabla_w = matmul_nn_(np.ascontiguousarray(delta_z.T), x)       # (BP4) (n_out, m) @ (m, n_in)
        dx = matmul_nn_(delta_z, w) if need_input_grad else None       # (BP2) (m, n_out) @ (n_out, n_in)
        return nabla_w, nabla_b, dx
    return dense_backward


# ---- the implementations the layers use -----------------------------------------------

IMPLEMENTATIONS = {
    "numba": dict(conv_pool_forward=conv_pool_forward_numba,
                  conv_pool_backward=conv_pool_backward_numba,
                  dense_forward=_dense_forward(matmul_nt), dense_backward=_dense_backward(matmul_nn)),
    "numpy": dict(conv_pool_forward=conv_pool_forward_numpy,
                  conv_pool_backward=conv_pool_backward_numpy,
                  dense_forward=_dense_forward(matmul_nt_numpy),
                  dense_backward=_dense_backward(matmul_nn_numpy)),
}
# numba where it runs (network/base/jit.py; NNDL_NO_NUMBA=1 turns it off), else the twins.
DEFAULT = "numba" if HAVE_NUMBA else "numpy"
