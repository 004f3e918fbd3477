"""The Network against a plain per-example implementation of the book's algorithm,
plus its API contracts: layouts, seeds, no mutation of the caller's data, errors."""

import copy

import numpy as np
import pytest

from network import Network, UsageError


def book_sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def book_epoch(weights, biases, X, Y, order, m, eta, lmbda, n, cost):
    """network2.py's update_mini_batch loop, one example at a time (written independently
    of the library): column vectors, per-example backprop, L2 weight decay."""
    weights = [w.copy() for w in weights]
    biases = [b.copy() for b in biases]
    for k in range(0, len(order), m):
        batch = order[k:k + m]
        nabla_b = [np.zeros_like(b) for b in biases]
        nabla_w = [np.zeros_like(w) for w in weights]
        for i in batch:
            x, y = X[i][:, None], Y[i][:, None]
            activation, activations, zs = x, [x], []
            for b, w in zip(biases, weights):
                z = np.dot(w, activation) + b
                zs.append(z)
                activation = book_sigmoid(z)
                activations.append(activation)
            sp = book_sigmoid(zs[-1]) * (1 - book_sigmoid(zs[-1]))
            delta = (activations[-1] - y) * (sp if cost == "quadratic" else 1.0)
            db = [None] * len(weights)
            dw = [None] * len(weights)
            db[-1], dw[-1] = delta, np.dot(delta, activations[-2].T)
            for l in range(2, len(weights) + 1):
                sp = book_sigmoid(zs[-l]) * (1 - book_sigmoid(zs[-l]))
                delta = np.dot(weights[-l + 1].T, delta) * sp
                db[-l], dw[-l] = delta, np.dot(delta, activations[-l - 1].T)
            nabla_b = [a + d for a, d in zip(nabla_b, db)]
            nabla_w = [a + d for a, d in zip(nabla_w, dw)]
        weights = [(1 - eta * lmbda / n) * w - (eta / len(batch)) * nw
                   for w, nw in zip(weights, nabla_w)]
        biases = [b - (eta / len(batch)) * nb for b, nb in zip(biases, nabla_b)]
    return weights, biases


@pytest.mark.parametrize("cost,lmbda,eta", [("quadratic", 0.0, 3.0), ("cross-entropy", 5.0, 0.5)])
def test_one_epoch_equals_the_books_per_example_algorithm(cost, lmbda, eta):
    rng = np.random.default_rng(11)
    n, m = 103, 10  # 103 = a last, smaller mini-batch, as the book allows
    X = rng.random((n, 12))
    labels = rng.integers(0, 4, n)
    Y = np.eye(4)[labels]
    net = Network([12, 7, 5, 4], cost=cost, init="large", seed=3)
    w0, b0 = [w.copy() for w in net.weights], [b.copy() for b in net.biases]
    # The epoch's order is the network generator's next permutation: draw it from a copy.
    order = copy.deepcopy(net.rng).permutation(n)
    net.SGD((X, labels), 1, m, eta, lmbda, verbose=False)
    ref_w, ref_b = book_epoch(w0, b0, X, Y, order, m, eta, lmbda, n, cost)
    for a, b in zip(net.weights + net.biases, ref_w + ref_b):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)


def test_same_seed_gives_the_same_weights_and_metrics():
    rng = np.random.default_rng(0)
    X, y = rng.random((60, 8)), rng.integers(0, 3, 60)
    runs = []
    for _ in range(2):
        net = Network([8, 5, 3], seed=42)
        metrics = net.SGD((X, y), 3, 7, 0.5, 0.1, evaluation_data=(X, y),
                          monitor_evaluation_cost=True, monitor_evaluation_accuracy=True,
                          dropout=0.3, momentum=0.5, verbose=False)
        runs.append((net, metrics))
    (a, ma), (b, mb) = runs
    assert ma == mb
    for p, q in zip(a.weights + a.biases, b.weights + b.biases):
        np.testing.assert_array_equal(p, q)
    other = Network([8, 5, 3], seed=43)
    assert not np.array_equal(other.weights[0], a.weights[0])


def test_book_pairs_and_arrays_train_identically_and_data_is_not_mutated():
    rng = np.random.default_rng(1)
    X, y = rng.random((40, 6)), rng.integers(0, 3, 40)
    pairs = [(X[i][:, None].copy(), np.eye(3)[y[i]][:, None]) for i in range(40)]
    pairs_before = [(x.copy(), t.copy()) for x, t in pairs]
    X_before = X.copy()
    a = Network([6, 4, 3], seed=9)
    b = Network([6, 4, 3], seed=9)
    a.SGD(pairs, 2, 5, 0.5, verbose=False)
    b.SGD((X, y), 2, 5, 0.5, verbose=False)
    for p, q in zip(a.weights, b.weights):
        np.testing.assert_allclose(p, q, rtol=0, atol=1e-14)
    assert all(np.array_equal(x, x0) and np.array_equal(t, t0)
               for (x, t), (x0, t0) in zip(pairs, pairs_before))
    np.testing.assert_array_equal(X, X_before)


def test_zip_iterators_work_like_lists():
    rng = np.random.default_rng(2)
    X, y = rng.random((30, 5)), rng.integers(0, 2, 30)
    xs = [x[:, None] for x in X]
    net = Network([5, 3, 2], seed=0)
    # evaluation labels as ints and one-hot give the same count: no convert flag
    as_ints = net.accuracy(zip(xs, [int(t) for t in y]))
    as_onehot = net.accuracy(zip(xs, [np.eye(2)[t][:, None] for t in y]))
    assert as_ints == as_onehot == net.evaluate((X, y))
    out = net.feedforward(X)
    assert as_ints == int(np.sum(np.argmax(out, axis=1) == y))
    assert net.cost_and_accuracy((X, y), 0.5) == (net.total_cost((X, y), 0.5), as_ints)


def test_feedforward_accepts_a_column_a_vector_or_a_batch():
    net = Network([4, 3, 2], seed=0)
    x = np.arange(4.0) / 4
    col, vec, batch = net.feedforward(x[:, None]), net.feedforward(x), net.feedforward(x[None, :])
    assert col.shape == (2, 1) and vec.shape == (2,) and batch.shape == (1, 2)
    np.testing.assert_allclose(col[:, 0], vec)
    np.testing.assert_allclose(batch[0], vec)
    w, b = net.weights, net.biases
    by_hand = book_sigmoid(w[1] @ book_sigmoid(w[0] @ x[:, None] + b[0]) + b[1])
    np.testing.assert_allclose(col, by_hand, rtol=1e-12)


def test_total_cost_scales_the_penalty_by_the_training_set_size():
    rng = np.random.default_rng(3)
    X, y = rng.random((50, 4)), rng.integers(0, 2, 50)
    net = Network([4, 3, 2], seed=0)
    net.SGD((X, y), 1, 10, 0.1, 1.0, verbose=False)
    small = (X[:5], y[:5])
    penalty = 0.5 * (1.0 / 50) * sum(np.sum(w ** 2) for w in net.weights)
    assert np.isclose(net.total_cost(small, 1.0) - net.total_cost(small, 0.0), penalty)


def test_cross_entropy_cost_is_finite_when_outputs_saturate():
    net = Network([2, 2], cost="cross-entropy", seed=0)
    net.weights[0][:] = [[400.0, 0.0], [-400.0, 0.0]]   # sigma(z) rounds to exactly 0 and 1
    X = np.array([[1.0, 0.0]])
    cost = net.total_cost((X, np.array([1])))            # target 1 for a=0 output: huge, finite
    assert np.isfinite(cost) and cost > 399
    with np.errstate(over="raise", invalid="raise"):    # no overflow or nan on the way
        net.feedforward(np.array([[-800.0, 0.0]]))


def test_float32_network_trains_in_float32():
    rng = np.random.default_rng(4)
    X, y = rng.random((40, 6)), rng.integers(0, 3, 40)
    net = Network([6, 4, 3], seed=1, dtype=np.float32)
    net.SGD((X, y), 1, 10, 0.5, verbose=False)
    assert all(w.dtype == np.float32 for w in net.weights + net.biases)


@pytest.mark.parametrize("kwargs,message", [
    (dict(mini_batch_size=500), "larger than the training data"),
    (dict(eta=-1.0), "eta must be"),
    (dict(eta=float("nan")), "eta must be"),
    (dict(lmbda=-0.1), "lmbda must be"),
    (dict(mini_batch_size=0), "mini_batch_size must be"),
    (dict(dropout=1.0), "dropout must be"),
])
def test_bad_training_arguments_are_refused_before_training(kwargs, message):
    rng = np.random.default_rng(5)
    X, y = rng.random((20, 4)), rng.integers(0, 2, 20)
    net = Network([4, 3, 2], seed=0)
    before = [w.copy() for w in net.weights]
    args = dict(epochs=1, mini_batch_size=5, eta=0.5, lmbda=0.0)
    args.update(kwargs)
    with pytest.raises(UsageError, match=message):
        net.SGD((X, y), args["epochs"], args["mini_batch_size"], args["eta"], args["lmbda"],
                dropout=args.get("dropout", 0.0), verbose=False)
    assert all(np.array_equal(a, b) for a, b in zip(before, net.weights))


@pytest.mark.parametrize("data,message", [
    ((np.zeros((5, 3)), np.zeros(5, int)), "do not fit a network with 4 inputs"),
    ((np.full((5, 4), np.nan), np.zeros(5, int)), "NaN"),
    ((np.zeros((5, 4)), np.array([0, 1, 2, 0, 1])), "label 2 is out of range"),
    ((np.zeros((5, 4)), np.zeros(4, int)), "5 inputs but 4 targets"),
    ((np.zeros((3, 4)), np.array([0, 2**63, 1], dtype=np.uint64)),
     "label 9223372036854775808 is out of range"),
])
def test_bad_data_gets_a_clear_error(data, message):
    net = Network([4, 3, 2], seed=0)
    with pytest.raises(UsageError, match=message):
        net.SGD(data, 1, 1, 0.5, verbose=False)


def test_book_test_data_form_prints_epoch_lines(capsys):
    rng = np.random.default_rng(6)
    X, y = rng.random((30, 4)), rng.integers(0, 2, 30)
    net = Network([4, 3, 2], cost="quadratic", seed=0)
    net.SGD((X, y), 2, 10, 3.0, test_data=(X[:10], y[:10]))
    lines = capsys.readouterr().out.strip().splitlines()
    assert [l.split(":")[0] for l in lines] == ["Epoch 0", "Epoch 1"]
    assert all(l.endswith("/ 10") for l in lines)


def test_callbacks_can_stop_training():
    rng = np.random.default_rng(7)
    X, y = rng.random((30, 4)), rng.integers(0, 2, 30)
    net = Network([4, 3, 2], seed=0)
    seen = []
    net.SGD((X, y), 10, 10, 0.5, callbacks=[lambda nw, rec: seen.append(rec["epoch"]) or
                                             rec["epoch"] == 2], verbose=False)
    assert seen == [0, 1, 2] and len(net.history) == 3
