"""Saving and loading a VAE as JSON or .npz, validated like the Network's model files.

Two formats, chosen by the file name's suffix:

* ``.json``: {"format": "nndl-vae", "version": 1, "input_dim", "hidden",
  "latent_dim", "activation", "dtype", "parameters": {name: nested lists}}.
  Readable anywhere, about 10x larger.
* ``.npz``: one array per parameter name plus ``__meta__``, a 0-d string array
  holding the same JSON header without "parameters". Written uncompressed
  with np.savez and read with ``allow_pickle=False``, so an object array (the
  way a pickle would hide inside) is refused, never executed.

Loading treats the file as hostile: the file size and (for .npz) every
member's uncompressed size are capped before anything is read; the header's
types and ranges are checked and the parameter count computed *before* any
array is built; the set of parameter names must be exactly the one the
architecture implies; every array must have its exact shape, a float dtype and
finite values. Any fault raises ModelFileError naming the file and the fault.

Left out on purpose: optimiser state (a checkpoint's job), pickle, HDF5.
"""

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from ..errors import ModelFileError, UsageError
from ..files import atomic_write_bytes, atomic_write_text
from .model import MAX_DIM, VAE

FORMAT = "nndl-vae"
VERSION = 1
MAX_FILE_BYTES = 512 * 1024 * 1024  # the 784-400-20 model is ~2.6 MB as float32 .npz
MAX_PARAMETERS = 50_000_000  # checked from the header before any array is allocated
MAX_HIDDEN_LAYERS = 16
ACTIVATIONS = ("relu", "silu", "tanh")


def _header(model):
    return {"format": FORMAT, "version": VERSION, "input_dim": model.input_dim,
            "hidden": list(model.hidden), "latent_dim": model.latent_dim,
            "activation": model.activation.name, "dtype": str(model.dtype)}


def save(model, path):
    """Write ``model`` to ``path`` (.json or .npz) atomically; return the Path."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        doc = _header(model)
        doc["parameters"] = {name: p.tolist() for name, p in
                             zip(model.parameter_names(), model.parameters())}
        return atomic_write_text(path, json.dumps(doc))
    if suffix == ".npz":
        buf = io.BytesIO()
        arrays = dict(zip(model.parameter_names(), model.parameters()))
        np.savez(buf, __meta__=np.array(json.dumps(_header(model))), **arrays)
        return atomic_write_bytes(path, buf.getvalue())
    raise UsageError(f"{path}: a VAE file name must end in .json or .npz, not {path.suffix!r}")


def _reject_constant(name):
    raise ValueError(f"{name} is not a finite number")


def _check_header(meta, path):
    """Validate the header dict and return a VAE skeleton with the expected shapes."""
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
    # A model of the declared shape, with throwaway weights that are all replaced below.
    model = VAE(latent_dim, hidden, meta["activation"], input_dim,
                rng=np.random.default_rng(0), dtype=meta["dtype"])
    return model


def _install(model, arrays, path):
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
        doc = json.loads(path.read_bytes().decode("utf-8"), parse_constant=_reject_constant)
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
    return _install(model, arrays, path)


def _load_npz(path):
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelFileError(f"{path}: not a valid .npz (zip) file ({exc})") from None
    total = sum(i.file_size for i in infos)
    if total > MAX_FILE_BYTES:
        raise ModelFileError(f"{path}: members expand to {total} bytes, more than "
                             f"{MAX_FILE_BYTES}; refusing to read it")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "__meta__" not in npz.files:
                raise ModelFileError(f"{path}: no __meta__ header; not a VAE file written by network.vae.save")
            meta_arr = npz["__meta__"]
            if meta_arr.dtype.kind != "U" or meta_arr.shape != ():
                raise ModelFileError(f"{path}: __meta__ must be a single string")
            try:
                meta = json.loads(str(meta_arr), parse_constant=_reject_constant)
            except (ValueError, RecursionError) as exc:
                raise ModelFileError(f"{path}: __meta__ is not valid JSON ({exc})") from None
            model = _check_header(meta, path)
            known = set(model.parameter_names())
            unknown = sorted(set(npz.files) - known - {"__meta__"})
            if unknown:
                raise ModelFileError(f"{path}: unknown parameters {unknown}")
            arrays = {name: npz[name] for name in npz.files if name in known}
    except ModelFileError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        # ValueError covers object arrays refused by allow_pickle=False and bad .npy headers.
        raise ModelFileError(f"{path}: unreadable array data ({exc})") from None
    return _install(model, arrays, path)


def load(path):
    """Read a VAE saved by save(); raise ModelFileError naming the file and the fault."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such VAE file; check the path") from None
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read the VAE file ({exc.strerror})") from None
    if size > MAX_FILE_BYTES:
        raise ModelFileError(f"{path}: {size} bytes is larger than any VAE this library writes "
                             f"({MAX_FILE_BYTES} bytes at most); refusing to read it")
    suffix = path.suffix.lower()
    if suffix == ".json":
        return _load_json(path)
    if suffix == ".npz":
        return _load_npz(path)
    raise ModelFileError(f"{path}: a VAE file name must end in .json or .npz")
