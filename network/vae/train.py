"""Training loop for the VAE: shuffled mini-batches, per-step and per-epoch metrics.

The loop follows the same conventions as ``Network.SGD`` and ``ConvNetwork.SGD``:
arguments checked once at the door (network/base/checks.py), then the epochs;
one record per epoch appended to ``model.history``, counted from 0, with the
same keys as the other trainers where the meaning is the same (``epoch``,
``seconds``, ``eta``) and the VAE's own (``train_loss``, ``reconstruction``,
``kl``, ``test_loss``, ``test_reconstruction``, ``test_kl``); ``callbacks``
called as ``cb(model, record)`` after every epoch, any of them stopping the run
by returning True; a NaN or infinite loss or parameter stops it with
``TrainingDiverged``.

Per step the batch-mean reconstruction and KL go to ``model.steps`` (the raw
material of the KL-phase study); per epoch the training loss is the mean over
every training example seen that epoch (as PyTorch's reference counts it).
The held-out loss is the same single-sample estimate of the negative ELBO on
the test set, with eps drawn from a generator reset to the same seed every
epoch (common random numbers: epoch-to-epoch changes are the model's, not the
noise's).

A run can continue where an earlier call stopped: the model keeps its history
and steps, so pass the generator in the state it was left in and the same
``eval_seed``; network/vae/resumable.py does this from a checkpoint file.

Left out on purpose: early stopping, learning-rate schedules, KL annealing,
checkpointing inside an epoch. The loop never prints: callers pass callbacks.
"""

import time

import numpy as np

from ..base.checks import training_arguments
from ..base.divergence import check_epoch
from ..base.progress import bar
from ..base.schedules import stop_requested

# What each epoch's record holds besides "epoch", "seconds" and "eta".
LOSS_KEYS = ("train_loss", "reconstruction", "kl", "test_loss", "test_reconstruction", "test_kl")


def evaluate(model, X, beta=1.0, rng=None, batch_size=1000):
    """Mean (loss, reconstruction, kl) per example over all of X, eps drawn from rng."""
    rng = np.random.default_rng(0) if rng is None else rng
    n = X.shape[0]
    rec_sum = kl_sum = 0.0
    for start in range(0, n, batch_size):
        xb = np.asarray(X[start:start + batch_size], dtype=model.dtype)
        _, rec, kl = model.loss(xb, beta, rng=rng)
        rec_sum += rec * xb.shape[0]
        kl_sum += kl * xb.shape[0]
    rec, kl = rec_sum / n, kl_sum / n
    return rec + beta * kl, rec, kl


def draw_eval_seed(rng):
    """The seed of the held-out loss's noise, drawn before the first epoch's shuffle."""
    return int(rng.integers(2**63))


def train(model, X_train, epochs, batch_size, optimizer, beta=1.0, rng=None, X_test=None,
          callbacks=(), on_step=None, eval_seed=None, progress=True):
    """Train ``model`` in place with ``optimizer`` (network.base.optimizers.SGD/Adam/Momentum).

    X_train (n, 784) in [0, 1]: the Bernoulli targets (not binarised). Each epoch is
    a fresh permutation split into ceil(n / batch_size) batches (the last may be
    smaller); each step minimises the batch-mean loss (VAE-ELBO).

    on_step(step, loss, rec, kl) is called after every optimiser step (step counts
    from 1 across epochs); each callback ``cb(model, record)`` after every epoch.
    Returns ``model.history``.  eval_seed seeds the held-out loss's noise; by default
    it is the first number drawn from rng (``draw_eval_seed``); a continued run
    passes its first call's.  ``progress``: a bar over each epoch's batches, drawn only
    when stdout is a terminal (network/base/progress.py).
    """
    rng = np.random.default_rng() if rng is None else rng
    X_train = np.ascontiguousarray(X_train, dtype=model.dtype)
    callbacks = training_arguments(epochs, batch_size, optimizer.eta, X_train.shape[0],
                                   callbacks=callbacks)
    eval_seed = draw_eval_seed(rng) if eval_seed is None else eval_seed
    for _ in range(epochs):
        t0 = time.perf_counter()
        with bar(-(-X_train.shape[0] // batch_size), f"epoch {len(model.history)}",
                 unit="batch", quiet=not progress) as batches:
            train_loss, rec, kl = _epoch(model, X_train, batch_size, optimizer, beta, rng,
                                         on_step, batches.update)
        record = {"epoch": len(model.history), "seconds": time.perf_counter() - t0,
                  "eta": optimizer.eta, "train_loss": train_loss, "reconstruction": rec, "kl": kl}
        tl, tr, tk = (None, None, None) if X_test is None or not np.isfinite(train_loss) else \
            evaluate(model, X_test, beta, np.random.default_rng(eval_seed))
        record.update(test_loss=tl, test_reconstruction=tr, test_kl=tk)
        model.history.append(record)
        check_epoch(record["epoch"], zip(model.parameter_names(), model.parameters()),
                    {"training loss": train_loss}, optimizer)
        if stop_requested(callbacks, model, record):
            break
    return model.history


def _epoch(model, X_train, batch_size, optimizer, beta, rng, on_step, done=lambda n: None):
    """One pass in a fresh random order; returns the epoch's mean (loss, rec, kl).
    ``done(1)`` after each step (the progress bar)."""
    n = X_train.shape[0]
    params = model.parameters()
    xb_full = np.empty((batch_size, X_train.shape[1]), dtype=model.dtype)  # reused batch buffer
    order = rng.permutation(n)
    loss_sum = rec_sum = kl_sum = 0.0
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        xb = xb_full[:len(idx)]
        np.take(X_train, idx, axis=0, out=xb)  # (m, 784) gathered without a new allocation
        (loss, rec, kl), grads = model.loss_and_gradients(xb, beta, rng=rng)
        optimizer.step(params, grads)
        model.steps["reconstruction"].append(rec)
        model.steps["kl"].append(kl)
        loss_sum += loss * len(idx)
        rec_sum += rec * len(idx)
        kl_sum += kl * len(idx)
        if on_step is not None:
            on_step(len(model.steps["kl"]), loss, rec, kl)
        done(1)
    return loss_sum / n, rec_sum / n, kl_sum / n


def records_from_columns(columns):
    """(per-epoch records counted from 0, per-step series) from the dict of lists, epochs
    counted from 1, that earlier versions wrote to metrics files and checkpoints."""
    records = [{"epoch": int(e) - 1, "seconds": columns["seconds"][i],
                **{k: columns[k][i] for k in LOSS_KEYS}}
               for i, e in enumerate(columns["epoch"])]
    steps = {"reconstruction": list(columns.get("step_reconstruction", [])),
             "kl": list(columns.get("step_kl", []))}
    return records, steps
