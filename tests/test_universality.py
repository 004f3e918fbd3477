"""Chapter 4 constructions: steps, bumps, towers and ReLU interpolation do what the notes say."""

import numpy as np
import pytest

from network import Network
from network.mlp import universality as U


def f1(x):
    return 0.2 + 0.4 * x ** 2 + 0.3 * x * np.sin(15 * x) + 0.05 * np.cos(50 * x)


def f2(x, y):
    return 0.5 + 0.25 * np.sin(4 * x) * np.cos(3 * y) + 0.15 * x * y


GRID = np.linspace(0, 1, 2001)[:, None]


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_a_steep_unit_is_a_step_at_minus_b_over_w(activation):
    """(STEP) / (RAMP): 0 left of s = -b/w, 1 right of it, 1/2 at s."""
    w, b, c = U.step_parameters(0.3, 1000.0, activation)
    act = {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "relu": lambda z: np.maximum(z, 0)}[activation]
    step = lambda x: float(np.sum(c * act(w * x + b)))
    assert step(0.29) == pytest.approx(0, abs=1e-4) and step(0.31) == pytest.approx(1, abs=1e-4)
    assert step(0.3) == pytest.approx(0.5)
    assert -b[0] / w[0] == pytest.approx(0.3, abs=1e-3)


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_bump_error_halves_when_the_number_of_bumps_doubles(activation):
    """(BUMP) n bumps at the midpoint heights: max error O(1/n) (f is Lipschitz)."""
    errors = [U.max_error(U.bump_network(f1, n, activation=activation), f1, GRID)
              for n in (20, 40, 80)]
    assert errors[2] < errors[1] < errors[0] < 0.2
    assert 1.6 < errors[0] / errors[1] < 2.5 and 1.6 < errors[1] / errors[2] < 2.5


def test_a_single_bump_has_its_height_on_its_interval_and_zero_outside():
    net = U.bump_network(lambda x: np.full_like(x, 0.8), 1)
    out = net.feedforward(np.array([[-0.8], [0.0], [0.5], [1.0], [1.8]]))[:, 0]
    np.testing.assert_allclose(out, [0, 0.8, 0.8, 0.8, 0], atol=1e-6)


def test_relu_interpolation_hits_every_knot_and_converges_quadratically():
    """(RELU-PWL) g(x_j) = f(x_j); error O(1/n^2) for smooth f."""
    net = U.relu_interpolation_network(f1, 16)
    knots = np.linspace(0, 1, 17)[:, None]
    np.testing.assert_allclose(net.feedforward(knots)[:, 0], f1(knots[:, 0]), atol=1e-12)
    e = [U.max_error(U.relu_interpolation_network(f1, n), f1, GRID) for n in (40, 80)]
    assert 3.0 < e[0] / e[1] < 5.0


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_towers_approximate_a_2d_function_away_from_the_failure_windows(activation):
    """(TOWER) error shrinks with n at points away from the bump edges."""
    g = np.linspace(0.013, 0.987, 37)
    xx, yy = np.meshgrid(g, g)
    grid = np.c_[xx.ravel(), yy.ravel()]
    errs = []
    for n in (3, 6):
        edges = np.linspace(0, 1, n + 1)[1:-1]
        keep = np.all(np.min(np.abs(grid[:, :, None] - edges), axis=2) > 5 / (200 * n), axis=1)
        approx = U.tower_network(f2, n, activation=activation).feedforward(grid)[:, 0]
        errs.append(np.max(np.abs(approx - f2(*grid.T))[keep]))
    assert errs[1] < 0.7 * errs[0] and errs[1] < 0.15


def test_a_single_tower_is_one_on_its_square_and_zero_elsewhere():
    net = U.tower_network(lambda x, y: 1.0 + 0 * x, 1)
    inside = net.feedforward(np.array([[0.5, 0.5], [0.1, 0.9]]))[:, 0]
    outside = net.feedforward(np.array([[0.5, 2.0], [-1.0, 0.5], [2.0, 2.0]]))[:, 0]
    np.testing.assert_allclose(inside, 1.0, atol=1e-6)
    np.testing.assert_allclose(outside, 0.0, atol=1e-6)


def test_a_deep_linear_network_is_one_affine_map():
    """(AFFINE) W = W^3 W^2 W^1, b = W^3 W^2 b^1 + W^3 b^2 + b^3: so x^2 is out of reach."""
    net = Network([1, 7, 5, 1], cost="quadratic", activation="identity",
                  output_activation="identity", seed=3)
    W, b = U.effective_affine_map(net)
    x = np.linspace(-1, 1, 11)[:, None]
    np.testing.assert_allclose(net.feedforward(x), x @ W.T + b.T, rtol=1e-12, atol=1e-12)
    # the best any affine map can do on x^2 over [-1, 1] is the constant 1/3 (mse 4/45)
    ls = np.linalg.lstsq(np.c_[x, np.ones_like(x)], x[:, 0] ** 2, rcond=None)[0]
    assert ls[0] == pytest.approx(0, abs=1e-12) and np.mean((x[:, 0] ** 2 - x[:, 0] * ls[0] - ls[1]) ** 2) > 0.08
