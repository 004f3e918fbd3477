"""Chapter 3's shared pieces: one training run the network2.py way, and its figure.

``train`` builds a network (cross-entropy, mini-batch 10 unless told otherwise),
trains it on the chosen slice of MNIST and returns (network, run summary);
``plot_accuracy`` draws every run of a result as an accuracy curve;
``weight_rms`` is an epoch callback for the notes' weight-decay question (3.17).

Deliberately left out: the experiments themselves (``chap3.py``, ``chap3_tuning.py``).
"""

import numpy as np

import common
from network import plots

MB = 10


def weight_rms(store):
    """An epoch callback recording the RMS of the first layer's weights (notes, 3.17)."""
    def record(net, _record):
        store.append(float(np.sqrt(np.mean(net.weights[0].astype(np.float64) ** 2))))
    return record


def train(ctx, sizes, eta, epochs, quick_epochs, lmbda=0.0, evaluation="test", n_train=None,
          init="large", cost="cross-entropy", monitor=("evaluation_accuracy",), seed_offset=0,
          net_kw=None, **sgd):
    """Train ``sizes`` for ``epochs`` (``quick_epochs`` with --quick) on the first
    ``n_train`` training images, scored on the test or validation set; the other
    keywords go to ``Network.SGD``.  Returns (network, run summary)."""
    training, validation, test = ctx.data(n_train)
    net = ctx.network(sizes, cost=cost, init=init, seed_offset=seed_offset, **(net_kw or {}))
    data = test if evaluation == "test" else validation
    run = ctx.train(net, training, ctx.pick(epochs, quick_epochs), MB, eta, data,
                    eval_name=evaluation, monitor=monitor, lmbda=lmbda, **sgd)
    run["init"] = init
    return net, run


def plot_accuracy(result, out, ylabel=None):
    """Every run of ``result`` as an accuracy curve per epoch, in one PNG."""
    runs = result["runs"]
    evaluation = next(iter(runs.values()))["evaluation"]
    curves = {label: common.percents(run["accuracy"])
              for label, run in runs.items() if "accuracy" in run}
    return [plots.line_plot(out / f"{result['experiment']}.png", curves,
                               f"chapter 3: {result['title']}",
                               ylabel=ylabel or f"{evaluation} accuracy (%)", markers=True)]
