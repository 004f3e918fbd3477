"""The conv net's training step: one mini-batch of SGD as a few parallel regions.

Trained layer by layer (layers.py), a mini-batch of the two-conv-layer net is eight
stages, most of them a parallel region of their own that starts and joins the threads,
and Python between them.  Here it is two compiled calls, with the regions below one
after another inside them (seven for conv1, eight for the two-conv-layer net), none of
them a thread waiting for another inside it:

A1. forward, by images: each thread takes its images (m t / T to m (t + 1) / T) from the
   training set through every conv-pool layer; an image's numbers come from that image
   alone.
A2. forward, by units (rows of w), one region per fully connected layer up to the
   softmax layer's z, every image at once: so a thread reads only its rows of w (by
   images, both threads read all of conv1's 1.15 MB layer, more than a core's L2
   cache).  Then, in NumPy, the softmax itself: numba's exp differs from NumPy's in the
   last bit (measured: 39% of a million float32 numbers, 5% in float64), and the layer
   path takes NumPy's.
B1. backward, by images: (LOGLIK) the output error, then (BP2) delta_z of every fully
   connected layer and dC/dx of all but the lowest;
B2. by columns: the lowest fully connected layer's dC/dx (its columns of w, as in A2);
B3. by images: (POOL-BP) and (CONV-BP) in the conv-pool layers, each small-patch conv
   layer's part of nabla_w for each of its images, and each large-patch layer's delta_z at
   the pooled positions, for C.
C. gradients and step, by weights: each thread adds up its share of every layer's
   nabla_w and nabla_b over the images in order (units of a fully connected layer,
   columns of a large-patch conv layer's patch, filters of a small-patch one) and takes
   the (L2) and (SGD) step on those weights at once, but for a large-patch layer's:
D. the step on a large-patch conv layer's weights, by filters (rows of w, so that no
   two threads write to one cache line), from nabla_w that C left in (p, q, c) order.

Every number is computed by the same compiled function, in the same order, as on the
layer-by-layer path (conv_pool.py, dense.py; network/conv/kernels.py says how each
stage shares its work): training gives the same weights bit for bit, on any thread
count (tests/test_conv_step.py holds the two paths equal).  The step is (L2) then (SGD) with
NumPy's roundings, as ConvNetwork's layer-by-layer loop and optimizers.SGD take them.

ConvNetwork.SGD takes a hundred mini-batches per compiled call (TrainingStep.run): the
softmax between a step's two halves runs in NumPy from inside the call (numba's objmode),
so no mini-batch waits for Python to pass the step's arrays to a compiled call (~5-10 us
each, two per mini-batch), and the other thread, which sleeps after 20-40 us without
work, stays awake (docs/speed.md, "A hundred mini-batches per call").  A net with dropout
draws its masks in Python and takes a call per mini-batch (__call__).

The layers reach the compiled code as one tuple per kind of array, holding that array
for every layer of the kind (numba's threads take tuples of arrays, not tuples of
tuples), and one table of integers per kind, a row per layer (the spec columns below).

Deliberately left out: networks with no conv-pool layer (they train layer by layer:
small, and fast already), the NumPy twins (kernels="numpy" trains layer by layer),
optimisers other than plain SGD.
"""

from collections import namedtuple

import numpy as np

from ..base.activations import IDENTITY, Softmax
from ..base.jit import compile_for, jit, objmode, prange, share
from ..storage.signals import held
from .activation import activation_code
from .conv_pool import (DENSE_BELOW, GROUP_BYTES, _bias_error, _forward_images, block_work_shape,
                        _image_gradient, _input_error, _pooled_errors, _winner_sums)
from .dense import _forward_units, _output_errors, _unit_gradients
from .layers import ConvPoolLayer
from .matmul import LANES, _nn_columns
from .scratch import aligned, aligned_copy

# Each field: a tuple of that array for every conv-pool layer, first layer first.  T threads,
# m images; P = OH OW positions of the convolution, K = C k k numbers in a patch.
ConvArrays = namedtuple("ConvArrays", [
    "x",       # (m, H, W, C) input: the batch for the first layer, else the layer below's a
    "x3",      # (m, H, W C) the same numbers, an image row's W C in one row
    "w",       # (F, K) the filters as rows: a view of layer.w, updated in place
    "w_r",     # (F, k, k C) the filters in (p, q, c) order, for dC/dx; (0, 0, 0) if not needed
    "b",       # (F,) layer.b, updated in place
    "z", "a",  # (m, PH, PW, F) pooled maps plus bias, and sigma of them
    "arg",     # (m, PH, PW, F) int8, each block's winner: a view of wins' first rows
    "cols",    # (T, K, group P) patches of a thread's images
    "conv",    # (T, F, group P) their maps before pooling
    "xt",      # (T, C, H, W) an image channel-first
    "strided", "best", "win",   # pooled by block: conv_pool.block_work_shape, per thread
    "part", "bits", "pow2",   # (T, PH PW F) the sigmoid's work (activation._sigmoid_rows)
    "delta",   # (m, PH, PW, F) dC/da: a view of the next layer's dC/dx
    "dx",      # (m, H, W C) dC/dx; (0, H, W C) for the first layer
    "cols1", "dconv", "g_n", "b_n",   # small patches: (T, K, P), (T, F, P), (m, K, F), (m, F)
    "pat", "dz", "wins", "g_r", "w_at",  # large patches: (T, 4, s s, K'); delta_z and the
    # winners (m PH PW + 3, F), 3 rows of 0 after the last position (wins: small patches too);
    # (T, F, K'), and (K,) where column e of g_r goes in w
])
# The conv spec's columns: k, pool size s, activation code, images per pass of a thread
# (conv_pool.GROUP_BYTES), whether nabla_w goes image by image (small patches), whether the
# layer sends an error down (all but the first).
K_, POOL, CODE, GROUP, SMALL, INPUT_GRAD = range(6)

# Each field: a tuple of that array for every fully connected layer (the softmax layer last).
DenseArrays = namedtuple("DenseArrays", [
    "x_in",    # (m, n_in) the layer below's a, flattened
    "x",       # (m, n_in) x_in times the dropout mask (x_in itself without dropout)
    "mask",    # (m, n_in) the dropout mask; (0, 0) without dropout
    "w", "b",  # (n_out, n_in), (n_out,): layer.w and layer.b, updated in place
    "z", "a",  # (m, n_out); for the softmax layer a = z (the softmax is taken in NumPy)
    "delta",   # (m, n_out) dC/da: the next layer's dx; for the softmax layer dC/dz
    "dz", "dzT",   # (m, n_out), (n_out, m) delta_z
    "g_w", "g_b",  # (n_out, n_in), (n_out,) nabla_w, nabla_b
    "dx",      # (m, n_in) dC/dx
])
D_CODE, DROPOUT = range(2)      # the dense spec's columns: activation code, dropout or not


def fits(layers, kernels, X):
    """Whether these layers train on inputs X by the compiled step: compiled stages, a
    conv-pool layer first, every parameter a C-contiguous array, X raw pixels or floats."""
    return (kernels == "numba" and isinstance(layers[0], ConvPoolLayer)
            and (X.dtype == np.uint8 or X.dtype.kind == "f")
            and all(p.flags.c_contiguous for layer in layers for p in (layer.w, layer.b)))


class TrainingStep:
    """The step's arrays for mini-batches of m images on T threads, and the step itself.

    Holds the layers' own ``w`` and ``b``: build it again when they are replaced (the
    network builds one per epoch).  Every array starts on a cache line (scratch.aligned),
    and so does a thread's part [t] of a (T, ...) array when its size is a whole number
    of cache lines, as in every chapter-6 net."""

    def __init__(self, layers, m, T, dtype):
        self.m, self.T, self.dtype = m, T, np.dtype(dtype)
        convs = [layer for layer in layers if isinstance(layer, ConvPoolLayer)]
        denses = layers[len(convs):]
        C, H, W = convs[0].image_shape
        x = aligned((m, H, W, C), self.dtype)          # the batch, channels last
        conv, self.conv_spec, x = self._conv_layers(convs, x)
        dense, self.dense_spec, self.dropout = self._dense_layers(denses, x.reshape(m, -1),
                                                                  len(convs))
        # the errors flow down: each layer's delta is a view of the dC/dx of the one above
        conv["delta"] = [dx.reshape(z.shape) for dx, z in
                         zip(conv["dx"][1:] + [dense["dx"][0]], conv["z"])]
        dense["delta"] = dense["dx"][1:] + [aligned((m, denses[-1].n_out), self.dtype)]
        self.out = aligned((m, denses[-1].n_out), self.dtype)     # the softmax, for run()
        self.compiled = False                                        # run() compiled for these
        self.conv = ConvArrays(**{k: tuple(v) for k, v in conv.items()})
        self.dense = DenseArrays(**{k: tuple(v) for k, v in dense.items()})

    def _conv_layers(self, convs, x):
        m, T, dtype = self.m, self.T, self.dtype
        names = ConvArrays._fields
        arrays = {name: [] for name in names}
        spec = []
        for l, layer in enumerate(convs):
            F, C, k, _ = layer.filter_shape
            _, H, W, _ = x.shape
            OH, OW = H - k + 1, W - k + 1
            P, K, s = OH * OW, C * k * k, layer.poolsize
            PH, PW = OH // s, OW // s
            group = max(1, min(-(-m // min(T, m)), GROUP_BYTES // (P * dtype.itemsize)))
            small = K < DENSE_BELOW
            width = -(-K // LANES) * LANES
            z = aligned((m, PH, PW, F), dtype)
            wins = aligned((m * PH * PW + 3, F), np.int8, zeros=True)
            strided, run = block_work_shape(C, k, s, PH, PW)
            bits = aligned((T, PH * PW * F), np.int32 if dtype.itemsize == 4 else np.int64)
            # column e = (p k + q) C + c of a large patch is w's (c k + p) k + q
            p, q, c = np.meshgrid(np.arange(k), np.arange(k), np.arange(C), indexing="ij")
            new = dict(
                x=x, x3=x.reshape(m, H, W * C), w=layer.w.reshape(F, K),
                w_r=aligned((F, k, k * C) if l > 0 else (0, 0, 0), dtype), b=layer.b,
                z=z, a=aligned(z.shape, z.dtype), arg=wins[:m * PH * PW].reshape(z.shape),
                cols=aligned((T, K, group * P), dtype), conv=aligned((T, F, group * P), dtype),
                xt=aligned((T, C, H, W), dtype), part=aligned(bits.shape, dtype), bits=bits,
                strided=aligned((T, *strided), dtype), best=aligned((T, *run), dtype),
                win=aligned((T, *run), np.int32),
                pow2=bits.view(dtype), delta=None,
                dx=aligned((m if l > 0 else 0, H, W * C), dtype),
                cols1=aligned((T, K, P) if small else (0, 0, 0), dtype),
                dconv=aligned((T, F, P) if small else (0, 0, 0), dtype),
                g_n=aligned((m, K, F) if small else (0, 0, 0), dtype),
                b_n=aligned((m, F) if small else (0, 0), dtype),
                pat=aligned((T, 4, s * s, width) if not small else (0, 0, 0, 0), dtype, zeros=True),
                dz=aligned((m * PH * PW + 3, F) if not small else (0, 0), dtype, zeros=True),
                wins=wins,
                g_r=aligned((T, F, width) if not small else (0, 0, 0), dtype),
                w_at=aligned_copy(((c * k + p) * k + q).reshape(-1) if not small
                                  else np.empty(0), np.int64))
            for name in names:
                arrays[name].append(new[name])
            spec.append((k, s, activation_code(layer.activation), group, small, l > 0))
            x = new["a"]
        return arrays, np.array(spec, dtype=np.int64), x

    def _dense_layers(self, denses, x_in, first):
        m, dtype = self.m, self.dtype
        arrays = {name: [] for name in DenseArrays._fields}
        spec, dropout = [], {}
        for l, layer in enumerate(denses):
            n_out, n_in = layer.w.shape
            masked = bool(layer.p_dropout)
            mask = aligned((m, n_in) if masked else (0, 0), dtype)
            if masked:
                dropout[first + l] = mask          # the network's layer index -> its mask
            z = aligned((m, n_out), dtype)
            new = dict(x_in=x_in, x=aligned((m, n_in), dtype) if masked else x_in, mask=mask,
                       w=layer.w, b=layer.b, z=z, a=aligned(z.shape, z.dtype), delta=None,
                       dz=aligned(z.shape, z.dtype), dzT=aligned((n_out, m), dtype),
                       g_w=aligned(layer.w.shape, layer.w.dtype),
                       g_b=aligned(layer.b.shape, layer.b.dtype),
                       dx=aligned((m, n_in), dtype))
            for name, value in new.items():
                arrays[name].append(value)
            code = IDENTITY if layer.activation is Softmax else activation_code(layer.activation)
            spec.append((code, masked))
            x_in = new["a"]
        return arrays, np.array(spec, dtype=np.int64), dropout

    def __call__(self, X, y, idx, masks, eta, lmbda, n):
        """One step on the images X[idx] (rows, as ConvNetwork.SGD takes them), labels
        y[idx]; ``masks`` {layer index: (m, n_in)} the dropout masks; (L2) with lmbda / n."""
        for l, mask in masks.items():
            np.copyto(self.dropout[l], mask)
        raw = X.dtype == np.uint8
        t = self.dtype.type
        _forward(X, idx, t(1 / 255), raw, self.T, *self.conv, self.conv_spec, *self.dense,
                 self.dense_spec)
        out = Softmax.fn(self.dense.z[-1])                   # (SOFTMAX) in NumPy: its exp
        _backward_and_step(out, y, idx, t(eta), t(lmbda / n), bool(lmbda), self.T, *self.conv,
                           self.conv_spec, *self.dense, self.dense_spec)

    def run(self, X, y, order, k0, k1, eta, lmbda, n):
        """The steps on the mini-batches order[k0:k0 + m], order[k0 + m:k0 + 2 m], ... up to
        k1 (k1 - k0 a multiple of m), one after another in one compiled call, as __call__
        would take them: the softmax between a step's two halves runs in NumPy from inside
        the call (``objmode``).  A call from Python passes the step's hundred-odd arrays
        one by one (~5-10 us); between two calls the other thread spins and, after 20-40
        us, sleeps (docs/speed.md).  Without dropout only: a net with dropout draws its
        masks in Python, mini-batch by mini-batch (__call__)."""
        if self.dropout:
            raise ValueError("TrainingStep.run: this net has dropout; step it by __call__")
        t = self.dtype.type
        args = (X, y, order, k0, k1, self.m, t(1 / 255), X.dtype == np.uint8, t(eta),
                t(lmbda / n), bool(lmbda), self.T, self.out, *self.conv, self.conv_spec,
                *self.dense, self.dense_spec)
        if not self.compiled:                # compiling stays interruptible
            compile_for(_train_batches, args)
            self.compiled = True
        with held():          # Ctrl-C waits for the call to end, then raises as usual
            _train_batches(*args)


# ---- the compiled regions -----------------------------------------------------------------
# Every region takes the same arguments after its own: the fields of ConvArrays, CONV_SPEC,
# the fields of DenseArrays, DENSE_SPEC (TrainingStep.__call__ passes them).

@jit
def _batch(X, idx, scale, raw, x, n0, n1):
    """x[n] (H, W, C) = row idx[n] of X, which holds (C, H, W) images, for n0 <= n < n1; raw
    pixels (uint8) times scale (1/255): ConvNetwork._as_input's numbers."""
    _, H, W, C = x.shape
    for n in range(n0, n1):
        row = idx[n]
        for c in range(C):
            for h in range(H):
                for w in range(W):
                    x[n, h, w, c] = X[row, (c * H + h) * W + w]
                    if raw:
                        x[n, h, w, c] *= scale


@jit
def _filters_pqc(w, k, C, w_r, f0, f1):
    """w_r[f, p, q C + c] = w[f, (c k + p) k + q] for filters f0..f1: the filters in (p, q, c)
    order, as dC/dx reads them (conv_pool._input_error)."""
    for f in range(f0, f1):
        for c in range(C):
            for p in range(k):
                for q in range(k):
                    w_r[f, p, q * C + c] = w[f, (c * k + p) * k + q]


@jit
def _masked(x, mask, out, n0, n1):
    """(DROPOUT) out = x * mask in rows n0..n1 (out may be x)."""
    for n in range(n0, n1):
        for i in range(x.shape[1]):
            out[n, i] = x[n, i] * mask[n, i]


@jit
def _output_error(out, y, idx, delta, n0, n1):
    """(LOGLIK) dC/dz^L = (a - y) / m for images n0..n1, the mean over the mini-batch, with
    NumPy's roundings (a - 1 at the label, then / m, in the arrays' dtype)."""
    m, n_out = delta.shape
    one, mm = delta.dtype.type(1), delta.dtype.type(m)
    for n in range(n0, n1):
        label = y[idx[n]]
        for o in range(n_out):
            v = out[n, o]
            if o == label:
                v = v - one
            delta[n, o] = v / mm


@jit
def _descended(w, g, eta, lmbda_n, decay):
    """(L2) g + (lmbda / n) w when ``decay``, then (SGD) w - eta g: one rounding per operation,
    as NumPy's ``nabla_w + (lmbda / n) * w`` and ``w -= eta * g`` (no fused multiply-add)."""
    if decay:
        g = g + lmbda_n * w
    return w - eta * g


@jit
def _summed_filters_step(g_n, b_n, w, b, f0, f1, eta, lmbda_n, decay):
    """Small patches, filters f0..f1: (CONV-BP) nabla_w[f] and nabla_b[f] as the images' parts
    added in image order (conv_pool._sum_in_order's sums), then the (L2) and (SGD) step on them."""
    m, K, _ = g_n.shape
    for f in range(f0, f1):
        for r in range(K):
            g = g_n[0, r, f]
            for n in range(1, m):
                g += g_n[n, r, f]
            w[f, r] = _descended(w[f, r], g, eta, lmbda_n, decay)
        g = b_n[0, f]
        for n in range(1, m):
            g += b_n[n, f]
        b[f] = _descended(b[f], g, eta, lmbda_n, False)      # biases are not decayed


@jit(parallel=True)
def _forward_convs(X, idx, scale, raw, T,
                   c_x, c_x3, c_w, c_w_r, c_b, c_z, c_a, c_arg, c_cols, c_conv, c_xt, c_strided,
                   c_best, c_win, c_part, c_bits, c_pow2, c_delta, c_dx, c_cols1, c_dconv, c_g_n,
                   c_b_n, c_pat, c_dz, c_wins, c_g_r, c_w_at, c_spec,
                   d_x_in, d_x, d_mask, d_w, d_b, d_z, d_a, d_delta, d_dz, d_dzT, d_g_w, d_g_b,
                   d_dx, d_spec):
    """Region A1, by images: the batch X[idx], then every conv-pool layer, and the dropout
    mask on the first fully connected layer's input; thread t also copies its share of the
    filters in (p, q, c) order."""
    m = idx.shape[0]
    for t in prange(T):
        n0, n1 = share(m, 1, t, T)
        _batch(X, idx, scale, raw, c_x[0], n0, n1)
        for l in range(len(c_x)):
            k, s, code = c_spec[l, K_], c_spec[l, POOL], c_spec[l, CODE]
            _forward_images(c_x[l], c_w[l], c_b[l], k, s, code, c_spec[l, GROUP], n0, n1,
                            c_cols[l][t], c_conv[l][t], c_xt[l][t], c_part[l][t], c_bits[l][t],
                            c_pow2[l][t], c_z[l], c_a[l], c_arg[l], c_strided[l][t],
                            c_best[l][t], c_win[l][t])             # (CONV-FWD), (POOL-FWD)
            if c_spec[l, INPUT_GRAD]:
                F = c_w[l].shape[0]
                _filters_pqc(c_w[l], k, c_x[l].shape[3], c_w_r[l], *share(F, 1, t, T))
        if d_spec[0, DROPOUT]:
            _masked(d_x_in[0], d_mask[0], d_x[0], n0, n1)              # (DROPOUT)


@jit(parallel=True)
def _forward_dense(l, T, d_x_in, d_x, d_mask, d_w, d_b, d_z, d_a, d_spec):
    """Region A2 (one per fully connected layer l), by units, pairs of rows of w: z and a
    of every image, then the dropout mask on those units as the next layer's input.  By
    units, each thread reads only its rows of w (conv1's 2880 x 100 layer is 1.15 MB, more
    than a core's L2 cache: by images both threads read all of it)."""
    n_out = d_w[l].shape[0]
    for t in prange(T):
        o0, o1 = share(n_out, 2, t, T)
        if o1 > o0:
            _forward_units(d_x[l], d_w[l], d_b[l], d_spec[l, D_CODE], d_z[l], d_a[l], o0,
                           o1)                                         # (FF)
            if l + 1 < len(d_x) and d_spec[l + 1, DROPOUT]:
                _masked_columns(d_x_in[l + 1], d_mask[l + 1], d_x[l + 1], o0, o1)


@jit
def _masked_columns(x, mask, out, i0, i1):
    """(DROPOUT) out = x * mask in columns i0..i1 of every row (out may be x)."""
    for n in range(x.shape[0]):
        for i in range(i0, i1):
            out[n, i] = x[n, i] * mask[n, i]


@jit
def _forward(X, idx, scale, raw, T,
             c_x, c_x3, c_w, c_w_r, c_b, c_z, c_a, c_arg, c_cols, c_conv, c_xt, c_strided, c_best,
             c_win, c_part, c_bits, c_pow2, c_delta, c_dx, c_cols1, c_dconv, c_g_n, c_b_n, c_pat,
             c_dz, c_wins, c_g_r, c_w_at, c_spec,
             d_x_in, d_x, d_mask, d_w, d_b, d_z, d_a, d_delta, d_dz, d_dzT, d_g_w, d_g_b, d_dx,
             d_spec):
    """Region A, the forward pass up to the softmax layer's z: A1 by images through the
    conv-pool layers, then A2 by units for each fully connected layer."""
    _forward_convs(X, idx, scale, raw, T, c_x, c_x3, c_w, c_w_r, c_b, c_z, c_a, c_arg, c_cols,
                   c_conv, c_xt, c_strided, c_best, c_win, c_part, c_bits, c_pow2, c_delta, c_dx,
                   c_cols1, c_dconv, c_g_n, c_b_n, c_pat, c_dz, c_wins, c_g_r, c_w_at, c_spec,
                   d_x_in, d_x, d_mask, d_w, d_b, d_z, d_a, d_delta, d_dz, d_dzT, d_g_w, d_g_b,
                   d_dx, d_spec)
    for l in range(len(d_x)):
        _forward_dense(l, T, d_x_in, d_x, d_mask, d_w, d_b, d_z, d_a, d_spec)


@jit(parallel=True)
def _dense_errors(out, y, idx, T, d_x_in, d_x, d_mask, d_w, d_b, d_z, d_a, d_delta, d_dz,
                  d_dzT, d_dx, d_spec):
    """Region B1, by images: the output error from the softmax outputs ``out``, then each
    fully connected layer's delta_z, top to bottom, and dC/dx of every one but the lowest."""
    m = idx.shape[0]
    top = len(d_x) - 1
    for t in prange(T):
        n0, n1 = share(m, 1, t, T)
        _output_error(out, y, idx, d_delta[top], n0, n1)               # (LOGLIK)
        for l in range(top, -1, -1):
            _output_errors(d_delta[l], d_z[l], d_a[l], d_spec[l, D_CODE], d_dz[l], d_dzT[l],
                           n0, n1)                                     # (BP2) delta_z
            if l > 0:
                _nn_columns(d_dz[l][n0:n1], d_w[l], d_dx[l][n0:n1], 0,
                            d_w[l].shape[1])                           # (BP2) dC/dx
                if d_spec[l, DROPOUT]:
                    _masked(d_dx[l], d_mask[l], d_dx[l], n0, n1)   # (DROPOUT) no error


@jit(parallel=True)
def _dense_input_error(T, d_w, d_mask, d_dz, d_dx, d_spec):
    """Region B2, by columns (whole vectors): the lowest fully connected layer's dC/dx for
    every image, so that each thread reads only its columns of w (see region A2)."""
    n_in = d_w[0].shape[1]
    for t in prange(T):
        c0, c1 = share(n_in, LANES, t, T)
        if c1 > c0:
            _nn_columns(d_dz[0], d_w[0], d_dx[0], c0, c1)             # (BP2) dC/dx
            if d_spec[0, DROPOUT]:
                _masked_columns(d_dx[0], d_mask[0], d_dx[0], c0, c1)  # (DROPOUT) no error


@jit(parallel=True)
def _conv_errors(T, c_x, c_x3, c_w, c_w_r, c_b, c_z, c_a, c_arg, c_cols, c_conv, c_xt, c_strided,
                 c_best, c_win, c_part, c_bits, c_pow2, c_delta, c_dx, c_cols1, c_dconv, c_g_n,
                 c_b_n, c_pat, c_dz, c_wins, c_g_r, c_w_at, c_spec):
    """Region B3, by images: each conv-pool layer's errors, top to bottom, (POOL-BP) and
    (CONV-BP), each small-patch layer's part of nabla_w for each of its images, and each
    large-patch layer's delta_z at the pooled positions (the winner sums of region C take
    them; worked out there, every thread would compute all of them)."""
    m = c_x[0].shape[0]
    for t in prange(T):
        n0, n1 = share(m, 1, t, T)
        for l in range(len(c_x) - 1, -1, -1):
            k, s, code = c_spec[l, K_], c_spec[l, POOL], c_spec[l, CODE]
            for n in range(n0, n1):
                if c_spec[l, SMALL]:
                    _image_gradient(c_delta[l], c_z[l], c_a[l], c_arg[l], c_x[l], k, s, code, n,
                                    c_cols1[l][t], c_dconv[l][t], c_xt[l][t], c_g_n[l], c_b_n[l])
                if c_spec[l, INPUT_GRAD]:
                    _input_error(c_delta[l], c_z[l], c_a[l], c_arg[l], c_w_r[l], k, s,
                                 c_x[l].shape[3], code, n, c_dx[l])    # (CONV-BP), (POOL-BP)
            if not c_spec[l, SMALL]:      # (BP2) the errors region C's winner sums take
                _pooled_errors(c_delta[l], c_z[l], c_a[l], code, n0, n1, c_dz[l])


@jit
def _backward(out, y, idx, T,
              c_x, c_x3, c_w, c_w_r, c_b, c_z, c_a, c_arg, c_cols, c_conv, c_xt, c_strided, c_best,
              c_win, c_part, c_bits, c_pow2, c_delta, c_dx, c_cols1, c_dconv, c_g_n, c_b_n, c_pat,
              c_dz, c_wins, c_g_r, c_w_at, c_spec,
              d_x_in, d_x, d_mask, d_w, d_b, d_z, d_a, d_delta, d_dz, d_dzT, d_g_w, d_g_b, d_dx,
              d_spec):
    """Region B, the backward pass: B1 by images through the fully connected layers, B2 by
    columns for the lowest one's dC/dx, B3 by images through the conv-pool layers."""
    _dense_errors(out, y, idx, T, d_x_in, d_x, d_mask, d_w, d_b, d_z, d_a, d_delta, d_dz,
                  d_dzT, d_dx, d_spec)
    _dense_input_error(T, d_w, d_mask, d_dz, d_dx, d_spec)
    _conv_errors(T, c_x, c_x3, c_w, c_w_r, c_b, c_z, c_a, c_arg, c_cols, c_conv, c_xt, c_strided,
                 c_best, c_win, c_part, c_bits, c_pow2, c_delta, c_dx, c_cols1, c_dconv, c_g_n,
                 c_b_n, c_pat, c_dz, c_wins, c_g_r, c_w_at, c_spec)


@jit(parallel=True)
def _gradients_step(eta, lmbda_n, decay, T,
                    c_x, c_x3, c_w, c_w_r, c_b, c_z, c_a, c_arg, c_cols, c_conv, c_xt, c_strided,
                    c_best, c_win, c_part, c_bits, c_pow2, c_delta, c_dx, c_cols1, c_dconv, c_g_n,
                    c_b_n, c_pat, c_dz, c_wins, c_g_r, c_w_at, c_spec,
                    d_x_in, d_x, d_mask, d_w, d_b, d_z, d_a, d_delta, d_dz, d_dzT, d_g_w, d_g_b,
                    d_dx, d_spec):
    """Region C, by weights: thread t sums its share of each layer's nabla_w and nabla_b over
    the images in order and steps those weights: a fully connected layer's units four at a
    time, a large-patch conv layer's columns (whole vectors: its weights are stepped in
    region D) and a share of its filters' biases, a small-patch conv layer's filters.
    Each thread sums its columns of a large-patch nabla_w into its own copy g_r[t]: with
    one (F, K') array, the two threads' halves of every row side by side, the winner sums
    took as long on two threads as on one (99-103 us against 60 us; likely each core's
    prefetcher reaching into the other's half)."""
    for t in prange(T):
        for l in range(len(d_x)):
            w, b, g_w, g_b = d_w[l], d_b[l], d_g_w[l], d_g_b[l]
            o0, o1 = share(w.shape[0], 4, t, T)
            for u in range(o0, o1, 4):    # four units, then their step, while still cached
                u1 = min(u + 4, o1)
                _unit_gradients(d_dz[l], d_dzT[l], d_x[l], g_w, g_b, u, u1)   # (BP4), (BP3)
                for o in range(u, u1):
                    for i in range(w.shape[1]):
                        w[o, i] = _descended(w[o, i], g_w[o, i], eta, lmbda_n, decay)
                    b[o] = _descended(b[o], g_b[o], eta, lmbda_n, False)
        for l in range(len(c_x)):
            w, b = c_w[l], c_b[l]
            F = w.shape[0]
            k, s, code = c_spec[l, K_], c_spec[l, POOL], c_spec[l, CODE]
            f0, f1 = share(F, 1, t, T)
            if c_spec[l, SMALL]:
                _summed_filters_step(c_g_n[l], c_b_n[l], w, b, f0, f1, eta, lmbda_n, decay)
                continue
            e0, e1 = share(c_g_r[l].shape[2], LANES, t, T)
            _winner_sums(c_dz[l], c_wins[l], c_x3[l], k, s, c_x[l].shape[3], c_z[l].shape[1],
                         c_z[l].shape[2], e0, e1, c_pat[l][t], c_g_r[l][t])   # (CONV-BP)
            for f in range(f0, f1):   # nabla_b rounded to the weights' dtype, as when stored
                g = b.dtype.type(_bias_error(c_delta[l], c_z[l], c_a[l], code, f))
                b[f] = _descended(b[f], g, eta, lmbda_n, False)


@jit(parallel=True)
def _patch_weights_step(eta, lmbda_n, decay, T,
                        c_x, c_x3, c_w, c_w_r, c_b, c_z, c_a, c_arg, c_cols, c_conv, c_xt,
                        c_strided, c_best, c_win, c_part, c_bits, c_pow2, c_delta, c_dx, c_cols1,
                        c_dconv, c_g_n, c_b_n, c_pat, c_dz, c_wins, c_g_r, c_w_at, c_spec,
                        d_x_in, d_x, d_mask, d_w, d_b, d_z, d_a, d_delta, d_dz, d_dzT, d_g_w,
                        d_g_b, d_dx, d_spec):
    """Region D, by filters: the (L2) and (SGD) step on each large-patch conv layer's weights,
    from nabla_w in (p, q, c) order (g_r[t], each thread's columns as region C left them)
    into w's (c, p, q) order.  Stepped in C by the same columns, each thread's weights would
    lie scattered along every row of w, both threads writing to every cache line of it."""
    for t in prange(T):
        for l in range(len(c_x)):
            if c_spec[l, SMALL]:
                continue
            w, g_r, w_at = c_w[l], c_g_r[l], c_w_at[l]
            F, K = w.shape
            for f in range(*share(F, 1, t, T)):
                for owner in range(T):               # the thread whose copy holds the column
                    e0, e1 = share(g_r.shape[2], LANES, owner, T)
                    for e in range(e0, min(e1, K)):
                        w[f, w_at[e]] = _descended(w[f, w_at[e]], g_r[owner, f, e], eta,
                                                   lmbda_n, decay)


@jit
def _backward_and_step(out, y, idx, eta, lmbda_n, decay, T,
                       c_x, c_x3, c_w, c_w_r, c_b, c_z, c_a, c_arg, c_cols, c_conv, c_xt,
                       c_strided, c_best, c_win, c_part, c_bits, c_pow2, c_delta, c_dx, c_cols1,
                       c_dconv, c_g_n, c_b_n, c_pat, c_dz, c_wins, c_g_r, c_w_at, c_spec,
                       d_x_in, d_x, d_mask, d_w, d_b, d_z, d_a, d_delta, d_dz, d_dzT, d_g_w,
                       d_g_b, d_dx, d_spec):
    """Regions B, C and D, one call from Python."""
    _backward(out, y, idx, T, c_x, c_x3, c_w, c_w_r, c_b, c_z, c_a, c_arg, c_cols, c_conv, c_xt,
              c_strided, c_best, c_win, c_part, c_bits, c_pow2, c_delta, c_dx, c_cols1, c_dconv,
              c_g_n, c_b_n, c_pat, c_dz, c_wins, c_g_r, c_w_at, c_spec, d_x_in, d_x, d_mask, d_w,
              d_b, d_z, d_a, d_delta, d_dz, d_dzT, d_g_w, d_g_b, d_dx, d_spec)
    _gradients_step(eta, lmbda_n, decay, T, c_x, c_x3, c_w, c_w_r, c_b, c_z, c_a, c_arg, c_cols,
                    c_conv, c_xt, c_strided, c_best, c_win, c_part, c_bits, c_pow2, c_delta, c_dx,
                    c_cols1, c_dconv, c_g_n, c_b_n, c_pat, c_dz, c_wins, c_g_r, c_w_at, c_spec,
                    d_x_in, d_x, d_mask, d_w, d_b, d_z, d_a, d_delta, d_dz, d_dzT, d_g_w, d_g_b,
                    d_dx, d_spec)
    if not c_spec[:, SMALL].all():           # a large-patch conv layer: region D
        _patch_weights_step(eta, lmbda_n, decay, T, c_x, c_x3, c_w, c_w_r, c_b, c_z, c_a, c_arg,
                            c_cols, c_conv, c_xt, c_strided, c_best, c_win, c_part, c_bits, c_pow2,
                            c_delta, c_dx, c_cols1, c_dconv, c_g_n, c_b_n, c_pat, c_dz, c_wins,
                            c_g_r, c_w_at, c_spec, d_x_in, d_x, d_mask, d_w, d_b, d_z, d_a,
                            d_delta, d_dz, d_dzT, d_g_w, d_g_b, d_dx, d_spec)


def _softmax_into(z, out):
    """(SOFTMAX) out = NumPy's softmax of z: called from compiled code as plain Python, so
    that the numbers are the layer path's (see region A2)."""
    out[...] = Softmax.fn(z)


@jit
def _train_batches(X, y, order, k0, k1, m, scale, raw, eta, lmbda_n, decay, T, out,
                   c_x, c_x3, c_w, c_w_r, c_b, c_z, c_a, c_arg, c_cols, c_conv, c_xt, c_strided,
                   c_best, c_win, c_part, c_bits, c_pow2, c_delta, c_dx, c_cols1, c_dconv, c_g_n,
                   c_b_n, c_pat, c_dz, c_wins, c_g_r, c_w_at, c_spec,
                   d_x_in, d_x, d_mask, d_w, d_b, d_z, d_a, d_delta, d_dz, d_dzT, d_g_w, d_g_b,
                   d_dx, d_spec):
    """TrainingStep.run: for each mini-batch idx = order[k:k + m], regions A, the softmax
    (in NumPy, as Python), then B, C and D."""
    for k in range(k0, k1, m):
        idx = order[k:k + m]
        _forward(X, idx, scale, raw, T, c_x, c_x3, c_w, c_w_r, c_b, c_z, c_a, c_arg, c_cols,
                 c_conv, c_xt, c_strided, c_best, c_win, c_part, c_bits, c_pow2, c_delta, c_dx,
                 c_cols1, c_dconv, c_g_n, c_b_n, c_pat, c_dz, c_wins, c_g_r, c_w_at, c_spec,
                 d_x_in, d_x, d_mask, d_w, d_b, d_z, d_a, d_delta, d_dz, d_dzT, d_g_w, d_g_b,
                 d_dx, d_spec)
        z = d_z[-1]
        with objmode():
            _softmax_into(z, out)                              # (SOFTMAX)
        _backward_and_step(out, y, idx, eta, lmbda_n, decay, T, c_x, c_x3, c_w, c_w_r, c_b, c_z,
                           c_a, c_arg, c_cols, c_conv, c_xt, c_strided, c_best, c_win, c_part,
                           c_bits, c_pow2, c_delta, c_dx, c_cols1, c_dconv, c_g_n, c_b_n, c_pat,
                           c_dz, c_wins, c_g_r, c_w_at, c_spec, d_x_in, d_x, d_mask, d_w, d_b,
                           d_z, d_a, d_delta, d_dz, d_dzT, d_g_w, d_g_b, d_dx, d_spec)
