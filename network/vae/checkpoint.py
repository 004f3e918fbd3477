"""Checkpoints of VAE training: the whole state, so a run can stop and resume exactly.

A VAE checkpoint is one uncompressed ``.npz`` written atomically, laid out like
the Network's (network/mlp/checkpoint.py) and read through the same pieces
(network/storage: the npz reader, the header frame, the training state):

* one array per parameter, named as in the VAE's model files
  (``encoder.0.weight``, ``mu.bias``, ...; network/vae/io.py);
* the optimiser's arrays indexed like ``model.parameters()``: ``m{i}`` and
  ``v{i}`` for Adam (``velocity{i}`` for momentum, none for SGD);
* ``step_reconstruction`` and ``step_kl``: ``model.steps``, float64 (exact for
  the Python floats they hold; as JSON they would make the header of a long run
  too large to read back);
* ``__checkpoint__``: the header, format ``nndl-vae-checkpoint``: the
  architecture (the model file's header), the optimiser's scalars, the epochs
  done, the training settings (planned epochs, batch size, beta, the
  training-set size and the seed of the held-out noise), the PCG64 generator's
  state as plain integers, ``model.history`` (version 2: the per-epoch records,
  counted from 0; version 1 kept per-key lists counted from 1 and is still
  read), the caller's ``config`` and a fingerprint of the training and test images.

Resuming (network/vae/resumable.py) restores all of it and calls the training
loop for the remaining epochs, which then takes exactly the steps an
uninterrupted run takes: same shuffles, same noise, same Adam moments.

Loading treats the file as hostile; any fault raises ModelFileError naming the
file; a Network's checkpoint is refused with the command that resumes it.

Left out on purpose: checkpoints inside an epoch, several checkpoints per run.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..base.optimizers import Adam
from ..storage.header import check_format, from_member
from ..storage.npz import NpzReader, write_npz
from ..storage.training_state import (MAX_EPOCHS, check_finite, check_fingerprint,
                                      check_optimizer, check_records, check_rng, fingerprint,
                                      generator_state, optimizer_state, records_json,
                                      refuse_non_finite, restore_optimizer)
from .io import check_header, install, model_header, skeleton
from .train import LOSS_KEYS, records_from_columns

FORMAT = "nndl-vae-checkpoint"
VERSION = 2          # 1: history as per-key lists counted from 1 (still read)
HEADER = "__checkpoint__"
HEADER_KEYS = ("format", "version", "vae", "optimizer", "epochs_done", "training", "rng",
               "history", "config", "data_fingerprint")
TRAINING_KEYS = ("epochs", "batch_size", "beta", "training_size", "eval_seed")
STEP_KEYS = ("step_reconstruction", "step_kl")   # arrays of model.steps["reconstruction"], ["kl"]


@dataclass
class VAECheckpoint:
    """What ``load_checkpoint`` returns: everything needed to continue training."""

    model: object              # the VAE with its parameters, history and steps restored
    optimizer: object          # SGD, Momentum or Adam with its state restored
    rng: object                # the np.random.Generator where the run left it
    epochs_done: int
    training: dict             # epochs, batch_size, beta, training_size, eval_seed
    config: dict = field(default_factory=dict)  # the caller's own settings
    data_fingerprint: str = None

    @property
    def history(self):
        return self.model.history

    @property
    def epochs_remaining(self):
        return max(0, self.training["epochs"] - self.epochs_done)


def data_fingerprint(X_train, X_test, dtype):
    """The fingerprint of the training and test images as training sees them."""
    X_train = np.asarray(X_train, dtype=dtype)
    X_test = (np.empty((0, X_train.shape[1]), dtype) if X_test is None
              else np.asarray(X_test, dtype=dtype))
    return fingerprint(X_train, X_test)


def save_checkpoint(path, model, optimizer, rng, training, config=None, fingerprint=None):
    """Write the whole training state to ``path`` atomically; return the Path.

    ``training``: {"epochs": planned total, "batch_size", "beta", "training_size",
    "eval_seed"}; the epochs done are ``len(model.history)``.  Refuses (UsageError)
    parameters that are not all finite, so the last good file stays.
    """
    params = model.parameters()
    refuse_non_finite(params)
    scalars, opt_arrays = optimizer_state(optimizer, params)
    header = {
        "format": FORMAT, "version": VERSION,
        "vae": model_header(model),
        "optimizer": scalars,
        "epochs_done": len(model.history),
        "training": training,
        "rng": generator_state(rng),
        "history": records_json(model.history),
        "config": config or {},
        "data_fingerprint": fingerprint,
    }
    arrays = {HEADER: np.array(json.dumps(header, allow_nan=False))}
    arrays.update(zip(model.parameter_names(), params))
    arrays.update(opt_arrays)
    arrays["step_reconstruction"] = np.array(model.steps["reconstruction"], dtype=np.float64)
    arrays["step_kl"] = np.array(model.steps["kl"], dtype=np.float64)
    return write_npz(path, arrays)


def _check_training(h):
    tr = h.get(h.data, "training", dict)
    h.keys(tr, TRAINING_KEYS, "'training'")
    w = "training."
    done = h.number(h.data, "epochs_done", low=0, high=MAX_EPOCHS, integer=True)
    h.number(tr, "epochs", w, low=done, high=MAX_EPOCHS, integer=True)
    h.number(tr, "batch_size", w, low=1, high=2**31, integer=True)
    h.number(tr, "training_size", w, low=1, high=2**31, integer=True)
    h.number(tr, "beta", w, low=0)
    h.number(tr, "eval_seed", w, low=0, high=2**63 - 1, integer=True)
    return tr, done


def _check_history(h, done, version):
    """The per-epoch records (version 2), or version 1's per-key lists made into records."""
    if version >= 2:
        records = check_records(h, h.get(h.data, "history", list), done)
        if [r.get("epoch") for r in records] != list(range(len(records))) or len(records) != done:
            h.fail("'history' should hold one record per epoch done, counted 0, 1, ...")
        return records
    columns = h.get(h.data, "history", dict)
    h.keys(columns, ("epoch", "seconds", *LOSS_KEYS), "'history'")
    for key in columns:
        values = h.get(columns, key, list, "history.")
        if len(values) != done:
            h.fail(f"'history.{key}' has {len(values)} values for {done} epochs done")
        if not all(v is None or type(v) in (int, float) for v in values):
            h.fail(f"'history.{key}' should hold only numbers")
    if columns["epoch"] != list(range(1, done + 1)):
        h.fail("'history.epoch' should count the epochs 1, 2, ...")
    return records_from_columns(columns)[0]


def load_checkpoint(path):
    """Read a checkpoint written by ``save_checkpoint``; raise ModelFileError on any fault."""
    path = Path(path)
    with NpzReader(path, "checkpoint") as reader:
        h = from_member(reader, HEADER, "checkpoint")
        version = check_format(h, FORMAT, (1, VERSION))
        h.keys(h.data, HEADER_KEYS)
        spec = h.get(h.data, "vae", dict)
        n_params = check_header(h, spec, "vae.")
        dtype = np.dtype(spec["dtype"])
        if n_params * dtype.itemsize > reader.size:  # before building a model that large
            h.fail(f"the header implies {n_params * dtype.itemsize} bytes of parameters but "
                   f"the file holds {reader.size}")
        model = skeleton(spec)
        names = model.parameter_names()
        shapes = [p.shape for p in model.parameters()]
        optimizer, opt_names = check_optimizer(h, len(names))
        training, done = _check_training(h)
        n_steps = done * -(-training["training_size"] // training["batch_size"])
        history = _check_history(h, done, version)
        rng = check_rng(h)
        config = h.get(h.data, "config", dict)
        data_print = check_fingerprint(h)
        expected = {HEADER, *names, *opt_names, *STEP_KEYS}
        if reader.names != expected:
            extra, missing = reader.names - expected, expected - reader.names
            h.fail(f"arrays differ from what the header implies (unknown "
                   f"{sorted(extra)[:5]}, missing {sorted(missing)[:5]})")
        needed = ((1 + len(opt_names) // len(names)) * n_params * dtype.itemsize
                  + len(STEP_KEYS) * n_steps * 8)
        if needed > reader.size:
            h.fail(f"the header implies {needed} bytes of arrays but the file holds {reader.size}")
        params = {n: reader.read(n, [dtype], s) for n, s in zip(names, shapes)}
        opt_arrays = {n: reader.read(n, [dtype], shapes[i % len(names)])
                      for i, n in enumerate(opt_names)}
        steps = {k: reader.read(k, [np.float64], (n_steps,)) for k in STEP_KEYS}
    check_finite(h, {**opt_arrays, **steps})
    if isinstance(optimizer, Adam) and opt_names and any(
            np.any(opt_arrays[f"v{i}"] < 0) for i in range(len(names))):  # sqrt(v) would be NaN
        h.fail("Adam's second moments 'v' must not be negative")
    install(model, params, path)  # names, shapes, finiteness
    model.history = history
    model.steps = {"reconstruction": steps["step_reconstruction"].tolist(),
                   "kl": steps["step_kl"].tolist()}
    restore_optimizer(optimizer, opt_arrays, model.parameters())
    return VAECheckpoint(model=model, optimizer=optimizer, rng=rng, epochs_done=done,
                         training=training, config=config, data_fingerprint=data_print)
