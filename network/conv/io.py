"""Saving and loading a ConvNetwork as JSON or as a NumPy .npz archive (chapter 6 problem).

Both formats hold the same two things: the layer configurations (``config()`` of
each layer, the recipe to rebuild the network) and each layer's ``w`` and ``b``.

- ``.json``: {"format": "nndl-convnet", "version": 1, "dtype", "layers": [...],
  "weights": [nested lists], "biases": [lists]}; human-readable, larger.
- ``.npz``: arrays ``w0, b0, w1, b1, ...`` plus ``config``, the same JSON header
  stored as a string array; compact and exact.  Read with ``allow_pickle=False``,
  so an archive holding Python objects is refused, never executed.

Loading treats the file as hostile: size capped before reading, strict JSON,
every layer type and shape checked and the layers' chaining validated before any
weight array is built, every array's shape and finiteness checked.  Faults
raise ModelFileError naming the file and the fault.

Deliberately left out: optimiser state and training history (a checkpoint's job).
"""

import io
import json
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..errors import ModelFileError, NNDLError
from ..storage.atomic import atomic_write_bytes, atomic_write_text

FORMAT = "nndl-convnet"
VERSION = 1
MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_PARAMETERS = 20_000_000
MAX_LAYERS = 64


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
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write_bytes(path, buf.getvalue())
    else:
        raise ModelFileError(f"{path}: unknown model file type {path.suffix!r}; "
                             f"use .json or .npz")


def _reject_constant(name):
    raise ValueError(f"{name} is not a finite number")


def _loads(text, path):
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ModelFileError(f"{path}: JSON nested far too deeply; not a model file") from None
    except ValueError as exc:
        raise ModelFileError(f"{path}: not valid model JSON ({exc})") from None


def _build(header, path):
    """The ConvNetwork described by ``header``, with fresh (to be replaced) weights."""
    from .layers import layer_from_config
    from .network import ConvNetwork

    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a ConvNetwork file (format should be {FORMAT!r})")
    if header.get("version") != VERSION:
        raise ModelFileError(f"{path}: unsupported version {str(header.get('version'))[:20]!r}; "
                             f"this library reads version {VERSION}")
    dtype = header.get("dtype")
    if dtype not in ("float32", "float64"):
        raise ModelFileError(f"{path}: dtype should be float32 or float64, got {str(dtype)[:20]!r}")
    configs = header.get("layers")
    if not isinstance(configs, list) or not 1 <= len(configs) <= MAX_LAYERS:
        raise ModelFileError(f"{path}: 'layers' should be a list of 1..{MAX_LAYERS} layer configs")
    layers = []
    for l, cfg in enumerate(configs):
        if not isinstance(cfg, dict) or not all(
                isinstance(v, (str, int, float, list)) and not isinstance(v, bool)
                for v in cfg.values()):
            raise ModelFileError(f"{path}: layer {l} config is not a flat JSON object")
        for v in cfg.values():
            if isinstance(v, list) and not all(type(x) is int and 0 < x <= 100_000 for x in v):
                raise ModelFileError(f"{path}: layer {l} has a shape that is not small "
                                     f"positive whole numbers: {str(v)[:60]}")
            if type(v) is int and not 0 < v <= 10_000_000:
                raise ModelFileError(f"{path}: layer {l} has an out-of-range size {v}")
        try:
            layers.append(layer_from_config(cfg))
        except (NNDLError, TypeError, KeyError, ValueError, OverflowError) as exc:
            raise ModelFileError(f"{path}: layer {l} config is invalid ({exc})") from None
    n_params = sum(int(np.prod(_w_shape(layer))) + _b_len(layer) for layer in layers)
    if n_params > MAX_PARAMETERS:
        raise ModelFileError(f"{path}: the layers declare {n_params} parameters, more than "
                             f"{MAX_PARAMETERS}; refusing to build them")
    try:
        return ConvNetwork(layers, seed=0, dtype=dtype)
    except NNDLError as exc:
        raise ModelFileError(f"{path}: inconsistent layers: {exc}") from None


def _w_shape(layer):
    return layer.filter_shape if hasattr(layer, "filter_shape") else (layer.n_out, layer.n_in)


def _b_len(layer):
    return layer.filter_shape[0] if hasattr(layer, "filter_shape") else layer.n_out


def _set(net, weights, biases, path):
    for l, (layer, w, b) in enumerate(zip(net.layers, weights, biases)):
        for name, arr, shape in (("w", w, _w_shape(layer)), ("b", b, (_b_len(layer),))):
            try:
                arr = np.asarray(arr, dtype=np.float64)
            except (ValueError, TypeError, OverflowError):   # OverflowError: a 400-digit integer
                raise ModelFileError(f"{path}: layer {l} {name} is not a rectangular array "
                                     f"of numbers") from None
            if arr.shape != tuple(shape):
                raise ModelFileError(f"{path}: layer {l} {name} has shape {arr.shape}, "
                                     f"expected {tuple(shape)} from its config")
            if not np.all(np.isfinite(arr)):
                raise ModelFileError(f"{path}: layer {l} {name} contains NaN or infinity")
            setattr(layer, name, arr.astype(net.dtype))
    return net


def _check_npz_headers(z, net, path):
    """Read each array's .npy header (not its data) and check dtype and shape, so a
    compressed archive cannot make us inflate a huge array before it is refused."""
    for l, layer in enumerate(net.layers):
        for name, shape in (("w", _w_shape(layer)), ("b", (_b_len(layer),))):
            with z.zip.open(f"{name}{l}.npy") as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    got, _, dtype = np.lib.format.read_array_header_1_0(f)
                else:
                    got, _, dtype = np.lib.format.read_array_header_2_0(f)
            if tuple(got) != tuple(shape) or dtype.kind != "f":
                raise ModelFileError(f"{path}: layer {l} {name} is {dtype} {tuple(got)}, "
                                     f"expected floats of shape {tuple(shape)} from its config")


def load_conv_network(path):
    """Load a ConvNetwork saved by ``ConvNetwork.save`` (.json or .npz)."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError:
        raise ModelFileError(f"{path}: no such model file; check the path") from None
    if size > MAX_FILE_BYTES:
        raise ModelFileError(f"{path}: {size} bytes is larger than any model this library "
                             f"writes; refusing to read it")
    raw = path.read_bytes()
    if raw[:4] == b"PK\x03\x04":                       # a zip archive: .npz
        try:
            with np.load(io.BytesIO(raw), allow_pickle=False) as z:
                if "config" not in z.files:
                    raise ModelFileError(f"{path}: .npz without a 'config' entry; "
                                         f"not a ConvNetwork file")
                config = z["config"]
                if config.dtype.kind != "U" or config.shape != ():
                    raise ModelFileError(f"{path}: 'config' should be a JSON string")
                net = _build(_loads(str(config), path), path)
                n = len(net.layers)
                expected = {f"{c}{l}" for l in range(n) for c in "wb"} | {"config"}
                if set(z.files) != expected:
                    raise ModelFileError(f"{path}: arrays {sorted(z.files)[:12]} do not match "
                                         f"the {n} layers of its config")
                _check_npz_headers(z, net, path)  # before any weight array is read
                return _set(net, [z[f"w{l}"] for l in range(n)], [z[f"b{l}"] for l in range(n)],
                            path)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError,
                KeyError, UnicodeDecodeError) as exc:
            # NotImplementedError: zipfile meeting a compression method it does not know
            raise ModelFileError(f"{path}: damaged .npz archive ({type(exc).__name__}: "
                                 f"{str(exc)[:80]})") from None
        except ValueError as exc:
            if isinstance(exc, NNDLError):
                raise
            # np.load refuses object arrays with allow_pickle=False: say so plainly
            raise ModelFileError(f"{path}: the archive holds something other than plain "
                                 f"numeric arrays ({exc}); refusing to load it") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ModelFileError(f"{path}: neither JSON nor .npz; not a model file") from None
    header = _loads(text, path)
    net = _build(header, path)
    weights, biases = header.get("weights"), header.get("biases")
    n = len(net.layers)
    if not (isinstance(weights, list) and isinstance(biases, list)
            and len(weights) == n and len(biases) == n):
        raise ModelFileError(f"{path}: 'weights' and 'biases' should be lists of {n} arrays")
    return _set(net, weights, biases, path)
