"""Numerical checks of the claims made in notes/chap1.md, chap2.md, chap3.md, chap5.md and chap6.md.

Each test checks one statement of the notes (the notes section is named in the
docstring) against an independent computation: central finite differences,
sampling, or direct iteration. Plain NumPy only, on purpose: these tests check
the mathematics, not the `network` package, so they do not import it. Where a
claim is a comparison, a negative control shows that the check can fail (a
wrong formula is rejected by the same tolerance).

All arithmetic is float64; every random draw comes from a seeded Generator.
"""

import numpy as np
import pytest

SEEDS = [0, 1, 2]


# ---------------------------------------------------------------- helpers

def sigmoid(z):
    # Stable in both tails: exp only ever sees a non-positive argument.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softmax(z):
    # Shifting by max(z) changes nothing (notes 3.9) and avoids overflow.
    e = np.exp(z - np.max(z))
    return e / e.sum()


def central_diff(f, x, h=1e-6):
    """Gradient of scalar f at vector x by central differences."""
    x = np.asarray(x, dtype=float)
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e.flat[i] = h
        g.flat[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def central_jacobian(f, x, h=1e-6):
    """Jacobian J[j, k] = d f_j / d x_k by central differences."""
    x = np.asarray(x, dtype=float)
    cols = []
    for k in range(x.size):
        e = np.zeros_like(x)
        e[k] = h
        cols.append((f(x + e) - f(x - e)) / (2 * h))
    return np.stack(cols, axis=1)


def rel_err(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.max(np.abs(a - b)) / max(1e-12, np.max(np.abs(a)) + np.max(np.abs(b)))


# ---------------------------------------------------------------- chapter 1

def test_scaling_perceptron_weights_by_positive_c_changes_no_output():
    """chap1, Exercise 1.1: c > 0 times all weights and biases leaves a perceptron net unchanged."""
    rng = np.random.default_rng(0)
    sizes = [6, 5, 4, 3]
    W = [rng.standard_normal((o, i)) for i, o in zip(sizes[:-1], sizes[1:])]
    B = [rng.standard_normal(o) for o in sizes[1:]]
    X = rng.integers(0, 2, size=(200, sizes[0])).astype(float)

    def run(c):
        a = X
        for w, b in zip(W, B):
            a = (a @ (c * w).T + c * b > 0).astype(float)  # (200, n_out)
        return a

    base = run(1.0)
    for c in [1e-3, 0.5, 7.0, 1e4]:
        assert np.array_equal(run(c), base)
    # Negative control: a negative c flips every strictly non-zero decision.
    assert not np.array_equal(run(-1.0), base)


def test_sigmoid_network_tends_to_perceptron_network_as_c_grows():
    """chap1, Exercise 1.2: sigma(c(w.x+b)) -> step(w.x+b) when w.x+b != 0, and stays 1/2 when it is 0."""
    rng = np.random.default_rng(1)
    sizes = [5, 4, 3]
    W = [rng.standard_normal((o, i)) for i, o in zip(sizes[:-1], sizes[1:])]
    B = [rng.standard_normal(o) for o in sizes[1:]]
    x = rng.integers(0, 2, size=sizes[0]).astype(float)

    def perceptron(x):
        a = x
        for w, b in zip(W, B):
            a = (w @ a + b > 0).astype(float)
        return a

    def sigmoid_net(x, c):
        a = x
        for w, b in zip(W, B):
            a = sigmoid(c * (w @ a + b))
        return a

    p = perceptron(x)
    errs = [np.max(np.abs(sigmoid_net(x, c) - p)) for c in [1, 10, 100, 1000]]
    assert errs[-1] < 1e-6
    assert errs[0] > errs[-1]
    # The failure case: a first-layer neuron with w.x + b = 0 outputs 1/2 for every c.
    W0 = W[0].copy()
    B0 = B[0].copy()
    B0[0] = -W0[0] @ x
    for c in [1, 1e3, 1e6]:
        assert sigmoid(c * (W0[0] @ x + B0[0])) == pytest.approx(0.5, abs=1e-9)


def test_binary_output_layer_recovers_the_four_bits_of_each_digit():
    """chap1, Exercise 1.3: weights +w for bit 1, -w for bit 0, bias 0, w = 10."""
    w = 10.0
    bits = np.array([[(d >> i) & 1 for d in range(10)] for i in (3, 2, 1, 0)])  # (4, 10), MSB first
    W = np.where(bits == 1, w, -w)  # (4, 10)
    b = np.zeros(4)
    rng = np.random.default_rng(2)
    for d in range(10):
        for _ in range(200):
            a = rng.uniform(0.0, 0.01, size=10)  # wrong outputs at most 0.01
            a[d] = rng.uniform(0.99, 1.0)         # right output at least 0.99
            out = sigmoid(W @ a + b)              # (4,)
            assert np.max(np.abs(out - bits[:, d])) < 1e-3
        # Worst case from the notes: |z| >= 0.9 w exactly at the bounds.
        a = np.full(10, 0.01)
        a[d] = 0.99
        z = W @ a + b
        assert np.all(np.abs(z) >= 0.9 * w - 1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_gradient_direction_is_the_best_step_of_its_size(seed):
    """chap1, Exercise 1.4: among steps with |dv| = eps, dv = -eps grad/|grad| minimises grad.dv,
    and (for small eps) also the true change of a smooth cost."""
    rng = np.random.default_rng(seed)
    n = 8
    M = rng.standard_normal((n, n))
    A = M @ M.T + np.eye(n)  # (n, n) positive definite
    c = rng.standard_normal(n)

    def C(v):
        return 0.5 * v @ A @ v + c @ v + np.sum(np.cos(v))  # smooth, not quadratic

    v0 = rng.standard_normal(n)
    grad = A @ v0 + c - np.sin(v0)
    assert rel_err(central_diff(C, v0), grad) < 1e-7
    eps = 1e-4
    dirs = rng.standard_normal((1000, n))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)  # (1000, n) unit vectors
    best = -grad / np.linalg.norm(grad)
    lin_best = eps * grad @ best
    assert lin_best == pytest.approx(-eps * np.linalg.norm(grad))
    assert np.all(eps * dirs @ grad >= lin_best)
    true_best = C(v0 + eps * best) - C(v0)
    true_random = np.array([C(v0 + eps * d) - C(v0) for d in dirs])
    assert np.all(true_random >= true_best)
    # Negative control: the +gradient direction is the worst, not the best.
    assert C(v0 - eps * best) - C(v0) > np.max(true_random)


def test_one_dimensional_gradient_descent_contracts_by_one_minus_eta_k():
    """chap1, Exercise 1.5: on C = k/2 (v - v*)^2, v - v* is multiplied by (1 - eta k) each step."""
    k, vstar = 3.0, 0.7
    for eta, behaviour in [(0.1, "monotone"), (0.5, "oscillating"), (1.0, "divergent")]:
        v = 2.0
        errs = []
        for _ in range(30):
            v = v - eta * k * (v - vstar)
            errs.append(v - vstar)
        errs = np.array(errs)
        ratio = errs[1:] / errs[:-1]
        assert np.allclose(ratio, 1 - eta * k)
        if behaviour == "monotone":
            assert np.all(errs > 0) and abs(errs[-1]) < 1e-3
        elif behaviour == "oscillating":
            assert np.all(np.sign(errs[1:]) != np.sign(errs[:-1])) and abs(errs[-1]) < 1e-3
        else:
            assert abs(errs[-1]) > 1e3


def test_minibatch_mean_gradient_variance_falls_as_one_over_m():
    """chap1, Exercise 1.6: the mean of m independent per-example gradients has variance var/m."""
    rng = np.random.default_rng(3)
    g = rng.standard_normal(400_000) * 2.0 + 0.3  # per-example "gradients", variance 4
    v1 = g.var()
    v20 = g.reshape(-1, 20).mean(axis=1).var()
    # The estimate of v20 has relative standard error sqrt(2 / 20000) = 1%.
    assert v20 == pytest.approx(v1 / 20, rel=0.05)


def test_component_form_of_the_layer_equals_the_matrix_form():
    """chap1, Exercise 1.7: a'_j = sigma(sum_k w_jk a_k + b_j) is sigma(w a + b)."""
    rng = np.random.default_rng(4)
    w = rng.standard_normal((3, 5))
    a = rng.standard_normal(5)
    b = rng.standard_normal(3)
    comp = np.array([sigmoid(sum(w[j, k] * a[k] for k in range(5)) + b[j]) for j in range(3)])
    assert np.allclose(comp, sigmoid(w @ a + b), rtol=0, atol=1e-15)
    # Negative control: using w^T indexing (w_kj) would not even have the right shape here.
    assert w.T.shape != w.shape


# ---------------------------------------------------------------- chapter 2 (small reference backprop)

def init_net(rng, sizes):
    W = [rng.standard_normal((o, i)) / np.sqrt(i) for i, o in zip(sizes[:-1], sizes[1:])]
    B = [rng.standard_normal(o) for o in sizes[1:]]
    return W, B


def quad_cost_batch(W, B, X, Y):
    A = X
    for w, b in zip(W, B):
        A = sigmoid(A @ w.T + b)  # (m, n_out)
    return 0.5 * np.sum((A - Y) ** 2)


def backprop_one(W, B, x, y):
    """Per-example backprop with column vectors, the book's way: (BP1)-(BP4)."""
    acts, zs = [x], []
    a = x
    for w, b in zip(W, B):
        z = w @ a + b
        zs.append(z)
        a = sigmoid(z)
        acts.append(a)
    sp = lambda z: sigmoid(z) * (1 - sigmoid(z))
    delta = (acts[-1] - y) * sp(zs[-1])  # (BP1) with the quadratic cost
    gW, gB = [None] * len(W), [None] * len(W)
    gB[-1], gW[-1] = delta, np.outer(delta, acts[-2])  # (BP3), (BP4)
    for l in range(2, len(W) + 1):
        delta = (W[-l + 1].T @ delta) * sp(zs[-l])  # (BP2)
        gB[-l], gW[-l] = delta, np.outer(delta, acts[-l - 1])
    return gW, gB


def backprop_matrix(W, B, X, Y):
    """Problem 2.5 in the row-major layout: rows are examples."""
    As, Zs = [X], []
    A = X
    for w, b in zip(W, B):
        Z = A @ w.T + b  # (m, n_in) @ (n_in, n_out) -> (m, n_out); b broadcast = 1 b^T
        Zs.append(Z)
        A = sigmoid(Z)
        As.append(A)
    sp = lambda Z: sigmoid(Z) * (1 - sigmoid(Z))
    D = (As[-1] - Y) * sp(Zs[-1])  # (m, n_L)
    gW, gB = [None] * len(W), [None] * len(W)
    for l in range(1, len(W) + 1):
        gW[-l] = D.T @ As[-l - 1]  # (n_l, m) @ (m, n_{l-1}) -> (n_l, n_{l-1})
        gB[-l] = D.T @ np.ones(len(X))  # (n_l,)
        if l < len(W):
            D = (D @ W[-l]) * sp(Zs[-l - 1])  # (m, n_l) @ (n_l, n_{l-1}) -> (m, n_{l-1})
    return gW, gB


@pytest.mark.parametrize("seed", SEEDS)
def test_bp3_bp4_match_finite_differences(seed):
    """chap2, Exercise 2.2: dC/db = delta, dC/dw_jk = a_k delta_j."""
    rng = np.random.default_rng(seed)
    sizes = [4, 5, 3, 2]
    W, B = init_net(rng, sizes)
    x, y = rng.uniform(size=4), rng.uniform(size=2)
    gW, gB = backprop_one(W, B, x, y)
    for l in range(len(W)):
        def cw(flat, l=l):
            W2 = [w.copy() for w in W]
            W2[l] = flat.reshape(W[l].shape)
            return quad_cost_batch(W2, B, x[None], y[None])

        def cb(vec, l=l):
            B2 = [b.copy() for b in B]
            B2[l] = vec
            return quad_cost_batch(W, B2, x[None], y[None])

        assert rel_err(central_diff(cw, W[l].ravel()).reshape(W[l].shape), gW[l]) < 1e-7
        assert rel_err(central_diff(cb, B[l]), gB[l]) < 1e-7
    # Negative control: BP4 without the a^{l-1}_k factor (delta_j alone) is rejected.
    wrong = np.outer(gB[1], np.ones(W[1].shape[1]))
    assert rel_err(wrong, gW[1]) > 1e-3


def sigma_prime_matrices(W, B, x):
    """Feedforward of one example; returns ([Sigma'(z^l)] as diagonal matrices, a^L)."""
    zs, a = [], x
    for w, b in zip(W, B):
        zs.append(w @ a + b)
        a = sigmoid(zs[-1])
    return [np.diag(sigmoid(z) * (1 - sigmoid(z))) for z in zs], a


@pytest.mark.parametrize("seed", SEEDS)
def test_product_formula_for_delta_with_diagonal_sigma_prime(seed):
    """chap2, Problem 2.1: delta^l = S'(z^l) (w^{l+1})^T ... S'(z^L) grad_a C."""
    rng = np.random.default_rng(seed)
    sizes = [3, 4, 5, 2]
    W, B = init_net(rng, sizes)
    x, y = rng.uniform(size=3), rng.uniform(size=2)
    S, a = sigma_prime_matrices(W, B, x)
    delta1 = S[0] @ W[1].T @ S[1] @ W[2].T @ S[2] @ (a - y)
    gW, gB = backprop_one(W, B, x, y)
    assert np.allclose(delta1, gB[0], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("seed", SEEDS)
def test_matrix_backprop_equals_sum_of_per_example_backprop(seed):
    """chap2, Problem 2.5: Delta^T A^{l-1} and Delta^T 1 are the mini-batch sums."""
    rng = np.random.default_rng(seed)
    sizes = [6, 5, 4, 3]
    W, B = init_net(rng, sizes)
    m = 7
    X, Y = rng.uniform(size=(m, 6)), rng.uniform(size=(m, 3))
    gW, gB = backprop_matrix(W, B, X, Y)
    for l in range(len(W)):
        sW = sum(backprop_one(W, B, X[i], Y[i])[0][l] for i in range(m))
        sB = sum(backprop_one(W, B, X[i], Y[i])[1][l] for i in range(m))
        assert np.allclose(gW[l], sW, rtol=1e-12, atol=1e-14)
        assert np.allclose(gB[l], sB, rtol=1e-12, atol=1e-14)
    # And the batch sum is the gradient of the summed cost.
    fd = central_diff(lambda f: quad_cost_batch([f.reshape(W[0].shape)] + W[1:], B, X, Y), W[0].ravel())
    assert rel_err(fd.reshape(W[0].shape), gW[0]) < 1e-7
    # Negative control: Delta A^T style products have the wrong shape.
    assert gW[0].shape == W[0].shape


def test_single_modified_neuron_uses_f_prime_in_its_delta():
    """chap2, Exercise 2.3: one hidden neuron with f = tanh; backprop with f' at that neuron only."""
    rng = np.random.default_rng(5)
    sizes = [3, 4, 2]
    W, B = init_net(rng, sizes)
    x, y = rng.uniform(size=3), rng.uniform(size=2)
    j = 2  # the modified neuron in the hidden layer

    def act(z):
        a = sigmoid(z)
        a[j] = np.tanh(z[j])
        return a

    def cost(b0):
        h = act(W[0] @ x + b0)
        return 0.5 * np.sum((sigmoid(W[1] @ h + B[1]) - y) ** 2)

    z1 = W[0] @ x + B[0]
    h = act(z1)
    z2 = W[1] @ h + B[1]
    a2 = sigmoid(z2)
    d2 = (a2 - y) * a2 * (1 - a2)
    deriv = sigmoid(z1) * (1 - sigmoid(z1))
    deriv[j] = 1 - np.tanh(z1[j]) ** 2
    d1 = (W[1].T @ d2) * deriv
    assert rel_err(central_diff(cost, B[0]), d1) < 1e-7
    # Negative control: forgetting to swap sigma' for f' is rejected.
    d1_wrong = (W[1].T @ d2) * sigmoid(z1) * (1 - sigmoid(z1))
    assert rel_err(central_diff(cost, B[0]), d1_wrong) > 1e-3


def test_linear_network_backprop_is_a_product_of_transposed_weights():
    """chap2, Exercise 2.4: with sigma(z) = z, delta^l = (w^{l+1})^T ... (w^L)^T grad_a C."""
    rng = np.random.default_rng(6)
    sizes = [3, 4, 5, 2]
    W, B = init_net(rng, sizes)
    x, y = rng.uniform(size=3), rng.uniform(size=2)

    def out(b0):
        a = W[0] @ x + b0
        for w, b in zip(W[1:], B[1:]):
            a = w @ a + b
        return a

    cost = lambda b0: 0.5 * np.sum((out(b0) - y) ** 2)
    delta1 = W[1].T @ W[2].T @ (out(B[0]) - y)
    assert rel_err(central_diff(cost, B[0]), delta1) < 1e-7
    # The whole network is one affine map W3 W2 W1 x + const.
    Wtot = W[2] @ W[1] @ W[0]
    x2 = rng.uniform(size=3)
    a2 = W[2] @ (W[1] @ (W[0] @ x2 + B[0]) + B[1]) + B[2]
    assert np.allclose(a2 - out(B[0]), Wtot @ (x2 - x))


# ---------------------------------------------------------------- chapter 3

def test_sigmoid_prime_is_sigma_times_one_minus_sigma():
    """chap3, Exercise 3.1 (SIGMOID)."""
    z = np.linspace(-12, 12, 241)
    h = 1e-5
    fd = (sigmoid(z + h) - sigmoid(z - h)) / (2 * h)
    s = sigmoid(z)
    assert np.max(np.abs(fd - s * (1 - s))) < 1e-10
    # Negative control: sigma (1 + sigma) is not the derivative.
    assert np.max(np.abs(fd - s * (1 + s))) > 0.1


def test_swapped_cross_entropy_is_infinite_at_binary_targets():
    """chap3, Exercise 3.2: -[a ln y + (1-a) ln(1-y)] blows up at y in {0, 1}; the right one does not."""
    a = np.array([0.2, 0.5, 0.9])
    with np.errstate(divide="ignore"):
        for y in (0.0, 1.0):
            wrong = -(a * np.log(y) + (1 - a) * np.log(1 - y))
            assert np.all(np.isinf(wrong))
            right = -(y * np.log(a) + (1 - y) * np.log(1 - a))
            assert np.all(np.isfinite(right))


def test_cross_entropy_is_minimised_where_sigma_z_equals_y():
    """chap3, Exercise 3.3: for fractional y the minimum over a is at a = y, value the binary entropy."""
    a = np.linspace(1e-4, 1 - 1e-4, 200_001)
    for y in [0.1, 0.37, 0.5, 0.8]:
        c = -(y * np.log(a) + (1 - y) * np.log(1 - a))
        assert a[np.argmin(c)] == pytest.approx(y, abs=1e-4)
        assert c.min() == pytest.approx(-(y * np.log(y) + (1 - y) * np.log(1 - y)), abs=1e-8)
        assert c.min() > 0  # not zero: the minimum is the entropy of y


@pytest.mark.parametrize("seed", SEEDS)
def test_cross_entropy_output_error_is_a_minus_y_for_sigmoid_outputs(seed):
    """chap3, Problem 3.4 (XENT): delta^L = dC/dz^L = a^L - y, with no sigma' factor."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(10) * 3
    y = rng.uniform(size=10)

    def C(z):
        a = sigmoid(z)
        return -np.sum(y * np.log(a) + (1 - y) * np.log(1 - a))

    fd = central_diff(C, z)
    assert rel_err(fd, sigmoid(z) - y) < 1e-7
    # Negative control: the quadratic-cost error (a - y) sigma'(z) is rejected.
    s = sigmoid(z)
    assert rel_err(fd, (s - y) * s * (1 - s)) > 1e-2


def test_quadratic_cost_with_linear_outputs_has_output_error_a_minus_y():
    """chap3, Problem 3.5: a^L = z^L and C = |a - y|^2 / 2 give delta^L = a - y."""
    rng = np.random.default_rng(7)
    z, y = rng.standard_normal(6), rng.standard_normal(6)
    fd = central_diff(lambda z: 0.5 * np.sum((z - y) ** 2), z)
    assert rel_err(fd, z - y) < 1e-9


@pytest.mark.parametrize("cost", ["quadratic", "cross-entropy", "fourth-power", "log-cosh"])
@pytest.mark.parametrize("act", ["sigmoid", "tanh", "cube"])
def test_no_cost_removes_the_input_factor(cost, act):
    """chap3, Problem 3.6: for one neuron dC/dw_j = x_j dC/db, whatever the cost and activation."""
    rng = np.random.default_rng(8)
    x = rng.uniform(-1, 1, size=5)
    y = 0.3
    f = {"sigmoid": sigmoid, "tanh": np.tanh, "cube": lambda z: z ** 3}[act]
    c = {
        "quadratic": lambda a: 0.5 * (a - y) ** 2,
        "cross-entropy": lambda a: -(y * np.log(sigmoid(a)) + (1 - y) * np.log(1 - sigmoid(a))),
        "fourth-power": lambda a: (a - y) ** 4,
        "log-cosh": lambda a: np.log(np.cosh(a - y)),
    }[cost]
    params = rng.standard_normal(6)  # w (5) then b

    def C(p):
        return c(f(p[:5] @ x + p[5]))

    g = central_diff(C, params)
    assert np.allclose(g[:5], x * g[5], rtol=1e-6, atol=1e-9)


def test_sigmoid_outputs_need_not_sum_to_one():
    """chap3, Exercise 3.7: two output neurons with zero weights and biases 2 sum to 2 sigma(2)."""
    a = sigmoid(np.array([2.0, 2.0]))
    assert a.sum() == pytest.approx(2 * 0.8807970779778823)
    assert abs(a.sum() - 1) > 0.5


@pytest.mark.parametrize("seed", SEEDS)
def test_softmax_jacobian_is_a_j_times_delta_jk_minus_a_k(seed):
    """chap3, Exercises 3.8-3.9 (SOFTMAX): da_j/dz_k = a_j (delta_jk - a_k); off-diagonal -a_j a_k."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(7) * 2
    a = softmax(z)
    J = np.diag(a) - np.outer(a, a)
    fd = central_jacobian(softmax, z)
    assert rel_err(fd, J) < 1e-8
    off = ~np.eye(7, dtype=bool)
    assert np.all(J[off] < 0) and np.all(np.diag(J) > 0)  # monotonicity (3.8)
    assert np.allclose(J.sum(axis=0), 0, atol=1e-15)     # outputs keep summing to one
    # Negative control: the seed notes' off-diagonal -a_j (1 - a_k) is rejected.
    wrong = np.diag(a * (1 - a)) - np.where(off, np.outer(a, 1 - a), 0)
    assert rel_err(fd, wrong) > 1e-2


def test_softmax_is_shift_invariant_and_inverted_by_log_plus_constant():
    """chap3, Problem 3.10: z_j = ln a_j + C; any constant C gives the same a."""
    rng = np.random.default_rng(9)
    z = rng.standard_normal(5)
    a = softmax(z)
    diff = z - np.log(a)
    assert np.allclose(diff, diff[0], atol=1e-12)          # the same C for every j
    assert diff[0] == pytest.approx(np.log(np.sum(np.exp(z))))  # C = ln sum_k e^{z_k}
    assert np.allclose(softmax(np.log(a) + 17.0), a, atol=1e-15)


@pytest.mark.parametrize("seed", SEEDS)
def test_softmax_log_likelihood_gradients_wrt_w_and_b(seed):
    """chap3, Exercise 3.11 (LOGLIK): dC/db_j = a_j - y_j, dC/dw_jk = a^{L-1}_k (a_j - y_j)."""
    rng = np.random.default_rng(seed)
    w, b = rng.standard_normal((4, 3)), rng.standard_normal(4)
    a_prev = rng.uniform(size=3)
    label = 2
    y = np.eye(4)[label]

    def C(p):
        w_ = p[:12].reshape(4, 3)
        return -np.log(softmax(w_ @ a_prev + p[12:])[label])

    g = central_diff(C, np.concatenate([w.ravel(), b]))
    a = softmax(w @ a_prev + b)
    assert rel_err(g[12:], a - y) < 1e-8
    assert rel_err(g[:12].reshape(4, 3), np.outer(a - y, a_prev)) < 1e-8
    # Negative control: the sign error y - a (seed notes) is rejected.
    assert rel_err(g[12:], y - a) > 0.5


def test_softmax_with_large_c_becomes_the_hard_max():
    """chap3, Problem 3.12: e^{c z_j} / sum_k e^{c z_k} -> indicator of argmax (1/r on r ties)."""
    z = np.array([0.3, 1.2, -0.5, 1.1])
    for c, tol in [(10, 0.5), (100, 1e-4), (1000, 1e-40)]:
        a = softmax(c * z)
        assert abs(a.sum() - 1) < 1e-12
        assert np.max(np.abs(a - np.eye(4)[1])) <= tol
    tied = np.array([1.0, 0.2, 1.0])
    assert np.allclose(softmax(1e4 * tied), [0.5, 0, 0.5])


@pytest.mark.parametrize("seed", SEEDS)
def test_softmax_log_likelihood_output_error_is_a_minus_y(seed):
    """chap3, Problem 3.13 (LOGLIK): finite differences of -ln softmax(z)_y give a - y."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(10) * 3
    label = int(rng.integers(10))
    fd = central_diff(lambda z: -np.log(softmax(z)[label]), z)
    y = np.eye(10)[label]
    assert rel_err(fd, softmax(z) - y) < 1e-8
    # Through the Jacobian: delta = J^T grad_a C, the general form of (BP1).
    a = softmax(z)
    grad_a = -y / a
    J = np.diag(a) - np.outer(a, a)
    assert np.allclose(J.T @ grad_a, a - y, atol=1e-12)
    # Negative control: the elementwise (BP1) with only the diagonal a(1 - a) is wrong here.
    assert rel_err(fd, grad_a * a * (1 - a)) > 1e-2


def test_std_of_z_is_sqrt_three_halves_with_scaled_init():
    """chap3, Exercise 3.16 (INIT): 1000 inputs, 500 of them 1, w ~ N(0, 1/1000), b ~ N(0, 1)."""
    rng = np.random.default_rng(10)
    n_in, samples, chunk = 1000, 200_000, 10_000
    x = np.zeros(n_in)
    x[rng.permutation(n_in)[:500]] = 1.0
    zs = []
    for _ in range(samples // chunk):
        W = rng.standard_normal((chunk, n_in)) / np.sqrt(n_in)  # (chunk, n_in): one neuron per row
        b = rng.standard_normal(chunk)
        zs.append(W @ x + b)  # (chunk,)
    z = np.concatenate(zs)
    target = np.sqrt(1.5)
    se = target / np.sqrt(2 * samples)  # standard error of a Gaussian sample std
    assert abs(z.std() - target) < 5 * se
    assert abs(z.mean()) < 5 * target / np.sqrt(samples)
    # Negative control: the old N(0, 1) weights give std sqrt(501), far outside the band.
    W = rng.standard_normal((2000, n_in))
    assert abs((W @ x + rng.standard_normal(2000)).std() - target) > 100 * se


def test_weight_decay_per_epoch_is_about_exp_minus_eta_lambda_over_m():
    """chap3, Problem 3.17 (L2): (1 - eta lambda / n)^(n/m) ~ exp(-eta lambda / m) when eta lambda << n."""
    n, m = 50_000, 10
    for eta, lmbda in [(0.5, 5.0), (0.1, 5.0), (3.0, 0.1)]:
        w = 1.0
        for _ in range(n // m):
            w *= 1 - eta * lmbda / n  # (L2) with a zero data gradient
        assert w == pytest.approx(np.exp(-eta * lmbda / m), rel=(eta * lmbda) ** 2 / (n * m))
    # And when eta lambda is not << n the approximation fails (factor even goes negative).
    assert 1 - 2.0 * 40_000 / n < 0


def test_problem_3_17_scales_of_the_book_and_of_the_notes():
    """chap3, Problem 3.17: the book's n is the number of weights of [784,30,10], 23,820, so
    1/sqrt(n) = 0.0065; the notes' fan-in scale 1/sqrt(784) = 0.036; the measured first-layer
    RMS (0.26, `python chapters/chap3.py l2-30`) is 40 and 7 times above them."""
    n_weights = 784 * 30 + 30 * 10
    assert n_weights == 23_820
    book, notes, measured = 1 / np.sqrt(n_weights), 1 / np.sqrt(784), 0.26
    assert round(book, 4) == 0.0065 and round(notes, 3) == 0.036
    assert round(measured / book) == 40 and round(measured / notes) == 7


def test_cross_entropy_cost_derivative_fails_where_sigmoid_saturates():
    """chap3, Problem 3.19: (a - y) / (a (1 - a)) times sigma'(z) is nan at z = 40; a - y is fine."""
    z, y = 40.0, 0.0
    a = sigmoid(np.array(z))  # a NumPy scalar, so 1/0 gives inf (as inside the network), not an exception
    assert a == 1.0  # float64 rounds sigma(40) to exactly 1
    with np.errstate(divide="ignore", invalid="ignore"):
        naive = (a - y) / (a * (1 - a)) * (a * (1 - a))
    assert np.isnan(naive)
    assert a - y == pytest.approx(1.0)
    # Away from saturation both agree.
    z = 0.7
    a = sigmoid(np.array(z))
    assert (a - y) / (a * (1 - a)) * (a * (1 - a)) == pytest.approx(a - y)


def test_stopping_rule_epoch_counts_quoted_in_chap3_match_its_table():
    """chap3, Problem 3.21: the epochs run and their ratios quoted under the table are the table's
    (stopping after epoch e means e + 1 epochs run)."""
    import re
    from pathlib import Path
    text = (Path(__file__).resolve().parents[1] / "notes" / "chap3.md").read_text()
    rows = re.findall(r"^\| \d{8} \| epoch (\d+), [\d.]+% \| epoch (\d+), [\d.]+% \|$", text, re.M)
    assert len(rows) == 3
    runs = [(int(a) + 1, int(b) + 1) for a, b in rows]
    (a1, b1), (a2, b2), (a3, b3) = runs
    quoted = f"after {b1} epochs against {a1}, {b2} against {a2} and {b3} against {a3}"
    assert quoted in " ".join(text.split())
    ratios = ", ".join(f"{a / b:.1f}" for a, b in runs[:2]) + f" and {runs[2][0] / runs[2][1]:.1f}"
    assert f"{ratios} times fewer epochs" in " ".join(text.split())
    assert all(b < a for a, b in runs)                     # "always stops earlier"


def momentum_run(mu, eta, k, w0=1.0, v0=0.0, steps=200):
    """(MOMENTUM) on C = k w^2 / 2: v -> mu v - eta k w, w -> w + v."""
    w, v = w0, v0
    ws, vs = [], []
    for _ in range(steps):
        v = mu * v - eta * k * w
        w = w + v
        ws.append(w)
        vs.append(v)
    return np.array(ws), np.array(vs)


def iteration_matrix(mu, eta, k):
    return np.array([[1 - eta * k, mu], [-eta * k, mu]])  # acts on (w, v)


def test_momentum_above_one_diverges():
    """chap3, Exercise 3.24: mu > 1 makes |det M| = mu > 1, so the iterates grow geometrically."""
    eta, k = 0.1, 1.0
    for mu in [1.05, 1.2, 2.0]:
        M = iteration_matrix(mu, eta, k)
        assert np.linalg.det(M) == pytest.approx(mu)
        rho = np.max(np.abs(np.linalg.eigvals(M)))
        assert rho > 1
        ws, vs = momentum_run(mu, eta, k, steps=400)
        assert np.max(np.abs(ws[-20:])) > 1e3
    # On a flat stretch (zero gradient) the velocity itself grows as mu^t.
    _, vs = momentum_run(1.2, eta, 0.0, v0=1.0, steps=50)
    assert np.allclose(vs, 1.2 ** np.arange(1, 51))
    # Control: 0 <= mu < 1 converges.
    ws, _ = momentum_run(0.9, eta, k, steps=2000)
    assert abs(ws[-1]) < 1e-6


def test_momentum_below_zero_alternates_and_slows():
    """chap3, Exercise 3.25: mu < 0 gives a negative eigenvalue (sign flips each step) and a
    spectral radius above plain gradient descent's 1 - eta k."""
    eta, k = 0.1, 1.0
    for mu in [-0.2, -0.5, -0.9]:
        M = iteration_matrix(mu, eta, k)
        lam, vec = np.linalg.eig(M)
        assert np.min(lam.real) < 0 and np.all(np.abs(lam.imag) < 1e-15)
        i = np.argmin(lam.real)
        ws, _ = momentum_run(mu, eta, k, w0=vec[0, i], v0=vec[1, i], steps=10)
        assert np.all(np.sign(ws[1:]) != np.sign(ws[:-1]))
        assert np.max(np.abs(lam)) > 1 - eta * k
    # Flat stretch: the velocity alternates in sign as mu^t.
    _, vs = momentum_run(-0.5, eta, 0.0, v0=1.0, steps=10)
    assert np.all(np.sign(vs[1:]) != np.sign(vs[:-1]))
    # Constant slope g: terminal velocity -eta g / (1 - mu), smaller than plain GD's -eta g,
    # approached with alternating overshoot.
    g, mu, v = 1.0, -0.5, 0.0
    vs = []
    for _ in range(30):
        v = mu * v - eta * g
        vs.append(v)
    dev = np.array(vs) + eta * g / (1 - mu)
    assert abs(dev[-1]) < 1e-9 and np.all(np.sign(dev[1:10]) != np.sign(dev[:9]))


def test_sigmoid_is_a_shifted_and_scaled_tanh():
    """chap3, Exercise 3.27 (TANH): sigma(z) = (1 + tanh(z/2)) / 2."""
    z = np.linspace(-30, 30, 601)
    assert np.max(np.abs(sigmoid(z) - (1 + np.tanh(z / 2)) / 2)) < 1e-15
    # tanh' = 1 - tanh^2 by central differences.
    h = 1e-5
    fd = (np.tanh(z + h) - np.tanh(z - h)) / (2 * h)
    assert np.max(np.abs(fd - (1 - np.tanh(z) ** 2))) < 1e-10
    # Negative control: without the factor 1/2 in the argument the identity fails.
    assert np.max(np.abs(sigmoid(z) - (1 + np.tanh(z)) / 2)) > 0.1


def test_inverted_dropout_keeps_the_expected_activation():
    """chap3 (DROPOUT): mask / (1 - p) has mean 1, so test-time activations need no rescaling."""
    rng = np.random.default_rng(11)
    p = 0.5
    a = rng.uniform(size=50)
    masks = (rng.uniform(size=(100_000, 50)) >= p) / (1 - p)  # (samples, units)
    mean = (masks * a).mean(axis=0)
    se = a * np.sqrt(p / (1 - p)) / np.sqrt(100_000)
    assert np.all(np.abs(mean - a) < 5 * se + 1e-12)


# ---------------------------------------------------------------- chapters 5 and 6

@pytest.mark.parametrize("seed", SEEDS)
def test_chap5_product_formula_ends_with_sigma_prime_of_z_L(seed):
    """chap5 (VANISH): delta^l = S'(z^l) (w^{l+1})^T S'(z^{l+1}) ... (w^L)^T S'(z^L) grad_a C,
    the same product as chap2's Problem 2.1; without the last S'(z^L) it is wrong."""
    rng = np.random.default_rng(seed)
    sizes = [3, 4, 4, 4, 2]
    W, B = init_net(rng, sizes)
    x, y = rng.uniform(size=3), rng.uniform(size=2)
    S, a = sigma_prime_matrices(W, B, x)
    grad_a = a - y                                       # the quadratic cost's grad_a C
    delta1 = S[0] @ W[1].T @ S[1] @ W[2].T @ S[2] @ W[3].T @ S[3] @ grad_a
    _, gB = backprop_one(W, B, x, y)
    assert rel_err(delta1, gB[0]) < 1e-12
    # Negative control: the formula with the final S'(z^L) dropped.
    dropped = S[0] @ W[1].T @ S[1] @ W[2].T @ S[2] @ W[3].T @ grad_a
    assert rel_err(dropped, gB[0]) > 0.1


def test_identity_neuron_error_at_w1_2_is_0_0379():
    """chap5, Problem 5.3 (IDENTITY): on 1,001 points of [0, 1] (the `identity` experiment's grid)
    the error of (4/w1) sigma(w1 x - w1/2) + 1/2 - 2/w1 is 0.03788 for w1 = 2, below w1^2/96."""
    x = np.linspace(0, 1, 1001)
    w1 = 2.0
    err = np.max(np.abs((4 / w1) * sigmoid(w1 * x - w1 / 2) + 0.5 - 2 / w1 - x))
    assert round(err, 4) == 0.0379 and round(err, 5) == 0.03788
    assert err < w1 * w1 / 96
    # Negative control: the value once printed in the notes is not what the formula gives.
    assert round(err, 4) != 0.0380


def relu(z):
    return np.maximum(z, 0.0)


def relu_forward(W, B, x):
    a = x
    for w, b in zip(W, B):
        a = relu(w @ a + b)
    return a


@pytest.mark.parametrize("seed", SEEDS)
def test_relu_biases_of_layer_l_scale_by_c_to_the_l_minus_1(seed):
    """chap6, Problem 6.11 (RELU): all-ReLU net, layers counted from the input (layer 1);
    weights times c and the biases of layer l times c^(l-1) give outputs times c^(L-1).
    Scaling the biases of layer l by c^l instead does not."""
    rng = np.random.default_rng(seed)
    sizes = [6, 5, 5, 4, 3]                  # L = 5 layers, 4 weight layers
    W, B = init_net(rng, sizes)
    B = [np.abs(b) for b in B]               # positive biases keep most units active
    x = rng.uniform(size=6)
    c, L = 1.7, len(sizes)
    before = relu_forward(W, B, x)
    assert np.any(before > 0)
    scaled_W = [c * w for w in W]
    right = [c ** (l - 1) * b for l, b in zip(range(2, L + 1), B)]    # layer l = 2 .. L
    np.testing.assert_allclose(relu_forward(scaled_W, right, x), c ** (L - 1) * before, rtol=1e-12)
    wrong = [c ** l * b for l, b in zip(range(2, L + 1), B)]
    assert rel_err(relu_forward(scaled_W, wrong, x), c ** (L - 1) * before) > 1e-3


def tanh_net_as_sigmoid_net(W, B, outgoing=2.0):
    """chap6, Problem 6.3 (TANH): the sigmoid network computing what a network of tanh hidden
    layers (and a linear output layer) computes.  tanh z = 2 sigma(2z) - 1, so a tanh layer's
    own weights and biases double, and the layer after it sees (2w) s + (b - w 1).  ``outgoing``
    is the factor on the next layer's weights: 2 is right; the negative control passes 1/2."""
    W2, B2 = [], []
    for l, (w, b) in enumerate(zip(W, B)):
        last = l == len(W) - 1
        after_tanh = l > 0
        w_new = outgoing * w if after_tanh else w
        b_new = b - w.sum(axis=1) if after_tanh else b     # lowered by the outgoing weights' sum
        if not last:                                      # this layer is tanh: sigma sees 2z
            w_new, b_new = 2 * w_new, 2 * b_new
        W2.append(w_new)
        B2.append(b_new)
    return W2, B2


def test_tanh_network_is_a_rescaled_sigmoid_network():
    """chap6, Problem 6.3 (TANH): incoming weights and biases doubled, outgoing weights doubled,
    next biases lowered by the sum of the outgoing weights: same outputs.  Halving the
    outgoing weights (the old statement) gives another function."""
    rng = np.random.default_rng(12)
    W, B = init_net(rng, [5, 6, 4, 3])
    X = rng.uniform(size=(20, 5))                           # (m, n_in)

    def forward(W, B, act):
        A = X
        for l, (w, b) in enumerate(zip(W, B)):
            Z = A @ w.T + b                                 # (m, n_out)
            A = Z if l == len(W) - 1 else act(Z)
        return A

    tanh_out = forward(W, B, np.tanh)
    W2, B2 = tanh_net_as_sigmoid_net(W, B)
    assert np.max(np.abs(forward(W2, B2, sigmoid) - tanh_out)) < 1e-12
    # Layers between two tanh layers end up with weights times 4.
    np.testing.assert_allclose(W2[1], 4 * W[1])
    # Negative control: halving the outgoing weights.
    W3, B3 = tanh_net_as_sigmoid_net(W, B, outgoing=0.5)
    assert np.max(np.abs(forward(W3, B3, sigmoid) - tanh_out)) > 1e-2


def test_a_doubled_weight_gets_half_the_gradient():
    """chap6, Problem 6.3: in the rescaled sigmoid network the first layer's weights are stored
    as 2w, so dC/d(2w) = (dC/dw) / 2 (central differences on both networks); a step of the same
    eta then moves w by a quarter of the tanh network's step.  Control: not the same gradient."""
    rng = np.random.default_rng(13)
    W, B = init_net(rng, [4, 5, 3])
    x, y = rng.uniform(size=4), rng.uniform(size=3)

    def cost(W, B, act):
        a = x
        for l, (w, b) in enumerate(zip(W, B)):
            z = w @ a + b
            a = z if l == len(W) - 1 else act(z)
        return 0.5 * np.sum((a - y) ** 2)

    W2, B2 = tanh_net_as_sigmoid_net(W, B)
    shape = W[0].shape
    g_tanh = central_diff(lambda f: cost([f.reshape(shape)] + W[1:], B, np.tanh), W[0].ravel())
    g_sig = central_diff(lambda f: cost([f.reshape(shape)] + W2[1:], B2, sigmoid), W2[0].ravel())
    assert rel_err(g_sig, g_tanh / 2) < 1e-8
    eta = 0.1
    assert rel_err((eta * g_sig) / 2, eta * g_tanh / 4) < 1e-8   # the step, seen as a change of w
    assert rel_err(g_sig, g_tanh) > 0.1


def test_network3_l2_term_is_lambda_m_over_2n():
    """chap6 (L2-NETWORK3): network3 adds 0.5 lmbda sum w^2 / num_training_batches to the mean
    mini-batch cost; with num_training_batches = n/m that is (lmbda m / 2n) sum w^2, the (L2)
    term of network2's convention with lmbda m in place of lmbda, and a weight decay of
    1 - eta lmbda m / n per step: ten times network2's at m = 10."""
    rng = np.random.default_rng(14)
    weights = [rng.standard_normal((20, 8)), rng.standard_normal((10, 20))]
    l2 = sum(float(np.sum(w * w)) for w in weights)
    lmbda, n, m, eta = 0.1, 50_000, 10, 0.03
    num_training_batches = n // m
    network3 = 0.5 * lmbda * l2 / num_training_batches
    assert network3 == pytest.approx(lmbda * m / (2 * n) * l2, rel=1e-14)
    assert network3 == pytest.approx(0.5 * ((lmbda * m) / n) * l2, rel=1e-14)   # network2, lmbda m
    # Its gradient, w times lmbda m / n, and the per-step decay factor.
    w = weights[0]
    h = 1e-6
    fd = (0.5 * lmbda * np.sum((w[0, 0] + h) ** 2) - 0.5 * lmbda * np.sum((w[0, 0] - h) ** 2)) \
        / (2 * h) / num_training_batches
    assert fd == pytest.approx(lmbda * m / n * w[0, 0], rel=1e-6)
    assert 1 - eta * lmbda * m / n == pytest.approx(1 - 10 * eta * lmbda / n)
    # The decay of the ReLU runs (eta 0.03): 6e-7 per step, exp(-0.003) over the n/m steps of an epoch.
    assert eta * lmbda * m / n == pytest.approx(6e-7)
    assert (1 - eta * lmbda * m / n) ** (n // m) == pytest.approx(np.exp(-0.003), rel=1e-6)
    # Problem 6.10's run on 1,000 images: lambda m / 2n = 5e-4, decay 3e-5 a step, 0.89 over 4,000 steps.
    n_small = 1000
    assert lmbda * m / (2 * n_small) == pytest.approx(5e-4)
    assert eta * lmbda * m / n_small == pytest.approx(3e-5)
    assert round((1 - eta * lmbda * m / n_small) ** 4000, 2) == 0.89
    # Negative control: network2's term with the same lmbda is m times smaller.
    assert 0.5 * (lmbda / n) * l2 == pytest.approx(network3 / m)
