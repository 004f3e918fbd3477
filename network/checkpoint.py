"""Checkpoints: the whole training state of a Network, so a run can stop and resume exactly.

A checkpoint is one uncompressed ``.npz`` written atomically (network/files.py):

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
before anything is allocated (network/safe_npz.py); every value finite.  Any
fault raises ModelFileError naming the file.

Left out on purpose: checkpoints inside an epoch, keeping several checkpoints,
custom optimiser classes, generators other than PCG64 (np.random.default_rng's).
"""

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .activations import ACTIVATIONS
from .costs import get_cost
from .errors import ModelFileError, UsageError
from .model_io import MAX_PARAMETERS
from .optimizers import SGD, Adam, Momentum
from .safe_npz import NpzReader, write_npz

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


def _optimizer_state(optimizer, params):
    """(JSON scalars, {array name: array}) for SGD, Momentum or Adam."""
    if type(optimizer) not in (SGD, Momentum, Adam):
        raise UsageError(f"checkpoints support the SGD, Momentum and Adam optimisers of "
                         f"network.optimizers, not {type(optimizer).__name__}")
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


def _json_scalar(value):
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


def save_checkpoint(path, network, optimizer, epochs_done, training, config=None,
                    fingerprint=None):
    """Write the full training state to ``path`` atomically; return the Path.

    ``training``: {"epochs": planned total, "mini_batch_size", "eta", "options":
    {SGD keyword: value}}.  Refuses (UsageError) a network whose parameters are
    not all finite: a checkpoint is always a state worth resuming from.
    """
    params = network.weights + network.biases
    for p in params:
        if not np.all(np.isfinite(p)):
            raise UsageError("refusing to checkpoint a network with NaN or infinite "
                             "parameters; the last good checkpoint is kept")
    bit_generator = network.rng.bit_generator
    if type(bit_generator) is not np.random.PCG64:
        raise UsageError(f"checkpoints record PCG64 generators (np.random.default_rng), "
                         f"not {type(bit_generator).__name__}")
    scalars, opt_arrays = _optimizer_state(optimizer, params)
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
        "rng": bit_generator.state,
        "history": [{str(k): _json_scalar(v) for k, v in r.items()} for r in network.history],
        "config": config or {},
        "data_fingerprint": fingerprint,
    }
    arrays = {HEADER: np.array(json.dumps(header, allow_nan=False))}
    arrays.update({f"w{l}": w for l, w in enumerate(network.weights)})
    arrays.update({f"b{l}": b for l, b in enumerate(network.biases)})
    arrays.update(opt_arrays)
    return write_npz(path, arrays)


# ---- loading --------------------------------------------------------------------------

def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _reject_constant(name):
    raise ValueError(f"{name} is not a finite number")


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


def _parse_header(reader):
    text_arr = reader.read(HEADER, "unicode", (), max_bytes=4 * MAX_HEADER_BYTES)
    try:
        text = str(text_arr[()])
        data = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise ModelFileError(f"{reader.path}: header JSON nested far too deeply; not a "
                             f"checkpoint") from None
    except (ValueError, UnicodeError) as exc:  # also NaN/Infinity, huge numbers
        raise ModelFileError(f"{reader.path}: header is not valid JSON ({str(exc)[:120]}); "
                             f"not a checkpoint") from None
    h = _Header(data, reader.path)
    if not isinstance(data, dict):
        h.fail(f"header should be a JSON object, got {type(data).__name__}")
    if data.get("format") != FORMAT:
        h.fail(f"format is {str(data.get('format'))[:40]!r}, expected {FORMAT!r}")
    if data.get("version") != VERSION or type(data.get("version")) is not int:
        h.fail(f"unsupported version {str(data.get('version'))[:20]} (this code reads {VERSION})")
    if set(data) != _HEADER_KEYS:
        extra, missing = set(data) - _HEADER_KEYS, _HEADER_KEYS - set(data)
        h.fail(f"header fields differ from a checkpoint's (unknown {sorted(extra)[:5]}, "
               f"missing {sorted(missing)})")
    if _depth(data, MAX_JSON_DEPTH):
        h.fail(f"header nested deeper than {MAX_JSON_DEPTH} levels")
    return h


def _check_network(h):
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


def _check_optimizer(h, n_arrays):
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


def _check_training(h):
    tr = h.get(h.data, "training", dict, "")
    w = "training."
    epochs = h.number(tr, "epochs", w, low=0, high=MAX_EPOCHS, integer=True)
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


def _check_rng(h):
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


def _check_history(h, epochs_done):
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


def load_checkpoint(path):
    """Read a checkpoint written by ``save_checkpoint``; raise ModelFileError on any fault."""
    from .network import Network  # here, not at the top: network.py is the core, not a dependency

    path = Path(path)
    with NpzReader(path, MAX_FILE_BYTES, "checkpoint") as reader:
        h = _parse_header(reader)
        net_spec, n_params = _check_network(h)
        sizes, dtype = net_spec["sizes"], np.dtype(net_spec["dtype"])
        layers = len(sizes) - 1
        optimizer, opt_names = _check_optimizer(h, 2 * layers)
        training, epochs_done = _check_training(h)
        rng = _check_rng(h)
        history = _check_history(h, epochs_done)
        config = h.get(h.data, "config", dict, "")
        fingerprint = h.data["data_fingerprint"]
        if fingerprint is not None and not (isinstance(fingerprint, str) and len(fingerprint) == 64):
            h.fail("'data_fingerprint' should be a SHA-256 hex digest or null")
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
    for name, a in [*zip(names, params), *opt_arrays.items()]:
        if not np.all(np.isfinite(a)):
            h.fail(f"array {name!r} contains NaN or infinity")
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
    if opt_names:
        state = optimizer.state_dict()
        if isinstance(optimizer, Momentum):
            state["velocities"] = [opt_arrays[f"velocity{i}"] for i in range(2 * layers)]
        else:
            state["m"] = [opt_arrays[f"m{i}"] for i in range(2 * layers)]
            state["v"] = [opt_arrays[f"v{i}"] for i in range(2 * layers)]
        optimizer.load_state_dict(state, net.weights + net.biases)
    net.optimizer = optimizer
    return Checkpoint(network=net, optimizer=optimizer, epochs_done=epochs_done,
                      training=training, config=config, data_fingerprint=fingerprint)
