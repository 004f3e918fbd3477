"""Training that can stop and resume: ``train`` writes a checkpoint every epoch, ``resume`` continues.

    from network import Network
    from network.mlp.resumable import train, resume

    net = Network([784, 30, 10], seed=1)
    train(net, (X, y), 30, 10, 0.5, checkpoint="run.ckpt.npz", momentum=0.9)
    # ... interrupted (Ctrl-C, SIGTERM, a crash) after some epochs ...
    net, _ = resume("run.ckpt.npz", (X, y))   # the same final weights as without the break

``train`` is ``Network.SGD`` plus a ``Checkpointer`` callback (the last one,
so a callback that raises stops before a bad
state is saved) and a checkpoint of the untrained state, so even an
interruption in the first epoch can be resumed.  ``resume`` needs only the
checkpoint and the same training data: the architecture, the hyperparameters,
the optimiser's state, the generator's state and the history all come from
the file (network/mlp/checkpoint.py); evaluation data and callbacks, which do not
change the steps, are given again.

Ctrl-C raises KeyboardInterrupt wherever training is; the checkpoint on disk
is then the end of the last complete epoch.  Wrap the call in
``network.storage.signals.interruptible()`` to make SIGTERM do the same.

Left out on purpose: checkpoints inside an epoch (their cost would be paid
every mini-batch; an epoch of MNIST takes seconds) and keeping old checkpoints.
"""

from pathlib import Path

import numpy as np

from ..base.optimizers import SGD, Momentum
from ..errors import UsageError
from ..storage.training_state import fingerprint, planned_training
from .checkpoint import SGD_OPTIONS, load_checkpoint, save_checkpoint


class Checkpointer:
    """Epoch callback ``cb(network, record)``: save the whole training state to ``path``.

    ``training`` is what ``resume`` needs to replay the call (see
    checkpoint.save_checkpoint); ``epochs_done`` counts the epochs of this run
    already in the file (non-zero when resuming).  ``saved_epochs`` is the
    number of complete epochs the file on disk holds.
    """

    def __init__(self, path, training, config=None, epochs_done=0, fingerprint=None,
                 on_save=None):
        self.path = Path(path)
        self.on_save = on_save
        self.training = training
        self.config = config or {}
        self.fingerprint = fingerprint
        self.saved_epochs = epochs_done

    def save(self, network, optimizer, epochs_done):
        save_checkpoint(self.path, network, optimizer, epochs_done, self.training,
                        self.config, self.fingerprint)
        self.saved_epochs = epochs_done
        if self.on_save is not None:
            self.on_save(self.path, epochs_done)

    def __call__(self, network, record):
        self.save(network, network.optimizer, self.saved_epochs + 1)
        return False


def data_fingerprint(training_data):
    """The fingerprint of (X, y) arrays, so a resume can refuse other data; None for the
    book's list of pairs (they are not hashed)."""
    if isinstance(training_data, tuple) and len(training_data) == 2 \
            and all(isinstance(a, np.ndarray) for a in training_data):
        return fingerprint(*training_data)
    return None


def _options(options):
    unknown = sorted(set(options) - set(SGD_OPTIONS) - {"optimizer"})
    if unknown:
        raise UsageError(f"train: unknown SGD option(s) {unknown}; a checkpointed run takes "
                         f"{', '.join(SGD_OPTIONS)} and optimizer")
    return {k: v for k, v in options.items() if k != "optimizer"}


def train(net, training_data, epochs, mini_batch_size, eta, *, checkpoint, evaluation_data=None,
          callbacks=(), config=None, verbose=False, on_save=None, **options):
    """``net.SGD(...)`` saving the full training state to ``checkpoint`` after every epoch.

    ``options``: SGD's keywords that shape the steps (lmbda, regularization,
    momentum, dropout, the monitor_* flags, optimizer); they are recorded so
    ``resume`` can replay them.  ``config``: any JSON object to keep in the
    checkpoint.  ``on_save(path, epochs_done)`` is called after every save.
    Returns SGD's four lists.
    """
    optimizer = options.get("optimizer")
    sgd_options = _options(options)
    if optimizer is None:  # the optimiser SGD would make, made here so it can be saved now
        mu = sgd_options.get("momentum", 0.0)
        optimizer = Momentum(eta, mu) if mu else SGD(eta)
    training = {"epochs": int(epochs), "mini_batch_size": int(mini_batch_size),
                "eta": float(eta), "options": sgd_options}
    checkpointer = Checkpointer(checkpoint, training, config, 0, data_fingerprint(training_data),
                                on_save)
    checkpointer.save(net, optimizer, 0)  # an interrupted first epoch can be resumed too
    return net.SGD(training_data, epochs, mini_batch_size, eta, evaluation_data=evaluation_data,
                   optimizer=optimizer, callbacks=[*callbacks, checkpointer], verbose=verbose,
                   **sgd_options)


def resume(path, training_data, *, evaluation_data=None, callbacks=(), epochs=None,
           checkpoint=None, verbose=False, loaded=None, on_save=None):
    """Continue the run saved in ``path`` to its planned number of epochs (or ``epochs``).

    Checkpoints keep going to ``checkpoint`` (default: ``path`` itself).
    ``loaded``: an already loaded Checkpoint of ``path`` (the command line
    inspects it first); ``on_save`` as for ``train``.  Returns (network, SGD's four lists for the epochs run
    now); the whole run's records are in ``network.history``.
    """
    ck = loaded if loaded is not None else load_checkpoint(path)
    fingerprint = data_fingerprint(training_data)
    if ck.data_fingerprint and fingerprint and fingerprint != ck.data_fingerprint:
        raise UsageError(f"{path}: the training data differ from those this checkpoint was "
                         f"trained on; resume with the same data (same set, size and order)")
    training = planned_training(ck.training, ck.epochs_done, epochs, path)
    checkpointer = Checkpointer(checkpoint or path, training, ck.config, ck.epochs_done,
                                ck.data_fingerprint or fingerprint, on_save)
    remaining = training["epochs"] - ck.epochs_done
    result = ck.network.SGD(training_data, remaining, training["mini_batch_size"],
                            training["eta"], evaluation_data=evaluation_data,
                            optimizer=ck.optimizer, callbacks=[*callbacks, checkpointer],
                            verbose=verbose, **training["options"])
    return ck.network, result
