"""Saving and loading a ConvNetwork as JSON or as a NumPy .npz archive (chapter 6 problem).

Both formats hold the same two things: the layer configurations (``config()`` of
each layer, the recipe to rebuild the network) and each layer's ``w`` and ``b``.

- ``.json``: {"format": "nndl-convnet", "version": 1, "dtype", "layers": [...],
  "weights": [nested lists], "biases": [lists]}; human-readable, larger.
- ``.npz``: arrays ``w0, b0, w1, b1, ...`` plus ``config``, the same header
  stored as a string array; compact and exact; uncompressed.

Loading treats the file as hostile, through the library's one reader of each
kind (network/storage): JSON read with a cap and parsed strictly, an ``.npz``
read member by member at exactly the shape the header implies (compressed
members and pickles refused); every layer type and shape checked and the
layers' chaining validated before any weight array is built; every array's
shape and finiteness checked.  Faults raise ModelFileError naming the file.

This module reads and writes the format only; ``load_conv_network`` in
network/conv/network.py builds the network from what it reads.

Deliberately left out: optimiser state and training history (a checkpoint's job).
"""

import json
from pathlib import Path

import numpy as np

from ..errors import ModelFileError, NNDLError
from ..storage import strict_json
from ..storage.atomic import atomic_write_text
from ..storage.header import Header, check_format, from_member
from ..storage.limits import check_parameters
from ..storage.npz import NpzReader, write_npz

FORMAT = "nndl-convnet"
VERSION = 1
MAX_LAYERS = 64
HEADER_KEYS = ("format", "version", "dtype", "layers")


def _header(net):
    return {"format": FORMAT, "version": VERSION, "dtype": str(net.dtype),
            "layers": [layer.config() for layer in net.layers]}


def save_conv_network(net, path):
    """Write ``net`` to ``path`` (.json or .npz), atomically."""
    path = Path(path)
    header = _header(net)
    if path.suffix == ".json":
        header["weights"] = [layer.w.tolist() for layer in net.layers]
        header["biases"] = [layer.b.tolist() for layer in net.layers]
        atomic_write_text(path, json.dumps(header))
    elif path.suffix == ".npz":
        arrays = {"config": np.array(json.dumps(header))}   # a unicode scalar, no pickle
        for l, layer in enumerate(net.layers):
            arrays[f"w{l}"], arrays[f"b{l}"] = layer.w, layer.b
        write_npz(path, arrays)
    else:
        raise ModelFileError(f"{path}: unknown model file type {path.suffix!r}; "
                             f"use .json or .npz")


def _layers(h):
    """The layers the header describes (without weights), each checked before it is built."""
    from .layers import check_chain, layer_from_config

    check_format(h, FORMAT, (VERSION,))
    h.keys(h.data, HEADER_KEYS, optional=("weights", "biases"))
    configs = h.get(h.data, "layers", list)
    if not 1 <= len(configs) <= MAX_LAYERS:
        h.fail(f"'layers' should be a list of 1..{MAX_LAYERS} layer configs")
    layers = []
    for l, cfg in enumerate(configs):
        if not isinstance(cfg, dict) or not all(
                isinstance(v, (str, int, float, list)) and not isinstance(v, bool)
                for v in cfg.values()):
            h.fail(f"layer {l} config is not a flat JSON object")
        for v in cfg.values():
            if isinstance(v, list) and not all(type(x) is int and 0 < x <= 100_000 for x in v):
                h.fail(f"layer {l} has a shape that is not small positive whole numbers: "
                       f"{str(v)[:60]}")
            if type(v) is int and not 0 < v <= 10_000_000:
                h.fail(f"layer {l} has an out-of-range size {v}")
        try:
            layers.append(layer_from_config(cfg))
        except (NNDLError, TypeError, KeyError, ValueError, OverflowError) as exc:
            h.fail(f"layer {l} config is invalid ({exc})")
    try:
        check_chain(layers)
    except NNDLError as exc:
        h.fail(f"inconsistent layers: {exc}")
    check_parameters(sum(layer.n_params for layer in layers), h.path)
    return layers


def _w_shape(layer):
    return layer.filter_shape if hasattr(layer, "filter_shape") else (layer.n_out, layer.n_in)


def _b_len(layer):
    return layer.filter_shape[0] if hasattr(layer, "filter_shape") else layer.n_out


def _arrays(h, layers, weights, biases):
    """Each layer's (w, b) as float64 arrays of the shapes its config implies, finite."""
    out = []
    for l, (layer, w, b) in enumerate(zip(layers, weights, biases)):
        pair = []
        for name, arr, shape in (("w", w, _w_shape(layer)), ("b", b, (_b_len(layer),))):
            try:
                arr = np.asarray(arr, dtype=np.float64)
            except (ValueError, TypeError, OverflowError):   # OverflowError: a 400-digit integer
                h.fail(f"layer {l} {name} is not a rectangular array of numbers")
            if arr.shape != tuple(shape):
                h.fail(f"layer {l} {name} has shape {arr.shape}, expected {tuple(shape)} "
                       f"from its config")
            if not np.all(np.isfinite(arr)):
                h.fail(f"layer {l} {name} contains NaN or infinity")
            pair.append(arr)
        out.append(tuple(pair))
    return out


def _read_npz(path):
    with NpzReader(path, "model file") as reader:
        h = from_member(reader, "config", "model file")
        layers = _layers(h)
        n = len(layers)
        expected = {f"{c}{l}" for l in range(n) for c in "wb"} | {"config"}
        if reader.names != expected:
            h.fail(f"arrays {sorted(reader.names)[:12]} do not match the {n} layers of its config")
        floats = [np.float32, np.float64]
        weights = [reader.read(f"w{l}", floats, _w_shape(layer)) for l, layer in enumerate(layers)]
        biases = [reader.read(f"b{l}", floats, (_b_len(layer),)) for l, layer in enumerate(layers)]
    return h, layers, weights, biases


def read_conv_network(path):
    """A model file's contents, checked: (layers without weights, dtype, [(w, b) per layer]).
    ``load_conv_network`` (network/conv/network.py) builds the ConvNetwork from them."""
    path = Path(path)
    if path.suffix.lower() == ".npz":
        h, layers, weights, biases = _read_npz(path)
    else:
        h = Header(strict_json.load(path, "model file", booleans=False), path)
        layers = _layers(h)
        weights, biases = h.get(h.data, "weights", list), h.get(h.data, "biases", list)
        if len(weights) != len(layers) or len(biases) != len(layers):
            h.fail(f"'weights' and 'biases' should be lists of {len(layers)} arrays")
    dtype = h.name(h.data, "dtype", ("float32", "float64"))
    return layers, dtype, _arrays(h, layers, weights, biases)
