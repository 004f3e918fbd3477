"""``python -m network train``: train a Network on MNIST and report every epoch.

Prints one line per epoch (accuracy, cost, seconds) and a summary; with
``--metrics`` writes ``{"config": ..., "epochs": [...], "summary": ...}`` as JSON
(accuracy as a fraction), rewritten atomically after every epoch so an
interrupted run keeps what it measured; with ``--save`` writes the model.
"""

import secrets
import time

import numpy as np

from ..files import atomic_write_json
from ..network import Network
from .common import (add_data_arguments, check_sizes_fit, load_splits, non_negative_float,
                     non_negative_int, positive_float, positive_int)


def add_parser(subparsers):
    p = subparsers.add_parser("train", help="train a network on MNIST",
                              description="Train a Network by mini-batch SGD (the book's setup).")
    p.add_argument("--sizes", type=positive_int, nargs="+", default=[784, 30, 10],
                   help="layer sizes, e.g. 784 30 10 (default)")
    p.add_argument("--cost", choices=("quadratic", "cross-entropy", "log-likelihood"),
                   default="cross-entropy")
    p.add_argument("--activation", choices=("sigmoid", "tanh", "relu", "identity"),
                   default="sigmoid", help="hidden-layer activation")
    p.add_argument("--init", choices=("default", "large"), default="default",
                   help="default: weights N(0, 1/n_in); large: N(0, 1) as in chapter 1")
    p.add_argument("--eta", type=positive_float, default=0.5, help="learning rate")
    p.add_argument("--epochs", type=non_negative_int, default=30)
    p.add_argument("--mini-batch-size", type=positive_int, default=10)
    p.add_argument("--lmbda", type=non_negative_float, default=0.0,
                   help="regularisation strength lambda (default 0)")
    p.add_argument("--regularization", choices=("L2", "L1"), default="L2")
    p.add_argument("--momentum", type=float, default=0.0, help="momentum coefficient mu")
    p.add_argument("--dropout", type=non_negative_float, default=0.0,
                   help="probability of dropping each hidden unit")
    p.add_argument("--training-size", type=positive_int, default=None,
                   help="train on the first N training images only")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--seed", type=non_negative_int, default=None,
                   help="random seed (default: drawn and recorded in the metrics)")
    add_data_arguments(p)
    p.add_argument("--save", metavar="PATH", help="write the trained model here (JSON)")
    p.add_argument("--metrics", metavar="PATH", help="write per-epoch metrics here (JSON)")
    p.add_argument("--quiet", action="store_true", help="print only the summary")
    p.set_defaults(run=run)
    return p


def _config(args, seed, n_train, n_eval):
    keys = ("sizes", "cost", "activation", "init", "eta", "epochs", "mini_batch_size", "lmbda",
            "regularization", "momentum", "dropout", "dtype", "dataset", "evaluation_set")
    config = {k: getattr(args, k) for k in keys}
    config.update(seed=seed, training_size=n_train, evaluation_size=n_eval)
    return config


def run(args):
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    (X_train, y_train), (X_eval, y_eval) = load_splits(args)
    if args.training_size is not None:
        X_train, y_train = X_train[:args.training_size], y_train[:args.training_size]
    check_sizes_fit(args.sizes, X_train)
    net = Network(args.sizes, cost=args.cost, activation=args.activation, init=args.init,
                  seed=seed, dtype=np.dtype(args.dtype))
    metrics = {"config": _config(args, seed, len(y_train), len(y_eval)), "epochs": []}

    def report(network, record):
        row = {"epoch": record["epoch"],
               "evaluation_accuracy": record["evaluation_accuracy"],
               "evaluation_correct": record["evaluation_correct"],
               "evaluation_cost": record["evaluation_cost"],
               "seconds": record["seconds"]}
        metrics["epochs"].append(row)
        if not args.quiet:
            print(f"Epoch {row['epoch']}: {row['evaluation_correct']} / {len(y_eval)} "
                  f"({100 * row['evaluation_accuracy']:.2f}%), cost {row['evaluation_cost']:.4f}, "
                  f"{row['seconds']:.2f} s", flush=True)
        if args.metrics:
            atomic_write_json(args.metrics, metrics)

    print(f"Training {args.sizes} ({args.cost}, {args.activation}, init {args.init}) on "
          f"{len(y_train)} {args.dataset} images, scoring on the {args.evaluation_set} set "
          f"({len(y_eval)}); eta {args.eta}, mini-batch {args.mini_batch_size}, "
          f"lambda {args.lmbda}, seed {seed}", flush=True)
    start = time.perf_counter()
    net.SGD((X_train, y_train), args.epochs, args.mini_batch_size, args.eta, args.lmbda,
            evaluation_data=(X_eval, y_eval), monitor_evaluation_cost=True,
            monitor_evaluation_accuracy=True, regularization=args.regularization,
            momentum=args.momentum, dropout=args.dropout, callbacks=[report], verbose=False)
    total = time.perf_counter() - start
    epochs = metrics["epochs"]
    if epochs:
        best = max(epochs, key=lambda r: r["evaluation_accuracy"])
        summary = {"best_epoch": best["epoch"], "best_accuracy": best["evaluation_accuracy"],
                   "final_accuracy": epochs[-1]["evaluation_accuracy"], "seconds": total}
        print(f"Best {args.evaluation_set} accuracy {100 * best['evaluation_accuracy']:.2f}% at "
              f"epoch {best['epoch']}; final {100 * epochs[-1]['evaluation_accuracy']:.2f}%; "
              f"{len(epochs)} epochs in {total:.1f} s")
    else:
        summary = {"seconds": total}
        print("No epochs run (--epochs 0).")
    metrics["summary"] = summary
    if args.metrics:
        atomic_write_json(args.metrics, metrics)
    if args.save:
        net.save(args.save)
        print(f"Saved the model to {args.save}")
    return 0
