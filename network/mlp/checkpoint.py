"""Checkpoints: the whole training state of a Network, so a run can stop and resume exactly.

A checkpoint is one uncompressed ``.npz`` written atomically:

* ``w0, w1, ...``, ``b0, b1, ...``: weights (n_out, n_in) and biases (n_out, 1);
* the optimiser's arrays, indexed like ``weights + biases`` (the order the
  optimiser steps them): ``velocity{i}`` for momentum, ``m{i}`` and ``v{i}`` for Adam;
* ``__checkpoint__``: the header (network/storage/header.py), a JSON string with
  the architecture, the optimiser's scalars (eta, mu, Adam's t ...), the epochs
  done and planned, the SGD options (mini-batch size, lmbda, dropout ...), the
  state of the network's PCG64 generator (plain integers), ``network.history``
  and a free-form ``config`` for the caller (the command line keeps its
  settings there).

Resuming restores all of it and calls ``Network.SGD`` for the remaining epochs
with the restored optimiser, so an interrupted-then-resumed run takes exactly
the steps an uninterrupted one takes: same shuffles, same dropout masks, same
velocities -- the same final weights, bit for bit.  A checkpoint is written
only at the end of an epoch; work inside an interrupted epoch is discarded.

Loading treats the file as hostile: the header's keys, types and ranges checked;
the arrays' declared shapes compared with those ``sizes`` implies and with the
bytes the file actually holds, all before anything is allocated (the one npz
reader, network/storage/npz.py); every value finite.  Any fault raises
ModelFileError naming the file.  The pieces every checkpoint shares (optimiser,
generator, records, fingerprint) are in network/storage/training_state.py.

Left out on purpose: checkpoints inside an epoch, keeping several checkpoints.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..base.activations import ACTIVATIONS
from ..base.costs import COSTS_BY_CLASS_NAME
from ..errors import UsageError
from ..storage.header import check_format, from_member
from ..storage.limits import check_parameters, parameter_count
from ..storage.npz import NpzReader, write_npz
from ..storage.training_state import (MAX_EPOCHS, check_finite, check_fingerprint,
                                      check_optimizer, check_records, check_rng,
                                      generator_state, optimizer_state, records_json,
                                      refuse_non_finite, restore_optimizer)

FORMAT = "nndl-checkpoint"
VERSION = 1
HEADER = "__checkpoint__"
# SGD keyword options a checkpoint stores and replays; anything that changes the steps.
SGD_OPTIONS = ("lmbda", "regularization", "momentum", "dropout", "monitor_evaluation_cost",
               "monitor_evaluation_accuracy", "monitor_training_cost",
               "monitor_training_accuracy")
HEADER_KEYS = ("format", "version", "network", "optimizer", "epochs_done", "training", "rng",
               "history", "config", "data_fingerprint")
NETWORK_KEYS = ("sizes", "cost", "activation", "output_activation", "dtype", "backend")


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


def save_checkpoint(path, network, optimizer, epochs_done, training, config=None,
                    fingerprint=None):
    """Write the full training state to ``path`` atomically; return the Path.

    ``training``: {"epochs": planned total, "mini_batch_size", "eta", "options":
    {SGD keyword: value}}.  Refuses (UsageError) a network whose parameters are
    not all finite: a checkpoint is always a state worth resuming from.
    """
    params = network.weights + network.biases
    refuse_non_finite(params)
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
        "rng": generator_state(network.rng),
        "history": records_json(network.history),
        "config": config or {},
        "data_fingerprint": fingerprint,
    }
    arrays = {HEADER: np.array(json.dumps(header, allow_nan=False))}
    arrays.update({f"w{l}": w for l, w in enumerate(network.weights)})
    arrays.update({f"b{l}": b for l, b in enumerate(network.biases)})
    arrays.update(opt_arrays)
    return write_npz(path, arrays)


def _check_network(h):
    net = h.get(h.data, "network", dict)
    w = "network."
    h.keys(net, NETWORK_KEYS, "'network'")
    sizes = h.get(net, "sizes", list, w)
    if not 2 <= len(sizes) <= 1000 or not all(type(s) is int and 1 <= s <= 10_000_000
                                              for s in sizes):
        h.fail(f"'sizes' should be two or more positive whole numbers, got {str(sizes)[:80]}")
    check_parameters(parameter_count(sizes), f"{h.path}: 'sizes' {str(sizes)[:80]}")
    h.name(net, "cost", COSTS_BY_CLASS_NAME, w)
    for key in ("activation", "output_activation"):
        h.name(net, key, ACTIVATIONS, w)
    h.name(net, "dtype", ("float64", "float32"), w)
    if net["backend"] not in (None, "numba", "numpy"):
        h.fail(f"unknown backend {str(net['backend'])[:40]!r}")
    return net


def _check_training(h):
    tr = h.get(h.data, "training", dict)
    w = "training."
    h.keys(tr, ("epochs", "mini_batch_size", "eta", "options"), "'training'")
    h.number(tr, "epochs", w, low=0, high=MAX_EPOCHS, integer=True)
    h.number(tr, "mini_batch_size", w, low=1, high=2**31, integer=True)
    h.number(tr, "eta", w, low=0)
    for key, value in h.get(tr, "options", dict, w).items():
        if key not in SGD_OPTIONS:
            h.fail(f"unknown SGD option {key[:40]!r} in 'training.options'")
        if not isinstance(value, (bool, int, float, str)):
            h.fail(f"SGD option {key!r} should be a number, a flag or a name")
    done = h.number(h.data, "epochs_done", low=0, high=MAX_EPOCHS, integer=True)
    return tr, done


def load_checkpoint(path):
    """Read a checkpoint written by ``save_checkpoint``; raise ModelFileError on any fault."""
    from .network import Network  # here: the format is checked before a network is built

    path = Path(path)
    with NpzReader(path, "checkpoint") as reader:
        h = from_member(reader, HEADER, "checkpoint")
        check_format(h, FORMAT, (VERSION,))
        h.keys(h.data, HEADER_KEYS)
        spec = _check_network(h)
        sizes, dtype = spec["sizes"], np.dtype(spec["dtype"])
        layers = len(sizes) - 1
        optimizer, opt_names = check_optimizer(h, 2 * layers)
        training, epochs_done = _check_training(h)
        rng = check_rng(h)
        history = check_records(h, h.get(h.data, "history", list), epochs_done)
        config = h.get(h.data, "config", dict)
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
        needed = copies * parameter_count(sizes) * dtype.itemsize
        if needed > reader.size:
            h.fail(f"the header implies {needed} bytes of arrays but the file holds "
                   f"{reader.size}")
        params = [reader.read(n, [dtype], s) for n, s in zip(names, shapes)]
        opt_arrays = {n: reader.read(n, [dtype], shapes[i % (2 * layers)])
                      for i, n in enumerate(opt_names)}
    check_finite(h, {**dict(zip(names, params)), **opt_arrays})
    settings = dict(cost=spec["cost"], activation=spec["activation"],
                    output_activation=spec["output_activation"], dtype=dtype, rng=rng)
    try:
        net = Network(sizes, **settings, **({"backend": spec["backend"]} if spec["backend"]
                                            else {}))
    except UsageError:  # e.g. numba missing here: continue on the default path instead
        try:
            net = Network(sizes, **settings)
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
