"""Backprop against central finite differences, for every cost x activation x regulariser.

The check compares the whole gradient of ``total_cost`` (mean cost plus penalty)
with central differences in float64, using the relative error
||g - g_fd|| / (||g|| + ||g_fd||).  The negative controls show the checker can fail.
"""

import numpy as np
import pytest

from network import Network
from network.base.costs import CrossEntropyCost, QuadraticCost

COSTS = ["quadratic", "cross-entropy", "log-likelihood"]
HIDDEN = ["sigmoid", "tanh", "relu", "identity"]
REGULARIZERS = [(0.0, "L2"), (0.7, "L2"), (0.7, "L1")]
TOLERANCE = 1e-7


def numerical_gradient(net, data, lmbda, reg, n, h=1e-5):
    """Central differences of total_cost with respect to every weight and bias."""
    def cost():
        return net.total_cost(data, lmbda, training_set_size=n, regularization=reg)
    grads = []
    for params in (net.biases, net.weights):
        layer_grads = []
        for p in params:
            g = np.zeros_like(p)
            for idx in np.ndindex(p.shape):
                old = p[idx]
                p[idx] = old + h
                up = cost()
                p[idx] = old - h
                down = cost()
                p[idx] = old
                g[idx] = (up - down) / (2 * h)
            layer_grads.append(g)
        grads.append(layer_grads)
    return grads


def relative_error(analytic, numeric):
    a = np.concatenate([g.ravel() for g in analytic])
    b = np.concatenate([g.ravel() for g in numeric])
    return np.linalg.norm(a - b) / (np.linalg.norm(a) + np.linalg.norm(b))


def small_problem(seed, cost, hidden, sizes=(5, 4, 3, 3), m=7):
    rng = np.random.default_rng(seed)
    net = Network(list(sizes), cost=cost, activation=hidden, seed=seed)
    X = rng.normal(size=(m, sizes[0]))
    y = rng.integers(0, sizes[-1], size=m)
    return net, (X, y)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("lmbda,reg", REGULARIZERS)
@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("cost", COSTS)
def test_backprop_matches_finite_differences(cost, hidden, lmbda, reg, seed):
    net, data = small_problem(seed, cost, hidden)
    n = 50  # a training-set size different from the batch size, as in real training
    nabla_b, nabla_w = net.cost_gradient(data, lmbda, training_set_size=n, regularization=reg)
    num_b, num_w = numerical_gradient(net, data, lmbda, reg, n)
    err = relative_error(nabla_b + nabla_w, num_b + num_w)
    assert err < TOLERANCE, f"relative error {err:.2e}"


def test_backprop_with_three_hidden_layers_and_identity_output_matches_finite_differences():
    rng = np.random.default_rng(5)
    net = Network([4, 6, 5, 4, 2], cost="quadratic", activation="tanh",
                  output_activation="identity", seed=5)
    X = rng.normal(size=(9, 4))
    Y = rng.normal(size=(9, 2))  # regression targets: linear outputs (chapter 3, exercise 5)
    nabla_b, nabla_w = net.cost_gradient((X, Y), 0.3, training_set_size=9)
    num_b, num_w = numerical_gradient(net, (X, Y), 0.3, "L2", 9)
    assert relative_error(nabla_b + nabla_w, num_b + num_w) < TOLERANCE


def test_single_example_backprop_is_the_gradient_of_that_examples_cost():
    net, (X, y) = small_problem(3, "cross-entropy", "sigmoid")
    x, label = X[0][:, None], int(y[0])
    onehot = np.zeros((net.sizes[-1], 1))
    onehot[label] = 1.0
    nabla_b, nabla_w = net.backprop(x, onehot)
    num_b, num_w = numerical_gradient(net, (X[:1], y[:1]), 0.0, "L2", 1)
    assert relative_error(nabla_b + nabla_w, num_b + num_w) < TOLERANCE
    assert [b.shape for b in nabla_b] == [b.shape for b in net.biases]
    assert [w.shape for w in nabla_w] == [w.shape for w in net.weights]


def test_checker_rejects_a_wrong_output_error():
    """Negative control: cross-entropy cost with the quadratic cost's output error
    (a - y) sigma'(z) -- the classic mix-up -- must fail the check."""
    net, data = small_problem(0, "cross-entropy", "sigmoid")
    num_b, num_w = numerical_gradient(net, data, 0.0, "L2", 7)
    net.cost = type("WrongCost", (CrossEntropyCost,), {"delta": staticmethod(QuadraticCost.delta)})
    nabla_b, nabla_w = net.cost_gradient(data)
    assert relative_error(nabla_b + nabla_w, num_b + num_w) > 1e-2


def test_checker_rejects_a_far_too_large_step():
    """Negative control: with h = 1 the central difference is no longer the derivative."""
    net, data = small_problem(1, "quadratic", "sigmoid")
    nabla_b, nabla_w = net.cost_gradient(data)
    num_b, num_w = numerical_gradient(net, data, 0.0, "L2", 7, h=1.0)
    assert relative_error(nabla_b + nabla_w, num_b + num_w) > TOLERANCE


def test_checker_rejects_a_missing_regularisation_term():
    net, data = small_problem(2, "cross-entropy", "tanh")
    num_b, num_w = numerical_gradient(net, data, 0.7, "L2", 50)
    nabla_b, nabla_w = net.cost_gradient(data, 0.0)  # forgot lambda
    assert relative_error(nabla_b + nabla_w, num_b + num_w) > 1e-4
