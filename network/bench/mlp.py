"""Seconds per epoch of mini-batch SGD on MNIST, four ways, timed in one run (issue 3).

(a) ``per-example``: the book's network.py/network2.py loop, operation for
    operation: a list of (784, 1) float columns, backprop one example at a time,
    gradients summed with list comprehensions, new weight lists each step.
(b) ``numpy``: the library's matrix path (``Network(backend="numpy")``).
(c) ``numba``: the library's compiled path (``Network(backend="numba")``), and
    ``numba-float32`` the same in float32, PyTorch's default precision.
(d) ``torch``: PyTorch CPU eager, the same mini-batch loop (float32, autograd,
    ``torch.optim.SGD``), on one thread; skipped when PyTorch is not installed
    (it is not a dependency).

Each method is warmed up first (a short epoch: compiles the kernel, fills
caches), then timed for ``repeats`` epochs, interleaved method by method so a
shared machine's load falls on all of them alike; the median is reported, as
CPU seconds of this process (``time.process_time``: on an idle machine the same
as wall-clock for these single-threaded loops, and much less disturbed when
other jobs share the cores) and as wall-clock seconds.  Ratios use CPU seconds.
Memory is the peak of NumPy/Python allocations during one more, untimed epoch on
at most 10,000 images (tracemalloc; PyTorch's own allocator is not seen, so its
row has none).  Compile time is
measured in fresh subprocesses with an empty and then a filled numba cache.

``per_example_vs_matrix`` answers problem 2.5 (the matrix form's speed).

Deliberately left out: GPUs, multi-threaded kernels (the conv net's are timed by
network/bench/conv.py), data loading time.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc

import numpy as np

from ..mlp.data_format import as_examples
from ..mlp.network import Network

METHODS = ("per-example", "numpy", "numba", "numba-float32", "torch")
LABELS = {"per-example": "(a) per-example NumPy loop (book)",
          "numpy": "(b) library NumPy matrix path",
          "numba": "(c) library numba path",
          "numba-float32": "(c') library numba path, float32",
          "torch": "(d) PyTorch CPU eager, 1 thread"}

# The configurations: (sizes, cost, eta, lmbda, mini-batch size).
CONFIGS = [
    ([784, 30, 10], "quadratic", 3.0, 0.0, 10),
    ([784, 100, 10], "cross-entropy", 0.5, 5.0, 10),
    ([784, 30, 10], "quadratic", 3.0, 0.0, 1),
    ([784, 30, 10], "quadratic", 3.0, 0.0, 100),
]


def config_name(sizes, cost, eta, lmbda, mb):
    return f"{sizes} {cost} eta {eta:g} lambda {lmbda:g} mb {mb}"


# ---- (a) the book's per-example loop ----------------------------------------------------

def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))  # overflows (harmlessly) for z << 0, as in the book


def _sigmoid_prime(z):
    return _sigmoid(z) * (1 - _sigmoid(z))   # as in network.py: sigma computed twice


def book_training_data(X, y, k=10):
    """The book's layout: a list of (x (784, 1) floats, one-hot y (k, 1)) pairs."""
    eye = np.eye(k)
    return [(x.reshape(-1, 1) / 255.0, eye[label].reshape(-1, 1)) for x, label in zip(X, y)]


def _book_backprop(weights, biases, x, y, cost):
    """network.py's backprop for one example, step for step (network2.py's output error
    a - y for the cross-entropy cost)."""
    nabla_b = [np.zeros(b.shape) for b in biases]
    nabla_w = [np.zeros(w.shape) for w in weights]
    activation, activations, zs = x, [x], []
    for b, w in zip(biases, weights):
        z = np.dot(w, activation) + b                 # (FF) (n_out, n_in) @ (n_in, 1)
        zs.append(z)
        activation = _sigmoid(z)
        activations.append(activation)
    if cost == "quadratic":
        delta = (activations[-1] - y) * _sigmoid_prime(zs[-1])   # (QUAD) (BP1)
    else:
        delta = activations[-1] - y                   # (XENT) (BP1)
    nabla_b[-1] = delta                               # (BP3)
    nabla_w[-1] = np.dot(delta, activations[-2].transpose())   # (BP4) (n_L, 1) @ (1, n)
    for l in range(2, len(weights) + 1):
        sp = _sigmoid_prime(zs[-l])
        delta = np.dot(weights[-l + 1].transpose(), delta) * sp  # (BP2)
        nabla_b[-l] = delta
        nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())
    return nabla_b, nabla_w


def per_example_epoch(weights, biases, training_data, order, m, eta, lmbda, n, cost):
    """One epoch of network.py's / network2.py's SGD (the loop chapter 2 asks to remove):
    for each mini-batch, backprop example by example and sum the gradients, then
    (L2) w -> (1 - eta lmbda/n) w - (eta/m) nabla_w.  Updates the lists in place."""
    with np.errstate(over="ignore"):  # set once per epoch: no cost inside the loop
        _per_example_batches(weights, biases, training_data, order, m, eta, lmbda, n, cost)


def _per_example_batches(weights, biases, training_data, order, m, eta, lmbda, n, cost):
    for k in range(0, len(order), m):
        mini_batch = [training_data[i] for i in order[k:k + m]]
        nabla_b = [np.zeros(b.shape) for b in biases]
        nabla_w = [np.zeros(w.shape) for w in weights]
        for x, y in mini_batch:
            delta_nabla_b, delta_nabla_w = _book_backprop(weights, biases, x, y, cost)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
        weights[:] = [(1 - eta * (lmbda / n)) * w - (eta / len(mini_batch)) * nw  # (L2) (SGD)
                      for w, nw in zip(weights, nabla_w)]
        biases[:] = [b - (eta / len(mini_batch)) * nb for b, nb in zip(biases, nabla_b)]


# ---- (d) PyTorch ------------------------------------------------------------------------

def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def torch_version():
    """PyTorch's version, or None when it is not installed (it is never a dependency)."""
    torch = _torch()
    return None if torch is None else torch.__version__


def _torch_setup(torch, sizes, X, y, seed):
    torch.manual_seed(seed)
    layers = [torch.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
    Xt = torch.from_numpy(X).to(torch.float32) / 255.0
    Yt = torch.nn.functional.one_hot(torch.from_numpy(y), sizes[-1]).to(torch.float32)
    return layers, Xt, Yt


def torch_epoch(torch, layers, Xt, Yt, order, m, eta, lmbda, n, cost):
    """One epoch of the same mini-batch SGD in PyTorch eager mode (autograd)."""
    weights = [layer.weight for layer in layers]
    biases = [layer.bias for layer in layers]
    opt = torch.optim.SGD([{"params": weights, "weight_decay": lmbda / n},  # (L2)
                           {"params": biases, "weight_decay": 0.0}], lr=eta)
    perm = torch.from_numpy(order)
    for k in range(0, len(order), m):
        idx = perm[k:k + m]
        a, y = Xt[idx], Yt[idx]
        for layer in layers[:-1]:
            a = torch.sigmoid(layer(a))
        z = layers[-1](a)
        if cost == "quadratic":
            loss = 0.5 * ((torch.sigmoid(z) - y) ** 2).sum() / len(idx)
        else:
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                z, y, reduction="sum") / len(idx)
        opt.zero_grad()
        loss.backward()
        opt.step()


# ---- timing -------------------------------------------------------------------------------

def _epoch_runner(method, sizes, cost, eta, lmbda, mb, X, y, seed=0):
    """A function that trains one more epoch with ``method`` (state kept between calls)."""
    n = len(y)
    if method in ("numpy", "numba", "numba-float32"):
        dtype = np.float32 if method == "numba-float32" else np.float64
        net = Network(sizes, cost=cost, init="large", seed=seed, dtype=dtype,
                      backend=method.split("-")[0])
        train = as_examples((X, y), sizes[0], sizes[-1], dtype)  # once, as SGD does
        return lambda: net.SGD(train, 1, mb, eta, lmbda, verbose=False)
    rng = np.random.default_rng(seed)
    if method == "per-example":
        net = Network(sizes, cost=cost, init="large", seed=seed, backend="numpy")
        data = book_training_data(X, y, sizes[-1])  # floats ready, as the book had them
        return lambda: per_example_epoch(net.weights, net.biases, data, rng.permutation(n),
                                         mb, eta, lmbda, n, cost)
    torch = _torch()
    torch.set_num_threads(1)
    layers, Xt, Yt = _torch_setup(torch, sizes, X, y, seed)
    return lambda: torch_epoch(torch, layers, Xt, Yt, rng.permutation(n), mb, eta, lmbda, n,
                               cost)


def time_methods(config, X, y, methods=METHODS, repeats=3, warmup_size=1000,
                 memory_size=10_000):
    """{method: {"seconds": median CPU s, "wall": median wall s, "cpu_all": [...],
    "wall_all": [...], "peak_mb": ...}} for one configuration."""
    sizes, cost, eta, lmbda, mb = config
    methods = [m for m in methods if m != "torch" or _torch() is not None]
    runners, results = {}, {}
    for method in methods:  # warm-up: compile, allocate, fill caches
        _epoch_runner(method, sizes, cost, eta, lmbda, mb, X[:warmup_size], y[:warmup_size])()
        runners[method] = _epoch_runner(method, sizes, cost, eta, lmbda, mb, X, y)
        results[method] = {"cpu_all": [], "wall_all": []}
    for _ in range(repeats):
        for method in methods:
            wall, cpu = time.perf_counter(), time.process_time()
            runners[method]()
            results[method]["cpu_all"].append(time.process_time() - cpu)
            results[method]["wall_all"].append(time.perf_counter() - wall)
    for method in methods:
        if method != "torch":
            run_once = _epoch_runner(method, sizes, cost, eta, lmbda, mb, X[:memory_size],
                                     y[:memory_size])
            tracemalloc.start()
            run_once()
            results[method]["peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        r = results[method]
        r["seconds"], r["wall"] = statistics.median(r["cpu_all"]), statistics.median(r["wall_all"])
    return results


_COMPILE_SCRIPT = """
import time
c0 = time.process_time()
t0 = time.perf_counter()
import numpy as np
from network import Network
t1, c1 = time.perf_counter(), time.process_time()
rng = np.random.default_rng(0)
X = (rng.integers(0, 256, (200, 784)) * (rng.random((200, 784)) < 0.2)).astype(np.uint8)
net = Network([784, 30, 10], cost="quadratic", seed=0, backend="numba", dtype=np.DTYPE)
net.SGD((X, rng.integers(0, 10, 200)), 1, 10, 3.0, verbose=False)
t2, c2 = time.perf_counter(), time.process_time()
print(t1 - t0, t2 - t1, c1 - c0, c2 - c1)
"""


def compile_seconds(dtype="float64"):
    """(import, first epoch) wall seconds, then the same as CPU seconds, in a fresh process
    with an empty numba cache, then again with the cache just filled:
    {"cold": (4 numbers), "warm": (4 numbers)}.  The first epoch is
    tiny (200 images), so it is almost all compiling (cold) or cache loading (warm)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache,
                   PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
        for name in ("cold", "warm"):
            done = subprocess.run([sys.executable, "-c", _COMPILE_SCRIPT.replace("DTYPE", dtype)],
                                  env=env, capture_output=True, text=True, check=True)
            out[name] = tuple(float(v) for v in done.stdout.split())
    return out


def peak_rss_mb():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---- the table ----------------------------------------------------------------------------

def run(configs=CONFIGS, n_train=50_000, repeats=3, methods=METHODS, data=None, log=None):
    """Time every configuration; returns a list of {"config", "results"}.  ``data`` is
    ((X uint8 (n, 784), y (n,)),) or None to load the MNIST training images."""
    if data is None:
        from ..data.mnist import load_arrays
        (X, y), _, _ = load_arrays("mnist", dtype=np.uint8)
    else:
        X, y = data
    X, y = X[:n_train], y[:n_train]
    rows = []
    for config in configs:
        if log:
            log(f"timing {config_name(*config)} ...")
        rows.append({"config": config, "results": time_methods(config, X, y, methods, repeats)})
    return rows


def format_table(rows, n_train, scale_to=50_000):
    """A Markdown table: CPU and wall seconds per epoch (scaled to ``scale_to`` images),
    ratios of CPU seconds against (a) and (d), NumPy/Python peak memory of an epoch."""
    scale = scale_to / n_train
    lines = ["| configuration | method | CPU s / epoch | wall s / epoch | (a) / this | "
             "(d) / this | peak MB |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        res = row["results"]
        a = res.get("per-example", {}).get("seconds")
        d = res.get("torch", {}).get("seconds")
        for method in METHODS:
            if method not in res:
                continue
            s = res[method]["seconds"]
            ratio_a = f"{a / s:.1f}x" if a else "-"
            ratio_d = f"{d / s:.1f}x" if d else "-"
            peak = f"{res[method]['peak_mb']:.0f}" if "peak_mb" in res[method] else "-"
            lines.append(f"| {config_name(*row['config'])} | {LABELS[method]} | "
                         f"{s * scale:.3f} | {res[method]['wall'] * scale:.3f} | {ratio_a} | "
                         f"{ratio_d} | {peak} |")
    return "\n".join(lines)


def per_example_vs_matrix(X, y, sizes=(784, 30, 10), cost="quadratic", eta=3.0, lmbda=0.0,
                          mini_batch_size=10, repeats=3):
    """Problem 2.5: median seconds per epoch of the per-example loop and of the
    matrix form (NumPy, and numba) on (X uint8, y), and the speed-ups."""
    res = time_methods((list(sizes), cost, eta, lmbda, mini_batch_size), X, y,
                       ("per-example", "numpy", "numba"), repeats)
    a = res["per-example"]["seconds"]
    return {"per_example_seconds": a, "matrix_seconds": res["numpy"]["seconds"],
            "numba_seconds": res["numba"]["seconds"],
            "matrix_speedup": a / res["numpy"]["seconds"],
            "numba_speedup": a / res["numba"]["seconds"]}
