"""The parts of a training checkpoint that do not depend on the model, in and out.

A checkpoint of the ``Network`` (network/mlp/checkpoint.py) and one of the VAE
(network/vae/checkpoint.py) both hold, besides their model: the optimiser's
scalars and arrays, the state of the PCG64 generator (plain integers, never a
pickle), the per-epoch records, the epochs done and planned, and a fingerprint
of the training data.  This module writes and checks those pieces, so the two
formats read them the same way; every check takes a ``Header``
(network/storage/header.py) and fails naming the file and the field.

Left out on purpose: custom optimiser classes, generators other than PCG64
(np.random.default_rng's), checkpoints inside an epoch.
"""

import hashlib

import numpy as np

from ..base.optimizers import SGD, Adam, Momentum
from ..errors import UsageError
from .strict_json import json_safe

MAX_EPOCHS = 10_000_000


# ---- the training data --------------------------------------------------------------------

def fingerprint(*arrays):
    """SHA-256 over arrays (dtype, shape and bytes of each, in order): the one data
    fingerprint, so a resumed run, a grid worker or a cache can refuse other data."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()


def check_fingerprint(h):
    """The header's data fingerprint: a SHA-256 hex digest, or None."""
    value = h.data.get("data_fingerprint")
    if value is not None and not (isinstance(value, str) and len(value) == 64):
        h.fail("'data_fingerprint' should be a SHA-256 hex digest or null")
    return value


# ---- the optimiser ------------------------------------------------------------------------

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


def check_optimizer(h, n_arrays):
    """A fresh optimiser from the header's scalars, and the names of its arrays."""
    opt = h.get(h.data, "optimizer", dict)
    w = "optimizer."
    name = h.name(opt, "name", ("sgd", "momentum", "adam"), w)
    has_state = h.get(opt, "has_state", bool, w)
    try:
        if name == "sgd":
            keys, optimizer, names = {"eta"}, SGD(h.number(opt, "eta", w, low=0)), []
        elif name == "momentum":
            keys = {"eta", "mu"}
            optimizer = Momentum(h.number(opt, "eta", w, low=0), h.number(opt, "mu", w))
            names = [f"velocity{i}" for i in range(n_arrays)]
        else:
            keys = {"lr", "beta1", "beta2", "eps", "t"}
            optimizer = Adam(h.number(opt, "lr", w, low=0), h.number(opt, "beta1", w),
                             h.number(opt, "beta2", w), h.number(opt, "eps", w, low=0))
            optimizer.t = h.number(opt, "t", w, low=0, high=2**53, integer=True)
            names = [f"{x}{i}" for x in "mv" for i in range(n_arrays)]
    except UsageError as exc:
        h.fail(f"bad optimiser settings ({exc})")
    h.keys(opt, keys | {"name", "has_state"}, "'optimizer'")
    return optimizer, names if has_state else []


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


# ---- the generator ------------------------------------------------------------------------

def generator_state(rng):
    """The PCG64 state of ``rng`` as plain JSON integers (never a pickle)."""
    bit_generator = rng.bit_generator
    if type(bit_generator) is not np.random.PCG64:
        raise UsageError(f"checkpoints record PCG64 generators (np.random.default_rng), "
                         f"not {type(bit_generator).__name__}")
    return bit_generator.state


def check_rng(h):
    """A generator in the header's PCG64 state."""
    state = h.get(h.data, "rng", dict)
    if state.get("bit_generator") != "PCG64":
        h.fail("'rng' should be the state of a PCG64 generator")
    h.keys(state, {"bit_generator", "state", "has_uint32", "uinteger"}, "'rng'")
    inner = h.get(state, "state", dict, "rng.")
    h.keys(inner, {"state", "inc"}, "'rng.state'")
    for key in ("state", "inc"):
        h.number(inner, key, "rng.state.", low=0, high=2**128 - 1, integer=True)
    h.number(state, "has_uint32", "rng.", low=0, high=1, integer=True)
    h.number(state, "uinteger", "rng.", low=0, high=2**32 - 1, integer=True)
    rng = np.random.Generator(np.random.PCG64())
    try:
        rng.bit_generator.state = state
    except (ValueError, TypeError, OverflowError) as exc:
        h.fail(f"'rng' is not a valid PCG64 state ({exc})")
    return rng


# ---- parameters, records, epochs ----------------------------------------------------------

def refuse_non_finite(params):
    """UsageError if any parameter is NaN or infinite: a checkpoint is always a state worth
    resuming from, so a diverged one never replaces the last good file."""
    for p in params:
        if not np.all(np.isfinite(p)):
            raise UsageError("refusing to checkpoint a network with NaN or infinite "
                             "parameters; the last good checkpoint is kept")


def check_finite(h, arrays):
    """Refuse any of ``{name: array}`` holding NaN or infinity."""
    for name, a in arrays.items():
        if not np.all(np.isfinite(a)):
            h.fail(f"array {name!r} contains NaN or infinity")


def records_json(history):
    """Per-epoch records (a list of dicts) as JSON: NaN costs become null."""
    return [{str(k): json_safe(v) for k, v in r.items()} for r in history]


def check_records(h, records, epochs_done, where="history"):
    """Per-epoch records as a checkpoint keeps them: objects of at most 64 fields, each a
    number, a flag, null or a short string; one per epoch done, at least."""
    if not isinstance(records, list) or not epochs_done <= len(records) <= MAX_EPOCHS:
        h.fail(f"'{where}' should hold a record for each of the {epochs_done} epochs done")
    for r in records:
        if not isinstance(r, dict) or len(r) > 64:
            h.fail(f"each '{where}' record should be an object of at most 64 fields")
        for value in r.values():
            if not (value is None or isinstance(value, (bool, int, float))
                    or (isinstance(value, str) and len(value) <= 200)):
                h.fail(f"'{where}' values should be numbers, flags or short strings")
    return records


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
