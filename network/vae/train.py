"""Training loop for the VAE: shuffled mini-batches, per-step and per-epoch metrics.

Per step we record the batch-mean reconstruction and KL (the raw material for
the KL-phase study); per epoch the training loss (the mean over every training
example seen that epoch, as PyTorch's reference counts it), its two terms, the
held-out loss on the test set and the seconds spent training.

The held-out loss is the same single-sample estimate of the negative ELBO as
the training loss, with eps drawn from a generator reset to the same seed every
epoch (common random numbers: epoch-to-epoch changes are the model's, not the
noise's).

A run can continue where an earlier call stopped: pass that call's history
(it is appended to, and epochs and steps keep counting), the generator in the
state it was left in, and the same ``eval_seed``; network/vae/resumable.py
does this from a checkpoint file.

Left out on purpose: early stopping, learning-rate schedules, KL annealing,
checkpointing inside an epoch. The loop never prints: callers pass on_epoch.
"""

import time

import numpy as np

from ..errors import UsageError


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


def new_history():
    return {"epoch": [], "train_loss": [], "reconstruction": [], "kl": [],
            "test_loss": [], "test_reconstruction": [], "test_kl": [], "seconds": [],
            "step_reconstruction": [], "step_kl": []}


def train(model, X_train, epochs, batch_size, optimizer, beta=1.0, rng=None, X_test=None,
          on_epoch=None, on_step=None, history=None, eval_seed=None):
    """Train ``model`` in place with ``optimizer`` (network.base.optimizers.SGD/Adam/Momentum).

    X_train (n, 784) in [0, 1]: the Bernoulli targets (not binarised). Each epoch is
    a fresh permutation split into ceil(n / batch_size) batches (the last may be
    smaller); each step minimises the batch-mean loss (VAE-ELBO).

    on_step(step, loss, rec, kl) is called after every optimiser step (step counts
    from 1 across epochs); on_epoch(record) after every epoch with a dict of that
    epoch's numbers. Returns the history dict (lists; see new_history()).

    eval_seed seeds the held-out loss's noise; by default it is the first number
    drawn from rng (``draw_eval_seed``). A continued run passes its first call's.
    """
    if epochs < 1 or batch_size < 1:
        raise UsageError(f"epochs and batch size must be positive, got {epochs} and {batch_size}")
    rng = np.random.default_rng() if rng is None else rng
    X_train = np.ascontiguousarray(X_train, dtype=model.dtype)
    n = X_train.shape[0]
    if n == 0:
        raise UsageError("no training images")
    eval_seed = draw_eval_seed(rng) if eval_seed is None else eval_seed
    history = new_history() if history is None else history
    params = model.parameters()
    step = len(history["step_kl"])
    xb_full = np.empty((batch_size, X_train.shape[1]), dtype=model.dtype)  # reused batch buffer
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        order = rng.permutation(n)
        loss_sum = rec_sum = kl_sum = 0.0
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            xb = xb_full[:len(idx)]
            np.take(X_train, idx, axis=0, out=xb)  # (m, 784) gathered without a new allocation
            (loss, rec, kl), grads = model.loss_and_gradients(xb, beta, rng=rng)
            optimizer.step(params, grads)
            step += 1
            history["step_reconstruction"].append(rec)
            history["step_kl"].append(kl)
            loss_sum += loss * len(idx)
            rec_sum += rec * len(idx)
            kl_sum += kl * len(idx)
            if on_step is not None:
                on_step(step, loss, rec, kl)
        seconds = time.perf_counter() - t0
        if not np.isfinite(loss_sum):
            raise UsageError(f"training diverged in epoch {epoch} (loss is {loss_sum}); "
                             f"lower the learning rate")
        record = {"epoch": len(history["epoch"]) + 1, "train_loss": loss_sum / n,
                  "reconstruction": rec_sum / n, "kl": kl_sum / n, "seconds": seconds}
        if X_test is not None:
            tl, tr, tk = evaluate(model, X_test, beta, np.random.default_rng(eval_seed))
            record.update(test_loss=tl, test_reconstruction=tr, test_kl=tk)
        else:
            record.update(test_loss=None, test_reconstruction=None, test_kl=None)
        for key, value in record.items():
            history[key].append(value)
        if on_epoch is not None:
            on_epoch(record)
    return history
