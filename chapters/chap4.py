"""Chapter 4: a visual proof that neural nets can compute any function, as weights.

Experiments (closed-form constructions from network/mlp/universality.py, then one
small training run):

- ``bumps-1d``: the chapter's f(x) = 0.2 + 0.4x^2 + 0.3x sin(15x) + 0.05 cos(50x)
  approximated by n bumps of steep sigmoid pairs, by ReLU ramps, and by ReLU
  piecewise-linear interpolation; max error against the number of hidden units;
- ``towers-2d``: a 2-D function approximated by n^2 towers (two hidden layers),
  sigmoid and ReLU; error against the number of hidden units;
- ``linear``: a deep network of linear neurons trained on x^2 ends at the best
  affine fit (1/3 on [-1, 1]), while a small sigmoid network fits it.

    python chapters/chap4.py [EXPERIMENT ...] [--list] [--quick] [--seed S] [--out DIR]

Deliberately left out: learning the bump weights by gradient descent.
"""

import numpy as np

import common
from network import Network
from network import plots
from network.mlp import universality as U

chapter = common.Chapter("chap4", __doc__.split("\n")[0])


def f1(x):
    """The chapter's example function on [0, 1]."""
    return 0.2 + 0.4 * x ** 2 + 0.3 * x * np.sin(15 * x) + 0.05 * np.cos(50 * x)


def f2(x, y):
    """A smooth 2-D example on [0, 1]^2."""
    return 0.5 + 0.25 * np.sin(4 * x) * np.cos(3 * y) + 0.15 * x * y


@chapter.experiment("bumps-1d", "1-D: n bumps of sigmoid pairs / ReLU ramps, ReLU interpolation")
def bumps_1d(ctx):
    ns = ctx.pick([5, 10, 20, 40, 80, 160, 320], [5, 10, 20])
    grid = np.linspace(0, 1, 4001)[:, None]
    families = {
        "sigmoid bumps": (lambda n: U.bump_network(f1, n, activation="sigmoid"), 2),
        "ReLU ramp bumps": (lambda n: U.bump_network(f1, n, activation="relu"), 4),
        "ReLU interpolation": (lambda n: U.relu_interpolation_network(f1, n), 1),
    }
    errors, fits = {}, {}
    x = np.linspace(0, 1, 801)
    for name, (build, units_per_n) in families.items():
        errors[name] = {"x": [units_per_n * n for n in ns], "n": ns,
                        "y": [U.max_error(build(n), f1, grid) for n in ns]}
        fits[f"{name}, n = 10"] = build(10).feedforward(x[:, None])[:, 0]
    # error * units is about constant for bumps (O(1/n)); error * units^2 for interpolation
    return {"errors": errors, "x": x, "target": f1(x), "fits": fits}


@chapter.plotter("bumps-1d")
def plot_bumps(result, out):
    return [plots.function_fits(out / "bumps-1d.png", result["x"], result["target"],
                                result["fits"], "chapter 4: f(x) from bumps", result["errors"])]


def _outside_windows(grid, n, k, width=5.0):
    """Points farther than width/k from every interior bump edge (the failure windows)."""
    edges = np.linspace(0, 1, n + 1)[1:-1]
    if len(edges) == 0:
        return np.ones(len(grid), bool)
    d = np.min(np.abs(grid[:, :, None] - edges[None, None, :]), axis=2)   # (m, 2)
    return np.all(d > width / k, axis=1)


@chapter.experiment("towers-2d", "2-D: n^2 towers from bumps in x and y, sigmoid and ReLU")
def towers_2d(ctx):
    ns = ctx.pick([2, 4, 8, 16], [2, 4])
    g = np.linspace(0, 1, ctx.pick(101, 41))
    xx, yy = np.meshgrid(g, g)
    grid = np.c_[xx.ravel(), yy.ravel()]
    target = f2(*grid.T)
    errors, surfaces = {}, {"f(x, y)": target.reshape(xx.shape)}
    for act, per in (("sigmoid", (4, 1)), ("relu", (8, 2))):
        units, max_out, mean_all = [], [], []
        for n in ns:
            net = U.tower_network(f2, n, activation=act)
            approx = net.feedforward(grid)[:, 0]
            keep = _outside_windows(grid, n, 200.0 * n)
            units.append(per[0] * n + per[1] * n * n)
            max_out.append(float(np.max(np.abs(approx - target)[keep])))
            mean_all.append(float(np.mean(np.abs(approx - target))))
            if n == ns[-2]:
                surfaces[f"{act} towers, n = {n}"] = approx.reshape(xx.shape)
        errors[f"{act}: max outside failure windows"] = {"x": units, "n": ns, "y": max_out}
        errors[f"{act}: mean everywhere"] = {"x": units, "n": ns, "y": mean_all}
    return {"errors": errors, "x": xx, "y": yy, "surfaces": surfaces}


@chapter.plotter("towers-2d")
def plot_towers(result, out):
    grids = {k: (result["x"], result["y"], v) for k, v in result["surfaces"].items()}
    return [plots.surfaces(out / "towers-2d.png", grids, "chapter 4: towers"),
            plots.accuracy_curves(out / "towers-2d-error.png",
                                  result["errors"], "chapter 4: tower error",
                                  ylabel="|error|")]


@chapter.experiment("linear", "linear neurons cannot represent x^2; a sigmoid hidden layer can")
def linear(ctx):
    rng = np.random.default_rng(ctx.seed)
    X = rng.uniform(-1, 1, (2000, 1))
    Y = X ** 2
    grid = np.linspace(-1, 1, 201)[:, None]
    epochs = ctx.pick(300, 40)
    out = {}
    for name, act in (("linear [1,10,10,1]", "identity"), ("sigmoid [1,10,10,1]", "sigmoid")):
        net = Network([1, 10, 10, 1], cost="quadratic", activation=act,
                      output_activation="identity", seed=ctx.seed)
        net.SGD((X, Y), epochs, 20, 0.1 if act == "sigmoid" else 0.02, verbose=False)
        mse = float(np.mean((net.feedforward(grid) - grid ** 2) ** 2))
        out[name] = {"mse": mse, "fit": net.feedforward(grid)[:, 0]}
        if act == "identity":
            W, b = U.effective_affine_map(net)
            out[name].update(slope=float(W[0, 0]), intercept=float(b[0, 0]))
    best = float(np.mean((grid[:, 0] ** 2 - 1 / 3) ** 2))  # on the grid; 4/45 on [-1, 1]
    return {"epochs": epochs, "best_affine_mse": best, "best_affine_mse_exact": 4 / 45,
            "nets": out, "x": grid[:, 0]}


@chapter.plotter("linear")
def plot_linear(result, out):
    fits = {f"{k} (mse {v['mse']:.4f})": v["fit"] for k, v in result["nets"].items()}
    x = np.array(result["x"])
    return [plots.function_fits(out / "linear.png", x, x ** 2, fits,
                                "chapter 4: x^2 with linear and sigmoid neurons")]


if __name__ == "__main__":
    raise SystemExit(chapter.main())
