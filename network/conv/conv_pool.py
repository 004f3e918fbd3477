"""A conv-pool layer's two stages, compiled and shared among threads.

- ``conv_pool_forward_numba``: patches, (CONV-FWD) as one matrix product, (POOL-FWD),
  the shared bias and sigma;
- ``conv_pool_backward_numba``: (BP2) sigma', then (CONV-BP) for nabla_w, nabla_b and
  dC/dx through the pooling winners (POOL-BP).

How the work is shared (network/conv/kernels.py says why the result never depends
on it): the forward stage and dC/dx by images; nabla_w image by image for small
patches (one dense product per image, the parts added in image order) or by columns
of the patch for large ones (winner by winner).

U(...) marks unsigned indices (network/conv/matmul.py says why).

Deliberately left out: strides, padding, overlapping pools.
"""

import numpy as np

from ..base.activations import SIGMOID, _activate, _prime
from ..base.jit import jit, prange, share, thread_count
from .activation import _sigmoid_rows, activation_code
from .matmul import LANES, U, _nn_columns, _nt_rows
from .scratch import scratch

# ---- forward ----------------------------------------------------------------------------

@jit
def _channels_first(x, n, xt):
    """xt (C, H, W) = image n of x (m, H, W, C), so that copies of patches run along rows of
    the image (measured: 2x faster than reading across channels)."""
    _, H, W, C = x.shape
    for h in range(H):
        for w in range(W):
            for c in range(C):
                xt[c, h, w] = x[n, h, w, c]


@jit
def _patches(x, k, n0, n1, cols, at0, xt):
    """cols[(c k + p) k + q, at0 + (n - n0) OH OW + i OW + j] = x[n, i + p, j + q, c] for the
    images n0 <= n < n1: im2col, transposed, so each row runs along positions.  With
    several channels each image is first turned channel-first into xt (C, H, W), so the
    copies run along rows of the image (measured: 2x faster than reading across channels);
    U(...): unsigned indices, see network/conv/matmul.py."""
    _, H, W, C = x.shape
    OH, OW = H - k + 1, W - k + 1
    P = OH * OW
    for n in range(n0, n1):
        if C > 1:
            _channels_first(x, n, xt)
        for c in range(C):
            for p in range(k):
                for q in range(k):
                    row = (c * k + p) * k + q
                    for i in range(OH):
                        at, ip = U(at0 + (n - n0) * P + i * OW), U(i + p)
                        if C > 1:
                            for j in range(OW):
                                cols[row, at + U(j)] = xt[c, ip, U(j + q)]
                        else:
                            for j in range(OW):
                                cols[row, at + U(j)] = x[n, ip, U(j + q), 0]


@jit
def _pool(conv, b, s, code, P, OW, n0, n1, z, a, arg, part, bits, scale):
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
        _activate_maps(z, a, code, n, part, bits, scale)


# Pooled maps of at least this many positions are pooled from patches taken block by block
# (``_patches_by_block``, ``_pool_by_block``): each map's candidates are then s s contiguous
# runs of PH PW numbers, and the pooling runs along them, one map at a time.  The first
# layer's 12 x 12 maps (144): its pooling 83 -> 36 us per ten images, the whole forward
# stage 156 -> 118 us (relu; conv1 with its sigmoid 188 -> 160 us).  The second layer's 4 x 4
# maps (16) were slower so (280 -> 329 us): the copies run 16 numbers at a time.
BLOCK_RUN = 64


@jit
def by_block(PH, PW):
    """Whether a layer with PH x PW pooled maps takes its forward patches block by block."""
    return PH * PW >= BLOCK_RUN


def block_work_shape(C, k, s, PH, PW):
    """The shapes of the work arrays of ``_patches_by_block`` and ``_pool_by_block`` for one
    thread: the image's s-strided copies (C, s + k - 1, s + k - 1, PH PW) and a map's best
    values and winners (PH PW,); empty when the layer is not pooled by block."""
    if not by_block(PH, PW):
        return (0, 0, 0, 0), (0,)
    return (C, s + k - 1, s + k - 1, PH * PW), (PH * PW,)


@jit
def _patches_by_block(x, k, s, n0, n1, cols, xt, strided):
    """The patches of images n0 <= n < n1, one column per pooled candidate, in block order:
    cols[(c k + p) k + q, (n - n0) s s Q + (u s + v) Q + i PW + j] = x[n, i s + u + p,
    j s + v + q, c], Q = PH PW.  A pixel's row i s + u + p and column j s + v + q depend on
    u + p and v + q only, so first strided[c, u + p, v + q] (PH, PW) = x[n, u + p::s,
    v + q::s, c], then each row of cols is s s contiguous copies of Q numbers from it.
    Positions no pooling block covers (an odd last row or column) are left out."""
    _, H, W, C = x.shape
    PH, PW = (H - k + 1) // s, (W - k + 1) // s
    Q = PH * PW
    L = s + k - 1
    for n in range(n0, n1):
        if C > 1:
            _channels_first(x, n, xt)
        for c in range(C):
            for u in range(L):
                for v in range(L):
                    for i in range(PH):
                        ip, at = U(i * s + u), U(i * PW)
                        if C > 1:
                            for j in range(PW):
                                strided[c, u, v, at + U(j)] = xt[c, ip, U(v) + U(j) * U(s)]
                        else:
                            for j in range(PW):
                                strided[c, u, v, at + U(j)] = x[n, ip, U(v) + U(j) * U(s), 0]
        for c in range(C):
            for p in range(k):
                for q in range(k):
                    row = (c * k + p) * k + q
                    for u in range(s):
                        for v in range(s):
                            at = U((n - n0) * s * s * Q + (u * s + v) * Q)
                            for e in range(Q):
                                cols[row, at + U(e)] = strided[c, u + p, v + q, e]


@jit
def _pool_by_block(conv, b, s, code, n0, n1, z, a, arg, part, bits, scale, best, win):
    """(POOL-FWD) as ``_pool``, from maps in block order (``_patches_by_block``): for each
    map, its first candidates, then each later one compared with the best so far along
    the run of Q = PH PW blocks (the same comparisons in the same order as ``_pool``, so
    the same z, a and winners); best and win (Q,) are work."""
    _, PH, PW, F = z.shape
    Q = PH * PW
    for n in range(n0, n1):
        z2, arg2 = z[n].reshape(Q, F), arg[n].reshape(Q, F)
        at = U((n - n0) * s * s * Q)
        for f in range(F):
            for e in range(Q):
                best[e] = conv[f, at + U(e)]
                win[e] = 0
            for pq in range(1, s * s):
                run = at + U(pq * Q)
                for e in range(Q):
                    v, top = conv[f, run + U(e)], best[e]
                    wins = np.int32(v > top)      # strict: ties keep the first maximum
                    best[e] = max(v, top)
                    win[e] += wins * (pq - win[e])
            bf = b[f]
            for e in range(Q):
                z2[e, f] = best[e] + bf            # shared bias per map (POOL-ORDER)
                arg2[e, f] = np.int8(win[e])
        _activate_maps(z, a, code, n, part, bits, scale)


@jit
def _activate_maps(z, a, code, n, part, bits, scale):
    """a[n] = sigma(z[n]): the vectorised sigmoid (activation.py; part, bits: work), or the
    activation one number at a time."""
    _, PH, PW, F = z.shape
    if code == SIGMOID:
        _sigmoid_rows(z[n].reshape(-1), a[n].reshape(-1), part, bits, scale)
    else:
        for pi in range(PH):
            for pj in range(PW):
                for f in range(F):
                    a[n, pi, pj, f] = _activate(code, z[n, pi, pj, f])


@jit(fma=True)
def _forward_images(x, wmat, b, k, s, code, group, n0, n1, cols, conv, xt, part, bits, scale,
                    z, a, arg, strided, best, win):
    """Images n0..n1, ``group`` at a time: their patches into cols (C k k, group OH OW),
    (CONV-FWD) the maps conv (F, group OH OW) = w cols, then (POOL-FWD), the bias and sigma
    into z, a and arg; xt (C, H, W), part and bits (PH PW F, for the sigmoid) are work, and
    strided, best and win (``block_work_shape``) for layers pooled by block."""
    _, H, W, _ = x.shape
    OH, OW = H - k + 1, W - k + 1
    P = OH * OW
    _, PH, PW, _ = z.shape
    n = n0
    while n < n1:
        n2 = min(n + group, n1)
        if by_block(PH, PW):
            _patches_by_block(x, k, s, n, n2, cols, xt, strided)
            _nn_columns(wmat, cols, conv, 0, (n2 - n) * s * s * PH * PW)   # (CONV-FWD)
            _pool_by_block(conv, b, s, code, n, n2, z, a, arg, part, bits, scale, best, win)
        else:
            _patches(x, k, n, n2, cols, 0, xt)
            _nn_columns(wmat, cols, conv, 0, (n2 - n) * P)     # (CONV-FWD) w (F, Ckk) @ cols
            _pool(conv, b, s, code, P, OW, n, n2, z, a, arg, part, bits, scale)
        n = n2


@jit(parallel=True)
def _conv_pool_forward(x, wmat, b, k, s, code, T, group, cols, conv, xt, part, bits, scale, z,
                       a, arg, strided, best, win):
    """``_forward_images`` with thread t taking images m t / T to m (t + 1) / T, with its own
    buffers cols[t], conv[t], xt[t], part[t], bits[t], scale[t], strided[t], best[t], win[t]."""
    m = x.shape[0]
    for t in prange(T):
        n0, n1 = share(m, 1, t, T)
        _forward_images(x, wmat, b, k, s, code, group, n0, n1, cols[t],
                        conv[t], xt[t], part[t], bits[t], scale[t], z, a, arg, strided[t],
                        best[t], win[t])


# Images per pass of a thread: its maps' rows (group OH OW numbers each) stay within 3 kB.
# With rows 23 kB apart (10 images of 24 x 24) pooling read the F rows of a block ~10x
# slower (measured; likely the L1 cache's way predictor on this AMD CPU), as at 4 kB.
GROUP_BYTES = 3072


def conv_pool_forward_numba(x, w, b, s, activation, work=None):
    """x (m, H, W, C) -> z, a (m, PH, PW, F), the winners arg (int8), and what the backward
    stage needs (here the input itself); ``work``: the layer's work arrays (scratch.py)."""
    x = np.ascontiguousarray(x)
    m, H, W, C = x.shape
    F, _, k, _ = w.shape
    OH, OW = H - k + 1, W - k + 1
    T = max(1, min(thread_count(), m))
    group = max(1, min(-(-m // T), GROUP_BYTES // (OH * OW * x.itemsize)))
    cols = scratch(work, "cols", (T, C * k * k, group * OH * OW), x.dtype)
    conv = scratch(work, "conv", (T, F, group * OH * OW), x.dtype)
    xt = scratch(work, "xt", (T, C, H, W), x.dtype)
    shape = (m, OH // s, OW // s, F)
    z, a = np.empty(shape, dtype=x.dtype), np.empty(shape, dtype=x.dtype)
    arg = np.empty(shape, dtype=np.int8)
    part = scratch(work, "part", (T, shape[1] * shape[2] * F), x.dtype)
    bits = scratch(work, "bits", (T, shape[1] * shape[2] * F), np.int32 if x.itemsize == 4
                   else np.int64)
    strided_shape, run_shape = block_work_shape(C, k, s, shape[1], shape[2])
    strided = scratch(work, "strided", (T, *strided_shape), x.dtype)
    best = scratch(work, "best", (T, *run_shape), x.dtype)
    win = scratch(work, "win", (T, *run_shape), np.int32)
    _conv_pool_forward(x, np.ascontiguousarray(w.reshape(F, -1)), b, k, s,
                       activation_code(activation), T, group, cols, conv, xt, part, bits,
                       bits.view(x.dtype), z, a, arg, strided, best, win)
    return z, a, arg, x


# ---- backward ---------------------------------------------------------------------------

# A block's winner p s + q as its row p and column q, looked up rather than divided by s
# (a division by a number the compiler does not know takes tens of cycles; measured, it
# made no visible difference next to the products).  s is at most MAX_POOL (layers.py),
# so p s + q fits the int8 winner.
MAX_POOL = 11
_ROW = np.array([[w // max(s, 1) for w in range(MAX_POOL ** 2)] for s in range(MAX_POOL + 1)])
_COL = np.array([[w % max(s, 1) for w in range(MAX_POOL ** 2)] for s in range(MAX_POOL + 1)])

@jit(fma=True)
def _input_error(delta_a, z, a, arg, w_r, k, s, C, code, n, dx3):
    """(CONV-BP) dC/dx of image n: each pooled error, times sigma'(z) (BP2), added back
    through its winner's patch (POOL-BP), w_r (F, k, k C) being w in (p, q, c) order so a
    filter row meets k C contiguous numbers of dx3 (m, H, W C).  At each pooled position
    the filters are first sorted by winner, then each winner's patch takes their rows four
    at a time (one load and store of dx per four products: measured 1.6x faster than one
    filter at a time).  Errors that are exactly 0 (ReLU units that were off) are skipped."""
    _, PH, PW, F = delta_a.shape
    KC = k * C
    count = np.empty(s * s, dtype=np.int64)
    which = np.empty((s * s, F), dtype=np.int64)
    error = np.empty((s * s, F), dtype=delta_a.dtype)
    for h in range(dx3.shape[1]):
        for e in range(dx3.shape[2]):
            dx3[n, h, e] = 0.0
    for pi in range(PH):
        for pj in range(PW):
            count[:] = 0
            for f in range(F):                   # (BP2) delta_z, by winner
                d = delta_a[n, pi, pj, f] * _prime(code, z[n, pi, pj, f], a[n, pi, pj, f])
                if d != 0.0:
                    win = arg[n, pi, pj, f]
                    which[win, count[win]] = f
                    error[win, count[win]] = d
                    count[win] += 1
            for win in range(s * s):             # (POOL-BP) each winner's patch
                i, j = pi * s + _ROW[s, win], pj * s + _COL[s, win]
                at = U(j * C)
                q = 0
                while q + 4 <= count[win]:
                    f0, f1, f2, f3 = which[win, q], which[win, q + 1], which[win, q + 2], which[win, q + 3]
                    d0, d1, d2, d3 = error[win, q], error[win, q + 1], error[win, q + 2], error[win, q + 3]
                    for p in range(k):
                        ip = U(i + p)
                        for e in range(KC):
                            dx3[n, ip, at + U(e)] += ((d0 * w_r[f0, p, e] + d1 * w_r[f1, p, e])
                                                      + (d2 * w_r[f2, p, e] + d3 * w_r[f3, p, e]))
                    q += 4
                while q < count[win]:
                    f0, d0 = which[win, q], error[win, q]
                    for p in range(k):
                        ip = U(i + p)
                        for e in range(KC):
                            dx3[n, ip, at + U(e)] += d0 * w_r[f0, p, e]
                    q += 1


@jit
def _bias_error(delta_a, z, a, code, f):
    """(CONV-BP) nabla_b[f]: the shared bias's error, summed over images and positions in
    order."""
    m, PH, PW, _ = delta_a.shape
    total = delta_a.dtype.type(0)
    for n in range(m):
        for pi in range(PH):
            for pj in range(PW):
                total += delta_a[n, pi, pj, f] * _prime(code, z[n, pi, pj, f], a[n, pi, pj, f])
    return total


@jit(vector_sums=True)
def _row_sum(A, r):
    """The sum of row r of A, one partial sum per vector lane (``vector_sums``: the split
    depends on the row's length only)."""
    total = A.dtype.type(0)
    for e in range(A.shape[1]):
        total += A[r, e]
    return total


@jit
def _routed_errors(delta_a, z, a, arg, s, OW, code, n, dconv):
    """dconv (F, OH OW): image n's pooled errors times sigma'(z) (BP2), each at its block's
    winner, 0 at the other positions (POOL-BP)."""
    _, PH, PW, F = delta_a.shape
    for f in range(F):
        for e in range(dconv.shape[1]):
            dconv[f, e] = 0.0
    for pi in range(PH):
        for pj in range(PW):
            for f in range(F):
                win = arg[n, pi, pj, f]
                pos = (pi * s + _ROW[s, win]) * OW + pj * s + _COL[s, win]
                dconv[f, pos] = delta_a[n, pi, pj, f] * _prime(code, z[n, pi, pj, f],
                                                               a[n, pi, pj, f])


@jit
def _image_gradient(delta_a, z, a, arg, x, k, s, code, n, cols, dconv, xt, g_n, b_n):
    """Small patches (k k C < DENSE_BELOW): image n's part of nabla_w as one product over
    every position, g_n[n] (k k C, F) = cols @ dconv^T, where dconv (F, OH OW) holds each
    pooled error at its winner and 0 elsewhere and cols (k k C, OH OW) are the patches (as
    in the forward stage); b_n[n] its part of nabla_b.  Four times the multiply-adds of
    visiting the winners, but as long dot products they ran ~4x faster than one short
    sum per winner (measured on conv1's first layer).  The parts are added in image
    order afterwards (``_sum_in_order``)."""
    OW = x.shape[2] - k + 1
    _patches(x, k, n, n + 1, cols, 0, xt)
    _routed_errors(delta_a, z, a, arg, s, OW, code, n, dconv)
    _nt_rows(cols, dconv, g_n[n], 0, dconv.shape[0])   # (CONV-BP) (Ckk, OH OW) @ (OH OW, F)
    for f in range(dconv.shape[0]):              # (CONV-BP) the shared bias: sum over positions
        b_n[n, f] = _row_sum(dconv, f)


@jit(parallel=True)
def _conv_pool_backward_dense(delta_a, z, a, arg, x, w_r, k, s, code, T, input_grad,
                              cols, dconv, xt, g_n, b_n, dx3):
    """Small patches, all by images in one parallel region: each thread its images'
    ``_image_gradient`` (with its own cols[t], dconv[t]) and dC/dx; the wrapper adds the
    parts in image order."""
    m = delta_a.shape[0]
    C = x.shape[3]
    for t in prange(T):
        for n in range(*share(m, 1, t, T)):
            _image_gradient(delta_a, z, a, arg, x, k, s, code, n, cols[t], dconv[t], xt[t],
                            g_n, b_n)
            if input_grad:
                _input_error(delta_a, z, a, arg, w_r, k, s, C, code, n, dx3)


@jit
def _sum_in_order(parts, out):
    """out = parts[0] + parts[1] + ..., added in that order (flat arrays of one shape)."""
    for e in range(out.shape[0]):
        out[e] = parts[0, e]
    for n in range(1, parts.shape[0]):
        for e in range(out.shape[0]):
            out[e] += parts[n, e]


@jit(fma=True)
def _pooled_errors(delta_a, z, a, code, n0, n1, dz):
    """(BP2) dz[(n PH + pi) PW + pj, f] = delta_a * sigma'(z) at each pooled position of
    images n0..n1: the errors the winner sums take (rows past the last image stay 0)."""
    _, PH, PW, F = delta_a.shape
    for n in range(n0, n1):
        for pi in range(PH):
            for pj in range(PW):
                r = (n * PH + pi) * PW + pj
                for f in range(F):
                    dz[r, f] = delta_a[n, pi, pj, f] * _prime(code, z[n, pi, pj, f],
                                                              a[n, pi, pj, f])


@jit(fma=True)
def _winner_sums(dz, wins, x3, k, s, C, PH, PW, e0, e1, pat, g_r):
    """(CONV-BP) columns e0..e1 of nabla_w (g_r, in (p, q, c) order): each filter's error
    times its winner's patch (POOL-BP).  dz and wins (m PH PW + 3, F) hold each pooled
    position's errors (``_pooled_errors``) and winners, with three rows of 0 after the last
    (so that positions can go four at a time).  Pooled positions go four at a time: their
    s x s candidate patches' columns into pat (4, s s, K'); then each filter's four
    products are added to its row of nabla_w in one pass, in position order.  No
    branches: an error that is 0 adds 0 (measured: the same loop choosing the non-zero
    errors first took 2x as long, and its per-filter cost did not shrink with a thread's
    share of the columns).  The errors come computed, and a thread visits only the patch
    rows its columns touch: work that does not shrink with a thread's share of the
    columns is what keeps two threads from halving the time (per thread, ~19 us of
    relu's second layer for 16 columns, ~50 us for half of its 512, ~84 us for all)."""
    F = dz.shape[1]
    KC = k * C
    npos = dz.shape[0] - 3
    p0, p1 = e0 // KC, min(k, (e1 + KC - 1) // KC)   # the patch rows columns e0..e1 touch
    for f in range(F):
        for e in range(e1 - e0):
            g_r[f, U(e0) + U(e)] = 0.0
    n, pi, pj = 0, 0, 0
    q = 0
    while q < npos:                              # positions (n, pi, pj) in order, four at a time
        width = min(4, npos - q)
        for r in range(width):
            for pp in range(s):                  # the candidate patches, columns e0..e1
                for qq in range(s):
                    i, j = pi * s + pp, pj * s + qq
                    for p in range(p0, p1):      # row p of a patch is columns p KC..(p + 1) KC
                        lo, hi = max(e0, p * KC), min(e1, (p + 1) * KC)
                        at, ip = U(j * C + lo - p * KC), U(i + p)
                        for e in range(hi - lo):
                            pat[r, pp * s + qq, U(lo) + U(e)] = x3[n, ip, at + U(e)]
            pj += 1                              # the next position
            if pj == PW:
                pj, pi = 0, pi + 1
                if pi == PH:
                    pi, n = 0, n + 1
        for f in range(F):                       # (POOL-BP) each position's winner alone
            d0, d1, d2, d3 = dz[q, f], dz[q + 1, f], dz[q + 2, f], dz[q + 3, f]
            w0, w1, w2, w3 = U(wins[q, f]), U(wins[q + 1, f]), U(wins[q + 2, f]), U(wins[q + 3, f])
            for e in range(e1 - e0):
                ee = U(e0) + U(e)
                g_r[f, ee] += ((d0 * pat[0, w0, ee] + d1 * pat[1, w1, ee])
                               + (d2 * pat[2, w2, ee] + d3 * pat[3, w3, ee]))
        q += width


@jit(parallel=True, fma=True)
def _conv_pool_backward_sparse(delta_a, z, a, arg, x3, w_r, k, s, C, code, T, input_grad,
                               pat, dz, wins, g_r, g_b, dx3):
    """Large patches: each pooled error times its winner's patch alone (POOL-BP).  g_r
    (F, K') receives nabla_w in (p, q, c) order, K' = k k C rounded up to whole vectors;
    thread t owns the columns K' t / T to K' (t + 1) / T (whole vectors) for every
    filter, so it copies only those columns of the candidate patches into pat[t]
    (4, s s, K').  dz and wins (m PH PW + 3, F) take the errors and the winners (arg)
    of every pooled position, by images in a region of their own; then each thread does
    its images' dC/dx and its columns' nabla_w, in one parallel region."""
    m, PH, PW, F = delta_a.shape
    for t in prange(T):
        n0, n1 = share(m, 1, t, T)
        _pooled_errors(delta_a, z, a, code, n0, n1, dz)               # (BP2)
        for r in range(n0 * PH * PW, n1 * PH * PW):
            for f in range(F):
                wins[r, f] = arg[r // (PH * PW), r // PW % PH, r % PW, f]
    for t in prange(T):                          # one region: the two parts are independent
        if input_grad:
            for n in range(*share(m, 1, t, T)):
                _input_error(delta_a, z, a, arg, w_r, k, s, C, code, n, dx3)
        e0, e1 = share(g_r.shape[1], LANES, t, T)
        _winner_sums(dz, wins, x3, k, s, C, PH, PW, e0, e1, pat[t], g_r)
        if t == T - 1:
            for f in range(F):
                g_b[f] = _bias_error(delta_a, z, a, code, f)


DENSE_BELOW = 64   # patch sizes k k C below which nabla_w is one dense product


def conv_pool_backward_numba(delta_a, z, a, arg, x, w, s, activation, need_input_grad,
                             work=None):
    """dC/da (m, PH, PW, F) -> nabla_w (F, C, k, k), nabla_b (F,), dC/dx (m, H, W, C) or
    None; ``x`` is what ``conv_pool_forward_numba`` returned for the backward stage."""
    m, H, W, C = x.shape
    F, _, k, _ = w.shape
    K = k * k * C
    P = (H - k + 1) * (W - k + 1)
    code = activation_code(activation)
    w_r = (np.ascontiguousarray(w.transpose(0, 2, 3, 1)).reshape(F, k, k * C) if need_input_grad
           else w.reshape(F, k, -1))             # (p, q, c) order, for dC/dx alone
    g_b = np.empty(F, dtype=w.dtype)
    dx = np.empty((m, H, W, C) if need_input_grad else (0, H, W, C), dtype=x.dtype)
    dx3 = dx.reshape(len(dx), H, W * C)
    delta_a = np.ascontiguousarray(delta_a)
    T = max(1, thread_count())
    if K < DENSE_BELOW:
        T = min(T, m)
        g_n, b_n = scratch(work, "g_n", (m, K, F), w.dtype), scratch(work, "b_n", (m, F), w.dtype)
        cols = scratch(work, "cols_1", (T, K, P), x.dtype)
        dconv = scratch(work, "dconv", (T, F, P), x.dtype)
        xt = scratch(work, "xt", (T, C, H, W), x.dtype)
        _conv_pool_backward_dense(delta_a, z, a, arg, x, w_r, k, s, code, T, need_input_grad,
                                  cols, dconv, xt, g_n, b_n, dx3)
        g = np.empty((K, F), dtype=w.dtype)
        _sum_in_order(g_n.reshape(m, -1), g.reshape(-1))      # images in order
        _sum_in_order(b_n, g_b)
        nabla_w = np.ascontiguousarray(g.T).reshape(F, C, k, k)
    else:
        width = -(-K // LANES) * LANES
        g_r = scratch(work, "g_r", (F, width), w.dtype)
        pat = scratch(work, "pat", (T, 4, s * s, width), x.dtype, zeros=True)  # past k k C: 0
        rows = delta_a.shape[0] * delta_a.shape[1] * delta_a.shape[2] + 3    # 3 rows of 0 after
        dz = scratch(work, "dz", (rows, F), x.dtype, zeros=True)
        wins = scratch(work, "wins", (rows, F), arg.dtype, zeros=True)
        _conv_pool_backward_sparse(delta_a, z, a, arg, x.reshape(m, H, W * C), w_r, k, s, C, code,
                                   T, need_input_grad, pat, dz, wins, g_r, g_b, dx3)
        nabla_w = np.ascontiguousarray(g_r[:, :K].reshape(F, k, k, C).transpose(0, 3, 1, 2))
    return nabla_w, g_b, (dx if need_input_grad else None)
