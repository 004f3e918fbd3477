"""The seed's latent-space experiment: a 3-neuron bottleneck watched while it learns.

A [784,10,3,10] sigmoid network with the quadratic cost, mini-batch 20, 50
epochs (REFERENCE.md section 5).  Before the first epoch and after every epoch
the three activations of the 3-unit layer are recorded for every training
image, with the validation accuracy.  The figure is a rotating 3-D scatter of
digits 0, 4 and 9 in the unit cube, one frame per epoch (the last frame after
the last epoch): the classes move towards corners of the cube, 4 and 9 overlap.

    python chapters/seed_latent.py [latent] [--quick] [--seed S] [--out DIR]

The seed trained with PyTorch; here the network starts from N(0, 1/n_in) weights
(closest to PyTorch's small uniform ones) and eta is 6.0: at the book's 3.0 the
3-unit bottleneck stalls near 82-83% validation accuracy for 20 epochs and more
(measured, seed 12345678), at 6.0 it reaches the seed's ~89%.

Deliberately left out: the seed's PyTorch initialisation itself.
"""

import numpy as np

import common
from network import plots

chapter = common.Chapter("seed_latent", __doc__.split("\n")[0])
SIZES = [784, 10, 3, 10]
ETA = 6.0
MB = 20
DIGITS = (0, 4, 9)
PER_DIGIT = 300      # points per digit drawn in the animation (all are saved)


def bottleneck(net, X):
    """The 3-unit layer's activations (n, 3) for the rows of X (uint8 pixels)."""
    a = X.astype(net.dtype) / 255.0
    for w, b in zip(net.weights[:2], net.biases[:2]):
        a = net.activation.fn(a @ w.T + b.T)        # (FF) (n, n_in) @ (n_in, n_out)
    return a


@chapter.experiment("latent", "[784,10,3,10], quadratic, eta 6.0, mb 20, 50 epochs: the 3-unit layer per epoch (val)")
def latent(ctx):
    training, validation, _ = ctx.data()
    X, y = training
    net = ctx.network(SIZES, cost="quadratic", init="default")
    frames = [bottleneck(net, X).astype(np.float16)]            # before the first epoch
    start_acc = common.accuracy(net, validation)

    def record(net, _record):
        frames.append(bottleneck(net, X).astype(np.float16))

    run = ctx.train(net, training, ctx.pick(50, 3), MB, ETA, validation, eval_name="validation",
                    callbacks=[record])
    run["accuracy_before_training"] = start_acc
    ctx.save_npz(points=np.stack(frames), labels=y.astype(np.uint8))   # (epochs + 1, n, 3)
    print(f"validation accuracy {start_acc:.2%} before training, {run['final']:.2%} after "
          f"{run['epochs_run']} epochs")
    corners = {}
    final = frames[-1].astype(np.float64)
    for d in range(10):
        corners[d] = np.round(final[y == d].mean(axis=0), 3).tolist()   # class centre in the cube
    return {"runs": {"[784,10,3,10]": run}, "class_means": corners,
            "seed_reference": {"start": 0.11, "final": 0.89}}


@chapter.plotter("latent")
def plot_latent(result, out):
    with np.load(out / "latent.npz", allow_pickle=False) as f:
        points, labels = f["points"].astype(np.float32), f["labels"]
    rng = np.random.default_rng(0)
    keep = np.concatenate([rng.permutation(np.flatnonzero(labels == d))[:PER_DIGIT] for d in DIGITS])
    run = result["runs"]["[784,10,3,10]"]
    accs = [run["accuracy_before_training"]] + run["accuracy"]
    titles = [f"epoch {t} (before training)" if t == 0 else f"after epoch {t}: val {a:.1%}"
              for t, a in enumerate(accs)]
    figures = [plots.latent_scatter_gif(out / "latent.gif", points[:, keep], labels[keep],
                                           DIGITS, titles)]
    figures.append(plots.scatter3d(out / "latent-final.png", points[-1, keep], labels[keep],
                                      DIGITS, titles[-1]))
    figures.append(plots.line_plot(out / "latent-accuracy.png",
                                      {"[784,10,3,10]": {"x": list(range(len(accs))), "y": common.percents(accs)}},
                                      "[784,10,3,10]: validation accuracy",
                                      xlabel="epochs trained", ylabel="validation accuracy (%)",
                                      markers=True))
    return figures


if __name__ == "__main__":
    raise SystemExit(chapter.main())
