"""``python -m network vae train``: train a variational autoencoder on MNIST.

Trains on all 60,000 training images (the book's training and validation sets
together) and reports the held-out loss on the 10,000 test images after every
epoch, one summary line per epoch (counted from 0, as every command counts).
``--metrics`` writes the layout every trainer's metrics file has,
``{"config", "epochs": [one record per epoch], "summary"}``, the records holding
``train_loss``, ``reconstruction``, ``kl``, ``test_loss`` (and the test set's
two terms), ``seconds`` and ``eta``, plus the per-step batch means under
``"steps": {"reconstruction": [...], "kl": [...]}``; it is rewritten atomically
after every epoch.  ``--save`` writes the model (.npz or .json, see
network/vae/io.py).

Losses are per example: reconstruction summed over pixels plus beta times the
KL summed over latent dimensions, averaged over the batch (VAE-ELBO).

``--checkpoint PATH`` saves the whole training state (parameters, Adam's
moments and step count, the generator's state, the metrics so far, the
settings) before the first epoch and after every epoch (network/vae/resumable.py);
Ctrl-C or SIGTERM then stops at once, keeps the last complete epoch on disk,
prints how to resume and exits with 130 or 143.  ``--resume PATH`` continues
such a run from the file alone: the settings come from the checkpoint, an
explicit option that contradicts them is refused (``--epochs`` may raise the
planned total), the images must be the same ones, and the model and metrics
are those of a run never interrupted, bit for bit (the seconds aside).
"""

import secrets
import time

import numpy as np

from ..errors import UsageError
from ..base.optimizers import SGD, Adam
from ..storage.signals import interruptible
from . import options
from .common import (MetricsFile, add_checkpoint_arguments, add_data_arguments, adopt_settings,
                     damaged_settings, interrupted, output_file, plural, refuse_damaged,
                     track_given)
from .options import non_negative_float, positive_int

# The settings a checkpoint fixes: with --resume, giving one of these with another value
# is an error.  (--epochs may change: it is the planned total; --data-path only says where.)
FIXED_BY_CHECKPOINT = ("latent_dim", "hidden", "activation", "beta", "mini_batch_size",
                       "optimizer", "eta", "seed", "dtype", "dataset", "training_size", "test_size")
RENAMED = {"lr": "eta", "batch_size": "mini_batch_size"}   # settings of checkpoints written earlier
_OPTIONS = {}  # dest -> argparse action, to check a checkpoint's settings like the options


def add_parser(subparsers):
    p = subparsers.add_parser("vae", help="variational autoencoder (train)",
                              description="A variational autoencoder on MNIST, in NumPy.")
    sub = p.add_subparsers(dest="vae_command", metavar="VAE_COMMAND",
                           parser_class=type(p))
    sub.required = True
    t = sub.add_parser("train", help="train a VAE and report the held-out loss per epoch",
                       description="Train an MLP VAE (Bernoulli decoder, N(0, I) prior) on the "
                                   "60,000 MNIST training images; score on the 10,000 test images. "
                                   "With --checkpoint the run survives Ctrl-C, SIGTERM or a crash "
                                   "and --resume continues it, bit for bit.")
    t.add_argument("--latent-dim", type=positive_int, default=20, metavar="K", help="size of z")
    t.add_argument("--hidden", type=positive_int, nargs="+", default=[400], metavar="N",
                   help="encoder hidden widths, e.g. 400 or 512 256; the decoder mirrors them")
    t.add_argument("--activation", choices=("relu", "silu", "tanh"), default="relu",
                   help="hidden-layer activation")
    t.add_argument("--beta", type=non_negative_float, default=1.0,
                   help="weight of the KL term (1 = the ELBO)")
    options.add(t, "epochs", default=10,
                help="epochs in all, counted from 0 when printed (with --resume it may raise "
                     "the planned total)")
    options.add(t, "mini_batch_size", default=128)
    t.add_argument("--optimizer", choices=("adam", "sgd"), default="adam",
                   help="Adam (step size --eta is its lr) or plain SGD")
    options.add(t, "eta", default=1e-3)
    options.add(t, "seed", default=None,
                help="random seed (default: drawn, printed and recorded in the metrics)")
    options.add(t, "dtype", choices=("float32", "float64"), default="float32")
    add_data_arguments(t, evaluation=False)
    options.add(t, "training_size", default=None)
    t.add_argument("--test-size", type=positive_int, default=None, metavar="N",
                   help="score on the first N test images only (quick runs)")
    t.add_argument("--save", metavar="PATH", type=output_file,
                   help="write the trained model here (.npz or .json)")
    t.add_argument("--metrics", metavar="PATH", type=output_file,
                   help="write per-epoch and per-step metrics here (JSON)")
    add_checkpoint_arguments(t, ', --epochs may raise the total')
    options.add(t, "quiet", help="print only the last epoch's line, and no progress bar")
    t.set_defaults(run=run)
    track_given(t, (*FIXED_BY_CHECKPOINT, "epochs"))
    _OPTIONS.update((a.dest, a) for a in t._actions)
    return p


def load_vae_data(dataset="mnist", path=None, dtype=np.float32):
    """(X_train (60000, 784), y_train, X_test (10000, 784), y_test): training = train + validation."""
    from ..data.mnist import load_arrays

    (X_tr, y_tr), (X_va, y_va), (X_te, y_te) = load_arrays(dataset, path=path, dtype=dtype)
    return np.concatenate([X_tr, X_va]), np.concatenate([y_tr, y_va]), X_te, y_te


def _settings_from_checkpoint(args, ck):
    """Put the checkpoint's settings into ``args``; refuse explicit options that contradict them."""
    config, path = {RENAMED.get(k, k): v for k, v in ck.config.items()}, args.resume
    ck.config.clear()
    ck.config.update(config)
    bad = damaged_settings(config, (*FIXED_BY_CHECKPOINT, "epochs"), _OPTIONS)
    if not bad:  # the settings must also describe the model and the training in the file
        model, training = ck.model, ck.training
        actual = {"latent_dim": model.latent_dim, "hidden": list(model.hidden),
                  "activation": model.activation.name, "dtype": str(model.dtype),
                  "beta": training["beta"], "mini_batch_size": training["batch_size"],
                  "training_size": training["training_size"], "optimizer": ck.optimizer.name,
                  "eta": ck.optimizer.eta}
        bad = [f"{k} differs from the file's model or training" for k, v in actual.items()
               if config[k] != v]
    refuse_damaged(path, bad, "python -m network vae train", "network.vae.resumable.resume")
    adopt_settings(args, config, FIXED_BY_CHECKPOINT, path, ck.training["epochs"], ck.epochs_done)


def run(args):
    from ..vae.checkpoint import load_checkpoint

    progress = {"saved_epochs": None, "epochs": None, "path": args.resume or args.checkpoint}
    with interruptible():
        try:
            return _run(args, progress)
        except KeyboardInterrupt as exc:
            return interrupted(exc, progress, "python -m network vae train",
                               lambda path: load_checkpoint(path).epochs_done)


def _first(X, n, option, what):
    if n is not None and n > len(X):
        raise UsageError(f"{option} {n} is more than the {len(X)} {what}; use at most {len(X)}")
    return X if n is None else X[:n]


def _run(args, progress):
    from ..vae.checkpoint import load_checkpoint
    from ..vae.io import save

    ck = None
    if args.resume:
        ck = load_checkpoint(args.resume)
        _settings_from_checkpoint(args, ck)
    if args.save and not args.save.lower().endswith((".npz", ".json")):
        raise UsageError(f"--save {args.save}: the file name must end in .npz or .json")
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    X_train, _, X_test, _ = load_vae_data(args.dataset, args.data_path, np.dtype(args.dtype))
    X_train = _first(X_train, args.training_size, "--training-size", "training images")
    X_test = _first(X_test, args.test_size, "--test-size", "test images")
    model, optimizer, rng, config = _start(args, ck, seed, len(X_train), len(X_test),
                                           X_train.shape[1])
    if ck is not None:
        progress["saved_epochs"] = ck.epochs_done  # what the file holds before this run adds
    progress["epochs"] = lambda: len(model.history)
    metrics = MetricsFile(args.metrics, config, model.history)

    def report(model, record):
        if not args.quiet or record["epoch"] == args.epochs - 1:
            print(f"Epoch {record['epoch']}: train loss {record['train_loss']:.2f} "
                  f"(reconstruction {record['reconstruction']:.2f}, KL {record['kl']:.2f}), "
                  f"test loss {record['test_loss']:.2f}, {record['seconds']:.2f} s", flush=True)
        metrics.epoch(dict(record), steps=model.steps)

    def saved(path, epochs_done):
        progress.update(saved_epochs=epochs_done, path=path)

    start = time.perf_counter()
    _train(args, ck, model, optimizer, rng, config, X_train, X_test, [report], saved)
    last = model.history[-1] if model.history else {}
    metrics.finish({"epochs": len(model.history), "final_train_loss": last.get("train_loss"),
                    "final_test_loss": last.get("test_loss"),
                    "seconds": time.perf_counter() - start}, steps=model.steps)
    if args.metrics:
        print(f"Wrote metrics to {args.metrics}")
    if args.save:
        save(model, args.save)
        print(f"Saved the model to {args.save}")
    return 0


def _start(args, ck, seed, n_train, n_test, n_pixels):
    """(model, optimizer, generator, settings): new, or the checkpoint's; announced."""
    from ..vae.model import VAE

    what = (f"VAE {n_pixels}-{'-'.join(map(str, args.hidden))}-{args.latent_dim} "
            f"({args.activation}), beta {args.beta}, {args.optimizer} eta {args.eta}, "
            f"mini-batch {args.mini_batch_size}")
    if ck is not None:
        print(f"Resuming {args.resume} after {ck.epochs_done} of {plural(args.epochs, 'epoch')}: {what}, "
              f"seed {seed}", flush=True)
        # the planned total (raised if --epochs said so) and where the results go
        ck.config.update(epochs=args.epochs, save=args.save, metrics=args.metrics)
        return ck.model, ck.optimizer, ck.rng, ck.config
    print(f"{what}, {n_train} training / {n_test} test images, seed {seed}", flush=True)
    rng = np.random.default_rng(seed)
    model = VAE(args.latent_dim, args.hidden, args.activation, n_pixels, rng=rng,
                dtype=np.dtype(args.dtype))
    optimizer = Adam(args.eta) if args.optimizer == "adam" else SGD(args.eta)
    config = {k: getattr(args, k) for k in ("latent_dim", "hidden", "activation", "beta",
                                            "epochs", "mini_batch_size", "optimizer", "eta",
                                            "dtype", "dataset")}
    config.update(seed=seed, training_size=n_train, test_size=n_test, save=args.save,
                  metrics=args.metrics)
    return model, optimizer, rng, config


def _train(args, ck, model, optimizer, rng, config, X_train, X_test, callbacks, saved):
    """Run the epochs: resumed from the checkpoint, checkpointed, or plain."""
    from ..vae import resumable
    from ..vae.train import train

    if ck is not None:
        if ck.epochs_done == args.epochs:
            print(f"{args.resume} already holds all {plural(args.epochs, 'epoch')}; nothing to train")
        resumable.resume(args.resume, X_train, X_test, epochs=args.epochs,
                         checkpoint=args.checkpoint or args.resume, callbacks=callbacks,
                         on_save=saved, loaded=ck, progress=not args.quiet)
    elif args.checkpoint:
        resumable.train(model, X_train, args.epochs, args.mini_batch_size, optimizer, args.beta, rng,
                        X_test=X_test, checkpoint=args.checkpoint, config=config,
                        callbacks=callbacks, on_save=saved, progress=not args.quiet)
    else:
        train(model, X_train, args.epochs, args.mini_batch_size, optimizer, args.beta, rng,
              X_test=X_test, callbacks=callbacks, progress=not args.quiet)
