"""The numba training kernel against the plain NumPy path, for every supported combination.

The NumPy path (network/mlp/backprop.py under Network._train_epoch_numpy) is the
reference.  The kernel must give the same weights to 1e-12 in float64 from the
same seed: same permutation, same dropout draws, every cost, activation,
regulariser and optimiser it supports; and the same again with the JIT turned
off (NUMBA_DISABLE_JIT=1, the kernel run as plain Python).
"""

import copy
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from network.errors import TrainingDiverged

from network import Network
from network.mlp import kernels, layout, pixels
from network.mlp.data_format import as_examples
from network.base.optimizers import Adam

pytestmark = pytest.mark.skipif(not kernels.HAVE_NUMBA, reason="numba is not installed")

REPO = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-12


def data(seed, n=103, n_in=12, k=4, pixels=False):
    rng = np.random.default_rng(seed)
    if pixels:  # sparse raw pixels, like MNIST: most are 0
        X = (rng.integers(0, 256, (n, n_in)) * (rng.random((n, n_in)) < 0.3)).astype(np.uint8)
    else:
        X = rng.random((n, n_in)) * (rng.random((n, n_in)) < 0.5)
    return X, rng.integers(0, k, n)


def train_both(sizes, data_, epochs=2, mb=10, eta=0.5, lmbda=0.0, net_kwargs=None, **sgd):
    nets = {}
    for backend in ("numpy", "numba"):
        net = Network(sizes, seed=7, backend=backend, **(net_kwargs or {}))
        net.SGD(data_, epochs, mb, eta, lmbda, verbose=False, **sgd)
        assert {r["backend"] for r in net.history} == {backend}
        nets[backend] = net
    return nets["numpy"], nets["numba"]


def assert_same_weights(a, b, tol=TOLERANCE):
    for p, q in zip(a.weights + a.biases, b.weights + b.biases):
        assert p.shape == q.shape
        np.testing.assert_allclose(q, p, rtol=0, atol=tol)


COSTS = ["quadratic", "cross-entropy", "log-likelihood"]
HIDDEN = ["sigmoid", "tanh", "relu", "identity", "silu"]
PENALTIES = [(0.0, "L2"), (3.0, "L2"), (3.0, "L1")]
OPTIMISERS = [0.0, 0.6]  # momentum mu (0: plain SGD)


@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize("momentum", OPTIMISERS)
@pytest.mark.parametrize("lmbda,reg", PENALTIES)
@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("cost", COSTS)
def test_kernel_epoch_matches_the_numpy_path(cost, hidden, lmbda, reg, momentum, dropout):
    eta = 0.5 if hidden in ("sigmoid", "tanh") else 0.05
    a, b = train_both([12, 7, 5, 4], data(1), eta=eta, lmbda=lmbda, regularization=reg,
                      momentum=momentum, dropout=dropout,
                      net_kwargs=dict(cost=cost, activation=hidden))
    assert_same_weights(a, b)
    if momentum:
        for v, w in zip(a.optimizer.velocities, b.optimizer.velocities):
            np.testing.assert_allclose(w, v, rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("output", ["tanh", "identity", "relu", "silu"])
def test_kernel_matches_with_other_output_activations(output):
    a, b = train_both([12, 6, 4], data(2), eta=0.05, lmbda=1.0,
                      net_kwargs=dict(cost="quadratic", activation="tanh",
                                      output_activation=output))
    assert_same_weights(a, b)


@pytest.mark.parametrize("mb", [1, 7, 103])
def test_kernel_matches_for_every_mini_batch_size_and_raw_pixels(mb):
    # mb 1 over 300 examples also crosses the kernel's periodic L2 fold (every 256 steps).
    a, b = train_both([12, 9, 4], data(3, n=300, pixels=True), epochs=1, mb=mb, eta=0.5,
                      lmbda=5.0, net_kwargs=dict(cost="cross-entropy", init="large"))
    assert_same_weights(a, b)


def test_one_hot_and_fractional_targets_and_three_hidden_layers():
    rng = np.random.default_rng(4)
    X = rng.random((50, 6))
    Y = rng.random((50, 3))  # fractional targets (chapter 3's cross-entropy exercise)
    a, b = train_both([6, 5, 5, 4, 3], (X, Y), mb=8, eta=1.0, dropout=0.2, momentum=0.3,
                      net_kwargs=dict(cost="cross-entropy"))
    assert_same_weights(a, b)


@pytest.mark.parametrize("cost,lmbda,eta", [("quadratic", 0.0, 3.0), ("cross-entropy", 5.0, 0.5)])
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_one_epoch_equals_the_books_per_example_algorithm_on_both_backends(backend, cost,
                                                                          lmbda, eta):
    sys.path.insert(0, str(Path(__file__).parent))
    from test_network import book_epoch
    rng = np.random.default_rng(11)
    n, m = 103, 10
    X = rng.random((n, 12))
    labels = rng.integers(0, 4, n)
    net = Network([12, 7, 5, 4], cost=cost, init="large", seed=3, backend=backend)
    w0, b0 = [w.copy() for w in net.weights], [b.copy() for b in net.biases]
    order = copy.deepcopy(net.rng).permutation(n)
    net.SGD((X, labels), 1, m, eta, lmbda, verbose=False)
    assert net.history[0]["backend"] == backend
    ref_w, ref_b = book_epoch(w0, b0, X, np.eye(4)[labels], order, m, eta, lmbda, n, cost)
    for a, b in zip(net.weights + net.biases, ref_w + ref_b):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)


def test_float32_kernel_trains_in_float32_close_to_the_numpy_path():
    a, b = train_both([12, 7, 4], data(5), lmbda=1.0, net_kwargs=dict(dtype=np.float32))
    assert all(p.dtype == np.float32 for p in b.weights + b.biases)
    assert_same_weights(a, b, tol=1e-4)


def test_adam_falls_back_to_the_numpy_path():
    net = Network([12, 5, 4], seed=0)
    net.SGD(data(6), 1, 10, 0.1, optimizer=Adam(1e-3), verbose=False)
    assert net.history[0]["backend"] == "numpy"


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_first_nonfinite_mini_batch_is_recorded_and_named_when_training_stops(backend):
    X, y = data(7, n=60)
    healthy = Network([12, 6, 4], cost="quadratic", activation="identity",
                      output_activation="identity", seed=1, backend=backend)
    healthy.SGD((X, y), 1, 10, 0.01, verbose=False)
    assert healthy.history[0]["first_nonfinite_batch"] == -1
    net = Network([12, 6, 4], cost="quadratic", activation="identity",
                  output_activation="identity", seed=1, backend=backend)
    with np.errstate(all="ignore"), pytest.raises(TrainingDiverged) as caught:
        net.SGD((X, y), 2, 10, 1e30, verbose=False)  # linear units, absurd step: blows up
    first = net.history[0]["first_nonfinite_batch"]
    assert 0 <= first < 6 and caught.value.batch == first and caught.value.epoch == 0
    assert len(net.history) == 1, "training stops at the epoch that diverged"
    assert not all(np.all(np.isfinite(w)) for w in net.weights)


def test_both_backends_report_the_same_first_nonfinite_mini_batch():
    X, y = data(8, n=200)
    found = []
    for backend in ("numpy", "numba"):
        net = Network([12, 6, 4], cost="quadratic", activation="relu",
                      output_activation="identity", seed=2, backend=backend)
        with np.errstate(all="ignore"), pytest.raises(TrainingDiverged) as caught:
            net.SGD((X, y), 1, 5, 1e4, verbose=False)
        assert caught.value.batch == net.history[0]["first_nonfinite_batch"]
        found.append(caught.value.batch)
    assert found[0] == found[1] > 0


def test_sparse_rows_match_their_numpy_twin_and_rebuild_the_inputs():
    for X in (data(9, pixels=True)[0], data(9)[0], np.zeros((3, 5)), np.ones((2, 4)),
              data(9, n=4, n_in=40_000)[0]):   # too many columns for int16 indices
        got = pixels.csr(X)
        for g, w in zip(got, pixels.csr_numpy(X)):
            np.testing.assert_array_equal(g, w)
            assert g.dtype == w.dtype
        indptr, indices, values = got
        assert indices.dtype == (np.int16 if X.shape[1] < 2**15 else np.int32)
        rebuilt = np.zeros_like(X)
        for r in range(X.shape[0]):
            rebuilt[r, indices[indptr[r]:indptr[r + 1]]] = values[indptr[r]:indptr[r + 1]]
        np.testing.assert_array_equal(rebuilt, X)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_compact_pixels_read_as_the_same_floats(dtype):
    X, y = data(10, pixels=True)
    ex = as_examples((X, y), 12, 4, dtype)
    assert ex.compact and ex.inputs.dtype == np.uint8 and X.flags.writeable
    want = X.astype(dtype) / 255.0
    np.testing.assert_array_equal(ex.X, want)
    np.testing.assert_array_equal(ex.rows([3, 1]), want[[3, 1]])
    np.testing.assert_array_equal(pixels.pixel_table(dtype)[X], want)


def test_pack_and_unpack_round_trip():
    net = Network([5, 11, 3], seed=0)
    flat = layout.pack(net.weights, net.biases, np.float64)
    widths, w_off, b_off, _ = layout.layout(net.sizes)
    assert list(widths) == [16, 8] and flat.shape == (b_off[-1],)
    ws = [np.zeros_like(w) for w in net.weights]
    bs = [np.zeros_like(b) for b in net.biases]
    layout.unpack(flat, net.sizes, ws, bs)
    for p, q in zip(net.weights + net.biases, ws + bs):
        np.testing.assert_array_equal(p, q)


_NO_JIT_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from network import Network
    rng = np.random.default_rng(12)
    X = (rng.integers(0, 256, (40, 9)) * (rng.random((40, 9)) < 0.4)).astype(np.uint8)
    y = rng.integers(0, 3, 40)
    out = {}
    for name, kw, sgd in [
            ("sigmoid-l2-momentum-dropout", dict(cost="cross-entropy"),
             dict(lmbda=2.0, momentum=0.5, dropout=0.25)),
            ("tanh-l1-softmax", dict(cost="log-likelihood", activation="tanh"),
             dict(lmbda=2.0, regularization="L1")),
            ("relu-quadratic-l2", dict(cost="quadratic", activation="relu"), dict(lmbda=2.0))]:
        net = Network([9, 6, 5, 3], seed=4, backend="numba", **kw)
        net.SGD((X, y), 2, 6, 0.3, verbose=False, **sgd)
        out[name] = [p.tolist() for p in net.weights + net.biases]
    json.dump(out, sys.stdout)
""")


def _run_no_jit_script(disable_jit):
    env = dict(os.environ, PYTHONPATH=str(REPO), NUMBA_DISABLE_JIT="1" if disable_jit else "0")
    done = subprocess.run([sys.executable, "-c", _NO_JIT_SCRIPT], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300, check=True)
    return json.loads(done.stdout)


def test_kernel_gives_the_same_weights_with_the_jit_disabled():
    jitted, plain = _run_no_jit_script(False), _run_no_jit_script(True)
    assert jitted.keys() == plain.keys()
    for name in jitted:
        for p, q in zip(jitted[name], plain[name]):
            np.testing.assert_allclose(np.array(q), np.array(p), rtol=0, atol=TOLERANCE,
                                       err_msg=name)


_REFERENCE_COUNT_SCRIPT = textwrap.dedent("""
    import ctypes, os
    import numpy as np
    from network import Network
    from network.base.optimizers import SGD, Momentum
    from network.base.regularization import get_regularizer
    from network.mlp import epoch
    from network.mlp.data_format import as_examples
    rng = np.random.default_rng(3)
    X = (rng.integers(0, 256, (400, 30)) * (rng.random((400, 30)) < 0.3)).astype(np.uint8)
    y = rng.integers(0, 3, 400)
    libc = ctypes.CDLL(None)
    from numba import njit
    view = njit(lambda a: a[1:])   # a control: returns a view, one counted reference a call
    libc.fflush(None); os.write(1, b"start control\\n")
    kept = [view(X[0]) for _ in range(5)]
    libc.fflush(None); os.write(1, b"end\\n")
    for n in (40, 400):
        for mb, optimizer, reg, lmbda, dropout in [(1, SGD(0.5), "L2", 0.0, 0.0),
                                                   (3, Momentum(0.5, 0.9), "L1", 1.0, 0.2)]:
            net = Network([30, 8, 5, 3], seed=0)
            ex = as_examples((X[:n], y[:n]), 30, 3, np.float64)
            libc.fflush(None); os.write(1, b"start %d %d\\n" % (n, mb))
            epoch._compiled_epoch(net, ex, mb, optimizer, get_regularizer(reg), lmbda, dropout)
            libc.fflush(None); os.write(1, b"end\\n")
""")


def test_the_compiled_epoch_counts_no_references_per_example():
    """numba's atomic reference counting once cost ~20% of an epoch at mini-batch 1 (the
    kernel borrows its arrays now, docs/speed.md): an epoch on 400 examples counts no
    more references than one on 40 (none at all today), while a function that returns
    a view counts one a call."""
    env = dict(os.environ, PYTHONPATH=str(REPO), NUMBA_DEBUG_NRT="1")
    out = subprocess.run([sys.executable, "-c", _REFERENCE_COUNT_SCRIPT], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=300, check=True).stdout
    counts, key = {}, None
    for line in out.splitlines():
        if line.startswith("start"):
            key, counts[line] = line, 0
        elif line == "end":
            key = None
        elif key and "NRT_Incref" in line:
            counts[key] += 1
    assert len(counts) == 5 and counts["start control"] >= 5, counts
    for mb in (1, 3):
        assert counts[f"start 400 {mb}"] == counts[f"start 40 {mb}"], counts


def test_benchmark_book_loop_trains_like_the_library():
    """Row (a) of the benchmark must compute what the library computes."""
    from network import bench
    X, y = data(13, n=45, pixels=True)
    for cost, lmbda in (("quadratic", 0.0), ("cross-entropy", 5.0)):
        lib = Network([12, 6, 4], cost=cost, init="large", seed=1, backend="numpy")
        book = Network([12, 6, 4], cost=cost, init="large", seed=1, backend="numpy")
        order = copy.deepcopy(lib.rng).permutation(45)
        lib.SGD((X, y), 1, 10, 0.5, lmbda, verbose=False)
        bench.per_example_epoch(book.weights, book.biases, bench.book_training_data(X, y, 4),
                                order, 10, 0.5, lmbda, 45, cost)
        assert_same_weights(lib, book)


def test_benchmark_table_has_a_row_per_configuration_and_method():
    from network import bench
    rng = np.random.default_rng(14)
    X = (rng.integers(0, 256, (60, 784)) * (rng.random((60, 784)) < 0.2)).astype(np.uint8)
    y = rng.integers(0, 10, 60)
    configs = [([784, 5, 10], "quadratic", 3.0, 0.0, 10),
               ([784, 5, 10], "cross-entropy", 0.5, 5.0, 1)]
    rows = bench.run(configs, n_train=60, repeats=1, methods=("per-example", "numpy", "numba"),
                     data=(X, y))
    table = bench.format_table(rows, 60).splitlines()
    assert len(table) == 2 + 2 * 3
    assert all(r["results"][m]["seconds"] > 0 for r in rows for m in ("numpy", "numba"))


def test_bench_command_prints_the_table(capsys):
    from network.cli import main
    status = main(["bench", "--quick", "--training-size", "200", "--no-compile-time",
                   "--methods", "numpy", "numba"])
    out = capsys.readouterr().out
    assert status == 0
    assert out.count("| (c) library numba path |") == 4 and "peak resident memory" in out
