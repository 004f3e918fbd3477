"""Chapter 5: why are deep neural networks hard to train? Gradients that vanish with depth.

Experiments (REFERENCE.md section 2; cross-entropy, weights N(0, 1/n_in)):

- ``grad-norms``: the norm of delta^l = dC/db^l for each hidden layer, at
  initialisation and after every epoch of full-batch training on the first
  1,000 training images (eta 0.1, lambda 5, 500 epochs), for 2, 3 and 4 hidden
  layers of 30; the book's initial norms are 0.07, 0.31 / 0.012, 0.060, 0.283 /
  0.003, 0.017, 0.070, 0.285.  Initial norms are also averaged over 10 seeds.
- ``depth``: validation accuracy of [784,30,10] up to four hidden layers of 30
  (eta 0.1, lambda 5, mini-batch 10, 30 epochs; book 96.48 / 96.90 / 96.57 / 96.53).
- ``interval``: the problem on |w sigma'(wa + b)| >= 1: the width of the set of
  inputs a where it holds, by formula and by counting, maximal ~0.45 at |w| ~ 6.9.
- ``identity``: the identity-neuron problem, w2 sigma(w1 x + b) + b2 -> x as w1 -> 0.

    python chapters/chap5.py [EXPERIMENT ...] [--list] [--quick] [--seed S] [--out DIR]
"""

import numpy as np

import common
from network import Network
from network import plots
from network.base.activations import Sigmoid

chapter = common.Chapter("chap5", __doc__.split("\n")[0])

BOOK_NORMS = {2: [0.07, 0.31], 3: [0.012, 0.060, 0.283], 4: [0.003, 0.017, 0.070, 0.285]}
BOOK_DEPTH = {1: 0.9648, 2: 0.9690, 3: 0.9657, 4: 0.9653}


def hidden_gradient_norms(net, data):
    """(VANISH) ||delta^l|| = ||dC/db^l|| for each hidden layer l, first to last, on ``data``
    (the mean-cost gradient: the book's "speed of learning" of layer l)."""
    nabla_b, _ = net.cost_gradient(data)
    return [float(np.linalg.norm(g)) for g in nabla_b[:-1]]


@chapter.experiment("grad-norms", "||delta^l|| per hidden layer over 500 full-batch epochs (1,000 images)")
def grad_norms(ctx):
    (X, y), _, _ = ctx.data(n_train=1000)
    X = X[:1000].astype(np.float64) / 255
    y = y[:1000]
    epochs = ctx.pick(500, 30)
    nets, initial = {}, {}
    for depth in (2, 3, 4):
        sizes = [784] + [30] * depth + [10]
        seeds = [hidden_gradient_norms(Network(sizes, seed=ctx.seed + s), (X, y))
                 for s in range(ctx.pick(10, 3))]
        initial[depth] = {"mean": np.mean(seeds, axis=0), "min": np.min(seeds, axis=0),
                          "max": np.max(seeds, axis=0), "book": BOOK_NORMS[depth]}
        net = Network(sizes, seed=ctx.seed)
        norms = [hidden_gradient_norms(net, (X, y))]
        net.SGD((X, y), epochs, len(y), 0.1, lmbda=5.0, verbose=False,
                callbacks=[lambda n, r: norms.append(hidden_gradient_norms(n, (X, y))) and False])
        nets[depth] = {"sizes": sizes, "norms": norms, "accuracy_on_training":
                       net.accuracy((X, y)) / len(y)}
        print(f"   {depth} hidden: initial {np.round(norms[0], 4).tolist()} "
              f"(book {BOOK_NORMS[depth]}), after {epochs} epochs "
              f"{np.round(norms[-1], 4).tolist()}", flush=True)
    return {"epochs": epochs, "nets": nets, "initial_over_seeds": initial}


@chapter.plotter("grad-norms")
def plot_grad_norms(result, out):
    panels = {}
    for depth, r in result["nets"].items():
        norms = np.array(r["norms"])
        panels[f"{depth} hidden layers"] = {f"hidden layer {l + 1}": norms[:, l].tolist()
                                            for l in range(norms.shape[1])}
    return [plots.gradient_norms(out / "grad-norms.png", panels,
                                 "chapter 5: speed of learning per hidden layer")]


@chapter.experiment("depth", "validation accuracy with 1-4 hidden layers of 30 (book 96.48/96.90/96.57/96.53)")
def depth(ctx):
    training, validation, _ = ctx.data()
    runs = {}
    for hidden in (1, 2, 3, 4):
        sizes = [784] + [30] * hidden + [10]
        net = ctx.network(sizes, cost="cross-entropy")
        runs[str(sizes)] = ctx.train(net, training, ctx.pick(30, 2), 10, 0.1, validation,
                                     eval_name="validation", lmbda=5.0)
        runs[str(sizes)]["book"] = BOOK_DEPTH[hidden]
    return {"runs": runs}


@chapter.plotter("depth")
def plot_depth(result, out):
    curves = {k: common.percents(v["accuracy"]) for k, v in result["runs"].items()}
    return [plots.accuracy_curves(out / "depth.png", curves,
                                  "chapter 5: validation accuracy by depth")]


def interval_width_formula(w):
    """(INTERVAL) width of {a : |w sigma'(w a + b)| >= 1} = (2/|w|) ln(|w|(1 + u)/2 - 1),
    u = sqrt(1 - 4/|w|); empty (0) for |w| < 4.  Independent of b (it only shifts the set)."""
    w = np.abs(np.asarray(w, dtype=float))
    u = np.sqrt(np.clip(1 - 4 / w, 0, None))
    with np.errstate(divide="ignore"):
        width = (2 / w) * np.log(np.maximum(w * (1 + u) / 2 - 1, 1e-300))
    return np.where(w >= 4, np.maximum(width, 0.0), 0.0)


def interval_width_counted(w, b=0.3, a_max=3.0, points=200_001):
    """The same width by counting grid points a where |w sigma'(w a + b)| >= 1."""
    a = np.linspace(-a_max, a_max, points)
    inside = np.abs(w * Sigmoid.prime(w * a + b)) >= 1
    return inside.sum() * (a[1] - a[0])


@chapter.experiment("interval", "problem: where |w sigma'(wa+b)| >= 1; max width ~0.45 at |w| ~ 6.9")
def interval(ctx):
    ws = np.linspace(3.5, 30, ctx.pick(2651, 266))
    formula = interval_width_formula(ws)
    best = int(np.argmax(formula))
    checks = [4.5, 6.9, 10.0, 20.0]
    counted = {str(w): {"formula": float(interval_width_formula(w)),
                        "counted": float(interval_width_counted(w))} for w in checks}
    return {"w": ws, "width": formula, "best_w": float(ws[best]),
            "best_width": float(formula[best]), "checks": counted}


@chapter.plotter("interval")
def plot_interval(result, out):
    return [plots.interval_width(out / "interval.png", result["w"], result["width"],
                                 "chapter 5: width of {a : |w sigma'(wa+b)| >= 1}",
                                 best=(result["best_w"], result["best_width"]))]


def identity_neuron(x, w1):
    """(IDENTITY) with b = -w1/2, w2 = 4/w1, b2 = 1/2 - 2/w1:
    w2 sigma(w1 x + b) + b2 = x - w1^2 (x - 1/2)^3 / 12 + O(w1^4)."""
    return (4 / w1) * Sigmoid.fn(w1 * x - w1 / 2) + 0.5 - 2 / w1


@chapter.experiment("identity", "problem: a sigmoid neuron as an identity on [0, 1]")
def identity(ctx):
    x = np.linspace(0, 1, 1001)
    w1s = [2.0, 1.0, 0.5, 0.25, 0.1, 0.05]
    errs = [float(np.max(np.abs(identity_neuron(x, w) - x))) for w in w1s]
    return {"w1": w1s, "max_error": errs, "predicted": [w * w / 96 for w in w1s]}


if __name__ == "__main__":
    raise SystemExit(chapter.main())
