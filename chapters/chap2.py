"""Chapter 2: how the backpropagation algorithm works, checked and timed.

- ``timing`` (problem 2.5): one epoch of mini-batch SGD with backprop run once
  per example (the book's network.py) against once per mini-batch in matrix form
  (``network/mlp/backprop.py``, and the numba kernel), for mini-batch sizes 10 and
  100, timed by ``network/bench/mlp.py``.
- ``f-neuron`` (exercise 2.3): backprop when one hidden neuron uses f(z) =
  tanh(z) instead of sigma(z): its sigma'(z) in (BP2) becomes f'(z).
- ``linear`` (exercise 2.4): backprop with linear neurons everywhere, where (BP1)
  and (BP2) lose their sigma'(z) factors.
- ``sigma-matrix`` (problem 2.1): (BP1) and (BP2) written with the diagonal
  matrix Sigma'(z), and delta^l as one product of matrices, against the
  elementwise form.

Each check compares with central finite differences in float64 and carries a
negative control (the same check with a deliberate mistake) that must fail.

    python chapters/chap2.py [EXPERIMENT ...] [--list] [--quick] [--seed S] [--out DIR]

Deliberately left out: proofs (notes/chap2.md has them).
"""

import numpy as np

import common
from network import plots
from network.mlp import backprop
from network.base.activations import Identity, Sigmoid, Tanh
from network.base.costs import QuadraticCost

chapter = common.Chapter("chap2", __doc__.split("\n")[0])
TOLERANCE = 1e-7   # relative error a correct gradient meets with central differences
SIZES = [6, 5, 4, 3]


# ---- problem 2.5: per-example against matrix-based backprop --------------------------------

@chapter.experiment("timing", "problem 2.5: seconds per epoch, per-example loop vs matrix backprop (NumPy, numba), [784,30,10]")
def timing(ctx):
    """network/bench/mlp.py times the book's per-example loop against the library's matrix
    path (and its numba kernel) on the same data, interleaved, median of repeats."""
    from network.bench import per_example_vs_matrix
    (X, y), _, _ = ctx.data(ctx.pick(None, 2000))
    rows = {}
    for mb in (10, 100):
        r = per_example_vs_matrix(X, y, sizes=(784, 30, 10), cost="quadratic", eta=3.0,
                                  mini_batch_size=mb, repeats=ctx.pick(3, 1))
        rows[mb] = r
        print(f"mini-batch {mb:3d}, {len(X)} examples: per-example {r['per_example_seconds']:.2f} s, "
              f"matrix (NumPy) {r['matrix_seconds']:.2f} s ({r['matrix_speedup']:.1f}x), "
              f"numba {r['numba_seconds']:.2f} s ({r['numba_speedup']:.1f}x)", flush=True)
    return {"n_examples": len(X), "by_mini_batch": rows,
            "speedup": {mb: r["matrix_speedup"] for mb, r in rows.items()},
            "note": "seconds per epoch, median of repeats, network/bench/mlp.py"}


@chapter.plotter("timing")
def plot_timing(result, out):
    labels, values = [], []
    for mb, r in result["by_mini_batch"].items():
        for key, name in (("per_example_seconds", "per-example"), ("matrix_seconds", "matrix"),
                          ("numba_seconds", "numba")):
            labels.append(f"{name}, mb {mb}")
            values.append(r[key])
    return [plots.bar_plot(out / "timing.png", labels, values,
                              f"one epoch of {result['n_examples']} examples, [784,30,10]",
                              "seconds")]


# ---- gradient checks ----------------------------------------------------------------------

class OneNeuronF:
    """Hidden activation: sigma for every neuron except neuron ``j``, which uses f = tanh.
    ``prime_of_j`` chooses the derivative used at neuron j (f' is right; sigma' is the
    negative control)."""

    def __init__(self, j, prime_of_j=Tanh.prime):
        self.j, self.prime_of_j = j, prime_of_j

    def fn(self, z):
        a = Sigmoid.fn(z)
        a[:, self.j] = Tanh.fn(z[:, self.j])
        return a

    def prime(self, z):
        p = Sigmoid.prime(z)
        p[:, self.j] = self.prime_of_j(z[:, self.j])     # (BP2) with f'(z_j) for neuron j
        return p


def _cost(weights, biases, X, Y, activation, output_activation):
    """Mean quadratic cost over the rows of X: the function the gradients belong to."""
    _, acts = backprop.feedforward(weights, biases, X, activation, output_activation)
    return QuadraticCost.fn(acts[-1], Y) / len(X)


def finite_differences(weights, biases, X, Y, activation, output_activation, eps=1e-6):
    """Central differences (C(p + eps) - C(p - eps)) / 2 eps for every parameter."""
    grads = []
    for p in weights + biases:
        g = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            keep = p[i]
            p[i] = keep + eps
            up = _cost(weights, biases, X, Y, activation, output_activation)
            p[i] = keep - eps
            down = _cost(weights, biases, X, Y, activation, output_activation)
            p[i] = keep
            g[i] = (up - down) / (2 * eps)
        grads.append(g)
    return grads


def relative_error(a, b):
    a = np.concatenate([x.ravel() for x in a])
    b = np.concatenate([x.ravel() for x in b])
    # Over the whole gradient vector: an elementwise ratio would blow up on entries
    # that are ~1e-10 and limited by the differences' rounding error, not by backprop.
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300))


def _problem(seed, sizes=SIZES, m=7):
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal((n_out, n_in)) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    biases = [rng.standard_normal((n, 1)) for n in sizes[1:]]
    X = rng.random((m, sizes[0]))                          # (m, n_0)
    Y = rng.random((m, sizes[-1]))                         # fractional targets: a general case
    return weights, biases, X, Y


def _check(seeds, activation, output_activation, wrong_activation, wrong_output=None):
    """Relative error of backprop vs finite differences: correct, and a negative control."""
    rows = []
    for seed in seeds:
        weights, biases, X, Y = _problem(seed)
        fd = finite_differences(weights, biases, X, Y, activation, output_activation)
        out = {}
        for label, act, outact in (("backprop", activation, output_activation),
                                   ("negative control", wrong_activation,
                                    wrong_output or output_activation)):
            zs, acts = backprop.feedforward(weights, biases, X, activation, output_activation)
            nb, nw = backprop.backward(weights, zs, acts, Y, QuadraticCost, act, outact)
            out[label] = relative_error(nw + nb, fd)
        rows.append({"seed": seed, **out})
        print(f"seed {seed}: backprop vs finite differences {out['backprop']:.1e}, "
              f"negative control {out['negative control']:.1e}")
    worst = max(r["backprop"] for r in rows)
    control = min(r["negative control"] for r in rows)
    passed = worst < TOLERANCE < control
    print(f"{'PASS' if passed else 'FAIL'}: worst {worst:.1e} < {TOLERANCE:g} < control {control:.1e}")
    return {"sizes": SIZES, "tolerance": TOLERANCE, "checks": rows, "worst": worst,
            "control_best": control, "passed": passed}


@chapter.experiment("f-neuron", "exercise 2.3: one hidden neuron uses f = tanh; backprop vs finite differences")
def f_neuron(ctx):
    seeds = [ctx.seed + i for i in range(ctx.pick(5, 2))]
    return _check(seeds, OneNeuronF(j=1), Sigmoid,
                  OneNeuronF(j=1, prime_of_j=Sigmoid.prime))   # control: sigma' at neuron j


def linear_backprop(weights, biases, X, Y):
    """Exercise 2.4 written out: with a = z everywhere, sigma'(z) = 1 drops out, so
    (BP1) delta^L = a^L - y and (BP2) delta^l = W^{l+1 T} delta^{l+1}; (BP3), (BP4) as before."""
    acts = [X]
    for w, b in zip(weights, biases):
        acts.append(acts[-1] @ w.T + b.T)                 # (FF) a^l = z^l, (m, n_l)
    m = len(X)
    delta = acts[-1] - Y                                  # (BP1) with sigma' = 1, (m, n_L)
    nabla_b, nabla_w = [None] * len(weights), [None] * len(weights)
    for l in range(len(weights) - 1, -1, -1):
        nabla_b[l] = delta.sum(axis=0)[:, None] / m       # (BP3)
        nabla_w[l] = delta.T @ acts[l] / m                # (BP4) (n_l, m) @ (m, n_{l-1})
        delta = delta @ weights[l]                        # (BP2) with sigma' = 1, (m, n_{l-1})
    return nabla_b, nabla_w


@chapter.experiment("linear", "exercise 2.4: linear neurons everywhere; backprop vs finite differences")
def linear(ctx):
    seeds = [ctx.seed + i for i in range(ctx.pick(5, 2))]
    result = _check(seeds, Identity, Identity, Sigmoid, Sigmoid)
    # The written-out form agrees with the general code run with Identity activations
    # (whose negative control keeps the sigmoid's sigma'(z) factors).
    worst = 0.0
    for seed in seeds:
        weights, biases, X, Y = _problem(seed)
        nb, nw = linear_backprop(weights, biases, X, Y)
        zs, acts = backprop.feedforward(weights, biases, X, Identity, Identity)
        gb, gw = backprop.backward(weights, zs, acts, Y, QuadraticCost, Identity, Identity)
        worst = max(worst, relative_error(nw + nb, gw + gb))
    print(f"written-out linear backprop vs general backprop: {worst:.1e}")
    result["written_out_vs_general"] = worst
    result["passed"] = result["passed"] and worst < 1e-12
    return result


@chapter.plotter("f-neuron")
@chapter.plotter("linear")
def plot_check(result, out):
    labels, values = [], []
    for row in result["checks"]:
        labels += [f"seed {row['seed']}", f"control {row['seed']}"]
        values += [row["backprop"], row["negative control"]]
    return [plots.bar_plot(out / f"{result['experiment']}.png", labels, values,
                              f"{result['title']}\n(max relative error, tolerance {result['tolerance']:g})",
                              "relative error", annotate="{:.0e}", log=True)]


# ---- problem 2.1: the Sigma'(z) matrix form ---------------------------------------------

def deltas_matrix_form(weights, biases, x, y):
    """delta^l for one example (column vectors) with Sigma'(z) = diag(sigma'(z)):
    (BP1) delta^L = Sigma'(z^L) grad_a C, (BP2) delta^l = Sigma'(z^l) (W^{l+1})^T delta^{l+1},
    and the product form delta^l = Sigma'(z^l) W^{l+1 T} ... Sigma'(z^{L-1}) W^{L T} Sigma'(z^L) grad_a C."""
    a, zs = x, []
    for w, b in zip(weights, biases):
        z = w @ a + b                                     # (FF) (n_out, n_in) @ (n_in, 1)
        zs.append(z)
        a = Sigmoid.fn(z)
    grad_a = a - y                                        # (QUAD) dC/da^L, (n_L, 1)
    sigma_p = [np.diag(Sigmoid.prime(z).ravel()) for z in zs]   # Sigma'(z^l), (n_l, n_l)
    deltas = [None] * len(zs)
    deltas[-1] = sigma_p[-1] @ grad_a                     # (BP1) in matrix form
    for l in range(len(zs) - 2, -1, -1):
        deltas[l] = sigma_p[l] @ weights[l + 1].T @ deltas[l + 1]   # (BP2) in matrix form
    products = []
    for l in range(len(zs)):
        M = np.eye(len(zs[l]))
        for k in range(l, len(zs) - 1):
            M = M @ sigma_p[k] @ weights[k + 1].T         # (n_l, n_{k+1})
        products.append(M @ sigma_p[-1] @ grad_a)         # the product formula for delta^l
    return deltas, products


@chapter.experiment("sigma-matrix", "problem 2.1: BP1/BP2 with diagonal Sigma'(z) matrices vs the elementwise form")
def sigma_matrix(ctx):
    rows = []
    for seed in [ctx.seed + i for i in range(ctx.pick(5, 2))]:
        weights, biases, X, Y = _problem(seed)
        zs, acts = backprop.feedforward(weights, biases, X, Sigmoid, Sigmoid)
        # Elementwise deltas per example: nabla_b of a one-example batch is delta itself (BP3).
        worst_rec = worst_prod = 0.0
        for i in range(len(X)):
            zs1, acts1 = backprop.feedforward(weights, biases, X[i:i + 1], Sigmoid, Sigmoid)
            elementwise, _ = backprop.backward(weights, zs1, acts1, Y[i:i + 1], QuadraticCost,
                                               Sigmoid, Sigmoid)
            rec, prod = deltas_matrix_form(weights, biases, X[i][:, None], Y[i][:, None])
            worst_rec = max(worst_rec, max(float(np.max(np.abs(r - e))) for r, e in zip(rec, elementwise)))
            worst_prod = max(worst_prod, max(float(np.max(np.abs(p - e))) for p, e in zip(prod, elementwise)))
        rows.append({"seed": seed, "recursive": worst_rec, "product": worst_prod})
        print(f"seed {seed}: max |matrix form - elementwise| = {worst_rec:.1e} (recursive), "
              f"{worst_prod:.1e} (product formula)")
    worst = max(max(r["recursive"], r["product"]) for r in rows)
    print(f"{'PASS' if worst < 1e-12 else 'FAIL'}: worst difference {worst:.1e} (float64)")
    return {"sizes": SIZES, "checks": rows, "worst": worst, "passed": worst < 1e-12}


if __name__ == "__main__":
    raise SystemExit(chapter.main())
