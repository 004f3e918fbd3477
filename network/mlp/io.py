"""Saving and loading networks as JSON, compatible both ways with network2.py.

The file holds network2.py's keys ``sizes``, ``weights``, ``biases`` and
``cost`` (a class name such as "CrossEntropyCost"), so a file the book saved
loads here and a plain sigmoid network saved here loads with the book's
``load``.  Newer features add keys the book ignores: ``activation``,
``output_activation``, ``dtype``, ``format``, ``version``.

Loading treats the file as hostile until proven otherwise: size capped before
reading, strict JSON (no NaN/Infinity, no absurd nesting or numbers), every
field's type and shape checked against ``sizes`` before any array is built,
every value finite.  Anything else raises ModelFileError naming the file and
the fault.  Never pickle.

Deliberately left out: optimiser state and training progress (that is a
checkpoint's job), other formats.
"""

import json
from pathlib import Path

import numpy as np

from ..base.activations import ACTIVATIONS
from ..base.costs import get_cost
from ..errors import ModelFileError, UsageError
from ..storage.atomic import atomic_write_text
from ..storage.untrusted import checked_size, strict_json

FORMAT = "nndl-network"
VERSION = 1
MAX_FILE_BYTES = 512 * 1024 * 1024   # far above any book network (784-100-10 is ~2 MB)
MAX_PARAMETERS = 50_000_000          # checked from `sizes` before anything is allocated


def network_to_dict(net):
    """The JSON-ready dict for a Network (book keys first)."""
    return {
        "sizes": list(net.sizes),
        "weights": [w.tolist() for w in net.weights],   # (n_out, n_in) as nested lists
        "biases": [b.tolist() for b in net.biases],     # (n_out, 1), as the book wrote them
        "cost": net.cost.__name__,                      # book format: the class name
        "activation": net.activation.name,
        "output_activation": net.output_activation.name,
        "dtype": str(net.dtype),
        "format": FORMAT,
        "version": VERSION,
    }


def save_network(net, path):
    """Write ``net`` to ``path`` as JSON, atomically (temporary file, then rename)."""
    atomic_write_text(path, json.dumps(network_to_dict(net)))


def _parse(path):
    path = Path(path)
    checked_size(path, MAX_FILE_BYTES, "model file")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ModelFileError(f"{path}: not a text file (invalid UTF-8); "
                             f"a model file is JSON written by Network.save") from None
    return strict_json(text, path, "model")


def _field(data, key, kind, path):
    if key not in data:
        raise ModelFileError(f"{path}: missing field {key!r}; not a network file")
    if not isinstance(data[key], kind):
        raise ModelFileError(f"{path}: field {key!r} should be a {kind.__name__}, "
                             f"got {type(data[key]).__name__}")
    return data[key]


def _array(value, shape, what, path):
    """A float64 array of exactly ``shape`` from nested lists of numbers, or an error."""
    # Check the outer length first: it is cheap and stops a mis-sized file before numpy
    # builds anything from it.
    if not isinstance(value, list) or len(value) != shape[0]:
        got = len(value) if isinstance(value, list) else type(value).__name__
        raise ModelFileError(f"{path}: {what} should have {shape[0]} rows, got {got}")
    try:
        arr = np.array(value, dtype=np.float64)
    except OverflowError:  # an integer beyond float64 (a 400-digit one, say)
        raise ModelFileError(f"{path}: {what} holds a number too large for a float") from None
    except (ValueError, TypeError):
        raise ModelFileError(f"{path}: {what} is not a rectangular array of numbers") from None
    if arr.shape != shape:
        raise ModelFileError(f"{path}: {what} has shape {arr.shape}, expected {shape} "
                             f"from 'sizes'")
    if not np.all(np.isfinite(arr)):
        raise ModelFileError(f"{path}: {what} contains NaN or infinity")
    return arr


def load_network(path):
    """Load a network saved by ``Network.save`` or by the book's network2.py."""
    from .network import Network  # here, not at the top: network.py imports this module

    data = _parse(path)
    if not isinstance(data, dict):
        raise ModelFileError(f"{path}: top level should be a JSON object, got "
                             f"{type(data).__name__}")
    sizes = _field(data, "sizes", list, path)
    if len(sizes) < 2 or not all(type(s) is int and 1 <= s <= 10_000_000 for s in sizes):
        raise ModelFileError(f"{path}: 'sizes' should be two or more positive whole numbers, "
                             f"got {str(sizes)[:80]}")
    n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    if n_params > MAX_PARAMETERS:
        raise ModelFileError(f"{path}: 'sizes' {sizes} declares {n_params} parameters, more "
                             f"than {MAX_PARAMETERS}; refusing to build it")
    cost_name = _field(data, "cost", str, path)
    try:
        cost = get_cost(cost_name)
    except UsageError:
        raise ModelFileError(f"{path}: unknown cost {cost_name[:60]!r}; expected QuadraticCost, "
                             f"CrossEntropyCost or LogLikelihoodCost") from None
    names = {}
    for key, default in (("activation", "sigmoid"), ("output_activation", None)):
        name = data.get(key, default)
        if name is not None and (not isinstance(name, str) or name not in ACTIVATIONS):
            raise ModelFileError(f"{path}: unknown {key} {str(name)[:60]!r}; expected one of "
                                 f"{', '.join(sorted(ACTIVATIONS))}")
        names[key] = name
    dtype = data.get("dtype", "float64")
    if dtype not in ("float64", "float32"):
        raise ModelFileError(f"{path}: dtype should be float64 or float32, got {str(dtype)[:40]!r}")
    weights = _field(data, "weights", list, path)
    biases = _field(data, "biases", list, path)
    if len(weights) != len(sizes) - 1 or len(biases) != len(sizes) - 1:
        raise ModelFileError(f"{path}: {len(sizes)} layers need {len(sizes) - 1} weight and bias "
                             f"arrays, got {len(weights)} and {len(biases)}")
    ws, bs = [], []
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        ws.append(_array(weights[l], (n_out, n_in), f"weights[{l}]", path))
        b = biases[l]
        flat = isinstance(b, list) and b and not isinstance(b[0], list)
        bs.append(_array(b, (n_out,), f"biases[{l}]", path)[:, None] if flat
                  else _array(b, (n_out, 1), f"biases[{l}]", path))
    try:
        net = Network(sizes, cost=cost, activation=names["activation"],
                      output_activation=names["output_activation"], dtype=dtype, seed=0)
    except UsageError as exc:
        raise ModelFileError(f"{path}: inconsistent model: {exc}") from None
    net.weights = [w.astype(net.dtype) for w in ws]
    net.biases = [b.astype(net.dtype) for b in bs]
    return net


def load(path):
    """network2.py's module-level name for ``load_network``."""
    return load_network(path)
