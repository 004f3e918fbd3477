"""VAE training that can stop and resume: ``train`` checkpoints every epoch, ``resume`` continues.

    from network.vae import VAE
    from network.vae.resumable import train, resume

    rng = np.random.default_rng(0)
    model = VAE(20, [400], "relu", 784, rng=rng)
    train(model, X, 10, 128, Adam(1e-3), 1.0, rng, X_test=X_test, checkpoint="vae.ckpt.npz")
    # ... interrupted (Ctrl-C, SIGTERM, a crash) after some epochs ...
    model, history = resume("vae.ckpt.npz", X, X_test)   # the same model as without the break

``train`` is network/vae/train.py's loop with a checkpoint written before the
first epoch (so even an interruption there can be resumed) and after every
epoch, once the caller's callbacks have run (so a callback that raises stops
before that epoch is saved).  ``resume`` needs only the file and the same
images: architecture, optimiser state, generator state, the seed of the
held-out noise, the settings and the history so far all come from the file
(network/vae/checkpoint.py); the result, model and metrics, is bit for bit
that of a run never interrupted (the seconds per epoch aside).

Ctrl-C raises KeyboardInterrupt wherever training is; the file on disk is then
the end of the last complete epoch.  ``network.storage.signals.interruptible()``
makes SIGTERM do the same.  This is the VAE twin of network/mlp/resumable.py.

Left out on purpose: checkpoints inside an epoch, keeping old checkpoints.
"""

from pathlib import Path

import numpy as np

from ..base.checks import training_arguments
from ..errors import UsageError
from ..storage.training_state import planned_training
from .checkpoint import data_fingerprint, load_checkpoint, save_checkpoint
from .train import draw_eval_seed
from .train import train as train_loop


class Checkpointer:
    """Epoch callback ``cb(model, record)``: save the training state to ``path``;
    ``on_save(path, epochs_done)`` after every save."""

    def __init__(self, path, optimizer, rng, training, config, data_print, on_save=None):
        self.path = Path(path)
        self.optimizer, self.rng = optimizer, rng
        self.training, self.config, self.data_print = training, config, data_print
        self.on_save = on_save

    def save(self, model):
        save_checkpoint(self.path, model, self.optimizer, self.rng, self.training, self.config,
                        self.data_print)
        if self.on_save is not None:
            self.on_save(self.path, len(model.history))

    def __call__(self, model, record):
        self.save(model)
        return False


def train(model, X_train, epochs, batch_size, optimizer, beta=1.0, rng=None, X_test=None, *,
          checkpoint, config=None, callbacks=(), on_step=None, on_save=None, progress=True):
    """network.vae.train.train(...) saving the whole state to ``checkpoint`` every epoch.

    ``config``: any JSON object to keep in the file (the command line keeps its
    settings there).  Returns ``model.history``.
    """
    if model.history:
        raise UsageError("train starts a new run on an untrained model; resume a checkpoint "
                         "to continue one")
    rng = np.random.default_rng() if rng is None else rng
    X_train = np.ascontiguousarray(X_train, dtype=model.dtype)
    callbacks = training_arguments(epochs, batch_size, optimizer.eta, X_train.shape[0],
                                   callbacks=callbacks)
    eval_seed = draw_eval_seed(rng)  # what the loop would draw first, drawn here to be saved
    training = {"epochs": int(epochs), "batch_size": int(batch_size), "beta": float(beta),
                "training_size": int(X_train.shape[0]), "eval_seed": eval_seed}
    checkpointer = Checkpointer(checkpoint, optimizer, rng, training, config,
                                data_fingerprint(X_train, X_test, model.dtype), on_save)
    checkpointer.save(model)  # an interrupted first epoch can be resumed too
    return train_loop(model, X_train, epochs, batch_size, optimizer, beta, rng, X_test=X_test,
                      callbacks=[*callbacks, checkpointer], on_step=on_step,
                      eval_seed=eval_seed, progress=progress)


def resume(path, X_train, X_test=None, *, epochs=None, checkpoint=None, callbacks=(),
           on_step=None, on_save=None, loaded=None, progress=True):
    """Continue the run saved in ``path`` to its planned number of epochs (or ``epochs``).

    ``X_train``, ``X_test``: the images the run was started on (checked against the
    file's fingerprint).  Checkpoints keep going to ``checkpoint`` (default
    ``path``).  ``loaded``: the VAECheckpoint of ``path`` if already read.
    Returns (model, model.history); the history holds every epoch of the run.
    """
    ck = loaded if loaded is not None else load_checkpoint(path)
    X_train = np.ascontiguousarray(X_train, dtype=ck.model.dtype)
    if ck.data_fingerprint and \
            data_fingerprint(X_train, X_test, ck.model.dtype) != ck.data_fingerprint:
        raise UsageError(f"{path}: the training or test images differ from those this checkpoint "
                         f"was trained on; resume with the same data (same set, size and order)")
    training = planned_training(ck.training, ck.epochs_done, epochs, path)
    checkpointer = Checkpointer(checkpoint or path, ck.optimizer, ck.rng, training, ck.config,
                                ck.data_fingerprint, on_save)
    remaining = training["epochs"] - ck.epochs_done
    if remaining > 0:
        train_loop(ck.model, X_train, remaining, training["batch_size"], ck.optimizer,
                   training["beta"], ck.rng, X_test=X_test, callbacks=[*callbacks, checkpointer],
                   on_step=on_step, eval_seed=training["eval_seed"], progress=progress)
    return ck.model, ck.model.history
