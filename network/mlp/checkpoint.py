"""Checkpoints: the whole training state of a Network, so a run can stop and resume exactly.

A checkpoint is one uncompressed ``.npz`` written atomically (network/storage/atomic.py):

* ``w0, w1, ...``, ``b0, b1, ...``: weights (n_out, n_in) and biases (n_out, 1);
* the optimiser's arrays, indexed like ``weights + biases`` (the order
  ``Network._step`` hands them to ``optimizer.step``): ``velocity{i}`` for
  momentum, ``m{i}`` and ``v{i}`` for Adam;
* ``__checkpoint__``: a JSON string with the architecture, the optimiser's
  scalars (eta, mu, Adam's t ...), the epochs done and planned, the SGD
  options (mini-batch size, lmbda, dropout ...), the state of the network's
  PCG64 generator (plain integers), ``network.history`` and a free-form
  ``config`` for the caller (the command line keeps its settings there).

Resuming restores all of it and calls ``Network.SGD`` for the remaining epochs
with the restored optimiser, so an interrupted-then-resumed run takes exactly
the steps an uninterrupted one takes: same shuffles, same dropout masks, same
velocities -- the same final weights, bit for bit.  A checkpoint is written
only at the end of an epoch; work inside an interrupted epoch is discarded.

Loading treats the file as hostile (like model_io.py): file size capped; the
header's keys, types and ranges checked; the arrays' declared shapes compared
with those ``sizes`` implies and with the bytes the file actually holds, all
before anything is allocated (network/storage/header.py for the header,
network/storage/npz.py for the arrays); every value finite.  Any fault raises
ModelFileError naming the file.

The pieces that do not depend on the model (the optimiser's state in and out,
the generator's state, the finiteness rule, history values as JSON, the data
fingerprint) are public: the VAE's checkpoints (network/vae/checkpoint.py)
use them too.

Left out on purpose: checkpoints inside an epoch, keeping several checkpoints,
custom optimiser classes, generators other than PCG64 (np.random.default_rng's).
"""

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..storage.header import (FORMAT, HEADER, MAX_FILE_BYTES, SGD_OPTIONS, VERSION,
                                check_finite, check_fingerprint, check_history, check_network,
                                check_optimizer, check_rng, check_training, parse_header)
from ..errors import UsageError
from ..base.optimizers import SGD, Adam, Momentum
from ..storage.npz import NpzReader, write_npz

@dataclass
class Checkpoint:
    """What ``load_checkpoint`` returns: everything needed to continue training."""

    network: object            # a Network with weights, rng and history restored
    optimizer: object          # SGD, Momentum or Adam with its state restored
    epochs_done: int           # epochs of this run completed (the remaining: training["epochs"] - this)
    training: dict             # epochs, mini_batch_size, eta, options (SGD keywords)
    config: dict = field(default_factory=dict)  # the caller's own settings
    data_fingerprint: str = None

    @property
    def epochs_remaining(self):
        return max(0, self.training["epochs"] - self.epochs_done)


# ---- saving ---------------------------------------------------------------------------

def data_fingerprint(training_data):
    """A SHA-256 of (X, y) arrays, so a resume can refuse different data; None for lists."""
    if not (isinstance(training_data, tuple) and len(training_data) == 2
            and all(isinstance(a, np.ndarray) for a in training_data)):
        return None
    h = hashlib.sha256()
    for a in training_data:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()


def optimizer_state(optimizer, params):
    """(JSON scalars, {array name: array}) for SGD, Momentum or Adam; the arrays are
    indexed like ``params``, the list the optimiser steps."""
    if type(optimizer) not in (SGD, Momentum, Adam):
        raise UsageError(f"checkpoints support the SGD, Momentum and Adam optimisers of "
                         f"network.base.optimizers, not {type(optimizer).__name__}")
    state = optimizer.state_dict()
    arrays = {}
    if isinstance(optimizer, Momentum) and state["velocities"] is not None:
        arrays = {f"velocity{i}": v for i, v in enumerate(state["velocities"])}
    if isinstance(optimizer, Adam) and state["m"] is not None:
        arrays = {**{f"m{i}": m for i, m in enumerate(state["m"])},
                  **{f"v{i}": v for i, v in enumerate(state["v"])}}
    scalars = {k: v for k, v in state.items() if k not in ("velocities", "m", "v")}
    scalars["has_state"] = bool(arrays)
    if arrays and len(arrays) not in (len(params), 2 * len(params)):
        raise UsageError("the optimiser's state does not match the network's parameters")
    return scalars, arrays


def json_scalar(value):
    """History values as JSON: numpy scalars to Python, non-finite floats to None."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)[:200]


def refuse_non_finite(params):
    """UsageError if any parameter is NaN or infinite: a checkpoint is always a state worth
    resuming from, so a diverged one never replaces the last good file."""
    for p in params:
        if not np.all(np.isfinite(p)):
            raise UsageError("refusing to checkpoint a network with NaN or infinite "
                             "parameters; the last good checkpoint is kept")


def planned_training(training, epochs_done, epochs, path):
    """A copy of a checkpoint's ``training`` settings planning ``epochs`` in all (None: the
    planned total stays); fewer than the ``epochs_done`` already in the file is refused."""
    training = dict(training)
    if epochs is not None:
        if epochs < epochs_done:
            raise UsageError(f"{path}: {epochs_done} epochs are already done; asked for "
                             f"{epochs} in all")
        training["epochs"] = int(epochs)
    return training


def generator_state(rng):
    """The PCG64 state of ``rng`` as plain JSON integers (never a pickle)."""
    bit_generator = rng.bit_generator
    if type(bit_generator) is not np.random.PCG64:
        raise UsageError(f"checkpoints record PCG64 generators (np.random.default_rng), "
                         f"not {type(bit_generator).__name__}")
    return bit_generator.state


def save_checkpoint(path, network, optimizer, epochs_done, training, config=None,
                    fingerprint=None):
    """Write the full training state to ``path`` atomically; return the Path.

    ``training``: {"epochs": planned total, "mini_batch_size", "eta", "options":
    {SGD keyword: value}}.  Refuses (UsageError) a network whose parameters are
    not all finite: a checkpoint is always a state worth resuming from.
    """
    params = network.weights + network.biases
    refuse_non_finite(params)
    rng_state = generator_state(network.rng)
    scalars, opt_arrays = optimizer_state(optimizer, params)
    header = {
        "format": FORMAT, "version": VERSION,
        "network": {"sizes": list(network.sizes), "cost": network.cost.__name__,
                    "activation": network.activation.name,
                    "output_activation": network.output_activation.name,
                    "dtype": str(network.dtype),
                    # numba and numpy paths agree to ~1e-12, not bit for bit: resume on the same one
                    "backend": getattr(network, "backend", None)},
        "optimizer": scalars,
        "epochs_done": int(epochs_done),
        "training": training,
        "rng": rng_state,
        "history": [{str(k): json_scalar(v) for k, v in r.items()} for r in network.history],
        "config": config or {},
        "data_fingerprint": fingerprint,
    }
    arrays = {HEADER: np.array(json.dumps(header, allow_nan=False))}
    arrays.update({f"w{l}": w for l, w in enumerate(network.weights)})
    arrays.update({f"b{l}": b for l, b in enumerate(network.biases)})
    arrays.update(opt_arrays)
    return write_npz(path, arrays)


# ---- loading --------------------------------------------------------------------------

def load_checkpoint(path):
    """Read a checkpoint written by ``save_checkpoint``; raise ModelFileError on any fault."""
    from .network import Network  # here, not at the top: network.py is the core, not a dependency

    path = Path(path)
    with NpzReader(path, MAX_FILE_BYTES, "checkpoint") as reader:
        h = parse_header(reader)
        net_spec, n_params = check_network(h)
        sizes, dtype = net_spec["sizes"], np.dtype(net_spec["dtype"])
        layers = len(sizes) - 1
        optimizer, opt_names = check_optimizer(h, 2 * layers)
        training, epochs_done = check_training(h)
        rng = check_rng(h)
        history = check_history(h, epochs_done)
        config = h.get(h.data, "config", dict, "")
        fingerprint = check_fingerprint(h)
        # Every array the header implies, and nothing else, before anything is allocated.
        shapes = [(n_out, n_in) for n_in, n_out in zip(sizes[:-1], sizes[1:])] + \
                 [(n_out, 1) for n_out in sizes[1:]]
        names = [f"w{l}" for l in range(layers)] + [f"b{l}" for l in range(layers)]
        expected = {HEADER, *names, *opt_names}
        if reader.names != expected:
            extra, missing = reader.names - expected, expected - reader.names
            h.fail(f"arrays differ from what the header implies (unknown "
                   f"{sorted(extra)[:5]}, missing {sorted(missing)[:5]})")
        copies = 1 + len(opt_names) // (2 * layers)   # parameters, plus 1 (momentum) or 2 (Adam)
        needed = copies * n_params * dtype.itemsize
        if needed > reader.size:
            h.fail(f"the header implies {needed} bytes of arrays but the file holds "
                   f"{reader.size}")
        params = [reader.read(n, [dtype], s) for n, s in zip(names, shapes)]
        opt_arrays = {n: reader.read(n, [dtype], shapes[i % (2 * layers)])
                      for i, n in enumerate(opt_names)}
    check_finite(h, {**dict(zip(names, params)), **opt_arrays})
    spec = dict(cost=net_spec["cost"], activation=net_spec["activation"],
                output_activation=net_spec["output_activation"], dtype=dtype, rng=rng)
    try:
        net = Network(sizes, **spec, **({"backend": net_spec["backend"]} if net_spec["backend"]
                                        else {}))
    except UsageError:  # e.g. numba missing here: continue on the default path instead
        try:
            net = Network(sizes, **spec)
        except UsageError as exc:
            h.fail(f"inconsistent network ({exc})")
    # Network() drew initial weights from rng: put the recorded state back afterwards.
    rng.bit_generator.state = h.data["rng"]
    net.weights, net.biases = params[:layers], params[layers:]
    net.history = history
    restore_optimizer(optimizer, opt_arrays, net.weights + net.biases)
    net.optimizer = optimizer
    return Checkpoint(network=net, optimizer=optimizer, epochs_done=epochs_done,
                      training=training, config=config, data_fingerprint=fingerprint)


def restore_optimizer(optimizer, arrays, params):
    """Put the arrays ``optimizer_state`` wrote (checked by the caller) back into ``optimizer``."""
    if not arrays:
        return
    state = optimizer.state_dict()
    n = len(params)
    if isinstance(optimizer, Momentum):
        state["velocities"] = [arrays[f"velocity{i}"] for i in range(n)]
    else:
        state["m"] = [arrays[f"m{i}"] for i in range(n)]
        state["v"] = [arrays[f"v{i}"] for i in range(n)]
    optimizer.load_state_dict(state, params)
