"""Saving and loading networks as JSON, compatible both ways with network2.py.

The file holds network2.py's keys ``sizes``, ``weights``, ``biases`` and
``cost`` (a class name such as "CrossEntropyCost"), so a file the book saved
loads here and a plain sigmoid network saved here loads with the book's
``load``.  Newer features add keys the book ignores: ``activation``,
``output_activation``, ``dtype``, ``format``, ``version``.

Loading treats the file as hostile until proven otherwise: read with a size cap
and parsed by the one strict-JSON reader (network/storage/strict_json.py: no
NaN/Infinity, no absurd nesting, numbers or amplification), every field's type
and shape checked against ``sizes`` before any array is built, the parameter
count within the library's limit, every value finite.  Anything else raises
ModelFileError naming the file and the fault.  Never pickle.

This module reads and writes the format only; ``load`` in network/mlp/network.py
(network2.py's module-level ``load``) builds the Network from what it reads.

Deliberately left out: optimiser state and training progress (that is a
checkpoint's job), other formats.
"""

import json

import numpy as np

from ..base.activations import ACTIVATIONS
from ..base.costs import COSTS, COSTS_BY_CLASS_NAME, get_cost
from ..storage import strict_json
from ..storage.atomic import atomic_write_text
from ..storage.header import Header
from ..storage.limits import check_parameters, parameter_count

FORMAT = "nndl-network"
VERSION = 1
KEYS = ("sizes", "weights", "biases", "cost")
OPTIONAL_KEYS = ("activation", "output_activation", "dtype", "format", "version")


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


def array_from_lists(h, value, shape, what):
    """A float64 array of exactly ``shape`` from nested lists of numbers (checked with the
    header ``h``, which names the file), finite; the outer length is checked first, so a
    mis-sized file is refused before NumPy builds anything from it."""
    if not isinstance(value, list) or len(value) != shape[0]:
        got = len(value) if isinstance(value, list) else type(value).__name__
        h.fail(f"{what} should have {shape[0]} rows, got {got}")
    try:
        arr = np.array(value, dtype=np.float64)
    except OverflowError:  # an integer beyond float64 (a 400-digit one, say)
        h.fail(f"{what} holds a number too large for a float")
    except (ValueError, TypeError):
        h.fail(f"{what} is not a rectangular array of numbers")
    if arr.shape != shape:
        h.fail(f"{what} has shape {arr.shape}, expected {shape} from its layer sizes")
    if not np.all(np.isfinite(arr)):
        h.fail(f"{what} contains NaN or infinity")
    return arr


def check_model(h):
    """The architecture of a model header: (sizes, cost, activation, output_activation,
    dtype), refused before anything is built if it is not one the library can make."""
    data = h.data
    if not isinstance(data, dict):
        h.fail(f"top level should be a JSON object, got {type(data).__name__}")
    h.keys(data, KEYS, optional=OPTIONAL_KEYS)
    sizes = h.get(data, "sizes", list)
    if not 2 <= len(sizes) <= 1000 or not all(type(s) is int and 1 <= s <= 10_000_000
                                              for s in sizes):
        h.fail(f"'sizes' should be two or more positive whole numbers, got {str(sizes)[:80]}")
    check_parameters(parameter_count(sizes), f"{h.path}: 'sizes' {str(sizes)[:80]}")
    cost = get_cost(h.name(data, "cost", {**COSTS_BY_CLASS_NAME, **COSTS}))
    activation = h.name(data, "activation", ACTIVATIONS) if "activation" in data else "sigmoid"
    output = h.name(data, "output_activation", ACTIVATIONS) \
        if data.get("output_activation") is not None else None
    dtype = h.name(data, "dtype", ("float64", "float32")) if "dtype" in data else "float64"
    return sizes, cost, activation, output, dtype


def read_network(path):
    """A model file's contents, checked: {"sizes", "cost", "activation",
    "output_activation", "dtype", "weights", "biases"} with the arrays as float64 in the
    book's shapes.  ``network.load`` (network/mlp/network.py) builds the Network."""
    h = Header(strict_json.load(path, "model file", booleans=False), path)
    sizes, cost, activation, output, dtype = check_model(h)
    weights, biases = h.get(h.data, "weights", list), h.get(h.data, "biases", list)
    layers = len(sizes) - 1
    if len(weights) != layers or len(biases) != layers:
        h.fail(f"{len(sizes)} layers need {layers} weight and bias arrays, got {len(weights)} "
               f"and {len(biases)}")
    ws, bs = [], []
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        ws.append(array_from_lists(h, weights[l], (n_out, n_in), f"weights[{l}]"))
        b = biases[l]
        flat = isinstance(b, list) and b and not isinstance(b[0], list)   # (n,) or (n, 1)
        bs.append(array_from_lists(h, b, (n_out,), f"biases[{l}]")[:, None] if flat
                  else array_from_lists(h, b, (n_out, 1), f"biases[{l}]"))
    return {"sizes": sizes, "cost": cost, "activation": activation, "output_activation": output,
            "dtype": dtype, "weights": ws, "biases": bs}
