"""The conv net's compiled training step (network/conv/step.py) against layer-by-layer training.

The step reorders who computes what (three parallel regions instead of a stage per
layer) but none of the arithmetic: training by it must give the weights that training
layer by layer gives (``ConvNetwork.compiled_step = False``), bit for bit.  The layer
path's stages are held to their NumPy twins in tests/test_conv.py.
"""

import numpy as np
import pytest

from network.base.jit import HAVE_NUMBA
from network.conv import ConvNetwork, ConvPoolLayer, FullyConnectedLayer, SoftmaxLayer
from network.conv import step as S

pytestmark = pytest.mark.skipif(not HAVE_NUMBA, reason="the step is compiled: needs numba")


def _two_conv_layers():
    """ReLU with small patches (nabla_w image by image), sigmoid with 64-number patches
    (winner by winner; its 3 x 3 maps lose a row and a column to the pooling), dropout on
    both fully connected layers."""
    return [ConvPoolLayer((4, 1, 5, 5), (1, 16, 16), 2, "relu"),     # -> 6 x 6 x 4
            ConvPoolLayer((6, 4, 4, 4), (4, 6, 6), 2, "sigmoid"),     # -> 1 x 1 x 6
            FullyConnectedLayer(6, 10, "tanh", p_dropout=0.2), SoftmaxLayer(10, 3, p_dropout=0.1)]


def _three_channels():
    """A first layer that sees three channels (the batch turned channels-last), tanh, then
    straight into the softmax layer."""
    return [ConvPoolLayer((5, 3, 3, 3), (3, 10, 10), 2, "tanh"),      # -> 4 x 4 x 5
            SoftmaxLayer(80, 3)]


def _conv1_like():
    return [ConvPoolLayer((3, 1, 5, 5), (1, 16, 16), 2, "sigmoid"),  # -> 6 x 6 x 3
            FullyConnectedLayer(108, 12, "sigmoid"), SoftmaxLayer(12, 3)]


CASES = {  # name: (layers, n_in, dtype, raw pixels, lmbda)
    "two conv layers, dropout, L2": (_two_conv_layers, 256, np.float32, False, 0.3),
    "raw pixels": (_two_conv_layers, 256, np.float32, True, 0.0),
    "float64": (_two_conv_layers, 256, np.float64, False, 0.3),
    "three channels": (_three_channels, 300, np.float32, False, 0.1),
    "conv1": (_conv1_like, 256, np.float32, True, 0.0),
}


def _train(make, n_in, dtype, raw, lmbda, compiled_step, eta=0.5, seed=3):
    """Two epochs on 45 images, mini-batch 7 (the last one 3), on this process's threads."""
    rng = np.random.default_rng(11)
    X = rng.integers(0, 256, (45, n_in)).astype(np.uint8) if raw else rng.random((45, n_in))
    y = rng.integers(0, 3, 45)
    net = ConvNetwork(make(), seed=seed, dtype=dtype)
    net.compiled_step = compiled_step
    net.SGD((X, y), 2, 7, eta, lmbda=lmbda, verbose=False)
    return [p for layer in net.layers for p in (layer.w, layer.b)]


@pytest.mark.parametrize("case", list(CASES))
def test_the_compiled_step_trains_the_weights_layer_by_layer_training_trains(case, monkeypatch):
    calls = []                                       # the size of every mini-batch it stepped
    step, run = S.TrainingStep.__call__, S.TrainingStep.run
    monkeypatch.setattr(S.TrainingStep, "__call__",
                        lambda self, *args: calls.append(self.m) or step(self, *args))
    monkeypatch.setattr(S.TrainingStep, "run", lambda self, X, y, order, k0, k1, *args: (
        calls.extend([self.m] * ((k1 - k0) // self.m)) or run(self, X, y, order, k0, k1, *args)))
    fused = _train(*CASES[case], compiled_step=True)
    assert sorted(set(calls)) == [3, 7]              # it did run, the last mini-batch too
    layered = _train(*CASES[case], compiled_step=False)
    assert len(calls) == 2 * 7                       # ... and the layer path did not call it
    assert all(np.array_equal(a, b) for a, b in zip(fused, layered))


@pytest.mark.parametrize("T", [1, 2])
def test_many_mini_batches_in_one_call_step_as_one_call_each(T):
    """TrainingStep.run (the softmax run from inside the compiled call) gives, after each
    mini-batch, the weights that calling the step once per mini-batch gives."""
    from network.base.jit import max_threads, threads
    T = min(T, max_threads())
    make, n_in, dtype, raw, lmbda = CASES["conv1"]
    rng = np.random.default_rng(5)
    X = rng.integers(0, 256, (60, n_in)).astype(np.uint8)
    y = rng.integers(0, 3, 60)
    order = rng.permutation(60)
    nets = [ConvNetwork(make(), seed=4, dtype=dtype) for _ in range(2)]
    with threads(T):
        by_call, by_run = (S.TrainingStep(net.layers, 6, T, dtype) for net in nets)
        for k in range(0, 60, 6):
            by_call(X, y, order[k:k + 6], {}, 0.4, lmbda, 60)
        by_run.run(X, y, order, 0, 24, 0.4, lmbda, 60)     # four mini-batches, then six
        by_run.run(X, y, order, 24, 60, 0.4, lmbda, 60)
    one, other = ([p for layer in net.layers for p in (layer.w, layer.b)] for net in nets)
    assert all(np.array_equal(a, b) for a, b in zip(one, other))
    assert not np.array_equal(nets[0].layers[0].w, ConvNetwork(make(), seed=4).layers[0].w)
    dropout = ConvNetwork(_two_conv_layers(), seed=4)
    with pytest.raises(ValueError, match="dropout"):
        S.TrainingStep(dropout.layers, 6, 1, np.float32).run(X, y, order, 0, 6, 0.4, 0.0, 60)


def test_ctrl_c_in_training_by_many_mini_batches_a_call_raises_keyboardinterrupt(tmp_path):
    """A SIGINT while the compiled step runs many mini-batches in one call (Python's softmax
    inside it) ends training with KeyboardInterrupt, promptly, not a SystemError from
    numba's glue (storage/signals.held) and not after the epoch."""
    import signal
    import subprocess
    import sys
    import time
    script = tmp_path / "train.py"
    script.write_text(
        "import numpy as np, signal, sys\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)   # even if inherited ignored\n"
        "from network.conv import ConvNetwork, ConvPoolLayer, FullyConnectedLayer, SoftmaxLayer\n"
        "rng = np.random.default_rng(0)\n"
        "X = rng.integers(0, 256, (3000, 784)).astype(np.uint8); y = rng.integers(0, 10, 3000)\n"
        "net = ConvNetwork([ConvPoolLayer((20, 1, 5, 5), (1, 28, 28), 2, 'relu'),\n"
        "                   ConvPoolLayer((40, 20, 5, 5), (20, 12, 12), 2, 'relu'),\n"
        "                   FullyConnectedLayer(640, 100, 'relu'), SoftmaxLayer(100, 10)],\n"
        "                  seed=1)\n"
        "net.SGD((X[:20], y[:20]), 1, 10, 0.01, verbose=False)   # compiled or loaded\n"
        "print('training', flush=True)\n"
        "try:\n"
        "    net.SGD((X, y), 1000, 10, 0.01, verbose=False)\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', flush=True)\n"
        "    sys.exit(7)\n")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "training"
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert (proc.returncode, out.strip()) == (7, "interrupted"), err
    assert "SystemError" not in err
    assert time.monotonic() - sent < 30          # a thousand epochs would take minutes


def test_the_comparison_sees_one_unit_in_the_last_place_of_eta():
    """The negative control: eta one float32 step larger changes the trained weights."""
    make, n_in, dtype, raw, lmbda = CASES["two conv layers, dropout, L2"]
    eta = np.nextafter(np.float32(0.5), np.float32(1))
    one = _train(make, n_in, dtype, raw, lmbda, compiled_step=True)
    other = _train(make, n_in, dtype, raw, lmbda, compiled_step=False, eta=float(eta))
    assert not all(np.array_equal(a, b) for a, b in zip(one, other))
    assert all(np.allclose(a, b, rtol=1e-4, atol=1e-5) for a, b in zip(one, other))


def test_networks_the_step_does_not_fit_train_layer_by_layer():
    fc = [FullyConnectedLayer(16, 4), SoftmaxLayer(4, 2)]
    conv = [ConvPoolLayer((2, 1, 3, 3), (1, 6, 6), 2), SoftmaxLayer(8, 2)]
    X = np.zeros((3, 16))
    assert not S.fits(fc, "numba", X)                               # no conv-pool layer
    assert not S.fits(conv, "numpy", np.zeros((3, 36)))              # the NumPy twins
    assert not S.fits(conv, "numba", np.zeros((3, 36), dtype=bool))  # neither pixels nor floats


def test_the_steps_arrays_and_the_parameters_start_on_cache_lines(tmp_path):
    """Every parameter (made, set, loaded) and every array of the step starts on a 64-byte
    boundary (network/conv/scratch.py says why), with the values it would have had."""
    from network.conv import load_conv_network
    from network.conv.scratch import ALIGN, aligned, aligned_copy

    def on_line(a):
        return a.size == 0 or a.ctypes.data % ALIGN == 0

    for shape, dtype in (((3, 5), np.float32), (7, np.int8), ((0, 4), np.float64), ((), np.int64)):
        a = aligned(shape, dtype)
        assert on_line(a) and a.shape == np.empty(shape).shape and a.dtype == dtype
        assert a.flags.c_contiguous and a.flags.writeable
    assert not aligned((4, 4), np.float32, zeros=True).any()
    x = np.arange(10.0).reshape(2, 5)
    assert np.array_equal(aligned_copy(x, np.float32), x.astype(np.float32))

    net = ConvNetwork(_two_conv_layers(), seed=3)
    params = [p for layer in net.layers for p in (layer.w, layer.b)]
    assert all(on_line(p) for p in params)
    net.weights = [np.array(w) for w in net.weights]       # NumPy's own arrays, set
    assert all(on_line(layer.w) for layer in net.layers)
    net.save(tmp_path / "net.npz")
    loaded = load_conv_network(tmp_path / "net.npz")
    assert all(on_line(p) for layer in loaded.layers for p in (layer.w, layer.b))
    assert all(np.array_equal(p, q) for p, q in
               zip(params, [p for layer in loaded.layers for p in (layer.w, layer.b)]))

    st = S.TrainingStep(net.layers, 7, 2, net.dtype)
    for arrays in (st.conv, st.dense):
        for name, members in zip(arrays._fields, arrays):
            for a in members:
                assert on_line(a), name
