"""Saving and loading a VAE as JSON or .npz, validated like every model file of the library.

Two formats, chosen by the file name's suffix:

* ``.json``: {"format": "nndl-vae", "version": 1, "input_dim", "hidden",
  "latent_dim", "activation", "dtype", "parameters": {name: nested lists}}.
  Readable anywhere, about 10x larger.
* ``.npz``: one array per parameter name plus ``__meta__``, a 0-d string array
  holding the same header without "parameters"; written uncompressed.

Loading treats the file as hostile, through the library's one reader of each
kind (network/storage): JSON read with a cap and parsed strictly; an ``.npz``
read member by member at exactly the shape and dtype the header implies, never
a pickle; the header's types and ranges checked and the parameter count
computed *before* any array is built; the set of parameter names exactly the
one the architecture implies; every value finite.  Any fault raises
ModelFileError naming the file and the fault.

``model_header``, ``check_header``, ``skeleton`` and ``install`` are public
because a training checkpoint (network/vae/checkpoint.py) stores the model the
same way, beside the optimiser's state.

Left out on purpose: optimiser state (a checkpoint's job), pickle, HDF5.
"""

import json
from pathlib import Path

import numpy as np

from ..errors import ModelFileError, UsageError
from ..storage import strict_json
from ..storage.atomic import atomic_write_text
from ..storage.header import Header, check_format, from_member
from ..storage.limits import check_parameters
from ..storage.npz import NpzReader, write_npz
from .model import MAX_DIM, VAE

FORMAT = "nndl-vae"
VERSION = 1
MAX_HIDDEN_LAYERS = 16
ACTIVATIONS = ("relu", "silu", "tanh")
HEADER_KEYS = ("format", "version", "input_dim", "hidden", "latent_dim", "activation", "dtype")


def model_header(model):
    """The architecture as the JSON object every VAE file opens with."""
    return {"format": FORMAT, "version": VERSION, "input_dim": model.input_dim,
            "hidden": list(model.hidden), "latent_dim": model.latent_dim,
            "activation": model.activation.name, "dtype": str(model.dtype)}


def save(model, path):
    """Write ``model`` to ``path`` (.json or .npz) atomically; return the Path."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        doc = model_header(model)
        doc["parameters"] = {name: p.tolist() for name, p in
                             zip(model.parameter_names(), model.parameters())}
        return atomic_write_text(path, json.dumps(doc))
    if suffix == ".npz":
        return write_npz(path, {"__meta__": np.array(json.dumps(model_header(model))),
                                **dict(zip(model.parameter_names(), model.parameters()))})
    raise UsageError(f"{path}: a VAE file name must end in .json or .npz, not {path.suffix!r}")


def check_header(h, meta, where=""):
    """Check the architecture ``meta`` (a dict, read through the Header ``h``) without
    building anything; return the number of parameters it declares."""
    if not isinstance(meta, dict):
        h.fail("the VAE header is not a JSON object")
    check_format(Header(meta, h.path), FORMAT, (VERSION,))
    h.keys(meta, HEADER_KEYS, f"'{where.rstrip('.')}'" if where else "the VAE header",
           optional=("parameters",))
    input_dim = h.number(meta, "input_dim", where, low=1, high=MAX_DIM, integer=True)
    latent_dim = h.number(meta, "latent_dim", where, low=1, high=MAX_DIM, integer=True)
    hidden = h.get(meta, "hidden", list, where)
    if len(hidden) > MAX_HIDDEN_LAYERS or not all(type(w) is int and 1 <= w <= MAX_DIM
                                                  for w in hidden):
        h.fail(f"hidden must be a list of at most {MAX_HIDDEN_LAYERS} widths from 1 to "
               f"{MAX_DIM}, got {str(hidden)[:60]}")
    h.name(meta, "activation", ACTIVATIONS, where)
    h.name(meta, "dtype", ("float32", "float64"), where)
    enc = [input_dim, *hidden]
    dec = [latent_dim, *reversed(hidden), input_dim]
    n_params = sum((a + 1) * b for a, b in zip(enc[:-1], enc[1:]))
    n_params += 2 * (enc[-1] + 1) * latent_dim
    n_params += sum((a + 1) * b for a, b in zip(dec[:-1], dec[1:]))
    check_parameters(n_params, h.path)
    return n_params


def skeleton(meta):
    """A model of the shape a checked header declares, with throwaway weights that
    ``install`` replaces."""
    return VAE(meta["latent_dim"], meta["hidden"], meta["activation"], meta["input_dim"],
               rng=np.random.default_rng(0), dtype=meta["dtype"])


def install(model, arrays, path):
    """Check names, shapes and values, then put the arrays into the model."""
    names = model.parameter_names()
    missing = [n for n in names if n not in arrays]
    extra = sorted(set(arrays) - set(names))
    if missing:
        raise ModelFileError(f"{path}: missing parameters {missing}")
    if extra:
        raise ModelFileError(f"{path}: unknown parameters {[str(e)[:40] for e in extra[:5]]}")
    out = []
    for name, ref in zip(names, model.parameters()):
        a = arrays[name]
        if a.shape != ref.shape:
            raise ModelFileError(f"{path}: {name} has shape {a.shape}, expected {ref.shape} "
                                 f"from the header's layer sizes")
        a = a.astype(model.dtype)
        if not np.all(np.isfinite(a)):
            raise ModelFileError(f"{path}: {name} contains NaN or infinite values")
        out.append(a)
    model._set_parameters(out)
    return model


def _load_json(path):
    h = Header(strict_json.load(path, "VAE file", booleans=False), path)
    check_header(h, h.data)
    model = skeleton(h.data)
    params = h.get(h.data, "parameters", dict)
    shapes = dict(zip(model.parameter_names(), (p.shape for p in model.parameters())))
    arrays = {}
    for name, value in params.items():
        if name not in shapes:
            h.fail(f"unknown parameter {name[:40]!r}")
        try:
            arrays[name] = np.array(value, dtype=np.float64)  # ragged lists, strings fail here
        except (ValueError, TypeError, OverflowError):
            h.fail(f"{name} is not a rectangular array of numbers")
    return install(model, arrays, path)


def _load_npz(path):
    """The header is checked before any array is read, and each array is read at exactly
    the shape it implies (a member declaring a petabyte allocates nothing)."""
    with NpzReader(path, "VAE file") as reader:
        h = from_member(reader, "__meta__", "VAE file")
        check_header(h, h.data)
        model = skeleton(h.data)
        expected = dict(zip(model.parameter_names(), (p.shape for p in model.parameters())))
        unknown = sorted(reader.names - set(expected) - {"__meta__"})
        if unknown:
            h.fail(f"unknown parameters {[u[:40] for u in unknown[:5]]}")
        arrays = {name: reader.read(name, [np.float32, np.float64], shape)
                  for name, shape in expected.items() if name in reader.names}
    return install(model, arrays, path)


def load(path):
    """Read a VAE saved by save(); raise ModelFileError naming the file and the fault."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return _load_json(path)
    if suffix == ".npz":
        return _load_npz(path)
    raise ModelFileError(f"{path}: a VAE file name must end in .json or .npz")
