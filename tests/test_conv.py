"""Chapter 6 layers: kernels against their NumPy twins, backprop against finite differences.

Gradient checks run in float64 on tiny images (1x8x8, 2 feature maps), with
central differences and the relative error ||g - g_fd|| / (||g|| + ||g_fd||);
the negative controls show that the checker rejects a wrong pooling backward
pass, a wrong convolution backward pass and a far too large step.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from network.base.activations import get_activation
from network.base.jit import max_threads, thread_count
from network.conv import ConvNetwork, ConvPoolLayer, FullyConnectedLayer, SoftmaxLayer
from network.conv import conv_pool
from network.conv import kernels as K
from network.conv import matmul as M
from network.conv import reference as P
from network.errors import UsageError

TOLERANCE = 1e-7
ROOT = Path(__file__).resolve().parents[1]


# ---- the definitions (network/conv/reference.py) ------------------------------------------

def test_col2im_is_the_adjoint_of_im2col():
    """<im2col(x), c> = <x, col2im(c)>: the backward pass is the transpose of the forward."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 7, 9, 3))
    c = rng.standard_normal(P.im2col(x, 3).shape)
    lhs = np.sum(P.im2col(x, 3) * c)
    rhs = np.sum(x * P.col2im(c, 7, 9))
    assert abs(lhs - rhs) < 1e-10 * abs(lhs)


def test_maxpool_is_the_block_maximum():
    x = np.arange(16.0).reshape(1, 4, 4, 1)[:, ::-1]   # decreasing rows
    out, _ = P.maxpool(x, 2)
    np.testing.assert_array_equal(out[0, :, :, 0], [[13, 15], [5, 7]])


# ---- compiled stages == NumPy twins (network/conv/conv_pool.py, dense.py, matmul.py) -------------------

@pytest.mark.parametrize("shape", [(10, 100, 2880), (100, 10, 96), (7, 13, 37), (1, 1, 1), (5, 4, 16), (6, 5, 33), (6, 10, 40)])
def test_compiled_products_match_blas_and_any_split_gives_the_same_bits(shape):
    """C = A B and C = A B^T, whole and in slices (as threads would share them out): equal
    to BLAS to 1e-12, and every split equal to the whole bit for bit, in float32 too."""
    R, S, N = shape
    rng = np.random.default_rng(R * S * N)
    for dtype in (np.float64, np.float32):
        A, B, Bt = (rng.standard_normal(s).astype(dtype) for s in ((R, S), (S, N), (N, S)))
        nn, nt = np.empty((R, N), dtype), np.empty((R, N), dtype)
        M._nn_columns(A, B, nn, 0, N)
        M._nt_rows(A, Bt, nt, 0, N)
        if dtype == np.float64:
            np.testing.assert_allclose(nn, A @ B, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(nt, A @ Bt.T, rtol=1e-12, atol=1e-12)
        nn2, nt2 = np.empty_like(nn), np.empty_like(nt)
        cuts = sorted({0, N} | {c for c in (2, 6, 16, 34) if c < N})   # the nt cuts are even
        for a, b in zip(cuts[:-1], cuts[1:]):
            M._nn_columns(A, B, nn2, a, b)
            M._nt_rows(A, Bt, nt2, a, b)
        np.testing.assert_array_equal(nn2, nn)
        np.testing.assert_array_equal(nt2, nt)
        rows = np.empty_like(nn)                 # rows one at a time, as a leftover row is done
        for r in range(R):
            M._nn_columns(A[r:r + 1], B, rows[r:r + 1], 0, N)
        np.testing.assert_array_equal(rows, nn)


STAGE_CASES = [  # (m, H, W, C), (F, k), pool s, activation
    ((3, 8, 8, 1), (2, 3), 2, "sigmoid"), ((2, 12, 11, 4), (5, 5), 2, "relu"),
    ((4, 9, 7, 3), (3, 2), 3, "tanh"), ((1, 5, 5, 2), (3, 5), 1, "identity"),
    ((5, 12, 12, 20), (40, 5), 2, "relu"), ((2, 10, 10, 3), (4, 3), 2, "silu"),
    # pooled maps of 64 positions or more, pooled by block (conv_pool.by_block): 12 x 12 with
    # one channel, 9 x 9 from 19 x 18 maps (an odd row left out) with two, 8 x 8 pooled 3 x 3
    ((3, 28, 28, 1), (4, 5), 2, "sigmoid"), ((2, 22, 21, 2), (3, 4), 2, "relu"),
    ((2, 27, 27, 1), (2, 3), 3, "tanh")]


def test_the_stage_cases_take_both_ways_of_pooling():
    shapes = [((H - k + 1) // s, (W - k + 1) // s) for (_, H, W, _), (_, k), s, _ in STAGE_CASES]
    assert {bool(conv_pool.by_block(PH, PW)) for PH, PW in shapes} == {True, False}


@pytest.mark.parametrize("x_shape, fk, s, act", STAGE_CASES)
def test_conv_pool_stages_match_their_numpy_twins(x_shape, fk, s, act):
    """(CONV-FWD), (POOL-FWD), sigma; (BP2), (POOL-BP), (CONV-BP): the compiled stages, which
    visit the pooling winners only, against the definitions, ties in the blocks included."""
    rng = np.random.default_rng(sum(x_shape))
    F, k = fk
    x = rng.integers(-2, 3, size=x_shape).astype(np.float64)     # many ties in the maxima
    w = rng.integers(-1, 2, size=(F, x_shape[3], k, k)).astype(np.float64)
    b = rng.standard_normal(F)
    activation = get_activation(act)
    z1, a1, arg1, saved1 = conv_pool.conv_pool_forward_numba(x, w, b, s, activation)
    z2, a2, arg2, saved2 = P.conv_pool_forward_numpy(x, w, b, s, activation)
    np.testing.assert_array_equal(z1, z2)
    np.testing.assert_array_equal(arg1, arg2)
    np.testing.assert_allclose(a1, a2, rtol=1e-12, atol=1e-15)
    x = rng.standard_normal(x_shape)                              # now without ties
    w = rng.standard_normal(w.shape)
    z1, a1, arg1, saved1 = conv_pool.conv_pool_forward_numba(x, w, b, s, activation)
    z2, a2, arg2, saved2 = P.conv_pool_forward_numpy(x, w, b, s, activation)
    np.testing.assert_allclose(z1, z2, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(arg1, arg2)
    delta_a = rng.standard_normal(z1.shape)
    grads1 = conv_pool.conv_pool_backward_numba(delta_a, z1, a1, arg1, saved1, w, s, activation, True)
    grads2 = P.conv_pool_backward_numpy(delta_a, z2, a2, arg2, saved2, w, s, activation, True)
    for g1, g2 in zip(grads1, grads2):
        np.testing.assert_allclose(g1, g2, rtol=1e-12, atol=1e-12)
    assert conv_pool.conv_pool_backward_numba(delta_a, z1, a1, arg1, saved1, w, s, activation,
                                      False)[2] is None


@pytest.mark.parametrize("dtype, ints, ulp", [(np.float32, np.int32, 2 ** -23),
                                               (np.float64, np.int64, 2 ** -52)])
def test_the_compiled_sigmoid_is_within_two_units_in_the_last_place(dtype, ints, ulp):
    """(SIGMOID) with the stages' own exponential (activation._sigmoid_rows) against NumPy's
    stable sigmoid in float64: relative error <= 2 ulp where the result is a normal number,
    exactly 0 or 1 far out, NaN kept."""
    from network.base.activations import Sigmoid
    from network.conv.activation import _sigmoid_rows
    z = np.concatenate([np.random.default_rng(8).standard_normal(20_000) * 10,
                        np.linspace(-800, 800, 20_001), [np.nan, np.inf, -np.inf, 0.0]])
    z = z.astype(dtype)
    a, bits = np.empty_like(z), np.empty(z.shape, dtype=ints)
    _sigmoid_rows(z, a, np.empty_like(z), bits, bits.view(dtype))
    ref = Sigmoid.fn(z.astype(np.float64))
    normal = np.isfinite(ref) & (ref > np.finfo(dtype).tiny * 1.001)
    assert np.max(np.abs(a[normal] - ref[normal]) / ref[normal]) <= 2 * ulp
    assert np.isnan(a[-4]) and list(a[-3:]) == [1.0, 0.0, 0.5]
    assert np.all(a[~np.isnan(z) & (z < -800 * 0.9)] == 0.0)


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu", "identity", "softmax"])
@pytest.mark.parametrize("m, n_in, n_out", [(7, 33, 5), (10, 2880, 100), (1, 3, 1)])
def test_dense_stages_match_their_numpy_twins(act, m, n_in, n_out):
    """(FF) and (BP2)-(BP4) of a fully connected layer, small (on the calling thread) and
    large (shared among the threads), and the softmax layer's (its error is dC/dz)."""
    rng = np.random.default_rng(m + n_in)
    x, w, b, delta = (rng.standard_normal(s) for s in ((m, n_in), (n_out, n_in), (n_out,),
                                                        (m, n_out)))
    activation = get_activation(act)
    numba_, numpy_ = K.IMPLEMENTATIONS["numba"], K.IMPLEMENTATIONS["numpy"]
    (z1, a1), (z2, a2) = numba_["dense_forward"](x, w, b, activation), \
        numpy_["dense_forward"](x, w, b, activation)
    np.testing.assert_allclose(z1, z2, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a1, a2, rtol=1e-12, atol=1e-12)
    given = None if act == "softmax" else activation
    for g1, g2 in zip(numba_["dense_backward"](delta, z1, a1, x, w, given, True),
                      numpy_["dense_backward"](delta, z2, a2, x, w, given, True)):
        np.testing.assert_allclose(g1, g2, rtol=1e-12, atol=1e-12)


def test_conv_layer_computes_the_definition():
    """(CONV-FWD) z[n,i,j,f] = sum_{c,p,q} w[f,c,p,q] x[n,i+p,j+q,c] + b[f], by plain loops."""
    rng = np.random.default_rng(3)
    layer = ConvPoolLayer((3, 2, 3, 3), (2, 6, 6), poolsize=1, activation="identity")
    layer.initialize(rng, np.float64)
    x = rng.standard_normal((2, 6, 6, 2))
    z = layer.forward(x)
    ref = np.zeros((2, 4, 4, 3))
    for n in range(2):
        for i in range(4):
            for j in range(4):
                for f in range(3):
                    ref[n, i, j, f] = np.sum(layer.w[f] * x[n, i:i + 3, j:j + 3, :].transpose(2, 0, 1)) \
                        + layer.b[f]
    np.testing.assert_allclose(z, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu"])
def test_pooling_before_activation_equals_pooling_after(act):
    """(POOL-ORDER) max_i sigma(z_i + b) = sigma(max_i z_i + b) for nondecreasing sigma."""
    rng = np.random.default_rng(4)
    layer = ConvPoolLayer((2, 1, 3, 3), (1, 8, 8), 2, act)
    layer.initialize(rng, np.float64)
    x = rng.standard_normal((3, 8, 8, 1))
    a = layer.forward(x)
    conv = (P.im2col(x, 3).reshape(-1, 9) @ layer.w.reshape(2, 9).T).reshape(3, 6, 6, 2)
    after = P.maxpool(layer.activation.fn(conv + layer.b), 2)[0]
    np.testing.assert_allclose(a, after, rtol=1e-12, atol=1e-12)


# ---- gradient checks -----------------------------------------------------------------------

def tiny_network(act, seed, kernels="numba", dropout=0.0):
    """1x8x8 images, conv 2x3x3 -> 6x6x2 -> pool 3x3x2, conv 3x2x2 -> 2x2x3, FC 12->5, softmax 3."""
    rng = np.random.default_rng(seed)
    layers = [ConvPoolLayer((2, 1, 3, 3), (1, 8, 8), 2, act),
              ConvPoolLayer((3, 2, 2, 2), (2, 3, 3), 1, act),
              FullyConnectedLayer(12, 5, act, p_dropout=dropout),
              SoftmaxLayer(5, 3, p_dropout=dropout)]
    net = ConvNetwork(layers, seed=seed, dtype=np.float64, kernels=kernels)
    for layer in net.layers:   # move the softmax layer off its zero start, spread the rest
        layer.w += 0.3 * rng.standard_normal(layer.w.shape)
        layer.b += 0.1 * rng.standard_normal(layer.b.shape)
    X = rng.random((4, 64))
    y = rng.integers(0, 3, 4)
    return net, (X, y)


def numerical_gradient(net, data, lmbda, n, masks=None, h=1e-6):
    grads = []
    for layer in net.layers:
        pair = []
        for p in (layer.w, layer.b):
            g = np.zeros_like(p)
            for idx in np.ndindex(p.shape):
                old = p[idx]
                p[idx] = old + h
                up = net.total_cost(data, lmbda, n, masks)
                p[idx] = old - h
                down = net.total_cost(data, lmbda, n, masks)
                p[idx] = old
                g[idx] = (up - down) / (2 * h)
            pair.append(g)
        grads.append(pair)
    return grads


def relative_error(a, b):
    a = np.concatenate([g.ravel() for pair in a for g in pair])
    b = np.concatenate([g.ravel() for pair in b for g in pair])
    return np.linalg.norm(a - b) / (np.linalg.norm(a) + np.linalg.norm(b))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu"])
def test_conv_backprop_matches_finite_differences(act, seed):
    """(CONV-BP), (POOL-BP), (BP1)-(BP4) with (LOGLIK) and (L2), every parameter checked."""
    net, data = tiny_network(act, seed)
    grads = net.cost_gradient(data, lmbda=0.5, training_set_size=20)
    assert relative_error(grads, numerical_gradient(net, data, 0.5, 20)) < TOLERANCE


def test_conv_backprop_with_dropout_masks_matches_finite_differences():
    net, data = tiny_network("sigmoid", 3, dropout=0.4)
    masks = net.dropout_masks(4)
    assert set(masks) == {2, 3} and any(np.any(m == 0) for m in masks.values())
    grads = net.cost_gradient(data, 0.0, masks=masks)
    assert relative_error(grads, numerical_gradient(net, data, 0.0, 4, masks)) < TOLERANCE


def test_numba_and_numpy_kernels_give_the_same_gradients():
    a, data = tiny_network("relu", 5, kernels="numba")
    b, _ = tiny_network("relu", 5, kernels="numpy")
    for (wa, ba), (wb, bb) in zip(a.cost_gradient(data, 0.1, 10), b.cost_gradient(data, 0.1, 10)):
        np.testing.assert_allclose(wa, wb, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(ba, bb, rtol=1e-12, atol=1e-14)


_maxpool_backward, _col2im = P.maxpool_backward, P.col2im


def _wrong_pool_backward(dout, arg, s, H, W):
    """Routes each error to the block's top-left element instead of its winner."""
    return _maxpool_backward(dout, np.zeros_like(arg), s, H, W)


def _wrong_col2im(dcols, H, W):
    """Flips the filter offsets: what forgetting the correlation/convolution flip looks like."""
    return _col2im(dcols[..., ::-1, ::-1], H, W)


@pytest.mark.parametrize("step,wrong", [("maxpool_backward", _wrong_pool_backward),
                                        ("col2im", _wrong_col2im)])
def test_gradient_check_rejects_a_wrong_backward_pass(step, wrong, monkeypatch):
    """Negative control: the same check must fail when a step of the backward pass is wrong."""
    net, data = tiny_network("tanh", 0, kernels="numpy")
    numeric = numerical_gradient(net, data, 0.0, 4)
    monkeypatch.setattr(P, step, wrong)
    assert relative_error(net.cost_gradient(data), numeric) > 1e-2


def test_gradient_check_rejects_a_far_too_large_step():
    net, data = tiny_network("sigmoid", 0)
    grads = net.cost_gradient(data)
    assert relative_error(grads, numerical_gradient(net, data, 0.0, 4, h=1.0)) > TOLERANCE


# ---- the network --------------------------------------------------------------------------

def test_layers_that_do_not_chain_are_refused():
    with pytest.raises(UsageError, match="do not chain"):
        ConvNetwork([ConvPoolLayer((2, 1, 3, 3), (1, 8, 8)), SoftmaxLayer(10, 3)])
    with pytest.raises(UsageError, match="SoftmaxLayer"):
        ConvNetwork([FullyConnectedLayer(4, 3)])
    with pytest.raises(UsageError, match="input maps"):
        ConvPoolLayer((2, 3, 3, 3), (1, 8, 8))
    with pytest.raises(UsageError, match="cannot be softmax.*SoftmaxLayer"):   # it trained as identity
        FullyConnectedLayer(8, 4, "softmax")
    with pytest.raises(UsageError, match="a hidden layer's activation must be one of"):
        ConvPoolLayer((2, 1, 3, 3), (1, 8, 8), activation="softmax")


def _toy_images(rng, n):
    """Vertical vs horizontal bars on 8x8: a task a tiny conv net learns in a few epochs."""
    X = rng.random((n, 8, 8)) * 0.2
    y = rng.integers(0, 2, n)
    pos = rng.integers(1, 7, n)
    for i in range(n):
        if y[i]:
            X[i, :, pos[i]] += 0.8
        else:
            X[i, pos[i], :] += 0.8
    return X.reshape(n, 64), y


def test_sgd_learns_bars_and_leaves_the_callers_data_alone():
    rng = np.random.default_rng(0)
    X, y = _toy_images(rng, 400)
    X0, y0 = X.copy(), y.copy()
    net = ConvNetwork([ConvPoolLayer((4, 1, 3, 3), (1, 8, 8), 2, "relu"),
                       FullyConnectedLayer(36, 10, "relu"), SoftmaxLayer(10, 2)], seed=1)
    before = net.total_cost((X, y))
    history = net.SGD((X, y), 4, 10, 0.1, validation_data=(X[:100], y[:100]), verbose=False)
    assert len(history) == 4 and history[-1]["validation_accuracy"] > 0.95
    assert net.total_cost((X, y)) < 0.5 * before
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


def test_same_seed_same_training_and_uint8_input_is_scaled():
    rng = np.random.default_rng(2)
    X, y = _toy_images(rng, 60)
    X8 = np.round(np.clip(X, 0, 1) * 255).astype(np.uint8)

    def train():
        net = ConvNetwork([ConvPoolLayer((2, 1, 3, 3), (1, 8, 8)), SoftmaxLayer(18, 2)], seed=7)
        net.SGD((X8, y), 1, 10, 0.1, verbose=False)
        return net
    a, b = train(), train()
    np.testing.assert_array_equal(a.layers[0].w, b.layers[0].w)
    np.testing.assert_allclose(a.feedforward(X8), a.feedforward(X8.astype(np.float64) / 255),
                               rtol=1e-5, atol=1e-6)


def test_callback_stops_training():
    rng = np.random.default_rng(3)
    X, y = _toy_images(rng, 40)
    net = ConvNetwork([FullyConnectedLayer(64, 5), SoftmaxLayer(5, 2)], seed=0)
    history = net.SGD((X, y), 10, 10, 0.1, callbacks=[lambda n, r: r["epoch"] == 1],
                      verbose=False)
    assert len(history) == 2


def test_augment_gives_each_epoch_its_own_inputs_and_the_callers_data_stays():
    rng = np.random.default_rng(4)
    X, y = _toy_images(rng, 50)
    X0 = X.copy()
    seen = []

    def augment(inputs, gen):
        seen.append(inputs.copy())
        return inputs + 0.01 * len(seen)          # a different input every epoch

    def train(aug):
        net = ConvNetwork([FullyConnectedLayer(64, 5), SoftmaxLayer(5, 2)], seed=0)
        net.SGD((X, y), 3, 10, 0.1, verbose=False, augment=aug)
        return net
    with_aug, plain = train(augment), train(None)
    assert len(seen) == 3 and all(np.array_equal(s, X0) for s in seen)
    np.testing.assert_array_equal(X, X0)
    # it trained on what augment returned: the same seed without it ends elsewhere
    assert not np.allclose(with_aug.layers[0].w, plain.layers[0].w)
    # and exactly on that: an augment returning its input unchanged changes nothing
    same = train(lambda inputs, gen: inputs)
    np.testing.assert_array_equal(same.layers[0].w, plain.layers[0].w)


@pytest.mark.parametrize("bad, message", [
    (lambda X, rng: X[:-1], r"shape \(20, 64\)"),
    (lambda X, rng: X.astype(np.float32), "dtype float64"),
    (lambda X, rng: X.tolist(), "got list"),
    (lambda X, rng: X * np.nan, "NaN"),
])
def test_an_augment_returning_the_wrong_thing_is_refused(bad, message):
    net = ConvNetwork([FullyConnectedLayer(64, 5), SoftmaxLayer(5, 2)], seed=0)
    X, y = np.zeros((20, 64)), np.zeros(20, dtype=int)
    with pytest.raises(UsageError, match=message):
        net.SGD((X, y), 1, 10, 0.1, verbose=False, augment=bad)


def test_bad_training_arguments_say_what_is_wrong():
    net = ConvNetwork([FullyConnectedLayer(64, 5), SoftmaxLayer(5, 2)], seed=0)
    X, y = np.zeros((20, 64)), np.zeros(20, dtype=int)
    with pytest.raises(UsageError, match="labels must be in 0..1"):
        net.SGD((X, y + 2), 1, 10, 0.1)
    with pytest.raises(UsageError, match=r"\(n, 64\)"):
        net.SGD((np.zeros((20, 63)), y), 1, 10, 0.1)
    with pytest.raises(UsageError, match="mini_batch_size"):
        net.SGD((X, y), 1, 0, 0.1)
    with pytest.raises(UsageError, match="eta"):
        net.SGD((X, y), 1, 10, -1.0)


def test_schedules_early_stopping_and_eta_halving_work_on_a_conv_network():
    """Chapter 6 problems (early stopping, eta schedule): schedules.py's callbacks apply as is."""
    from network.base.schedules import HalveOnNoImprovement, NoImprovementInN
    rng = np.random.default_rng(4)
    X, y = _toy_images(rng, 60)
    net = ConvNetwork([ConvPoolLayer((2, 1, 3, 3), (1, 8, 8)), SoftmaxLayer(18, 2)], seed=0)
    stop = NoImprovementInN(n=1, keep_best=True)
    net.SGD((X, y), 30, 10, 1e-6, validation_data=(X, y), callbacks=[stop], verbose=False)
    assert len(net.history) < 30 and stop.stop_epoch == len(net.history) - 1
    stop.restore(net)
    assert net.accuracy((X, y)) / len(y) == stop.best
    halve = HalveOnNoImprovement(n=1, min_fraction_inverse=4)
    net.SGD((X, y), 30, 10, 1e-6, validation_data=(X, y), callbacks=[halve], verbose=False)
    assert net.optimizer.eta == pytest.approx(0.25e-6) and len(halve.halvings) == 2


def test_conv_tanh_network_is_a_rescaled_sigmoid_network():
    """notes/chap6.md, Problem 6.3 (TANH): tanh z = 2 sigma(2z) - 1, so the sigmoid network
    with each tanh layer's weights and biases doubled, each following layer's weights doubled
    and its biases lowered by the sum of those weights (for a conv layer, the sum of each
    filter: a constant over the map, which max-pooling lets through) has the same outputs.
    Control: halving the outgoing weights instead gives another function."""
    tanh_net, (X, _) = tiny_network("tanh", 7)

    def as_sigmoid(outgoing):
        net, _ = tiny_network("sigmoid", 7)
        for l, (src, dst) in enumerate(zip(tanh_net.layers, net.layers)):
            w, b = src.w, src.b
            if l > 0:                                       # its input is a tanh layer's 2s - 1
                b = b - w.reshape(len(b), -1).sum(axis=1)   # lowered by the outgoing weights' sum
                w = outgoing * w
            if l < len(net.layers) - 1:                     # a tanh layer: its sigmoid sees 2z
                w, b = 2 * w, 2 * b
            dst.w, dst.b = w.copy(), b.copy()
        return net

    expected = tanh_net.feedforward(X)
    assert np.max(np.abs(as_sigmoid(2.0).feedforward(X) - expected)) < 1e-12
    assert np.max(np.abs(as_sigmoid(0.5).feedforward(X) - expected)) > 1e-3


def test_accuracy_on_an_arbitrary_data_set_counts_every_row():
    """Problem 6.6: accuracy of any (X, y), whatever its size: not a multiple of the
    mini-batch (network3 would drop the rest) nor of the evaluation chunk, uint8 or float."""
    from network.conv import network as conv_network
    rng = np.random.default_rng(9)
    X, y = _toy_images(rng, conv_network.EVAL_CHUNK + 3)
    net = ConvNetwork([ConvPoolLayer((2, 1, 3, 3), (1, 8, 8)), SoftmaxLayer(18, 2)], seed=0)
    net.SGD((X[:200], y[:200]), 2, 10, 0.5, verbose=False)
    expected = int(np.sum(np.argmax(net._forward(net._as_input(X)), axis=1) == y))
    assert net.accuracy((X, y)) == expected
    assert 0 < expected < len(y)
    assert net.accuracy((X[:7], y[:7])) == int(np.sum(np.argmax(net.feedforward(X[:7]), 1) == y[:7]))
    X8 = np.round(X * 255).clip(0, 255).astype(np.uint8)
    assert abs(net.accuracy((X8, y)) - expected) <= 5     # the same images, rounded to pixels


def test_monitor_records_the_overfitting_diagnostics_each_epoch():
    """Problem 6.10: training accuracy and cost and validation cost per epoch, equal to
    accuracy() and total_cost() computed apart, with the same L2 term on both costs."""
    rng = np.random.default_rng(10)
    X, y = _toy_images(rng, 60)
    Xv, yv = _toy_images(rng, 40)
    net = ConvNetwork([ConvPoolLayer((2, 1, 3, 3), (1, 8, 8), 2, "relu"), SoftmaxLayer(18, 2)],
                      seed=0, dtype=np.float64)
    seen = []

    def check(net, record):
        seen.append(record)
        assert record["training_accuracy"] == net.accuracy((X, y)) / len(y)
        assert record["training_cost"] == pytest.approx(net.total_cost((X, y), 3.0, len(y)))
        assert record["validation_cost"] == pytest.approx(net.total_cost((Xv, yv), 3.0, len(y)))
        assert record["validation_accuracy"] == net.accuracy((Xv, yv)) / len(yv)
        assert record["evaluation_cost"] == record["validation_cost"]

    net.SGD((X, y), 3, 10, 0.3, validation_data=(Xv, yv), lmbda=3.0, verbose=False,
            callbacks=[check], monitor=("training_accuracy", "training_cost", "validation_cost"))
    assert len(seen) == 3
    plain = ConvNetwork([ConvPoolLayer((2, 1, 3, 3), (1, 8, 8), 2, "relu"), SoftmaxLayer(18, 2)],
                        seed=0, dtype=np.float64)
    plain.SGD((X, y), 3, 10, 0.3, validation_data=(Xv, yv), lmbda=3.0, verbose=False)
    assert "training_accuracy" not in plain.history[0]
    np.testing.assert_array_equal(plain.layers[0].w, net.layers[0].w)   # watching changes nothing
    with pytest.raises(UsageError, match="unknown 'test_cost'"):
        net.SGD((X, y), 1, 10, 0.3, verbose=False, monitor=("test_cost",))
    with pytest.raises(UsageError, match="needs validation_data"):
        net.SGD((X, y), 1, 10, 0.3, verbose=False, monitor=("validation_cost",))


def test_the_overfitting_report_reads_the_signs_of_overfitting():
    """base/overfitting.py on made-up records: the gap, the epoch of the lowest evaluation
    cost, the best epoch, the epoch from which every training image is right."""
    from network.base.overfitting import overfitting_report
    train_acc = [0.6, 0.8, 0.95, 1.0, 1.0]
    eval_acc = [0.55, 0.7, 0.74, 0.73, 0.72]
    train_cost = [1.0, 0.6, 0.3, 0.1, 0.05]
    eval_cost = [1.1, 0.8, 0.7, 0.75, 0.9]
    records = [{"epoch": e, "training_accuracy": a, "evaluation_accuracy": b,
                "training_cost": c, "evaluation_cost": d}
               for e, (a, b, c, d) in enumerate(zip(train_acc, eval_acc, train_cost, eval_cost))]
    r = overfitting_report(records)
    np.testing.assert_allclose(r["accuracy_gap"], [0.05, 0.10, 0.21, 0.27, 0.28])
    assert r["lowest_cost_epoch"] == 2 and r["best_epoch"] == 2 and r["memorised_epoch"] == 3
    assert r["cost_rise_after_lowest"] == pytest.approx(0.2)
    assert r["training_accuracy_gain_after_best"] == pytest.approx(0.05)
    assert "lowest at epoch 2" in r["summary"] and "first classified correctly at epoch 3" in r["summary"]
    # A network still learning: no rise in the evaluation cost, nothing memorised.
    calm = overfitting_report([dict(rec, evaluation_cost=c) for rec, c in
                               zip(records[:2], [1.1, 0.8])])
    assert "still falling" in calm["summary"] and calm["memorised_epoch"] is None
    with pytest.raises(UsageError, match="training_cost"):
        overfitting_report([{"training_accuracy": 1, "evaluation_accuracy": 1}])


def test_the_overfitting_report_reads_a_book_network_too():
    """The same report from network2-style monitoring of the book's Network."""
    from network import Network
    from network.base.overfitting import overfitting_report
    rng = np.random.default_rng(11)
    X, y = rng.random((60, 6)), rng.integers(0, 3, 60)
    net = Network([6, 8, 3], seed=0)
    net.SGD((X[:40], y[:40]), 4, 10, 0.5, evaluation_data=(X[40:], y[40:]),
            monitor_training_accuracy=True, monitor_training_cost=True,
            monitor_evaluation_accuracy=True, monitor_evaluation_cost=True)
    r = overfitting_report(net.history)
    assert r["epochs"] == 4 and len(r["cost_gap"]) == 4


# ---- threads: the same numbers on any count ---------------------------------------------------

def _train_on_threads(threads, kernels="numba"):
    """Two conv-pool layers (ReLU with small patches, whose nabla_w is one dense product;
    sigmoid with 64-number patches, visited winner by winner; the last row and column
    of its 3 x 3 maps dropped by the pooling), dropout, L2, an odd mini-batch of 7 split
    3 + 4 or 2 + 2 + 3 among the threads, float32 as in the chapter; two epochs."""
    rng = np.random.default_rng(11)
    X, y = rng.random((45, 256)), rng.integers(0, 3, 45)
    layers = [ConvPoolLayer((4, 1, 5, 5), (1, 16, 16), 2, "relu"),     # -> 6 x 6 x 4
              ConvPoolLayer((6, 4, 4, 4), (4, 6, 6), 2, "sigmoid"),     # -> 1 x 1 x 6
              FullyConnectedLayer(6, 10, "tanh", p_dropout=0.2), SoftmaxLayer(10, 3)]
    net = ConvNetwork(layers, seed=3, kernels=kernels, threads=threads)
    net.SGD((X, y), 2, 7, 0.5, lmbda=0.1, verbose=False)
    return [p for layer in net.layers for p in (layer.w, layer.b)] + [net.feedforward(X)]


@pytest.mark.skipif(max_threads() < 2, reason="numba may use one thread only here")
def test_one_and_two_threads_train_the_same_weights_bit_for_bit():
    one, two = _train_on_threads(1), _train_on_threads(2)
    assert all(np.array_equal(a, b) for a, b in zip(one, two))
    # the comparison sees the last bit: BLAS's order of summation (the NumPy twins) differs
    blas = _train_on_threads(1, kernels="numpy")
    assert not all(np.array_equal(a, b) for a, b in zip(one, blas))
    assert all(np.allclose(a, b, rtol=1e-3, atol=1e-4) for a, b in zip(one, blas))


def test_three_threads_split_unevenly_and_train_the_same_weights():
    """In a fresh process allowed three threads (whatever the cores): 10 images or 6 filters
    shared 3 + 3 + 4 or 2 + 2 + 2 give the weights one thread gives."""
    code = ("import hashlib, sys; sys.path.insert(0, 'tests'); import numpy as np; "
            "from test_conv import _train_on_threads as t; "
            "print(*[hashlib.sha256(b''.join(a.tobytes() for a in t(n))).hexdigest()[:16] "
            "for n in (1, 2, 3)])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, cwd=ROOT, env={**os.environ, "NUMBA_NUM_THREADS": "3"})
    assert out.returncode == 0, out.stderr
    digests = out.stdout.split()
    assert len(digests) == 3 and len(set(digests)) == 1, digests


def test_the_thread_count_is_checked_and_can_change_between_calls():
    net = ConvNetwork([FullyConnectedLayer(64, 5), SoftmaxLayer(5, 2)], seed=0)
    assert net.threads is None
    with pytest.raises(UsageError, match="threads"):
        ConvNetwork([SoftmaxLayer(64, 2)], threads=0)
    with pytest.raises(UsageError, match="threads"):
        net.threads = max_threads() + 1
    net.threads = 1
    before = thread_count()
    net.feedforward(np.zeros((3, 64)))
    assert thread_count() == before          # the caller's own setting is restored


def test_the_conv_benchmark_counts_the_work_and_judges_the_targets():
    """network/bench/conv.py: conv1 is 2 x (3 x 288,000 + 2 x 288,000 + 3 x 1,000) FLOP per image
    (the first layer sends no error down); the report says met or missed from the timings."""
    from network.bench import conv as bench
    from network.bench.peak import peak_gflops
    assert bench.flops_per_image(bench.layers("conv1")) == 2 * (2 * 288_000 + 3 * 288_000 + 3 * 1000)
    rows = [{"network": "conv1", "threads": T, "method": m, "seconds": s, "all": [s]}
            for T, m, s in [(1, "nndl", 1.0), (2, "nndl", 0.5), (1, "torch", 2.5), (2, "torch", 1.2)]]
    text = bench.report({"rows": rows, "peak": {1: 100.0, 2: 200.0}, "load": (0.1, 0.2),
                         "n_train": 50_000, "repeats": 1, "torch": "x"})
    assert "nndl 2 threads vs 1 thread: 2.00x (target 1.7x) -- met" in text
    assert "nndl vs PyTorch, 2 threads: 2.40x (target 3.0x) -- MISSED" in text
    assert "nndl vs PyTorch, 1 thread: 2.50x (target 2.0x) -- met" in text
    assert peak_gflops(1, seconds=0.01, tries=1) > 0
    result = {"rows": rows, "peak": {1: 100.0, 2: 200.0}, "load": (0.1, 0.2), "n_train": 50_000,
              "repeats": 2, "torch": "x"}
    free = bench.report({**result, "peaks": {1: [100.0, 100.0], 2: [198.0, 195.0]}})
    taken = bench.report({**result, "peaks": {1: [100.0, 100.0], 2: [198.0, 160.0]}})
    assert "(2 threads over 1; 2.0 is two free cores): 1.98, 1.95." in free
    assert "partly taken" not in free
    assert "1.98, 1.60. The second core was partly taken during this run" in taken
