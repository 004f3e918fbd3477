"""Chapter 4: networks built by hand that approximate any continuous function.

The chapter's visual proof, as weights of an ordinary ``Network``:

- a hidden neuron with a large weight w and bias b = -w s is (nearly) a step
  at s (STEP); with ReLU neurons the step is a ramp made of two units (RAMP);
- two steps of opposite sign make a bump of height h on [s1, s2] (BUMP), and n
  bumps side by side approximate f on an interval, one bump per sub-interval at
  the height of f at its midpoint;
- in two dimensions an x-bump plus a y-bump is 2 on their crossing and 1 on the
  two ridges; a second hidden layer neuron thresholding at 3/2 keeps only the
  crossing: a tower (TOWER), and n^2 towers approximate f on the square;
- ReLU neurons also interpolate a 1-D function piecewise linearly, one unit per
  knot (RELU-PWL), with error O(1/n^2) instead of O(1/n);
- networks of linear neurons compute an affine function whatever their depth
  (AFFINE), so they cannot represent x^2.

Every builder returns a ``Network`` whose output neuron is linear (the book
applies sigma^{-1} to f and keeps a sigmoid output; a linear output shows the
same thing with less algebra, see notes/chap4.md).

Deliberately left out: learning these weights (that is what the rest of the
book is for); inputs other than [0, 1] and [0, 1]^2.
"""

import numpy as np

from .network import Network

# The step of each hidden-neuron type, as (offset, output coefficient) pairs: the unit
# act(t + offset) enters the next layer with this coefficient, t = k (x - s).
STEPS = {
    "sigmoid": [(0.0, 1.0)],                    # (STEP) sigma(k (x - s)) -> H(x - s)
    "relu": [(0.5, 1.0), (-0.5, -1.0)],         # (RAMP) ReLU(t + 1/2) - ReLU(t - 1/2)
}


def step_parameters(s, k, activation="sigmoid"):
    """(weights, biases, coefficients) of the hidden units making a step at ``s``.

    (STEP) sigma(w x + b) with w = k, b = -k s steps at s = -b/w as k grows.
    (RAMP) for ReLU: ReLU(k(x - s) + 1/2) - ReLU(k(x - s) - 1/2) rises from 0 to 1
    over [s - 1/2k, s + 1/2k], exactly 1/2 at s like the sigmoid.
    """
    units = STEPS[activation]
    w = np.full(len(units), float(k))
    b = np.array([-k * s + off for off, _ in units])   # (STEP) b = -w s (+ the ramp's offset)
    c = np.array([coef for _, coef in units])
    return w, b, c


def _edges(n):
    """Bump edges j/n, except that the two outer ones sit half a bump outside [0, 1]:
    a step is only half way up at its own edge, so 0 and 1 would get half a bump."""
    edges = np.linspace(0.0, 1.0, n + 1)
    edges[0], edges[-1] = -0.5 / n, 1 + 0.5 / n
    return edges


def _network(sizes, activation, weights, biases):
    net = Network(sizes, cost="quadratic", activation=activation,
                  output_activation="identity", seed=0)
    net.weights = [np.asarray(w, dtype=np.float64) for w in weights]
    net.biases = [np.asarray(b, dtype=np.float64).reshape(-1, 1) for b in biases]
    return net


def bump_network(f, n, k=None, activation="sigmoid"):
    """[1, hidden, 1] network approximating f on [0, 1] by n bumps.

    Bump j covers [j/n, (j+1)/n] (the outer two reach half a bump beyond) at height f((j + 1/2)/n):
    (BUMP) h_j [H(x - j/n) - H(x - (j+1)/n)], each H a step (STEP or RAMP).
    ``k`` is the steepness (default 200 n: each step rises in 1/200 of a bump).
    """
    k = 200.0 * n if k is None else float(k)
    edges = _edges(n)
    heights = f(np.linspace(0.5 / n, 1 - 0.5 / n, n))
    W1, b1, W2 = [], [], []
    for j in range(n):
        for s, sign in ((edges[j], 1.0), (edges[j + 1], -1.0)):
            w, b, c = step_parameters(s, k, activation)
            W1 += list(w)
            b1 += list(b)
            W2 += list(sign * heights[j] * c)        # (BUMP) +h at the left edge, -h at the right
    W1 = np.array(W1)[:, None]                       # (2n units, 1 input)
    return _network([1, len(b1), 1], activation, [W1, np.array(W2)[None, :]], [b1, [0.0]])


def tower_network(f, n, k=None, k_tower=40.0, activation="sigmoid"):
    """[2, hidden1, hidden2, 1] network approximating f(x, y) on [0, 1]^2 by n^2 towers.

    First hidden layer: the steps of n x-bumps and n y-bumps.  Second: one
    neuron per tower, (TOWER) T_ij = H_k'(B_i(x) + B_j(y) - 3/2), 1 where both
    bumps are on and 0 where at most one is; output: sum_ij f(center_ij) T_ij.
    """
    k = 200.0 * n if k is None else float(k)
    edges = _edges(n)
    centers = np.linspace(0.5 / n, 1 - 0.5 / n, n)
    W1, b1 = [], []
    bump_coef = []                       # for each first-layer unit: (axis, bump index, coef)
    for axis in (0, 1):
        for j in range(n):
            for s, sign in ((edges[j], 1.0), (edges[j + 1], -1.0)):
                w, b, c = step_parameters(s, k, activation)
                for wi, bi, ci in zip(w, b, c):
                    row = [0.0, 0.0]
                    row[axis] = wi
                    W1.append(row)
                    b1.append(bi)
                    bump_coef.append((axis, j, sign * ci))
    units = STEPS[activation]
    n1 = len(b1)
    W2 = np.zeros((n * n * len(units), n1))
    b2 = np.zeros(n * n * len(units))
    W3 = np.zeros((1, n * n * len(units)))
    axis, idx, c = (np.array(v) for v in zip(*bump_coef))
    row = 0
    for i in range(n):
        for j in range(n):
            on = ((axis == 0) & (idx == i)) | ((axis == 1) & (idx == j))   # bumps B_i(x), B_j(y)
            for off, coef in units:
                W2[row] = k_tower * c * on           # (TOWER) k' (B_i(x) + B_j(y)) ...
                b2[row] = -1.5 * k_tower + off       # (TOWER) ... - 3/2 k'
                W3[0, row] = f(centers[i], centers[j]) * coef
                row += 1
    return _network([2, n1, len(b2), 1], activation, [np.array(W1), W2, W3],
                    [b1, b2, [0.0]])


def relu_interpolation_network(f, n):
    """[1, n, 1] ReLU network equal to the piecewise-linear interpolation of f at n+1 knots.

    (RELU-PWL) g(x) = f(0) + sum_j c_j ReLU(x - x_j), c_j the change of slope at knot
    x_j (c_0 the first slope), so g(x_j) = f(x_j) at every knot.
    """
    knots = np.linspace(0.0, 1.0, n + 1)
    slopes = np.diff(f(knots)) / np.diff(knots)
    c = np.diff(slopes, prepend=0.0)                 # (RELU-PWL) slope changes
    W1 = np.ones((n, 1))
    b1 = -knots[:-1]
    return _network([1, n, 1], "relu", [W1, c[None, :]], [b1, [f(0.0)]])


def effective_affine_map(net):
    """(AFFINE) A network of linear neurons is x -> W x + b with W = W^L ... W^1 and
    b = W^L ... W^2 b^1 + ... + b^L; returns (W, b)."""
    W = np.eye(net.sizes[0])
    b = np.zeros((net.sizes[0], 1))
    for w, bias in zip(net.weights, net.biases):
        W = w @ W                                    # (n_l, n_0)
        b = w @ b + bias                             # (n_l, 1)
    return W, b


def max_error(net, f, grid):
    """max |f - net| on the grid: rows of ``grid`` are inputs, (m, 1) or (m, 2)."""
    approx = net.feedforward(grid)[:, 0]
    target = f(*grid.T)
    return float(np.max(np.abs(approx - target)))
