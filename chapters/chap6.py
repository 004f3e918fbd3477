"""Chapter 6: convolutional networks on MNIST, in NumPy and numba (network3.py's experiments).

The book's ladder of networks (REFERENCE.md section 2), each trained by
mini-batch SGD (mini-batch 10) on the log-likelihood cost with a softmax output,
scored on the validation and test images after every epoch:

- ``fc100``: one fully connected hidden layer of 100 sigmoid neurons (97.80%);
- ``conv1``: conv 20x5x5 + 2x2 max-pool, FC100 (98.78%);
- ``conv2``: two conv-pool layers (20 then 40 maps), FC100 (99.06%);
- ``relu``: the same with ReLU, eta 0.03, lambda 0.1 (99.23%);
- ``expanded``: ``relu`` trained on the 250,000-image expanded set (book 99.37%);
- ``on-the-fly``: ``relu`` with the expansion drawn afresh every epoch: each
  image shifted one pixel (or not) at random (problem 6.7);
- chapter problems: ``no-fc`` (drop the fully connected layer), ``tanh`` (tanh
  instead of sigmoid), ``save-load`` (a trained net through .json and .npz).

The book trains 60 epochs.  ``--epochs N`` and ``--minutes M`` cap a run (the
cap is recorded in the result); the defaults are the book's 60 epochs and no cap.
``--threads T`` trains and scores on T cores (default: all of them); the
numbers do not depend on it, only the minutes do.

    python chapters/chap6.py [EXPERIMENT ...] [--list] [--quick] [--seed S] [--out DIR]
                             [--epochs N] [--minutes M] [--threads T]

Deliberately left out: the book's final ensemble of five networks and the
dropout-on-FC1000 networks (hours of CPU time each here).
"""

import argparse
import sys
import time

import numpy as np

import common
from network import plots
from network.conv import ConvNetwork, ConvPoolLayer, FullyConnectedLayer, SoftmaxLayer
from network.base.jit import max_threads
from network.conv import load_conv_network
from network.data.expansion import expand, random_shifts

chapter = common.Chapter("chap6", __doc__.split("\n")[0])
MB = 10
QUICK_TRAIN = 2000          # --quick: a 2,000-image slice, one epoch per network,
QUICK_EVAL = 1000           # scored on 1,000 validation and 1,000 test images
BUDGET = {"epochs": 60, "minutes": None, "threads": None}   # from --epochs / --minutes / --threads


# ---- the networks ---------------------------------------------------------------------

def fc100(act="sigmoid"):
    return [FullyConnectedLayer(784, 100, act), SoftmaxLayer(100, 10)]


def conv1(act="sigmoid"):
    return [ConvPoolLayer((20, 1, 5, 5), (1, 28, 28), 2, act),     # -> 12x12x20
            FullyConnectedLayer(20 * 12 * 12, 100, act), SoftmaxLayer(100, 10)]


def conv2(act="sigmoid", fc=True):
    layers = [ConvPoolLayer((20, 1, 5, 5), (1, 28, 28), 2, act),    # -> 12x12x20
              ConvPoolLayer((40, 20, 5, 5), (20, 12, 12), 2, act)]  # -> 4x4x40
    if fc:
        return layers + [FullyConnectedLayer(40 * 4 * 4, 100, act), SoftmaxLayer(100, 10)]
    return layers + [SoftmaxLayer(40 * 4 * 4, 10)]


def describe(layers):
    return [layer.config() for layer in layers]


def _budget_callback(minutes):
    """Stop before the next epoch would run past ``minutes`` of wall time."""
    start = time.perf_counter()

    def cb(net, record):
        if minutes is None:
            return False
        elapsed = time.perf_counter() - start
        return elapsed + record["seconds"] + record.get("eval_seconds", 0) > 60 * minutes
    return cb


def _train(ctx, layers, eta, lmbda=0.0, expanded=False, quick_epochs=1, augment=None):
    """Train one network; return (network, JSON-ready run summary)."""
    training, validation, test = ctx.data(n_train=QUICK_TRAIN if ctx.quick else None)
    if ctx.quick:
        validation, test = ([a[:QUICK_EVAL] for a in pair] for pair in (validation, test))
    if expanded:
        if ctx.quick:
            training = (training[0][:400], training[1][:400])     # 2,000 once expanded
        training = expand(*training)
    net = ConvNetwork(layers, seed=ctx.seed, threads=BUDGET["threads"])
    epochs = ctx.pick(BUDGET["epochs"], quick_epochs)
    minutes = None if ctx.quick else BUDGET["minutes"]
    start = time.perf_counter()
    net.SGD(training, epochs, MB, eta, validation_data=validation, test_data=test,
            lmbda=lmbda, callbacks=[_budget_callback(minutes)], augment=augment)
    seconds = time.perf_counter() - start
    h = net.history
    val = [100 * r["validation_accuracy"] for r in h]
    tst = [100 * r["test_accuracy"] for r in h]
    best = int(np.argmax(val))                    # network3's rule: test at the best validation
    run = {"layers": describe(layers), "eta": eta, "lmbda": lmbda, "mini_batch_size": MB,
           "n_train": len(training[1]), "epochs": epochs, "minutes_cap": minutes,
           "threads": net.threads or max_threads(),
           "epochs_run": len(h), "seconds": round(seconds, 1),
           "seconds_per_epoch_train": round(float(np.mean([r["seconds"] for r in h])), 2),
           "seconds_per_epoch_total": round(seconds / max(len(h), 1), 2),
           "validation": val, "test": tst, "best_validation": val[best],
           "best_epoch": best, "test_at_best_validation": tst[best], "best_test": max(tst),
           "final_test": tst[-1]}
    print(f"   best validation {val[best]:.2f}% at epoch {best}, test then {tst[best]:.2f}%; "
          f"{run['seconds_per_epoch_train']} s/epoch training", flush=True)
    return net, run


def _save_model(ctx, net):
    path = ctx.path(".model.npz")
    net.save(path)
    return path.name


@chapter.experiment("fc100", "FC100 sigmoid + softmax, eta 0.1 (book: 97.80%)")
def exp_fc100(ctx):
    net, run = _train(ctx, fc100(), 0.1, quick_epochs=2)
    return {"run": run, "book": 97.80}


@chapter.experiment("conv1", "conv 20x5x5 + pool, FC100, sigmoid, eta 0.1 (book: 98.78%)")
def exp_conv1(ctx):
    net, run = _train(ctx, conv1(), 0.1)
    return {"run": run, "book": 98.78, "model": _save_model(ctx, net)}


@chapter.experiment("conv2", "two conv-pool layers, FC100, sigmoid, eta 0.1 (book: 99.06%)")
def exp_conv2(ctx):
    net, run = _train(ctx, conv2(), 0.1)
    return {"run": run, "book": 99.06}


@chapter.experiment("relu", "two conv-pool layers, ReLU, eta 0.03, lambda 0.1 (book: 99.23%)")
def exp_relu(ctx):
    net, run = _train(ctx, conv2("relu"), 0.03, lmbda=0.1)
    return {"run": run, "book": 99.23, "model": _save_model(ctx, net)}


@chapter.experiment("expanded", "relu on the expanded data, 250,000 images (book: 99.37%)")
def exp_expanded(ctx):
    net, run = _train(ctx, conv2("relu"), 0.03, lmbda=0.1, expanded=True)
    return {"run": run, "book": 99.37}


@chapter.experiment("on-the-fly", "problem 6.7: relu with a fresh random one-pixel shift of "
                                  "every image every epoch (50,000 a epoch)")
def exp_on_the_fly(ctx):
    net, run = _train(ctx, conv2("relu"), 0.03, lmbda=0.1, augment=random_shifts)
    return {"run": run, "book": None}


@chapter.experiment("no-fc", "problem: two ReLU conv-pool layers straight into softmax")
def exp_no_fc(ctx):
    net, run = _train(ctx, conv2("relu", fc=False), 0.03, lmbda=0.1)
    return {"run": run, "book": None}


@chapter.experiment("tanh", "problem: two conv-pool layers with tanh instead of sigmoid, eta 0.1")
def exp_tanh(ctx):
    net, run = _train(ctx, conv2("tanh"), 0.1)
    return {"run": run, "book": None}


@chapter.experiment("save-load", "problem: a trained conv1 net through .json and .npz, same outputs")
def exp_save_load(ctx):
    (Xtr, ytr), _, (Xte, yte) = ctx.data()
    net = ConvNetwork(conv1(), seed=ctx.seed, threads=BUDGET["threads"])
    n = ctx.pick(5000, 1000)
    net.SGD((Xtr[:n], ytr[:n]), 1, MB, 0.1, verbose=False)
    out = {}
    for suffix in (".json", ".npz"):
        path = ctx.path(f".model{suffix}")
        net.save(path)
        back = load_conv_network(path)
        diff = float(np.max(np.abs(back.feedforward(Xte[:1000]) - net.feedforward(Xte[:1000]))))
        out[suffix] = {"bytes": path.stat().st_size, "max_output_difference": diff,
                       "same_accuracy": back.accuracy((Xte, yte)) == net.accuracy((Xte, yte))}
    return {"formats": out}


# ---- figures, from the saved results only ---------------------------------------------

RUNS = ["fc100", "conv1", "conv2", "relu", "expanded", "on-the-fly", "no-fc", "tanh"]


def _plot_run(result, out):
    run = result["run"]
    curves = {"validation": run["validation"], "test": run["test"]}
    hl = {f"book {result['book']}%": result["book"]} if result.get("book") else None
    return [plots.accuracy_curves(out / f"{result['experiment']}.png", curves,
                                  f"chapter 6: {result['title']}", hlines=hl)]


for _name in RUNS:
    chapter.plotter(_name)(_plot_run)


@chapter.plotter("conv1")
def plot_conv1(result, out):
    figures = _plot_run(result, out)
    net = load_conv_network(out / result["model"])
    figures.append(plots.filters(out / "conv1-filters.png", net.layers[0].w[:, 0],
                                 "conv1: the 20 learned 5x5 filters"))
    return figures


def _add_budget_options(parser):
    parser.add_argument("--epochs", type=int, default=60,
                        help="epochs per network (default 60, the book's)")
    parser.add_argument("--minutes", type=float, default=None,
                        help="stop a network before an epoch would end past this many minutes")
    parser.add_argument("--threads", type=int, default=None,
                        help=f"cores to train on (default: all, here {max_threads()}); "
                             f"the results do not depend on it")
    return parser


_common_parser = chapter.parser
chapter.parser = lambda: _add_budget_options(_common_parser())   # --help lists them too


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    known, _ = _add_budget_options(argparse.ArgumentParser(add_help=False)).parse_known_args(argv)
    if known.epochs < 1 or (known.minutes is not None and known.minutes <= 0):
        print("chap6: --epochs and --minutes must be positive", file=sys.stderr)
        return 2
    if known.threads is not None and not 1 <= known.threads <= max_threads():
        print(f"chap6: --threads must be from 1 to {max_threads()} (the cores numba may use), "
              f"got {known.threads}", file=sys.stderr)
        return 2
    BUDGET.update(epochs=known.epochs, minutes=known.minutes, threads=known.threads)
    return chapter.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
