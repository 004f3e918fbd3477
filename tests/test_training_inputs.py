"""Bad training inputs are refused with a clear UsageError *before* any training starts:
no weight moves, no epoch is recorded, no callback runs.  (tests/test_network.py covers the
basic cases; these are the rest.)"""

import subprocess
import sys

import numpy as np
import pytest

from network import Network
from network.errors import UsageError

RNG = np.random.default_rng(0)
X = RNG.random((20, 4))
Y = RNG.integers(0, 2, 20)


def refused_before_training(data, message, **kw):
    net = Network([4, 3, 2], seed=0)
    before = [p.copy() for p in net.weights + net.biases]
    calls = []
    args = dict(epochs=1, mini_batch_size=5, eta=0.5)
    args.update(kw)
    with pytest.raises(UsageError, match=message):
        net.SGD(data, args.pop("epochs"), args.pop("mini_batch_size"), args.pop("eta"),
                callbacks=args.pop("callbacks", [lambda n, r: calls.append(r)]), verbose=False,
                **args)
    assert all(np.array_equal(a, b) for a, b in zip(before, net.weights + net.biases))
    assert net.history == [] and calls == []


@pytest.mark.parametrize("data,message", [
    ((np.array([["a"] * 4] * 20), Y), "inputs must be numbers, got dtype <U1"),
    ((X.astype(complex), Y), "inputs must be numbers, got dtype complex128"),
    ((X.astype(object), Y), "inputs must be numbers, got dtype object"),
    ((np.where(X > 0.9, np.inf, X), Y), "NaN or infinity"),
    ((X, Y + 0.5), "labels must be whole numbers"),
    ((X, -Y - 1), "label -2 is out of range"),
    ((X, Y.astype(str)), "labels must be integers"),
    ((X, np.where(np.eye(2)[Y] > 0, np.nan, 0.0)), "targets contain NaN"),
    ((X, np.eye(3)[Y]), r"targets of shape \(20, 3\) do not fit a network with 2 outputs"),
    ((X, Y.reshape(20, 1, 1)), "do not fit a network with 2 outputs"),
    ((X[:0], Y[:0]), "no examples given"),
    ([(X[i][:3 if i == 5 else 4].reshape(-1, 1), Y[i]) for i in range(20)], "x of 4 values"),
    ([(X[i].reshape(-1, 1), Y[i] if i else np.eye(2)[Y[i]].reshape(-1, 1)) for i in range(20)],
     "targets have different shapes"),
], ids=["strings", "complex", "object", "inf", "fractional-labels", "negative-labels",
        "string-labels", "nan-one-hot", "one-hot-wrong-k", "3-D-targets", "empty", "ragged-pairs",
        "mixed-targets"])
def test_bad_training_data_is_refused_before_training(data, message):
    refused_before_training(data, message)


@pytest.mark.parametrize("kw,message", [
    (dict(evaluation_data=(np.full((3, 4), np.nan), Y[:3]), monitor_evaluation_accuracy=True),
     "evaluation_data: inputs contain NaN"),
    (dict(evaluation_data=(X, Y + 5), monitor_evaluation_accuracy=True),
     "evaluation_data: label 6 is out of range"),
    (dict(test_data=(X[:, :3], Y)), r"inputs of shape \(20, 3\) do not fit"),
    (dict(mini_batch_size=21), "larger than the training data"),
    (dict(epochs=2.0), "epochs must be a whole number"),
    (dict(mini_batch_size=5.0), "mini_batch_size must be a whole number"),
    (dict(eta=float("inf")), "eta must be"),
    (dict(eta="0.5"), "eta must be"),
    (dict(lmbda=float("nan")), "lmbda must be"),
    (dict(momentum=float("nan")), "momentum mu must be a finite number"),
    (dict(dropout=float("nan")), "dropout must be"),
    (dict(regularization="L3"), "unknown regularization"),
], ids=["eval-nan", "eval-label", "test-data-width", "mini-batch-too-big", "float-epochs",
        "float-mini-batch", "inf-eta", "string-eta", "nan-lmbda", "nan-momentum", "nan-dropout",
        "regularization"])
def test_bad_options_are_refused_before_training(kw, message):
    refused_before_training((X, Y), message, **kw)


@pytest.mark.parametrize("data,kw,message", [
    (None, {}, "training_data"),                                    # TypeError today
    ((X, Y), dict(momentum="0.9"), "momentum"),                     # TypeError in Momentum
    ((X, Y), dict(callbacks=[1]), "callback"),                      # TypeError after an epoch
    ((X, Y), dict(optimizer="adam"), "optimizer"),                  # AttributeError mid-epoch
    ((X, Y), dict(epochs=True), "epochs"),                          # a bool is taken as 1
    ((X.reshape(20, 2, 2), Y), {}, r"shape \(20, 2, 2\)"),          # "too many values to unpack"
], ids=["none", "string-momentum", "uncallable-callback", "string-optimizer", "bool-epochs",
        "3-D-X"])
def test_wrong_types_are_refused_before_training(data, kw, message):
    refused_before_training(data, message, **kw)


def test_cli_training_size_beyond_the_data_is_refused():
    r = subprocess.run([sys.executable, "-m", "network", "train", "--training-size", "60000",
                        "--epochs", "1"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    assert "--training-size 60000 is more than the 50000 training images" in r.stderr
