"""``python -m network vae train``: train a variational autoencoder on MNIST.

Trains on all 60,000 training images (the book's training and validation sets
together) and reports the held-out loss on the 10,000 test images after every
epoch, one summary line per epoch. ``--metrics`` writes JSON with per-epoch
lists ``train_loss``, ``test_loss``, ``kl``, ``reconstruction``, ``seconds``
(plus the test set's two terms) and the per-step ``step_reconstruction`` and
``step_kl``, rewritten atomically after every epoch. ``--save`` writes the
model (.npz or .json, see network/vae/io.py).

Losses are per example: reconstruction summed over pixels plus beta times the
KL summed over latent dimensions, averaged over the batch (VAE-ELBO).
"""

import secrets

import numpy as np

from ..errors import UsageError
from ..files import atomic_write_json
from ..optimizers import SGD, Adam
from .common import non_negative_float, non_negative_int, positive_float, positive_int


def add_parser(subparsers):
    p = subparsers.add_parser("vae", help="variational autoencoder (train)",
                              description="A variational autoencoder on MNIST, in NumPy.")
    sub = p.add_subparsers(dest="vae_command", metavar="VAE_COMMAND",
                           parser_class=type(p))
    sub.required = True
    t = sub.add_parser("train", help="train a VAE and report the held-out loss per epoch",
                       description="Train an MLP VAE (Bernoulli decoder, N(0, I) prior) on the "
                                   "60,000 MNIST training images; score on the 10,000 test images.")
    t.add_argument("--latent-dim", type=positive_int, default=20, help="size of z (default 20)")
    t.add_argument("--hidden", type=positive_int, nargs="+", default=[400],
                   help="encoder hidden widths, e.g. 400 or 512 256; the decoder mirrors them")
    t.add_argument("--activation", choices=("relu", "silu", "tanh"), default="relu")
    t.add_argument("--beta", type=non_negative_float, default=1.0,
                   help="weight of the KL term (1 = the ELBO)")
    t.add_argument("--epochs", type=positive_int, default=10)
    t.add_argument("--batch-size", type=positive_int, default=128)
    t.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    t.add_argument("--lr", type=positive_float, default=1e-3, help="learning rate (Adam's lr or SGD's eta)")
    t.add_argument("--seed", type=non_negative_int, default=None,
                   help="random seed (default: drawn and recorded in the metrics)")
    t.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    t.add_argument("--dataset", choices=("mnist", "fashion-mnist"), default="mnist")
    t.add_argument("--data-path", metavar="DIR", default=None,
                   help="folder holding the four IDX files (default: looked up)")
    t.add_argument("--training-size", type=positive_int, default=None,
                   help="train on the first N training images only (quick runs)")
    t.add_argument("--test-size", type=positive_int, default=None,
                   help="score on the first N test images only (quick runs)")
    t.add_argument("--save", metavar="PATH", help="write the trained model here (.npz or .json)")
    t.add_argument("--metrics", metavar="PATH", help="write per-epoch and per-step metrics here (JSON)")
    t.add_argument("--quiet", action="store_true", help="print only the last epoch's line")
    t.set_defaults(run=run)
    return p


def load_vae_data(dataset="mnist", path=None, dtype=np.float32):
    """(X_train (60000, 784), y_train, X_test (10000, 784), y_test): training = train + validation."""
    from ..mnist_loader import load_arrays

    (X_tr, y_tr), (X_va, y_va), (X_te, y_te) = load_arrays(dataset, path=path, dtype=dtype)
    return np.concatenate([X_tr, X_va]), np.concatenate([y_tr, y_va]), X_te, y_te


def run(args):
    from ..vae.io import save
    from ..vae.model import VAE
    from ..vae.train import new_history, train

    if args.save and not args.save.lower().endswith((".npz", ".json")):
        raise UsageError(f"--save {args.save}: the file name must end in .npz or .json")
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    X_train, _, X_test, _ = load_vae_data(args.dataset, args.data_path, np.dtype(args.dtype))
    if args.training_size is not None:
        X_train = X_train[:args.training_size]
    if args.test_size is not None:
        X_test = X_test[:args.test_size]
    rng = np.random.default_rng(seed)
    model = VAE(args.latent_dim, args.hidden, args.activation, X_train.shape[1], rng=rng,
                dtype=np.dtype(args.dtype))
    optimizer = Adam(args.lr) if args.optimizer == "adam" else SGD(args.lr)
    config = {k: getattr(args, k) for k in ("latent_dim", "hidden", "activation", "beta", "epochs",
                                            "batch_size", "optimizer", "lr", "dtype", "dataset")}
    config.update(seed=seed, training_size=len(X_train), test_size=len(X_test))
    metrics = {"config": config}

    print(f"VAE {X_train.shape[1]}-{'-'.join(map(str, args.hidden))}-{args.latent_dim} "
          f"({args.activation}), beta {args.beta}, {args.optimizer} lr {args.lr}, batch "
          f"{args.batch_size}, {len(X_train)} training / {len(X_test)} test images, seed {seed}",
          flush=True)

    def report(record):
        if not args.quiet or record["epoch"] == args.epochs:
            print(f"Epoch {record['epoch']}: train loss {record['train_loss']:.2f} "
                  f"(reconstruction {record['reconstruction']:.2f}, KL {record['kl']:.2f}), "
                  f"test loss {record['test_loss']:.2f}, {record['seconds']:.2f} s", flush=True)
        if args.metrics:
            atomic_write_json(args.metrics, {**metrics, **history})

    history = new_history()  # filled in place, so report() can write it after every epoch
    train(model, X_train, args.epochs, args.batch_size, optimizer, args.beta, rng,
          X_test=X_test, on_epoch=report, history=history)
    if args.metrics:
        atomic_write_json(args.metrics, {**metrics, **history})
        print(f"Wrote metrics to {args.metrics}")
    if args.save:
        save(model, args.save)
        print(f"Saved the model to {args.save}")
    return 0

