"""Checking a checkpoint's JSON header, field by field, before anything is built from it.

The header of a checkpoint (network/mlp/checkpoint.py) is hostile until proven
otherwise: strict JSON (no NaN/Infinity, no float overflow, bounded nesting),
exactly the known keys, every field of the right type and range, and an
optimiser, a generator state and a history that make sense together.  Each
``check_*`` returns what ``load_checkpoint`` needs; every fault raises
ModelFileError naming the file and the field.

The VAE's checkpoints (network/vae/checkpoint.py) share this header's frame
(``parse_header`` with their own format and keys), the optimiser, generator
and fingerprint checks; each kind of checkpoint, handed to the other's
reader, is refused with a line saying which command resumes it (``KINDS``).

Left out on purpose: the arrays (checked against these answers by
network/storage/npz.py), and any repair of a damaged header.
"""

import json
import math

import numpy as np

from ..base.activations import ACTIVATIONS
from ..base.costs import get_cost
from ..errors import ModelFileError, UsageError
from .untrusted import reject_constant
from ..mlp.io import MAX_PARAMETERS
from ..base.optimizers import SGD, Adam, Momentum

FORMAT = "nndl-checkpoint"
VERSION = 1
MAX_FILE_BYTES = 2 * 1024**3        # a checkpoint holds ~3 copies of the parameters
MAX_HEADER_BYTES = 16 * 1024**2     # the JSON header (history of many epochs, config)
MAX_JSON_DEPTH = 16
MAX_EPOCHS = 10_000_000
HEADER = "__checkpoint__"
# SGD keyword options a checkpoint stores and replays; anything that changes the steps.
SGD_OPTIONS = ("lmbda", "regularization", "momentum", "dropout", "monitor_evaluation_cost",
               "monitor_evaluation_accuracy", "monitor_training_cost",
               "monitor_training_accuracy")
_HEADER_KEYS = {"format", "version", "network", "optimizer", "epochs_done", "training", "rng",
                "history", "config", "data_fingerprint"}
# Every kind of checkpoint the library writes: format -> (what it holds, the command resuming it).
KINDS = {FORMAT: ("a Network's training", "python -m network train --resume"),
         "nndl-vae-checkpoint": ("a VAE's training", "python -m network vae train --resume")}


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _depth(value, limit):
    """Nesting depth of a JSON value, refusing anything deeper than ``limit``."""
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if d > limit:
            return d
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return 0


class _Header:
    """Typed access to the header dict; every fault names the file and the field."""

    def __init__(self, data, path):
        self.data, self.path = data, path

    def fail(self, message):
        raise ModelFileError(f"{self.path}: {message}; not a usable checkpoint "
                             f"(corrupt, or not written by this library)")

    def get(self, obj, key, kind, where):
        if not isinstance(obj, dict) or key not in obj:
            self.fail(f"missing field {where}{key!r}")
        value = obj[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if type(value) is bool and bool not in kinds:
            self.fail(f"field {where}{key!r} should be {kinds[0].__name__}, got a boolean")
        if not isinstance(value, kinds):
            self.fail(f"field {where}{key!r} should be {kinds[0].__name__}, "
                      f"got {type(value).__name__}")
        return value

    def number(self, obj, key, where, low=None, high=None, integer=False):
        value = self.get(obj, key, int if integer else (int, float), where)
        if not integer:
            try:
                value = float(value)  # a JSON integer such as 2**64 or 10**400 in a float field
            except OverflowError:
                self.fail(f"field {where}{key!r} is too large for a float")
        if (low is not None and value < low) or (high is not None and value > high):
            self.fail(f"field {where}{key!r} = {str(value)[:40]} is out of range")
        return value


def parse_header(reader, fmt=FORMAT, keys=_HEADER_KEYS):
    """The header of the checkpoint open in ``reader``, checked to be of format ``fmt``
    (version VERSION) with exactly the top-level ``keys``; a ``_Header`` for the checks."""
    text_arr = reader.read(HEADER, "unicode", (), max_bytes=4 * MAX_HEADER_BYTES)
    try:
        text = str(text_arr[()])
        data = json.loads(text, parse_constant=reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise ModelFileError(f"{reader.path}: header JSON nested far too deeply; not a "
                             f"checkpoint") from None
    except (ValueError, UnicodeError) as exc:  # also NaN/Infinity, huge numbers
        raise ModelFileError(f"{reader.path}: header is not valid JSON ({str(exc)[:120]}); "
                             f"not a checkpoint") from None
    h = _Header(data, reader.path)
    if not isinstance(data, dict):
        h.fail(f"header should be a JSON object, got {type(data).__name__}")
    found = data.get("format")
    if found != fmt and isinstance(found, str) and found in KINDS:  # the other kind, intact
        raise ModelFileError(f"{reader.path}: this checkpoint holds {KINDS[found][0]}, not "
                             f"{KINDS[fmt][0]}; resume it with: {KINDS[found][1]} {reader.path}")
    if found != fmt:
        h.fail(f"format is {str(found)[:40]!r}, expected {fmt!r}")
    if data.get("version") != VERSION or type(data.get("version")) is not int:
        h.fail(f"unsupported version {str(data.get('version'))[:20]} (this code reads {VERSION})")
    if set(data) != keys:
        extra, missing = set(data) - keys, keys - set(data)
        h.fail(f"header fields differ from a checkpoint's (unknown {sorted(extra)[:5]}, "
               f"missing {sorted(missing)})")
    if _depth(data, MAX_JSON_DEPTH):
        h.fail(f"header nested deeper than {MAX_JSON_DEPTH} levels")
    return h


def check_network(h):
    net = h.get(h.data, "network", dict, "")
    sizes = h.get(net, "sizes", list, "network.")
    if not 2 <= len(sizes) <= 1000 or not all(type(s) is int and 1 <= s <= 10_000_000
                                              for s in sizes):
        h.fail(f"'sizes' should be two or more positive whole numbers, got {str(sizes)[:80]}")
    n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    if n_params > MAX_PARAMETERS:
        h.fail(f"'sizes' declares {n_params} parameters, more than {MAX_PARAMETERS}")
    cost = h.get(net, "cost", str, "network.")
    try:
        get_cost(cost)
    except UsageError:
        h.fail(f"unknown cost {cost[:60]!r}")
    for key in ("activation", "output_activation"):
        if h.get(net, key, str, "network.") not in ACTIVATIONS:
            h.fail(f"unknown {key} {net[key][:60]!r}")
    if h.get(net, "dtype", str, "network.") not in ("float64", "float32"):
        h.fail(f"dtype should be float64 or float32, got {net['dtype'][:40]!r}")
    if set(net) != {"sizes", "cost", "activation", "output_activation", "dtype", "backend"}:
        h.fail(f"unknown fields in 'network': {sorted(set(net))[:8]}")
    if net["backend"] not in (None, "numba", "numpy"):
        h.fail(f"unknown backend {str(net['backend'])[:40]!r}")
    return net, n_params


def check_optimizer(h, n_arrays):
    """A fresh optimiser from the header's scalars, and the names of its arrays."""
    opt = h.get(h.data, "optimizer", dict, "")
    name = h.get(opt, "name", str, "optimizer.")
    has_state = h.get(opt, "has_state", bool, "optimizer.")
    w = "optimizer."
    try:
        if name == "sgd":
            keys, optimizer = {"eta"}, SGD(h.number(opt, "eta", w, low=0))
            names = []
        elif name == "momentum":
            keys = {"eta", "mu"}
            optimizer = Momentum(h.number(opt, "eta", w, low=0), h.number(opt, "mu", w))
            names = [f"velocity{i}" for i in range(n_arrays)]
        elif name == "adam":
            keys = {"lr", "beta1", "beta2", "eps", "t"}
            optimizer = Adam(h.number(opt, "lr", w, low=0), h.number(opt, "beta1", w),
                             h.number(opt, "beta2", w), h.number(opt, "eps", w, low=0))
            optimizer.t = h.number(opt, "t", w, low=0, high=2**53, integer=True)
            names = [f"{x}{i}" for x in "mv" for i in range(n_arrays)]
        else:
            h.fail(f"unknown optimiser {name[:40]!r}; expected sgd, momentum or adam")
    except UsageError as exc:
        h.fail(f"bad optimiser settings ({exc})")
    if set(opt) != keys | {"name", "has_state"}:
        h.fail(f"unknown or missing fields in 'optimizer': {sorted(opt)[:8]}")
    if not has_state:
        names = []
    return optimizer, names


def check_training(h):
    tr = h.get(h.data, "training", dict, "")
    w = "training."
    h.number(tr, "epochs", w, low=0, high=MAX_EPOCHS, integer=True)
    h.number(tr, "mini_batch_size", w, low=1, high=2**31, integer=True)
    h.number(tr, "eta", w, low=0)
    options = h.get(tr, "options", dict, w)
    if set(tr) != {"epochs", "mini_batch_size", "eta", "options"}:
        h.fail(f"unknown fields in 'training': {sorted(tr)[:8]}")
    for key, value in options.items():
        if key not in SGD_OPTIONS:
            h.fail(f"unknown SGD option {key[:40]!r} in 'training.options'")
        if not isinstance(value, (bool, int, float, str)):
            h.fail(f"SGD option {key!r} should be a number, a flag or a name")
    done = h.number(h.data, "epochs_done", "", low=0, high=MAX_EPOCHS, integer=True)
    return tr, done


def check_rng(h):
    state = h.get(h.data, "rng", dict, "")
    if state.get("bit_generator") != "PCG64" or set(state) != {"bit_generator", "state",
                                                                "has_uint32", "uinteger"}:
        h.fail("'rng' should be the state of a PCG64 generator")
    inner = h.get(state, "state", dict, "rng.")
    if set(inner) != {"state", "inc"}:
        h.fail("'rng.state' should hold 'state' and 'inc'")
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


def check_history(h, epochs_done):
    history = h.get(h.data, "history", list, "")
    if not epochs_done <= len(history) <= MAX_EPOCHS:
        h.fail(f"'history' has {len(history)} records for {epochs_done} epochs done")
    for r in history:
        if not isinstance(r, dict) or len(r) > 64:
            h.fail("each 'history' record should be an object of at most 64 fields")
        for value in r.values():
            if not (value is None or isinstance(value, (bool, int, float))
                    or (isinstance(value, str) and len(value) <= 200)):
                h.fail("'history' values should be numbers, flags or short strings")
    return history


def check_fingerprint(h):
    """The header's data fingerprint: a SHA-256 hex digest, or None."""
    fingerprint = h.data["data_fingerprint"]
    if fingerprint is not None and not (isinstance(fingerprint, str) and len(fingerprint) == 64):
        h.fail("'data_fingerprint' should be a SHA-256 hex digest or null")
    return fingerprint


def check_finite(h, arrays):
    """Refuse any of ``{name: array}`` holding NaN or infinity."""
    for name, a in arrays.items():
        if not np.all(np.isfinite(a)):
            h.fail(f"array {name!r} contains NaN or infinity")
