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
  image shifted one pixel (or not) at random (problem 6.8);
- ``distortions``: ``relu`` with each image rotated (up to 10 degrees), skewed
  (shear up to 0.2) and shifted one pixel (or not) at random every epoch (problem 6.8);
- the chapter's other questions: ``no-fc`` (exercise 6.2: conv1's conv-pool layer
  straight into the softmax layer), ``no-fc-relu`` (the same question on ``relu``),
  ``tanh`` (problem 6.3: conv2 with tanh), ``tanh-eta`` (problem 6.3's trial: the
  sigmoid network at larger learning rates, and started from the tanh network's
  rescaled weights), ``save-load`` (problem 6.9), ``overfitting`` (problem 6.10: the
  diagnostics, on ``relu`` trained on 1,000 images, without and with L2).

L2 regularisation.  The book's lambda is network3's: network3 adds
0.5 * lmbda * sum(w^2) / num_training_batches to the mean mini-batch cost, i.e.
lambda m / (2n) sum w^2 (L2-NETWORK3).  The library keeps network2's convention,
lambda / (2n) sum w^2, so ``--l2 network3`` (the default) passes lambda * m, the
book's effective strength; ``--l2 network2`` passes the book's number as it is, ten
times weaker at mini-batch 10 (how this script ran before it had the option).

The book trains 60 epochs (``tanh-eta``'s runs: 20, the length the book asks for;
``overfitting``'s: 40 on 1,000 images).
``--epochs N`` and ``--minutes M`` cap a run (the cap is recorded in the result);
``--training-size N`` trains on the first N images, for short trials.
``--threads T`` trains and scores on T cores (default: all of them); the
numbers do not depend on it, only the minutes do.

    python chapters/chap6.py [EXPERIMENT ...] [--list] [--quick] [--seed S] [--out DIR]
                             [--epochs N] [--minutes M] [--l2 network3|network2]
                             [--training-size N] [--threads T]

Deliberately left out: the book's final ensemble of five networks and the
dropout-on-FC1000 networks (hours of CPU time each here).
"""

import argparse
import sys
import time

import numpy as np

import common
from network import plots
from network.base.jit import max_threads
from network.base.overfitting import overfitting_report
from network.base.regularization import network3_lmbda
from network.cli import options
from network.conv import ConvNetwork, ConvPoolLayer, FullyConnectedLayer, SoftmaxLayer
from network.conv import load_conv_network
from network.conv.layers import layer_from_config
from network.data.expansion import expand, random_distortions, random_shifts
from network.errors import TrainingDiverged

chapter = common.Chapter("chap6", __doc__.split("\n")[0])
MB = 10
QUICK_TRAIN = 2000          # --quick: a 2,000-image slice, one epoch per network,
QUICK_EVAL = 1000           # scored on 1,000 validation and 1,000 test images
BOOK_EPOCHS = 60
TRIAL_EPOCHS = 20           # problem 6.3: "train for 20 epochs instead of 60"
MAX_DEGREES, MAX_SKEW = 10.0, 0.2     # distortions: small, as problem 6.8 asks
OVERFIT_TRAIN = 1000        # problem 6.10: chapter 3's 1,000 images, on which nets overfit,
OVERFIT_EVAL = 5000         # scored on 5,000 validation images each epoch (of 10,000: time)
OVERFIT_EPOCHS = 40         # by when the relu net has long memorised its 1,000 images
L2_CONVENTIONS = ("network3", "network2")
SETTINGS = {"epochs": None, "minutes": None, "l2": "network3", "training_size": None,
            "threads": None}


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


def book_lmbda(lmbda):
    """The lmbda to give ConvNetwork (network2's convention) for the book's (network3's)
    ``lmbda``, as ``--l2`` says: network3's strength by default (L2-NETWORK3)."""
    return network3_lmbda(lmbda, MB) if SETTINGS["l2"] == "network3" else lmbda


def _train(ctx, layers, eta, lmbda=0.0, expanded=False, quick_epochs=1, augment=None,
           epochs=BOOK_EPOCHS, n_train=None, monitor=(), net=None, score_test=True,
           n_eval=None):
    """Train one network; return (network, JSON-ready run summary).  ``lmbda`` is the
    book's; ``n_train`` the number of training images (default: --training-size, or all);
    ``score_test=False`` skips the test set (diagnostics that need only validation);
    ``n_eval`` scores on the first n validation (and test) images only."""
    n_train = n_train or SETTINGS["training_size"]
    training, validation, test = ctx.data(n_train=min(n_train or QUICK_TRAIN, QUICK_TRAIN)
                                          if ctx.quick else n_train)
    if ctx.quick or n_eval:
        k = QUICK_EVAL if ctx.quick else n_eval
        validation, test = ([a[:k] for a in pair] for pair in (validation, test))
    if expanded:
        if ctx.quick:
            training = (training[0][:400], training[1][:400])     # 2,000 once expanded
        training = expand(*training)
    net = net or ConvNetwork(layers, seed=ctx.seed)
    net.threads = SETTINGS["threads"]
    epochs = ctx.pick(SETTINGS["epochs"] or epochs, quick_epochs)
    minutes = None if ctx.quick else SETTINGS["minutes"]
    passed = book_lmbda(lmbda)
    start = time.perf_counter()
    net.SGD(training, epochs, MB, eta, validation_data=validation,
            test_data=test if score_test else None,
            lmbda=passed, callbacks=[_budget_callback(minutes)], augment=augment,
            monitor=monitor, progress=not ctx.quiet)
    seconds = time.perf_counter() - start
    h = net.history
    val = [r["validation_accuracy"] for r in h]
    tst = [r["test_accuracy"] for r in h] if score_test else [float("nan")] * len(h)
    best = int(np.argmax(val))                    # network3's rule: test at the best validation
    run = {"layers": describe(net.layers), "eta": eta, "lmbda": lmbda,
           "l2_convention": SETTINGS["l2"], "lmbda_network2": passed, "mini_batch_size": MB,
           "n_train": len(training[1]), "n_validation": len(validation[1]), "epochs": epochs,
           "minutes_cap": minutes, "threads": net.threads or max_threads(),
           "epochs_run": len(h), "seconds": round(seconds, 1),
           "seconds_per_epoch_train": round(float(np.mean([r["seconds"] for r in h])), 2),
           "seconds_per_epoch_total": round(seconds / max(len(h), 1), 2),
           "validation": val, "test": tst, "best_validation": val[best],
           "best_epoch": best, "test_at_best_validation": tst[best], "best_test": max(tst),
           "final_test": tst[-1]}
    then = f", test then {tst[best]:.2%}" if score_test else ""
    print(f"   best validation {val[best]:.2%} at epoch {best}{then}; "
          f"{run['seconds_per_epoch_train']} s/epoch training", flush=True)
    return net, run


def first_epochs(run, k):
    """network3's rule over the first ``k`` epochs of a run: (best validation, its epoch,
    test then), and the first epoch whose validation accuracy reaches 98.5% and 99.0%."""
    val, tst = run["validation"][:k], run["test"][:k]
    best = int(np.argmax(val))
    reach = {f"{t:.1%}": next((e for e, v in enumerate(run["validation"]) if v >= t), None)
             for t in (0.985, 0.990)}
    return {"epochs": len(val), "best_validation": val[best], "best_epoch": best,
            "test_at_best_validation": tst[best], "first_epoch_reaching": reach}


def _save_model(ctx, net):
    path = ctx.path(".model.npz")
    net.save(path)
    return path.name


@chapter.experiment("fc100", "FC100 sigmoid + softmax, eta 0.1 (book: 97.80%)")
def exp_fc100(ctx):
    net, run = _train(ctx, fc100(), 0.1, quick_epochs=2)
    return {"run": run, "book": 0.9780}


@chapter.experiment("conv1", "conv 20x5x5 + pool, FC100, sigmoid, eta 0.1 (book: 98.78%)")
def exp_conv1(ctx):
    net, run = _train(ctx, conv1(), 0.1)
    return {"run": run, "book": 0.9878, "model": _save_model(ctx, net)}


@chapter.experiment("conv2", "two conv-pool layers, FC100, sigmoid, eta 0.1 (book: 99.06%)")
def exp_conv2(ctx):
    net, run = _train(ctx, conv2(), 0.1)
    return {"run": run, "book": 0.9906}


@chapter.experiment("relu", "two conv-pool layers, ReLU, eta 0.03, lambda 0.1 (book: 99.23%)")
def exp_relu(ctx):
    net, run = _train(ctx, conv2("relu"), 0.03, lmbda=0.1)
    return {"run": run, "book": 0.9923, "model": _save_model(ctx, net)}


@chapter.experiment("expanded", "relu on the expanded data, 250,000 images (book: 99.37%)")
def exp_expanded(ctx):
    net, run = _train(ctx, conv2("relu"), 0.03, lmbda=0.1, expanded=True)
    return {"run": run, "book": 0.9937}


@chapter.experiment("on-the-fly", "problem 6.8: relu with a fresh random one-pixel shift of "
                                  "every image every epoch (50,000 a epoch)")
def exp_on_the_fly(ctx):
    net, run = _train(ctx, conv2("relu"), 0.03, lmbda=0.1, augment=random_shifts)
    return {"run": run, "book": None}


def _distort(X, rng):
    return random_distortions(X, rng, MAX_DEGREES, MAX_SKEW)


@chapter.experiment("distortions", f"problem 6.8: relu with every image rotated (<= {MAX_DEGREES:g} "
                                   f"degrees), skewed (<= {MAX_SKEW:g}) and shifted one pixel at "
                                   f"random, afresh every epoch")
def exp_distortions(ctx):
    net, run = _train(ctx, conv2("relu"), 0.03, lmbda=0.1, augment=_distort)
    originals = ctx.data()[0][0][:8]                   # eight training images, one draw
    return {"run": run, "book": None, "max_degrees": MAX_DEGREES, "max_skew": MAX_SKEW,
            "examples": ctx.save_npz(".examples", original=originals, distorted=_distort(
                originals, np.random.default_rng(ctx.seed)))}


@chapter.experiment("no-fc", "exercise 6.2: conv1 without its FC layer (conv-pool straight into "
                             "softmax), sigmoid, eta 0.1")
def exp_no_fc(ctx):
    layers = [ConvPoolLayer((20, 1, 5, 5), (1, 28, 28), 2, "sigmoid"),   # -> 12x12x20
              SoftmaxLayer(20 * 12 * 12, 10)]
    net, run = _train(ctx, layers, 0.1)
    return {"run": run, "book": None, "compare_with": "conv1"}


@chapter.experiment("no-fc-relu", "exercise 6.2 on relu: two ReLU conv-pool layers straight into "
                                  "softmax, eta 0.03, lambda 0.1")
def exp_no_fc_relu(ctx):
    net, run = _train(ctx, conv2("relu", fc=False), 0.03, lmbda=0.1)
    return {"run": run, "book": None, "compare_with": "relu"}


@chapter.experiment("tanh", "problem 6.3: two conv-pool layers with tanh instead of sigmoid, "
                            "eta 0.1 (the book: 20 epochs, then on to 60)")
def exp_tanh(ctx):
    net, run = _train(ctx, conv2("tanh"), 0.1)
    return {"run": run, "book": None, "after_20_epochs": first_epochs(run, TRIAL_EPOCHS),
            "compare_with": "conv2"}


def sigmoid_twin(tanh_net, seed):
    """(TANH) a sigmoid ConvNetwork computing what ``tanh_net`` computes (notes/chap6.md,
    problem 6.3): tanh z = 2 sigma(2z) - 1, so each tanh layer's weights and biases are
    doubled, each following layer's weights doubled and its biases lowered by the sum of
    those weights (per filter for a conv layer)."""
    layers = [layer_from_config({**l.config(), **({"activation": "sigmoid"}
                                                  if "activation" in l.config() else {})})
              for l in tanh_net.layers]
    net = ConvNetwork(layers, seed=seed, dtype=tanh_net.dtype)
    for l, (src, dst) in enumerate(zip(tanh_net.layers, net.layers)):
        w, b = src.w.astype(np.float64), src.b.astype(np.float64)
        if l > 0:                                            # its input is a tanh layer's 2s - 1
            b = b - w.reshape(len(b), -1).sum(axis=1)
            w = 2 * w
        if l < len(net.layers) - 1:                          # a tanh layer: sigma sees 2z
            w, b = 2 * w, 2 * b
        dst.w, dst.b = w.astype(net.dtype), b.astype(net.dtype)
    return net


TANH_TRIAL = [("sigmoid", 0.2, False), ("sigmoid", 0.4, False), ("sigmoid", 0.8, False),
              ("sigmoid", 1.6, False), ("sigmoid, tanh's start rescaled", 0.1, True),
              ("sigmoid, tanh's start rescaled", 0.4, True)]


@chapter.experiment("tanh-eta", "problem 6.3's trial: conv2 with sigmoid at eta 0.2-1.6, and "
                                "started from the tanh net's weights rescaled, 20 epochs each")
def exp_tanh_eta(ctx):
    runs = {}
    for name, eta, rescaled in TANH_TRIAL:
        label = f"{name}, eta {eta:g}"
        print(f"   {label}", flush=True)
        net = sigmoid_twin(ConvNetwork(conv2("tanh"), seed=ctx.seed), ctx.seed) if rescaled \
            else None
        try:
            net, run = _train(ctx, conv2(), eta, epochs=TRIAL_EPOCHS, net=net,
                              n_train=ctx.pick(None, 500))      # --quick: six short runs
        except TrainingDiverged as exc:
            runs[label] = {"eta": eta, "diverged": str(exc)}
            print(f"   diverged: {exc}", flush=True)
            continue
        runs[label] = {**run, "summary": first_epochs(run, TRIAL_EPOCHS)}
    return {"runs": runs, "compare_with": ["conv2", "tanh"]}


@chapter.experiment("overfitting", "problem 6.10: diagnostics per epoch for relu on the first "
                                   "1,000 training images, lambda 0 and 0.1, 40 epochs, scored "
                                   "on 5,000 validation images")
def exp_overfitting(ctx):
    runs = {}
    for lmbda in (0.0, 0.1):
        print(f"   lambda {lmbda:g}", flush=True)
        net, run = _train(ctx, conv2("relu"), 0.03, lmbda=lmbda, quick_epochs=3,
                          n_train=ctx.pick(OVERFIT_TRAIN, 200), monitor=ConvNetwork.MONITORS,
                          score_test=False, epochs=OVERFIT_EPOCHS, n_eval=OVERFIT_EVAL)
        report = overfitting_report(net.history)
        print(f"   {report['summary']}", flush=True)
        runs[f"lambda {lmbda:g}"] = {"run": run, "report": report}
    return {"runs": runs}


@chapter.experiment("save-load", "problem 6.9: a trained conv1 net through .json and .npz, "
                                 "same outputs")
def exp_save_load(ctx):
    (Xtr, ytr), _, (Xte, yte) = ctx.data()
    net = ConvNetwork(conv1(), seed=ctx.seed, threads=SETTINGS["threads"])
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

RUNS = ["fc100", "conv1", "conv2", "relu", "expanded", "on-the-fly", "distortions", "no-fc",
        "no-fc-relu"]


def _plot_run(result, out):
    run = result["run"]
    curves = {"validation": common.percents(run["validation"]),
              "test": common.percents(run["test"])}
    hl = {f"book {result['book']:.2%}": 100 * result["book"]} if result.get("book") else None
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


@chapter.plotter("distortions")
def plot_distortions(result, out):
    figures = _plot_run(result, out)
    with np.load(out / result["examples"]) as d:
        images = np.stack([d["original"], d["distorted"]]).reshape(2, -1, 28, 28)
    figures.append(plots.image_grid(out / "distortions-examples.png", images,
                                    "problem 6.8: eight training images and one draw of "
                                    "their distortions", row_labels=["original", "distorted"]))
    return figures


def _saved_validation(out, name):
    """The validation curve (in percent) of another experiment's saved result in ``out``,
    if there and readable."""
    path = out / f"{name}.json"
    if not path.exists():
        return None
    saved = common.load_result(path, f"python chapters/chap6.py {name}")
    return common.percents(saved["run"]["validation"])


@chapter.plotter("tanh")
def plot_tanh(result, out):
    curves = {"tanh, eta 0.1: validation": common.percents(result["run"]["validation"])}
    sigmoid = _saved_validation(out, "conv2")
    if sigmoid:
        curves["sigmoid (conv2), eta 0.1: validation"] = sigmoid
    return [plots.accuracy_curves(out / "tanh.png", curves,
                                  "problem 6.3: tanh against sigmoid, two conv-pool layers + FC100",
                                  ylim=(97, 99.5))]


@chapter.plotter("tanh-eta")
def plot_tanh_eta(result, out):
    curves = {k: common.percents(r["validation"]) for k, r in result["runs"].items()
              if "validation" in r}
    for name, label in (("tanh", "tanh, eta 0.1"), ("conv2", "sigmoid, eta 0.1")):
        saved = _saved_validation(out, name)
        if saved:
            curves[label] = saved[:TRIAL_EPOCHS]
    return [plots.accuracy_curves(out / "tanh-eta.png", curves,
                                  "problem 6.3: can the sigmoid network learn as fast? "
                                  "(validation)", ylim=(95, 99.5))]


@chapter.plotter("overfitting")
def plot_overfitting(result, out):
    reports = {k: r["report"] for k, r in result["runs"].items()}
    n = next(iter(result["runs"].values()))["run"]["n_train"]
    n_val = next(iter(result["runs"].values()))["run"]["n_validation"]
    return [plots.overfitting(out / "overfitting.png", reports,
                              f"problem 6.10: relu network trained on {n:,} images, evaluated "
                              f"on {n_val:,} validation images (costs include the L2 term)")]


def _training_size(text):
    """--training-size: the shared rule (a whole number >= 1), and at most the 50,000."""
    n = options.positive_int(text)
    if not 10 <= n <= 50_000:
        raise argparse.ArgumentTypeError(f"must be a whole number from 10 to 50000, got {text}")
    return n


def _threads(text):
    """--threads: a whole number from 1 to the cores numba may use."""
    n = options.positive_int(text)
    if n > max_threads():
        raise argparse.ArgumentTypeError(f"must be from 1 to {max_threads()} (the cores numba "
                                         f"may use here), got {text}")
    return n


def _add_options(parser):
    options.add(parser, "epochs", default=None, type=options.positive_int,
                help=f"epochs per network (default: {BOOK_EPOCHS}, the book's; "
                     f"{TRIAL_EPOCHS} for tanh-eta's runs, {OVERFIT_EPOCHS} for overfitting's)")
    parser.add_argument("--minutes", type=options.positive_float, default=None,
                        help="stop a network before an epoch would end past this many minutes")
    parser.add_argument("--l2", choices=L2_CONVENTIONS, default="network3",
                        help="how to read the book's lambda. network3 (default, the book's "
                             "effective regularisation): network3.py adds "
                             "0.5*lmbda*sum(w^2)/num_training_batches to the mean mini-batch "
                             "cost, i.e. lambda*m/(2n)*sum(w^2), so lambda*m is passed to the "
                             "library's network2 convention lambda/(2n)*sum(w^2). network2: the "
                             "book's number as it is, ten times weaker at mini-batch 10")
    options.add(parser, "training_size", default=None, type=_training_size,
                help="train on the first N training images, 10 to 50,000 (default: all "
                     "50,000)")
    options.add(parser, "threads", default=None, type=_threads,
                help=f"cores to train and score on (default: all, here {max_threads()}); "
                     f"the numbers do not depend on it, only the minutes do")
    return parser


_common_parser = chapter.parser
chapter.parser = lambda: _add_options(_common_parser())   # --help lists them too


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    known, _ = _add_options(options.Parser(add_help=False, prog="chapters/chap6.py")
                            ).parse_known_args(argv)
    SETTINGS.update(epochs=known.epochs, minutes=known.minutes, l2=known.l2,
                    training_size=known.training_size,
                    threads=known.threads)
    return chapter.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
