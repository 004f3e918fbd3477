"""Thousands of seeded corruptions of the files this library reads: each is refused with the
library's own error (an NNDLError), quickly, with little memory -- or, when the damage happens
to leave a valid file, loads as something sane.  Never another exception, never a hang.

Corruptions: truncation, flipped/inserted/deleted bytes, wrong types, NaN and infinity,
enormous numbers and declared sizes, deeply nested JSON, hostile .npy headers, pickled
object arrays, compressed members, missing and extra members.  Everything is drawn from one
seed (``NNDL_FUZZ_SEED`` to try others), so a failure names the case that reproduces it.
"""

import faulthandler
import gzip
import io
import json
import os
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

from network import Network
from network.mlp.checkpoint import load_checkpoint
from network.data.idx import idx_bytes, read_idx
from network.errors import NNDLError
from network.mlp.network import load as load_network
from network.base.optimizers import Adam
from network.mlp.resumable import train

SEED = int(os.environ.get("NNDL_FUZZ_SEED", 20261128))  # another seed explores other damage
COUNTS = {"model_json": 1200, "checkpoint": 1200, "idx": 1200, "vae": 400, "conv": 400}
MAX_SECONDS_PER_FILE = 2.0
MAX_PEAK_BYTES = 16 * 1024**2   # tracemalloc peak for one hostile file (JSON, IDX, checkpoint)

HOSTILE_VALUES = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1" * 5000, "-" + "9" * 400,
                  '"text"', "true", "false", "null", "{}", "[]", "[[[[[]]]]]", "1e308", "-0.0",
                  "4294967296", "18446744073709551616", "10000000", "0", "-1", "0.5", "[1, 2]",
                  '{"a": 1}', "[" * 5000 + "]" * 5000, '"' + "x" * 10000 + '"', "[NaN]",
                  "[10000000, 10000000, 10000000]", '"CrossEntropyCost"', '"float16"']


# ---- generic byte-level damage -------------------------------------------------------------

def damage_bytes(raw, rng):
    """One random byte-level corruption of ``raw``; returns (name, new bytes)."""
    kind = rng.integers(6)
    n = len(raw)
    if kind == 0:
        return "truncate", raw[:rng.integers(n)]
    if kind == 1:
        b = bytearray(raw)
        for i in rng.integers(0, n, rng.integers(1, 9)):
            b[i] ^= int(rng.integers(1, 256))
        return "flip", bytes(b)
    if kind == 2:
        i = rng.integers(n + 1)
        return "insert", raw[:i] + rng.bytes(int(rng.integers(1, 64))) + raw[i:]
    if kind == 3:
        i = rng.integers(n)
        return "delete", raw[:i] + raw[i + int(rng.integers(1, 64)):]
    if kind == 4:
        i, j = sorted(rng.integers(0, n, 2))
        return "duplicate", raw[:j] + raw[i:j] + raw[j:]
    return "garbage", rng.bytes(int(rng.integers(0, 2 * n)))


# ---- JSON: replace one value anywhere in the document with a hostile one ---------------------

def paths(value, prefix=()):
    """Every path (tuple of keys/indices) into a JSON value, outer-first; long lists sampled."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i in sorted({0, len(value) // 2, len(value) - 1} if value else ()):
            yield from paths(value[i], prefix + (i,))


def damage_json(doc, rng):
    """(name, text): ``doc`` with one value (or key) replaced by a hostile JSON fragment."""
    doc = json.loads(json.dumps(doc))
    all_paths = list(paths(doc))
    path = all_paths[rng.integers(len(all_paths))]
    token = HOSTILE_VALUES[rng.integers(len(HOSTILE_VALUES))]
    marker = "__HOSTILE__"
    if not path:
        return f"root={token[:20]}", token
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if isinstance(parent, dict) and rng.random() < 0.2:
        parent[marker] = 0   # an unknown key
        return f"extra key at {path[:-1]}", json.dumps(doc)
    if isinstance(parent, dict) and rng.random() < 0.1:
        del parent[path[-1]]
        return f"missing {path}", json.dumps(doc)
    parent[path[-1]] = marker
    return f"{path}={token[:20]}", json.dumps(doc).replace(f'"{marker}"', token)


# ---- harmless rewrites: still valid files, which must load ------------------------------------

def json_variants(raw):
    """The same JSON document re-serialised: indented, keys sorted, another number spelling."""
    doc = json.loads(raw)
    return [json.dumps(doc, indent=2), json.dumps(doc, sort_keys=True),
            json.dumps(doc, separators=(",", ":"))]


def npz_variants(raw):
    """The same archive with its members in reverse order (zip order carries no meaning)."""
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        members = [(info, z.read(info)) for info in z.infolist()]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for info, data in reversed(members):
            z.writestr(info.filename, data)
    return [buf.getvalue()]


def check_valid(fuzz, name, bases, load, sane):
    """Every base file and its harmless rewrites must load (``bases``: suffix -> bytes)."""
    for suffix, raw in bases.items():
        variants = [raw] + (json_variants(raw) if suffix == ".json" else npz_variants(raw))
        for k, data in enumerate(variants):
            fuzz.must_load(f"{name} valid {suffix} #{k}", f"{name}{suffix}", data, load, sane)


# ---- the runner -------------------------------------------------------------------------------

class Fuzz:
    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.failures, self.refused, self.loaded, self.valid = [], 0, 0, 0
        self.slowest = (0.0, None)
        self.peak = (0, None)

    def check(self, label, name, data, load, sane, measure=False):
        path = self.tmp_path / name
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass"))
        if measure:
            tracemalloc.start()
        start = time.perf_counter()
        try:
            result = load(path)
        except NNDLError as exc:
            self.refused += 1
            if path.name not in str(exc):
                self.failures.append((label, f"message does not name the file: {exc}"))
        except BaseException as exc:  # noqa: BLE001 - exactly what the test hunts for
            if isinstance(exc, KeyboardInterrupt):
                raise
            self.failures.append((label, f"{type(exc).__name__}: {str(exc)[:200]}"))
        else:
            self.loaded += 1
            problem = sane(result)
            if problem:
                self.failures.append((label, f"loaded but not sane: {problem}"))
        finally:
            seconds = time.perf_counter() - start
            if measure:
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
                if peak > self.peak[0]:
                    self.peak = (peak, label)
            if seconds > self.slowest[0]:
                self.slowest = (seconds, label)

    def must_load(self, label, name, data, load, sane):
        """A valid file (the undamaged original, or a harmless rewrite of it) must load:
        the positive control without which a loader that refused everything would pass."""
        path = self.tmp_path / name
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        problem = sane(load(path))
        assert problem is None, f"{label}: a valid file loaded as something odd: {problem}"
        self.valid += 1

    def report(self, what):
        print(f"{what}: {self.valid} valid files loaded; {self.refused} damaged refused, "
              f"{self.loaded} loaded (damage left a valid file); "
              f"slowest {self.slowest[0] * 1000:.1f} ms ({self.slowest[1]}); "
              f"peak {self.peak[0] / 1e6:.2f} MB ({self.peak[1]})")
        assert self.valid >= 1, "no valid file was checked to load"
        assert not self.failures, "\n".join(f"{l}: {m}" for l, m in self.failures[:15])
        assert self.slowest[0] < MAX_SECONDS_PER_FILE, self.slowest
        assert self.peak[0] < MAX_PEAK_BYTES, self.peak


@pytest.fixture(autouse=True)
def watchdog():
    """A hang fails the test (with every thread's traceback) instead of stalling the suite."""
    faulthandler.dump_traceback_later(120, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def finite_network(net):
    for p in net.weights + net.biases:
        if not np.all(np.isfinite(p)):
            return "non-finite parameters"
    if [w.shape for w in net.weights] != list(zip(net.sizes[1:], net.sizes[:-1])):
        return "weights do not match sizes"
    return None


# ---- model JSON -------------------------------------------------------------------------------

def fuzz_json_and_npz(fuzz, name, bases, rng, load, sane, title):
    """COUNTS[name] cases, alternating a model's .json and .npz file (``bases``: suffix ->
    bytes): half of the JSON cases damage the parsed document, the rest the bytes."""
    doc = json.loads(bases[".json"])
    check_valid(fuzz, name, bases, load, sane)
    for i in range(COUNTS[name]):
        suffix = (".json", ".npz")[i % 2]
        if suffix == ".json" and rng.random() < 0.5:
            kind, data = damage_json(doc, rng)
        else:
            kind, data = damage_bytes(bases[suffix], rng)
        fuzz.check(f"{name} case {i} ({suffix}, {kind})", f"{name}{suffix}", data, load, sane,
                   measure=i % 10 == 0)
    fuzz.report(title)


def test_fuzzed_model_json_files_are_refused_or_load_sane(tmp_path):
    rng = np.random.default_rng([SEED, 1])
    net = Network([6, 5, 3], seed=1)
    net.save(tmp_path / "base.json")
    raw = (tmp_path / "base.json").read_bytes()
    doc = json.loads(raw)
    fuzz = Fuzz(tmp_path)
    check_valid(fuzz, "model_json", {".json": raw}, load_network, finite_network)
    book = {k: doc[k] for k in ("sizes", "weights", "biases", "cost")}   # network2.py's own keys
    fuzz.must_load("model_json book format", "model.json", json.dumps(book), load_network,
                   finite_network)
    for i in range(COUNTS["model_json"]):
        if rng.random() < 0.5:
            kind, data = damage_bytes(raw, rng)
        else:
            kind, data = damage_json(doc, rng)
        fuzz.check(f"model_json case {i} ({kind})", "model.json", data, load_network,
                   lambda n: finite_network(n), measure=i % 10 == 0)
    for j, text in enumerate(["[" * 200_000, '{"sizes": [' + "1" * 100_000 + "]}",
                              '{"sizes": [784, 10000000, 10000000, 10]}',
                              '{"sizes": [5000, 5000, 10], "weights": [[0.5]], "biases": [], '
                              '"cost": "CrossEntropyCost"}',
                              raw.decode().replace(str(doc["weights"][0][0][0]), "-" + "9" * 400)]):
        fuzz.check(f"model_json extreme {j}", "model.json", text, load_network, finite_network,
                   measure=True)
    fuzz.report("model JSON")


# ---- checkpoints ------------------------------------------------------------------------------

def npz_bytes(members, compressed=False):
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **members)
    return buf.getvalue()


def damage_members(members, rng):
    """(name, members) with one array replaced, removed, added or retyped."""
    members = dict(members)
    names = sorted(k for k in members if k != "__checkpoint__")
    name = names[rng.integers(len(names))]
    a = members[name]
    kind = rng.integers(8)
    if kind == 0:
        members.pop(name)
    elif kind == 1:
        members["stowaway"] = np.zeros(int(rng.integers(1, 100)))
    elif kind == 2:
        members[name] = a.astype([np.float32, np.int64, np.complex128, np.bool_, "U3"][rng.integers(5)])
    elif kind == 3:
        members[name] = np.zeros(tuple(int(d) for d in rng.integers(0, 9, rng.integers(0, 4))))
    elif kind == 4:
        bad = a.copy()
        bad.flat[rng.integers(bad.size)] = [np.nan, np.inf, -np.inf][rng.integers(3)]
        members[name] = bad
    elif kind == 5:
        members[name] = np.array([{"pickled": True}, None], dtype=object)
    elif kind == 6:
        members[name] = np.asfortranarray(np.ones(a.shape[::-1]).T) if a.ndim == 2 else a[::-1]
    else:
        members["__checkpoint__"] = np.array(7)
    return f"member {name} kind {kind}", members


def test_fuzzed_checkpoints_are_refused_or_load_sane(tmp_path):
    rng = np.random.default_rng([SEED, 2])
    X, y = np.random.default_rng(0).random((60, 6)), np.random.default_rng(1).integers(0, 3, 60)
    bases = []
    for options in (dict(momentum=0.9, dropout=0.2), dict(optimizer=Adam(0.01))):
        path = tmp_path / "base.npz"
        train(Network([6, 5, 3], seed=2), (X, y), 1, 10, 0.5, checkpoint=path,
              config={"run": "fuzz", "list": [1, 2, 3]}, **options)
        with np.load(path, allow_pickle=False) as z:
            bases.append((path.read_bytes(), {k: z[k] for k in z.files}))

    def sane(ck):
        return finite_network(ck.network)

    fuzz = Fuzz(tmp_path)
    for k, (raw, _) in enumerate(bases):
        check_valid(fuzz, f"checkpoint{k}", {".npz": raw}, load_checkpoint, sane)
    for i in range(COUNTS["checkpoint"]):
        raw, members = bases[rng.integers(len(bases))]
        choice = rng.random()
        if choice < 0.4:
            kind, data = damage_bytes(raw, rng)
        elif choice < 0.75:
            header = json.loads(str(members["__checkpoint__"]))
            kind, text = damage_json(header, rng)
            data = npz_bytes({**members, "__checkpoint__": np.array(text)})
        elif choice < 0.95:
            kind, damaged = damage_members(members, rng)
            data = npz_bytes(damaged)
        else:
            kind, data = "compressed", npz_bytes(members, compressed=True)
        fuzz.check(f"checkpoint case {i} ({kind})", "run.npz", data, load_checkpoint, sane,
                   measure=i % 10 == 0)
    fuzz.check("checkpoint huge npy header", "run.npz", huge_npy_header(bases[0][0]),
               load_checkpoint, sane, measure=True)
    fuzz.report("checkpoints")


def huge_npy_header(raw):
    """The w0 member's .npy header rewritten, in place and at the same length, to declare
    ~10^16 elements -- a file of a few kB promising petabytes."""
    old = b"'shape': (5, 6), }    "
    assert old in raw
    return raw.replace(old, b"'shape': (99999999999,)}"[:len(old)].ljust(len(old)), 1)


# ---- IDX ----------------------------------------------------------------------------------------

def damage_idx_header(raw, rng):
    """(name, bytes) with the magic number or a dimension rewritten."""
    b = bytearray(raw)
    ndim = b[3]
    kind = rng.integers(4)
    if kind == 0:
        b[2] = int(rng.integers(256))                       # element type
    elif kind == 1:
        b[3] = int(rng.integers(256))                       # number of dimensions
    elif kind == 2 and ndim:
        i = 4 + 4 * int(rng.integers(ndim))
        b[i:i + 4] = int(rng.choice([0, 1, 2**31, 2**32 - 1, rng.integers(2**32)])).to_bytes(4, "big")
    else:
        b[0:2] = rng.bytes(2)
    return f"header kind {kind}", bytes(b)


def test_fuzzed_idx_files_are_refused_or_load_sane(tmp_path):
    rng = np.random.default_rng([SEED, 3])
    arrays = [np.arange(80, dtype=np.uint8).reshape(5, 4, 4), np.arange(5, dtype=np.uint8),
              np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2)]
    fuzz = Fuzz(tmp_path)

    def load_any(path):
        return read_idx(path)

    def load_images(path):
        return read_idx(path, shape=(None, 4, 4), dtype=np.uint8)

    def sane(a):
        return None if isinstance(a, np.ndarray) and a.nbytes < 10_000 else f"odd result {type(a)}"

    for k, a in enumerate(arrays):
        for data in (idx_bytes(a), gzip.compress(idx_bytes(a), mtime=0)):
            fuzz.must_load(f"idx valid {k}", "images.idx", data, load_any,
                           lambda b, a=a: None if np.array_equal(b, a) else "other values")
    for i in range(COUNTS["idx"]):
        raw = idx_bytes(arrays[rng.integers(len(arrays))])
        if rng.random() < 0.5:
            kind, data = damage_bytes(raw, rng)
        else:
            kind, data = damage_idx_header(raw, rng)
        zipped = rng.random() < 0.4
        if zipped:
            if rng.random() < 0.5:   # damage the compressed stream itself
                kind, data = damage_bytes(gzip.compress(raw, mtime=0), rng)
            else:
                data = gzip.compress(data, mtime=0)
        load = load_images if rng.random() < 0.5 else load_any
        fuzz.check(f"idx case {i} ({kind}, gzip={zipped})", "images.idx", data, load, sane,
                   measure=i % 10 == 0)
    huge = bytes([0, 0, 8, 3]) + (2**31).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    fuzz.check("idx 2^31 images", "images.idx", huge, load_any, sane, measure=True)
    fuzz.check("idx 2^31 images gz", "images.idx", gzip.compress(huge + bytes(10**5)), load_any,
               sane, measure=True)
    fuzz.report("IDX")


# ---- the VAE's model files (network/vae/io.py) -----------------------------------------------

def test_fuzzed_vae_files_are_refused_or_load_sane(tmp_path):
    from network.vae import io as vae_io
    from network.vae.model import VAE

    rng = np.random.default_rng([SEED, 4])
    model = VAE(2, [5], "relu", 6, rng=np.random.default_rng(0), dtype=np.float64)
    bases = {}
    for suffix in (".json", ".npz"):
        vae_io.save(model, tmp_path / f"base{suffix}")
        bases[suffix] = (tmp_path / f"base{suffix}").read_bytes()

    def sane(m):
        ok = all(np.all(np.isfinite(p)) for p in m.parameters())
        return None if ok else "non-finite parameters"

    fuzz_json_and_npz(Fuzz(tmp_path), "vae", bases, rng, vae_io.load, sane, "VAE files")


def npz_with_member(path, name, npy_bytes):
    """Rewrite the .npz at ``path`` with member ``name`` replaced by raw .npy bytes (valid CRC)."""
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    members[name] = npy_bytes
    with zipfile.ZipFile(path, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)


def npy_declaring(shape_text, payload=240):
    header = ("{'descr': '<f8', 'fortran_order': False, 'shape': (%s), }" % shape_text).ljust(118)
    header = (header + "\n").encode()
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + bytes(payload)


@pytest.mark.parametrize("shape", ["2000000000,", "2000000000000000,"])
def test_checkpoint_member_declaring_petabytes_with_a_valid_crc_is_refused_cheaply(tmp_path, shape):
    X, y = np.random.default_rng(0).random((40, 6)), np.random.default_rng(1).integers(0, 3, 40)
    path = tmp_path / "run.npz"
    train(Network([6, 5, 3], seed=2), (X, y), 1, 10, 0.5, checkpoint=path)
    fuzz = Fuzz(tmp_path)
    fuzz.must_load("checkpoint before the edit", "run.npz", path.read_bytes(), load_checkpoint,
                   lambda ck: None)
    npz_with_member(path, "w0.npy", npy_declaring(shape))
    fuzz.check(f"checkpoint w0 shape ({shape})", "run.npz", path.read_bytes(), load_checkpoint,
               lambda ck: "loaded", measure=True)
    fuzz.report("checkpoint hostile member")


@pytest.mark.parametrize("shape", ["2000000000,", "2000000000000000,"])
def test_vae_npz_member_declaring_petabytes_is_refused_cheaply(tmp_path, shape):
    from network.vae import io as vae_io
    from network.vae.model import VAE

    path = tmp_path / "vae.npz"
    vae_io.save(VAE(2, [5], "relu", 6, rng=np.random.default_rng(0), dtype=np.float64), path)
    fuzz = Fuzz(tmp_path)
    fuzz.must_load("vae before the edit", "vae.npz", path.read_bytes(), vae_io.load,
                   lambda m: None)
    npz_with_member(path, "encoder.0.weight.npy", npy_declaring(shape))
    fuzz.check(f"vae member shape ({shape})", "vae.npz", path.read_bytes(), vae_io.load,
               lambda m: "loaded", measure=True)
    fuzz.report("VAE hostile member")


# ---- the convolutional network's model files (network/conv/io.py) ----------------------------

def test_fuzzed_conv_network_files_are_refused_or_load_sane(tmp_path):
    from network.conv import load_conv_network
    from network.conv.layers import ConvPoolLayer, SoftmaxLayer
    from network.conv.network import ConvNetwork

    rng = np.random.default_rng([SEED, 5])
    net = ConvNetwork([ConvPoolLayer((2, 1, 3, 3), (1, 8, 8)), SoftmaxLayer(18, 3)], seed=7,
                      dtype=np.float64)
    bases = {}
    for suffix in (".json", ".npz"):
        net.save(tmp_path / f"base{suffix}")
        bases[suffix] = (tmp_path / f"base{suffix}").read_bytes()

    def sane(m):
        ok = all(np.all(np.isfinite(layer.w)) and np.all(np.isfinite(layer.b)) for layer in m.layers)
        return None if ok else "non-finite parameters"

    fuzz_json_and_npz(Fuzz(tmp_path), "conv", bases, rng, load_conv_network, sane,
                      "conv network files")
