"""``python -m network train``: train a Network on MNIST and report every epoch.

Prints one line per epoch (accuracy, cost, seconds) and a summary; with
``--metrics`` writes ``{"config": ..., "epochs": [...], "summary": ...}`` as JSON
(accuracy as a fraction), rewritten atomically after every epoch so an
interrupted run keeps what it measured; with ``--save`` writes the model.

``--checkpoint PATH`` saves the whole training state at the start and after
every epoch (network/mlp/resumable.py); Ctrl-C or SIGTERM then stops at once,
keeps the last complete epoch on disk, prints how to resume and exits with
130 or 143.  ``--resume PATH`` continues such a run from the file alone: the
settings come from the checkpoint, an explicit option that contradicts them is
refused (``--epochs`` may raise the planned total), and the result is the same,
bit for bit, as a run never interrupted.  A NaN or infinite cost or weight stops
training with the epoch, the mini-batch and the likely cause (network/base/divergence.py);
an accuracy stuck at chance level is reported in the summary.
"""

import secrets
import threading
import time

import numpy as np

from ..mlp.checkpoint import load_checkpoint
from ..mlp.saturation import SaturationWatch, chance_level
from ..errors import TrainingDiverged, UsageError
from ..mlp.network import Network
from ..mlp.resumable import resume, train
from ..storage.signals import interruptible
from . import options
from .common import (Given, MetricsFile, add_checkpoint_arguments, add_data_arguments,
                     adopt_settings, check_sizes_fit, damaged_settings, interrupted, load_splits,
                     output_file, plural, refuse_damaged, track_given)
from .options import positive_int

# The settings a checkpoint fixes: with --resume, giving one of these with another value
# is an error.  (--epochs may change: it is the planned total.)
FIXED_BY_CHECKPOINT = ("sizes", "cost", "activation", "init", "eta", "mini_batch_size", "lmbda",
                       "regularization", "momentum", "dropout", "dtype", "dataset",
                       "evaluation_set", "seed", "training_size")
_OPTIONS = {}     # dest -> argparse action, to check a checkpoint's settings like the options
PROBE_ROWS = 500  # evaluation images used to count stuck neurons when accuracy is at chance


def add_parser(subparsers):
    p = subparsers.add_parser("train", help="train a network on MNIST",
                              description="Train a Network by mini-batch SGD (the book's setup).")
    p.add_argument("--sizes", type=positive_int, nargs="+", default=[784, 30, 10], action=Given,
                   metavar="N", help="layer sizes")
    p.add_argument("--cost", choices=("quadratic", "cross-entropy", "log-likelihood"),
                   default="cross-entropy", action=Given, help="the cost function")
    p.add_argument("--activation", choices=("sigmoid", "tanh", "relu", "identity"),
                   default="sigmoid", action=Given, help="hidden-layer activation")
    p.add_argument("--init", choices=("default", "large"), default="default", action=Given,
                   help="default: weights N(0, 1/n_in); large: N(0, 1) as in chapter 1")
    options.add(p, "eta", default=0.5, action=Given)
    options.add(p, "epochs", default=30, action=Given)
    options.add(p, "mini_batch_size", default=10, action=Given)
    options.add(p, "lmbda", default=0.0, action=Given)
    p.add_argument("--regularization", choices=("L2", "L1"), default="L2", action=Given,
                   help="the penalty lmbda weighs")
    options.add(p, "momentum", default=0.0, action=Given)
    options.add(p, "dropout", default=0.0, action=Given)
    options.add(p, "training_size", default=None, action=Given)
    options.add(p, "dtype", choices=("float64", "float32"), default="float64", action=Given)
    options.add(p, "seed", default=None, action=Given,
                help="random seed (default: drawn, printed and recorded in the metrics)")
    add_data_arguments(p)
    track_given(p, ("dataset", "evaluation_set"))  # the data options come from common.py
    p.add_argument("--save", metavar="PATH", type=output_file,
                   help="write the trained model here (JSON)")
    p.add_argument("--metrics", metavar="PATH", type=output_file,
                   help="write per-epoch metrics here (JSON)")
    add_checkpoint_arguments(p)
    options.add(p, "quiet")
    p.set_defaults(run=run)
    _OPTIONS.update((a.dest, a) for a in p._actions)
    return p


def _config(args, seed, n_train, n_eval):
    keys = ("sizes", "cost", "activation", "init", "eta", "epochs", "mini_batch_size", "lmbda",
            "regularization", "momentum", "dropout", "dtype", "dataset", "evaluation_set")
    config = {k: getattr(args, k) for k in keys}
    config.update(seed=seed, training_size=n_train, evaluation_size=n_eval, save=args.save,
                  metrics=args.metrics)
    return config


def _row(record):
    """The metrics file's entry for one epoch record of Network.SGD."""
    return {"epoch": record["epoch"],
            "evaluation_accuracy": record["evaluation_accuracy"],
            "evaluation_correct": record["evaluation_correct"],
            "evaluation_cost": record["evaluation_cost"],
            "seconds": record["seconds"]}


def _settings_from_checkpoint(args, ck):
    """Put the checkpoint's settings into ``args``; refuse explicit options that contradict them."""
    config, path = ck.config, args.resume
    bad = damaged_settings(config, (*FIXED_BY_CHECKPOINT, "epochs"), _OPTIONS)
    if not bad and (config["sizes"] != ck.network.sizes
                    or config["eta"] != ck.training["eta"]
                    or config["mini_batch_size"] != ck.training["mini_batch_size"]):
        bad = ["sizes/eta/mini_batch_size differ from the checkpoint's network and training"]
    refuse_damaged(path, bad, "python -m network train", "network.mlp.resumable.resume")
    adopt_settings(args, config, FIXED_BY_CHECKPOINT, path, ck.training["epochs"], ck.epochs_done)


def run(args):
    progress = {"saved_epochs": None, "epochs": None, "path": args.resume or args.checkpoint}
    with interruptible():
        try:
            return _run(args, progress)
        except KeyboardInterrupt as exc:
            return interrupted(exc, progress, "python -m network train",
                               lambda path: load_checkpoint(path).epochs_done)


def _run(args, progress):
    ck = None
    if args.resume:
        ck = load_checkpoint(args.resume)
        _settings_from_checkpoint(args, ck)
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    (X_train, y_train), (X_eval, y_eval) = load_splits(args)
    if args.training_size is not None:
        if args.training_size > len(y_train):
            raise UsageError(f"--training-size {args.training_size} is more than the "
                             f"{len(y_train)} training images of {args.dataset}; use at most "
                             f"{len(y_train)}")
        X_train, y_train = X_train[:args.training_size], y_train[:args.training_size]
    check_sizes_fit(args.sizes, X_train)
    if ck is None:
        net = Network(args.sizes, cost=args.cost, activation=args.activation, init=args.init,
                      seed=seed, dtype=np.dtype(args.dtype))
    else:
        net = ck.network
        progress["saved_epochs"] = ck.epochs_done  # what the file holds before this run adds to it
    progress["epochs"] = lambda: len(net.history)
    metrics = MetricsFile(args.metrics, _config(args, seed, len(y_train), len(y_eval)),
                          [_row(r) for r in net.history])
    _announce(args, ck, seed, len(y_train), len(y_eval))

    notice = _compile_notice(net)

    def report(network, record):
        notice.cancel()
        row = _row(record)
        if not args.quiet:
            print(f"Epoch {row['epoch']}: {row['evaluation_correct']} / {len(y_eval)} "
                  f"({100 * row['evaluation_accuracy']:.2f}%), cost {row['evaluation_cost']:.4f}, "
                  f"{row['seconds']:.2f} s", flush=True)
        metrics.epoch(row)

    def saved(path, epochs_done):
        progress.update(saved_epochs=epochs_done, path=path)

    watch = SaturationWatch(chance=chance_level(y_eval, args.sizes[-1]),
                            evaluation_size=len(y_eval), probe=X_eval[:PROBE_ROWS])
    start = time.perf_counter()
    try:
        notice.start()
        _train(args, ck, net, (X_train, y_train), (X_eval, y_eval), [watch, report],
               metrics.data["config"], saved)
        notice.cancel()
    except TrainingDiverged as exc:
        metrics.finish({"diverged": {"epoch": exc.epoch, "mini_batch": exc.batch,
                                     "cause": exc.cause, "message": str(exc)}})
        kept = (f"; {progress['path']} keeps the last good state ({progress['saved_epochs']} "
                f"complete epochs)" if progress["saved_epochs"] is not None else "")
        raise TrainingDiverged(f"{exc}{kept}", exc.epoch, exc.batch, exc.cause) from None
    metrics.finish(_summary(args, metrics.data["epochs"], watch, time.perf_counter() - start))
    if args.save:
        net.save(args.save)
        print(f"Saved the model to {args.save}")
    return 0


def _compile_notice(net):
    """A timer that says, if the first epoch is slow, that numba is compiling the kernel
    (the first run on a machine: ~5 s); a run that loads it from the cache never sees it."""
    from ..mlp import kernels

    compiling = net.backend == "numba" and not getattr(kernels.train_epoch, "signatures", True)

    def say():
        if compiling:
            print("(compiling the training kernel for this machine, once: a few seconds; "
                  "later runs load it from the cache)", flush=True)

    timer = threading.Timer(1.5, say)
    timer.daemon = True
    return timer


def _announce(args, ck, seed, n_train, n_eval):
    if ck is not None:
        print(f"Resuming {args.resume} after {ck.epochs_done} of {plural(args.epochs, 'epoch')}: "
              f"{args.sizes} ({args.cost}, {args.activation}), eta {args.eta}, mini-batch "
              f"{args.mini_batch_size}, lambda {args.lmbda}, seed {seed}", flush=True)
    else:
        print(f"Training {args.sizes} ({args.cost}, {args.activation}, init {args.init}) on "
              f"{n_train} {args.dataset} images, scoring on the {args.evaluation_set} set "
              f"({n_eval}); eta {args.eta}, mini-batch {args.mini_batch_size}, "
              f"lambda {args.lmbda}, seed {seed}", flush=True)


def _train(args, ck, net, training, evaluation, callbacks, config, saved):
    """Run the epochs: resumed from the checkpoint, checkpointed, or plain SGD."""
    options = dict(lmbda=args.lmbda, regularization=args.regularization, momentum=args.momentum,
                   dropout=args.dropout, monitor_evaluation_cost=True,
                   monitor_evaluation_accuracy=True)
    # Overflow warnings would only announce, untidily, what TrainingDiverged says in one line.
    with np.errstate(over="ignore", invalid="ignore"):
        if ck is not None:
            ck.config.update(config)  # the new planned total, if --epochs gave one
            resume(args.resume, training, evaluation_data=evaluation, callbacks=callbacks,
                   epochs=args.epochs, checkpoint=args.checkpoint or args.resume, loaded=ck,
                   on_save=saved)
        elif args.checkpoint:
            train(net, training, args.epochs, args.mini_batch_size, args.eta,
                  checkpoint=args.checkpoint, evaluation_data=evaluation, callbacks=callbacks,
                  config=config, on_save=saved, **options)
        else:
            net.SGD(training, args.epochs, args.mini_batch_size, args.eta,
                    evaluation_data=evaluation, callbacks=callbacks, verbose=False, **options)


def _summary(args, epochs, watch, total):
    """The run's summary, printed and returned for the metrics file."""
    if not epochs:
        print("No epochs run (--epochs 0).")
        return {"seconds": total}
    best = max(epochs, key=lambda r: r["evaluation_accuracy"])
    summary = {"best_epoch": best["epoch"], "best_accuracy": best["evaluation_accuracy"],
               "final_accuracy": epochs[-1]["evaluation_accuracy"], "seconds": total}
    print(f"Best {args.evaluation_set} accuracy {100 * best['evaluation_accuracy']:.2f}% at "
          f"epoch {best['epoch']}; final {100 * epochs[-1]['evaluation_accuracy']:.2f}%; "
          f"{plural(len(epochs), 'epoch')} in {total:.1f} s")
    saturation = watch.saturation()
    if saturation is not None:
        summary["saturated_at_chance"] = saturation
        print(saturation["message"])
    return summary
