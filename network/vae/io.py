"""Saving and loading a VAE as JSON or .npz, validated like the Network's model files.

Two formats, chosen by the file name's suffix:

* ``.json``: {"format": "nndl-vae", "version": 1, "input_dim", "hidden",
  "latent_dim", "activation", "dtype", "parameters": {name: nested lists}}.
  Readable anywhere, about 10x larger.
* ``.npz``: one array per parameter name plus ``__meta__``, a 0-d string array
  holding the same JSON header without "parameters". Written uncompressed
  with np.savez; read member by member with numpy's .npy reader and
  ``allow_pickle=False``, so an object array (the way a pickle would hide
  inside) is refused, never executed.

Loading treats the file as hostile: the file size and (for .npz) every
member's uncompressed size are capped before anything is read; the header's
types and ranges are checked and the parameter count computed *before* any
array is built; the set of parameter names must be exactly the one the
architecture implies; every .npy header must declare its array's exact shape
and a float dtype before the array is read (so a header declaring a petabyte
allocates nothing); every value must be finite. Any fault raises ModelFileError naming the file and the fault.

``model_header``, ``check_header``, ``skeleton`` and ``install`` are public
because a training checkpoint (network/vae/checkpoint.py) stores the model the
same way, beside the optimiser's state.

Left out on purpose: optimiser state (a checkpoint's job), pickle, HDF5.
"""

import io
import json
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..errors import ModelFileError, UsageError
from ..storage.untrusted import checked_size, reject_constant
from ..storage.atomic import atomic_write_bytes, atomic_write_text
from .model import MAX_DIM, VAE

FORMAT = "nndl-vae"
VERSION = 1
MAX_FILE_BYTES = 512 * 1024 * 1024  # the 784-400-20 model is ~2.6 MB as float32 .npz
MAX_PARAMETERS = 50_000_000  # checked from the header before any array is allocated
MAX_HIDDEN_LAYERS = 16
ACTIVATIONS = ("relu", "silu", "tanh")


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
        buf = io.BytesIO()
        arrays = dict(zip(model.parameter_names(), model.parameters()))
        np.savez(buf, __meta__=np.array(json.dumps(model_header(model))), **arrays)
        return atomic_write_bytes(path, buf.getvalue())
    raise UsageError(f"{path}: a VAE file name must end in .json or .npz, not {path.suffix!r}")


def check_header(meta, path):
    """Validate the header dict (types, ranges, size) without building anything; return the
    number of parameters it declares."""
    if not isinstance(meta, dict):
        raise ModelFileError(f"{path}: the header is not a JSON object")
    if meta.get("format") != FORMAT:
        raise ModelFileError(f"{path}: format is {meta.get('format')!r}, expected {FORMAT!r}; "
                             f"not a VAE file written by network.vae.save")
    if meta.get("version") != VERSION:
        raise ModelFileError(f"{path}: unsupported version {meta.get('version')!r} (this code reads {VERSION})")
    unknown = set(meta) - {"format", "version", "input_dim", "hidden", "latent_dim",
                           "activation", "dtype", "parameters"}
    if unknown:
        raise ModelFileError(f"{path}: unknown header fields {sorted(unknown)}")

    def dim(key, value):
        if type(value) is not int or not 1 <= value <= MAX_DIM:
            raise ModelFileError(f"{path}: {key} must be an integer from 1 to {MAX_DIM}, got {value!r}")
        return value

    input_dim = dim("input_dim", meta.get("input_dim"))
    latent_dim = dim("latent_dim", meta.get("latent_dim"))
    hidden = meta.get("hidden")
    if not isinstance(hidden, list) or len(hidden) > MAX_HIDDEN_LAYERS:
        raise ModelFileError(f"{path}: hidden must be a list of at most {MAX_HIDDEN_LAYERS} widths, got {hidden!r}")
    hidden = [dim("hidden width", h) for h in hidden]
    if meta.get("activation") not in ACTIVATIONS:
        raise ModelFileError(f"{path}: activation must be one of {', '.join(ACTIVATIONS)}, "
                             f"got {meta.get('activation')!r}")
    if meta.get("dtype") not in ("float32", "float64"):
        raise ModelFileError(f"{path}: dtype must be float32 or float64, got {meta.get('dtype')!r}")
    enc = [input_dim, *hidden]
    dec = [latent_dim, *reversed(hidden), input_dim]
    n_params = sum((a + 1) * b for a, b in zip(enc[:-1], enc[1:]))
    n_params += 2 * (enc[-1] + 1) * latent_dim
    n_params += sum((a + 1) * b for a, b in zip(dec[:-1], dec[1:]))
    if n_params > MAX_PARAMETERS:
        raise ModelFileError(f"{path}: the header declares {n_params} parameters, more than "
                             f"{MAX_PARAMETERS}; refusing to build it")
    return n_params


def skeleton(meta):
    """A model of the shape a checked header declares, with throwaway weights that
    ``install`` replaces."""
    return VAE(meta["latent_dim"], meta["hidden"], meta["activation"], meta["input_dim"],
               rng=np.random.default_rng(0), dtype=meta["dtype"])


def _check_header(meta, path):
    check_header(meta, path)
    return skeleton(meta)


def install(model, arrays, path):
    """Check names, shapes and values, then put the arrays into the model."""
    names = model.parameter_names()
    missing = [n for n in names if n not in arrays]
    extra = sorted(set(arrays) - set(names))
    if missing:
        raise ModelFileError(f"{path}: missing parameters {missing}")
    if extra:
        raise ModelFileError(f"{path}: unknown parameters {extra}")
    out = []
    for name, ref in zip(names, model.parameters()):
        a = arrays[name]
        if a.shape != ref.shape:
            raise ModelFileError(f"{path}: {name} has shape {a.shape}, expected {ref.shape} "
                                 f"from the header's layer sizes")
        if a.dtype.kind not in "fi":
            raise ModelFileError(f"{path}: {name} has dtype {a.dtype}, expected floats")
        a = a.astype(model.dtype)
        if not np.all(np.isfinite(a)):
            raise ModelFileError(f"{path}: {name} contains NaN or infinite values")
        out.append(a)
    model._set_parameters(out)
    return model


def _load_json(path):
    try:
        doc = json.loads(path.read_bytes().decode("utf-8"), parse_constant=reject_constant)
    except UnicodeDecodeError:
        raise ModelFileError(f"{path}: not a text file (invalid UTF-8)") from None
    except RecursionError:
        raise ModelFileError(f"{path}: JSON nested far too deeply; not a VAE file") from None
    except ValueError as exc:
        raise ModelFileError(f"{path}: not valid VAE JSON ({exc})") from None
    model = _check_header(doc, path)
    params = doc.get("parameters")
    if not isinstance(params, dict):
        raise ModelFileError(f"{path}: 'parameters' must be an object of name -> nested lists")
    arrays = {}
    shapes = dict(zip(model.parameter_names(), (p.shape for p in model.parameters())))
    for name, value in params.items():
        if name not in shapes:
            raise ModelFileError(f"{path}: unknown parameter {name!r}")
        try:
            a = np.array(value)  # ragged lists fail here
        except (ValueError, TypeError):
            a = None
        if a is None or a.dtype.kind not in "fi":  # strings, booleans, objects are refused
            raise ModelFileError(f"{path}: {name} is not a rectangular array of numbers")
        arrays[name] = a
    return install(model, arrays, path)


MAX_META_CHARS = 1 << 16  # the header JSON is a few hundred characters
# What a damaged zip or .npy can raise inside zipfile, zlib and numpy's header parser.
_READ_ERRORS = (ValueError, OSError, EOFError, KeyError, NotImplementedError, RuntimeError,
                SyntaxError, struct.error, zlib.error, zipfile.BadZipFile)


def _npy_header(zf, name, path):
    """(shape, dtype) from member ``name``'s .npy header, read without touching its data."""
    with zf.open(name) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ModelFileError(f"{path}: {name} uses .npy format version {version}, "
                                 f"which this code does not write")
    return shape, dtype


def _npy_read(zf, name):
    with zf.open(name) as f:
        return np.lib.format.read_array(f, allow_pickle=False)


def _load_npz(path):
    """Every .npy header is checked against the architecture *before* its array is read,
    so a member that declares a petabyte shape is refused without allocating anything."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            total = sum(i.file_size for i in infos)
            if total > MAX_FILE_BYTES:
                raise ModelFileError(f"{path}: members expand to {total} bytes, more than "
                                     f"{MAX_FILE_BYTES}; refusing to read it")
            members = {i.filename[:-4]: i.filename for i in infos if i.filename.endswith(".npy")}
            strays = sorted(i.filename for i in infos if not i.filename.endswith(".npy"))
            if strays:
                raise ModelFileError(f"{path}: unexpected members {strays}; a VAE .npz holds only .npy arrays")
            if "__meta__" not in members:
                raise ModelFileError(f"{path}: no __meta__ header; not a VAE file written by network.vae.save")
            shape, dtype = _npy_header(zf, members["__meta__"], path)
            if dtype.kind != "U" or shape != () or dtype.itemsize > 4 * MAX_META_CHARS:
                raise ModelFileError(f"{path}: __meta__ must be a single string of at most "
                                     f"{MAX_META_CHARS} characters")
            try:
                meta = json.loads(str(_npy_read(zf, members["__meta__"])), parse_constant=reject_constant)
            except (ValueError, RecursionError) as exc:
                raise ModelFileError(f"{path}: __meta__ is not valid JSON ({exc})") from None
            model = _check_header(meta, path)
            expected = dict(zip(model.parameter_names(), (p.shape for p in model.parameters())))
            unknown = sorted(set(members) - set(expected) - {"__meta__"})
            if unknown:
                raise ModelFileError(f"{path}: unknown parameters {unknown}")
            arrays = {}
            for name in expected:
                if name not in members:
                    continue  # reported as missing by install
                shape, dtype = _npy_header(zf, members[name], path)
                if shape != expected[name]:
                    raise ModelFileError(f"{path}: {name} has shape {shape}, expected {expected[name]} "
                                         f"from the header's layer sizes")
                if dtype.kind not in "fi" or dtype.itemsize > 8:
                    raise ModelFileError(f"{path}: {name} has dtype {dtype}, expected floats")
                arrays[name] = _npy_read(zf, members[name])
    except ModelFileError:
        raise
    except _READ_ERRORS as exc:
        # Covers object arrays refused by allow_pickle=False, bad .npy headers, truncated or
        # corrupt zip data, undecodable member names and unknown compression methods.
        raise ModelFileError(f"{path}: unreadable .npz data ({type(exc).__name__}: {exc})") from None
    return install(model, arrays, path)


def load(path):
    """Read a VAE saved by save(); raise ModelFileError naming the file and the fault."""
    path = Path(path)
    checked_size(path, MAX_FILE_BYTES, "VAE file")
    suffix = path.suffix.lower()
    if suffix == ".json":
        return _load_json(path)
    if suffix == ".npz":
        return _load_npz(path)
    raise ModelFileError(f"{path}: a VAE file name must end in .json or .npz")
