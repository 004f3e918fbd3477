"""Chapter 3: improving the way neural networks learn.

Reruns the chapter's experiments (REFERENCE.md sections 2 and 4) with the
book's hyperparameters: the learning slowdown of one neuron, cross-entropy,
overfitting on 1,000 images, L2 and L1 regularisation, dropout, more and
expanded training data, weight initialisation, learning rates, softmax,
tanh and ReLU neurons; ``chap3_tuning.py`` adds early stopping and an eta
schedule (problems 3.20-3.21, exercise 3.22), momentum (3.24-3.26) and the broad strategy.

    python chapters/chap3.py [EXPERIMENT ...] [--list] [--quick] [--seed S] [--out DIR]

Chapter 3 networks are network2.py's: cross-entropy cost, mini-batch 10; the
first experiments keep the chapter's "large" N(0,1) initialisation until the
section that replaces it, later ones use N(0, 1/n_in) ("default").  Output mirrors
network2.py on purpose: its monitoring lines ("Epoch j training complete", "Cost on
training data: ...", "Accuracy on evaluation data: c / n") after every epoch.

Deliberately left out: exercise 3.23 (learning eta and lambda by gradient
descent), which the notes discuss without an experiment.
"""

import numpy as np

import chap3_tuning
import common
from chap3_runs import MB, plot_accuracy, train, weight_rms
from network import plots
from network.base.activations import Sigmoid
from network.data.expansion import load_expanded

chapter = common.Chapter("chap3", __doc__.split("\n")[0])


# ---- the learning slowdown -----------------------------------------------------------------

@chapter.experiment("slowdown", "one neuron, input 1, target 0: quadratic vs cross-entropy from (w, b) = (0.6, 0.9) and (2, 2)")
def slowdown(ctx):
    from network.base.costs import CrossEntropyCost, QuadraticCost
    epochs = ctx.pick(300, 300)          # tiny: the same in quick mode
    runs = {}
    # The book uses eta 0.15 for the quadratic cost and 0.005 for the cross-entropy; the
    # cross-entropy at 0.15 is shown too, to compare like with like.
    for cost, eta in ((QuadraticCost, 0.15), (CrossEntropyCost, 0.15), (CrossEntropyCost, 0.005)):
        for w0, b0 in ((0.6, 0.9), (2.0, 2.0)):
            w, b, x, y = w0, b0, 1.0, 0.0
            outputs, costs = [], []
            for _ in range(epochs + 1):
                z = np.array([[w * x + b]])
                a = Sigmoid.fn(z)
                outputs.append(float(a[0, 0]))
                costs.append(cost.fn(a, np.array([[y]]), z))
                delta = cost.delta(z, a, np.array([[y]]), Sigmoid)[0, 0]   # (BP1) dC/dz
                w, b = w - eta * delta * x, b - eta * delta                  # (BP4), (BP3), (SGD)
            runs[f"{cost.name}, eta {eta:g}, (w,b)=({w0:g},{b0:g})"] = {
                "cost": cost.name, "eta": eta, "w0": w0, "b0": b0,
                "output": outputs, "cost_value": costs}
    for label, run in runs.items():
        print(f"{label}: output {run['output'][0]:.2f} -> {run['output'][-1]:.3f} after {epochs} epochs")
    return {"runs": runs, "epochs": epochs}


@chapter.plotter("slowdown")
def plot_slowdown(result, out):
    panels = {}
    for start in ("(0.6,0.9)", "(2,2)"):
        curves = {label.split(", (w")[0]: run["output"] for label, run in result["runs"].items()
                  if label.endswith(start)}
        panels[f"start (w, b) = {start}"] = ("output a", curves)
    return [plots.panels(out / "slowdown.png", panels, "one neuron learning to output 0",
                            size=(10, 4))]


# ---- cross-entropy and overfitting ---------------------------------------------------------

@chapter.experiment("xent-30", "[784,30,10], cross-entropy, eta 0.5, 30 epochs (the book: 95.49%)")
def xent30(ctx):
    _, run = train(ctx, [784, 30, 10], 0.5, 30, 2)
    return {"runs": {"[784,30,10] cross-entropy": run}, "book": {"best": 0.9549}}


@chapter.experiment("xent-100", "[784,100,10], cross-entropy, eta 0.5, 30 epochs (the book: 96.82%)")
def xent100(ctx):
    _, run = train(ctx, [784, 100, 10], 0.5, 30, 2)
    return {"runs": {"[784,100,10] cross-entropy": run}, "book": {"best": 0.9682}}


FOUR = ("training_cost", "evaluation_cost", "evaluation_accuracy", "training_accuracy")


@chapter.experiment("overfit", "first 1,000 images, 400 epochs, lambda 0 and 0.1 (the book: peaks 82.27% and 87.1%)")
def overfit(ctx):
    runs = {}
    for lmbda in (0.0, 0.1):
        _, run = train(ctx, [784, 30, 10], 0.5, 400, 30, lmbda=lmbda, n_train=1000, monitor=FOUR)
        runs[f"lambda {lmbda:g}"] = run
        first100 = next((i for i, a in enumerate(run["training_accuracy"]) if a >= 1.0), None)
        run["first_epoch_training_100"] = first100
        print(f"lambda {lmbda:g}: test accuracy peaks at {run['best']:.2%} (epoch {run['best_epoch']}); "
              f"training accuracy 100% from epoch {first100}")
    return {"runs": runs, "book": {"lambda 0": 0.8227, "lambda 0.1": 0.871}}


@chapter.plotter("overfit")
def plot_overfit(result, out):
    runs = result["runs"]
    panels = {
        "cost on the training data": ("cost", {k: r["training_cost"] for k, r in runs.items()}),
        "accuracy on the test data": ("%", {k: common.percents(r["accuracy"]) for k, r in runs.items()}),
        "cost on the test data": ("cost", {k: r["evaluation_cost"] for k, r in runs.items()}),
        "accuracy on the training data": ("%", {k: common.percents(r["training_accuracy"]) for k, r in runs.items()}),
    }
    return [plots.panels(out / "overfit.png", panels,
                            "[784,30,10] on the first 1,000 training images")]


# ---- L2 regularisation ------------------------------------------------------------------------

@chapter.experiment("l2-30", "[784,30,10], lambda 5.0, eta 0.5, 30 epochs (the book: 96.49% test, 97.12% training)")
def l2_30(ctx):
    rms = []
    net, run = train(ctx, [784, 30, 10], 0.5, 30, 2, lmbda=5.0,
                      monitor=("evaluation_accuracy", "training_accuracy"),
                      callbacks=[weight_rms(rms)])
    run["weight_rms"] = rms
    return {"runs": {"[784,30,10] lambda 5": run}, "book": {"best": 0.9649, "training": 0.9712}}


@chapter.plotter("l2-30")
def plot_l2_30(result, out):
    run = next(iter(result["runs"].values()))
    figures = [plots.line_plot(out / "l2-30.png",
                                  {"test": common.percents(run["accuracy"]),
                                   "training": common.percents(run["training_accuracy"])},
                                  "[784,30,10], cross-entropy, lambda 5", markers=True)]
    figures.append(plots.line_plot(out / "l2-30-weight-rms.png", {"eta 0.5": run["weight_rms"]},
                                      "RMS of first-layer weights", ylabel="RMS", logy=True,
                                      hlines={"1/sqrt(784)": 1 / 28}))
    return figures


@chapter.experiment("l2-100", "[784,100,10], lambda 5.0, eta 0.5, 30 epochs (the book: 97.92% val)")
def l2_100(ctx):
    _, run = train(ctx, [784, 100, 10], 0.5, 30, 2, lmbda=5.0, evaluation="validation")
    return {"runs": {"[784,100,10] lambda 5 eta 0.5": run}, "book": {"best": 0.9792}}


@chapter.experiment("l2-100-long", "[784,100,10], lambda 5.0, eta 0.1, 60 epochs (the book: 98.04% val)")
def l2_100_long(ctx):
    _, run = train(ctx, [784, 100, 10], 0.1, 60, 2, lmbda=5.0, evaluation="validation")
    return {"runs": {"[784,100,10] lambda 5 eta 0.1": run}, "book": {"best": 0.9804}}


for _name in ("xent-30", "xent-100", "l2-100", "l2-100-long"):
    chapter.plotter(_name)(plot_accuracy)


# ---- more data, expanded data ---------------------------------------------------------------

BOOK_MORE_DATA = {100: 0.6909, 200: 0.7637, 500: 0.8529, 1000: 0.8885, 2000: 0.9127,
                  5000: 0.9324, 10000: 0.9489, 20000: 0.9585, 50000: 0.9597}


@chapter.experiment("more-data", "more data: [784,30,10], lambda = 5 size/50000, epochs = 30 * 50000/size (val)")
def more_data(ctx):
    sizes = ctx.pick(list(BOOK_MORE_DATA), [200, 1000, 5000])
    examples = ctx.pick(30 * 50000, 20000)           # the same number of examples seen per size
    _, validation, _ = ctx.data()
    rows = {}
    for size in sizes:
        epochs = examples // size
        checkpoints = sorted({int(round(epochs * f)) - 1 for f in (0.1, 0.25, 0.5, 0.75, 1.0)})
        accs = {}

        def score(net, record, checkpoints=checkpoints, accs=accs):
            # Evaluating every epoch would dominate small sizes (15,000 epochs at 100 images).
            if record["epoch"] in checkpoints:
                accs[record["epoch"]] = common.accuracy(net, validation)

        lmbda = 5.0 * size / 50000
        _, run = train(ctx, [784, 30, 10], 0.5, epochs, epochs, lmbda=lmbda, n_train=size,
                        init="default", evaluation=None, monitor=(), callbacks=[score], verbose=False)
        rows[size] = {"epochs": epochs, "lmbda": lmbda, "checkpoints": accs,
                      "final": accs[epochs - 1], "seconds": run["seconds"]}
        book = f"{BOOK_MORE_DATA[size]:.2%}" if size in BOOK_MORE_DATA else "-"
        print(f"{size:6d} images, {epochs:6d} epochs, lambda {lmbda:.4g}: validation "
              f"{accs[epochs - 1]:.2%} (book {book})", flush=True)
    return {"sizes": rows, "book": BOOK_MORE_DATA}


@chapter.plotter("more-data")
def plot_more_data(result, out):
    sizes = [int(s) for s in result["sizes"]]
    curves = {"nndl": {"x": sizes, "y": common.percents([r["final"] for r in result["sizes"].values()])}}
    book = {int(k): v for k, v in result["book"].items()}
    curves["book"] = {"x": list(book), "y": common.percents(list(book.values()))}
    return [plots.line_plot(out / "more-data.png", curves,
                               "[784,30,10]: validation accuracy against training-set size",
                               xlabel="training images", ylabel="validation accuracy (%)",
                               logx=True, markers=True)]


@chapter.experiment("expanded", "expanded MNIST (250,000 one-pixel shifts) vs the 50,000 originals, [784,30,10], 30 epochs (val)")
def expanded(ctx):
    runs = {}
    epochs = ctx.pick(30, 1)
    training, validation, _ = ctx.data()
    if ctx.quick:
        from network.data.expansion import expand
        Xe, ye = expand(*training)                  # quick: expand the small slice in memory
    else:
        Xe, ye = load_expanded(out=ctx.out)         # cached as out/chap3/mnist_expanded.npz
    # lambda scales with the training-set size, so the penalty per example stays the same.
    for label, data in (("original", training), ("expanded x5", (Xe, ye))):
        n = len(data[1])
        net = ctx.network([784, 30, 10], cost="cross-entropy", init="default")
        runs[label] = ctx.train(net, data, epochs, MB, 0.5, validation, eval_name="validation",
                                lmbda=5.0 * n / 50000)
    return {"runs": runs}


chapter.plotter("expanded")(plot_accuracy)


# ---- initialisation and learning rates ----------------------------------------------------

@chapter.experiment("init", "N(0,1/n_in) vs N(0,1) init, eta 0.1, lambda 5, 30 epochs (val; the book: 97.81 vs 97.42 for [784,100,10])")
def init(ctx):
    runs = {}
    for sizes in ([784, 30, 10], [784, 100, 10]):
        for how in ("default", "large"):
            rms = []
            _, run = train(ctx, sizes, 0.1, 30, 2, lmbda=5.0, init=how, evaluation="validation",
                            callbacks=[weight_rms(rms)])
            run["weight_rms"] = rms
            runs[f"{sizes} {'1/sqrt(n)' if how == 'default' else 'large'}"] = run
    return {"runs": runs, "book": {"[784,100,10] 1/sqrt(n)": 0.9781, "[784,100,10] large": 0.9742}}


@chapter.plotter("init")
def plot_init(result, out):
    figures = []
    for hidden in ("30", "100"):
        runs = {k: r for k, r in result["runs"].items() if f", {hidden}," in k}
        figures.append(plots.line_plot(out / f"init-{hidden}.png",
                                          {k: common.percents(r["accuracy"]) for k, r in runs.items()},
                                          f"[784,{hidden},10]: weight initialisation", markers=True,
                                          ylabel="validation accuracy (%)"))
    return figures


@chapter.experiment("learning-rates", "training cost for eta 0.025, 0.25, 2.5 ([784,30,10], lambda 5, 30 epochs)")
def learning_rates(ctx):
    runs = {}
    for eta in (0.025, 0.25, 2.5):
        _, run = train(ctx, [784, 30, 10], eta, 30, 3, lmbda=5.0, init="default",
                        evaluation="validation", monitor=("training_cost", "evaluation_accuracy"))
        runs[f"eta {eta:g}"] = run
    return {"runs": runs}


@chapter.plotter("learning-rates")
def plot_learning_rates(result, out):
    return [plots.line_plot(out / "learning-rates.png",
                               {k: r["training_cost"] for k, r in result["runs"].items()},
                               "[784,30,10]: cost on the training data", ylabel="cost")]


# ---- softmax, L1, dropout, activations ----------------------------------------------------

@chapter.experiment("softmax", "softmax + log-likelihood vs sigmoid + cross-entropy, [784,30,10], eta 0.5, lambda 5, 30 epochs (val)")
def softmax(ctx):
    runs = {}
    for cost in ("cross-entropy", "log-likelihood"):
        _, run = train(ctx, [784, 30, 10], 0.5, 30, 2, lmbda=5.0, init="default", cost=cost,
                        evaluation="validation")
        runs[f"{'softmax + ' if cost == 'log-likelihood' else 'sigmoid + '}{cost}"] = run
    return {"runs": runs}


L1_LAMBDAS = [0.0, 0.1, 0.3, 1.0, 3.0, 5.0]


@chapter.experiment("l1", "problem 3.18: L1 lambda sweep on [784,30,10], eta 0.5, 30 epochs (val, then test)")
def l1(ctx):
    runs = {}
    _, _, test = ctx.data()
    for lmbda in ctx.pick(L1_LAMBDAS, [0.0, 1.0]):
        net, run = train(ctx, [784, 30, 10], 0.5, 30, 2, lmbda=lmbda, init="default",
                          evaluation="validation", regularization="L1")
        run["test_final"] = common.accuracy(net, test)
        run["zero_weights_fraction"] = float(np.mean(np.abs(net.weights[0]) < 1e-3))
        runs[f"L1 lambda {lmbda:g}"] = run
        print(f"L1 lambda {lmbda:g}: best validation {run['best']:.2%} (epoch {run['best_epoch']}), "
              f"test after the last epoch {run['test_final']:.2%}", flush=True)
    best = max(runs, key=lambda k: runs[k]["best"])
    return {"runs": runs, "best_lambda": runs[best]["lmbda"],
            "beats_none": runs[best]["lmbda"] > 0 and runs[best]["best"] > runs["L1 lambda 0"]["best"]}


chapter.plotter("l1")(plot_accuracy)


@chapter.experiment("dropout", "dropout p = 0.5 on the hidden units vs none, [784,100,10], eta 0.5, 30 epochs (val)")
def dropout(ctx):
    runs = {}
    for p in (0.0, 0.5):
        _, run = train(ctx, [784, 100, 10], 0.5, 30, 2, init="default", evaluation="validation",
                        dropout=p)
        runs[f"dropout {p:g}"] = run
    return {"runs": runs}


@chapter.experiment("activations", "sigmoid, tanh and ReLU hidden neurons, [784,30,10], eta 0.1, lambda 5, 30 epochs (val)")
def activations(ctx):
    runs = {}
    for act in ("sigmoid", "tanh", "relu"):
        _, run = train(ctx, [784, 30, 10], 0.1, 30, 2, lmbda=5.0, init="default",
                        evaluation="validation", net_kw={"activation": act})
        runs[act] = run
    return {"runs": runs}


for _name in ("softmax", "dropout", "activations"):
    chapter.plotter(_name)(plot_accuracy)


chap3_tuning.register(chapter)   # problems 3.20-3.26 and the broad strategy

if __name__ == "__main__":
    raise SystemExit(chapter.main())
