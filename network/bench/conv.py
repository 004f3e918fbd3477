"""Seconds per epoch of the chapter-6 conv nets on 1 and 2 threads, this library and PyTorch (issue 16).

Two networks of chapter 6, each trained by mini-batch SGD (mini-batch 10, float32,
the log-likelihood cost of a softmax output), both implementations side by side:

- ``conv1``: conv 20 x 5 x 5 + 2 x 2 max-pool, FC 100, softmax, sigmoid, eta 0.1;
- ``relu``: two conv-pool layers (20, then 40 maps), FC 100, softmax, ReLU,
  eta 0.03, lambda 0.1 (L2 on the weights only).

``nndl`` is ``ConvNetwork.SGD`` for one epoch (no scoring) with ``threads=T``;
``torch`` is PyTorch CPU eager with ``torch.set_num_threads(T)``: the same layers
(pooling before the activation, as here), ``torch.optim.SGD`` with weight decay
lambda / n on the weights, the same loop over shuffled mini-batches.  Each
implementation runs in a process of its own (both bring an OpenMP runtime whose idle
threads spin for a while; in one process they would take turns spinning on each
other's cores), and each timed epoch starts ``settle`` seconds after the last one
ended, when the other process's threads have gone to sleep (without the pause, the
two-thread epochs measured up to 1.8x slower).  Every (network, threads,
implementation) is warmed up on a short epoch, then timed ``repeats`` times,
interleaved so a shared machine's load falls on all alike; the median wall-clock second is reported (with threads, CPU seconds would
count each core's), scaled to 50,000 images.

The work of an epoch is the multiply-adds of the dense forward and backward passes
(``flops_per_image``: each convolution and fully connected product forward, for
nabla_w, and for the error sent down, except into the input), 2 FLOP each; the
achieved rate over the peak of ``network/bench/peak.py`` on as many threads is the
fraction of the machine's peak.  (The compiled backward pass skips the pooling
losers, so it does fewer multiply-adds than it is credited with, as would any
implementation that exploits the zeros.)  The peak is measured before every timing pass,
on 1 and 2 threads; the best is the fraction's denominator, and the two-thread rate over
the one-thread rate, pass by pass, says how much of a second core the run had: on this
virtual machine it came and went between 1.0 and 2.0 (docs/speed.md), and the report
warns when it fell below FULL_SECOND_CORE.

Deliberately left out: scoring (one forward pass over 20,000 images per epoch, ~10%),
the other chapter-6 networks, PyTorch's compiled modes.
"""

import multiprocessing
import os
import statistics
import time

import numpy as np

from ..base.jit import SPIN_TURNS_SET, max_threads
from ..conv import ConvNetwork, ConvPoolLayer, FullyConnectedLayer, SoftmaxLayer
from .mlp import torch_version
from .peak import peak_gflops

MB = 10
NETWORKS = {   # name: (description, eta, lmbda)
    "conv1": ("conv 20x5x5 + pool, FC100, sigmoid, eta 0.1", 0.1, 0.0),
    "relu": ("two conv-pool (20, 40 maps), FC100, ReLU, eta 0.03, lambda 0.1", 0.03, 0.1),
}
# The targets: nndl at 2 threads at least 1.7x its 1-thread speed and 3x PyTorch at
# 2 threads; at 1 thread at least 2x PyTorch at 1 thread.
TARGETS = {"scaling": 1.7, "vs_torch_2": 3.0, "vs_torch_1": 2.0}


def layers(name):
    """The network's layers, as chapters/chap6.py builds them."""
    if name == "conv1":
        return [ConvPoolLayer((20, 1, 5, 5), (1, 28, 28), 2, "sigmoid"),
                FullyConnectedLayer(20 * 12 * 12, 100, "sigmoid"), SoftmaxLayer(100, 10)]
    return [ConvPoolLayer((20, 1, 5, 5), (1, 28, 28), 2, "relu"),
            ConvPoolLayer((40, 20, 5, 5), (20, 12, 12), 2, "relu"),
            FullyConnectedLayer(40 * 4 * 4, 100, "relu"), SoftmaxLayer(100, 10)]


def flops_per_image(net_layers):
    """Dense multiply-adds of one image's forward and backward pass, x 2 FLOP."""
    macs = 0
    for l, layer in enumerate(net_layers):
        if isinstance(layer, ConvPoolLayer):
            F, C, k, _ = layer.filter_shape
            one = layer.conv_shape[0] * layer.conv_shape[1] * F * C * k * k
        else:
            one = layer.n_in * layer.n_out
        macs += one * (3 if l > 0 else 2)     # forward, nabla_w, and dC/dx above the input
    return 2 * macs


# ---- the two implementations ------------------------------------------------------------

def _nndl_runner(name, threads, X, y, seed):
    _, eta, lmbda = NETWORKS[name]
    net = ConvNetwork(layers(name), seed=seed, threads=threads)
    return lambda: net.SGD((X, y), 1, MB, eta, lmbda=lmbda, verbose=False)


def _torch_runner(name, threads, X, y, seed):
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    nn = torch.nn
    act = nn.Sigmoid if name == "conv1" else nn.ReLU
    if name == "conv1":
        body = [nn.Conv2d(1, 20, 5), nn.MaxPool2d(2), act(), nn.Flatten(), nn.Linear(2880, 100),
                act(), nn.Linear(100, 10)]
    else:
        body = [nn.Conv2d(1, 20, 5), nn.MaxPool2d(2), act(), nn.Conv2d(20, 40, 5),
                nn.MaxPool2d(2), act(), nn.Flatten(), nn.Linear(640, 100), act(),
                nn.Linear(100, 10)]
    model = nn.Sequential(*body)
    _, eta, lmbda = NETWORKS[name]
    weights = [p for n_, p in model.named_parameters() if n_.endswith("weight")]
    biases = [p for n_, p in model.named_parameters() if n_.endswith("bias")]
    opt = torch.optim.SGD([{"params": weights, "weight_decay": lmbda / len(y)},   # (L2)
                           {"params": biases, "weight_decay": 0.0}], lr=eta)
    Xt = torch.from_numpy(X).to(torch.float32).div(255.0).reshape(-1, 1, 28, 28)
    yt = torch.from_numpy(y.astype(np.int64))
    rng = np.random.default_rng(seed)

    def epoch():
        torch.set_num_threads(threads)
        order = torch.from_numpy(rng.permutation(len(y)))
        for k in range(0, len(y), MB):
            idx = order[k:k + MB]
            loss = nn.functional.cross_entropy(model(Xt[idx]), yt[idx])   # (LOGLIK) mean
            opt.zero_grad()
            loss.backward()
            opt.step()
    return epoch


RUNNERS = {"nndl": _nndl_runner, "torch": _torch_runner}


# ---- timing -------------------------------------------------------------------------------

def _serve(method, conn, X, y, keys, warmup, seed, spin_turns_set):
    """A worker process for one implementation: warm up every (network, threads), then
    time one epoch for each key received, until None.  ``spin_turns_set``: this library
    set GOMP_SPINCOUNT in the parent (network/base/jit.py); PyTorch is then timed without
    it, with GNU OpenMP's default, as its users run it."""
    if method == "torch" and spin_turns_set:
        os.environ.pop("GOMP_SPINCOUNT", None)
    runners = {}
    for name, T in keys:
        RUNNERS[method](name, T, X[:warmup], y[:warmup], seed)()
        runners[name, T] = RUNNERS[method](name, T, X, y, seed)
    conn.send("ready")
    while (key := conn.recv()) is not None:
        start = time.perf_counter()
        runners[key]()
        conn.send(time.perf_counter() - start)


def run(X, y, names=tuple(NETWORKS), threads=(1, 2), methods=("nndl", "torch"), repeats=3,
        warmup=500, seed=0, settle=0.5, log=None):
    """Time every (network, threads, method); returns {"rows": [...], "peaks": {T: GFLOP/s
    of the multiply-add loop before each pass}, "peak": {T: the best of them}, "load":
    (before, after), ...} with each row {"network", "threads", "method", "seconds"
    (median wall s / epoch on len(y) images), "all"}."""
    methods = [m for m in methods if m != "torch" or torch_version() is not None]
    load_before = os.getloadavg()[0]
    keys = [(name, T) for name in names for T in threads]
    spawn = multiprocessing.get_context("spawn")
    workers, times, peaks = {}, {}, {}
    try:
        for method in methods:
            if log:
                log(f"starting {method} and warming it up ...")
            parent, child = spawn.Pipe()
            process = spawn.Process(target=_serve, daemon=True,
                                    args=(method, child, X, y, keys, warmup, seed, SPIN_TURNS_SET))
            process.start()
            workers[method] = (process, parent)
            if parent.recv() != "ready":
                raise RuntimeError(f"the {method} worker did not start")
        for r in range(repeats):
            if log:
                log(f"timing, pass {r + 1} of {repeats} ...")
            for T in threads:                    # the cores as they are during this pass
                peaks.setdefault(T, []).append(peak_gflops(T))
            for key in keys:
                for method, (_, conn) in workers.items():
                    time.sleep(settle)           # the other process's idle threads stop spinning
                    conn.send(key)
                    times.setdefault((*key, method), []).append(conn.recv())
    finally:
        for process, conn in workers.values():
            conn.send(None)
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    rows = [{"network": name, "threads": T, "method": method, "seconds": statistics.median(t),
             "all": t} for (name, T, method), t in times.items()]
    return {"rows": rows, "peak": {T: max(g) for T, g in peaks.items()}, "peaks": peaks,
            "load": (load_before, os.getloadavg()[0]), "n_train": len(y), "repeats": repeats,
            "torch": torch_version()}


def _row(result, name, T, method):
    for row in result["rows"]:
        if (row["network"], row["threads"], row["method"]) == (name, T, method):
            return row
    return None


def report(result, scale_to=50_000):
    """The Markdown table and one line per target, as printed by ``python -m network bench
    --conv``."""
    scale = scale_to / result["n_train"]
    threads = sorted({row["threads"] for row in result["rows"]})
    lines = ["| network | threads | nndl s / epoch | PyTorch s / epoch | PyTorch / nndl | "
             "nndl speed-up over 1 thread | nndl GFLOP/s | of the peak |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    verdicts = []
    for name in dict.fromkeys(row["network"] for row in result["rows"]):
        flop = flops_per_image(layers(name)) * scale_to
        one = _row(result, name, threads[0], "nndl")
        for T in threads:
            mine, theirs = _row(result, name, T, "nndl"), _row(result, name, T, "torch")
            s = mine["seconds"] * scale
            t = theirs["seconds"] * scale if theirs else None
            rate = flop / s / 1e9
            lines.append(f"| {name} | {T} | {s:.2f} | {f'{t:.2f}' if t else '-'} | "
                         f"{f'{t / s:.1f}x' if t else '-'} | "
                         f"{one['seconds'] / mine['seconds']:.2f}x | {rate:.0f} | "
                         f"{rate / result['peak'][T]:.0%} |")
        verdicts += _verdicts(result, name, threads)
    peak = ", ".join(f"{T} thread{'s' if T > 1 else ''} {g:.0f} GFLOP/s"
                     for T, g in result["peak"].items())
    lines += ["", f"Work per epoch: conv1 {flops_per_image(layers('conv1')) * scale_to / 1e9:.0f}"
              f" GFLOP, relu {flops_per_image(layers('relu')) * scale_to / 1e9:.0f} GFLOP "
              f"(dense multiply-adds, 2 FLOP each). Peak (float32 multiply-add loop): {peak}.",
              f"Load average {result['load'][0]:.2f} before, {result['load'][1]:.2f} after; "
              f"{result['n_train']} images per epoch, median of {result['repeats']}, scaled to "
              f"{scale_to}; PyTorch {result['torch'] or 'not installed'}."]
    lines += _shared_cores(result) + [""] + verdicts
    return "\n".join(lines)


# Below this, the two-thread multiply-add loop shows the second core was partly taken.
FULL_SECOND_CORE = 1.9


def _shared_cores(result):
    """A line on how much of a second core this run had: the multiply-add loop's rate on
    two threads over one, measured before each timing pass; a warning below
    FULL_SECOND_CORE (on a shared or virtual machine the second core's speed comes and
    goes, and every two-thread figure moves with it)."""
    peaks = result.get("peaks", {})
    if 1 not in peaks or 2 not in peaks:
        return []
    ratios = [two / one for one, two in zip(peaks[1], peaks[2])]
    line = ("Second core, by the multiply-add loop before each pass (2 threads over 1; 2.0 is "
            "two free cores): " + ", ".join(f"{r:.2f}" for r in ratios) + ".")
    if min(ratios) < FULL_SECOND_CORE:
        line += (" The second core was partly taken during this run: the two-thread times and "
                 "the speed-up over one thread understate what two free cores give; rerun on "
                 "a quiet machine.")
    return [line]


def _verdicts(result, name, threads):
    if 1 not in threads or 2 not in threads:
        return []
    n1, n2 = _row(result, name, 1, "nndl"), _row(result, name, 2, "nndl")
    t1, t2 = _row(result, name, 1, "torch"), _row(result, name, 2, "torch")
    out = []

    def say(what, got, need):
        out.append(f"{name}: {what}: {got:.2f}x (target {need}x) -- "
                   f"{'met' if got >= need else 'MISSED'}")
    say("nndl 2 threads vs 1 thread", n1["seconds"] / n2["seconds"], TARGETS["scaling"])
    if t1 and t2:
        say("nndl vs PyTorch, 2 threads", t2["seconds"] / n2["seconds"], TARGETS["vs_torch_2"])
        say("nndl vs PyTorch, 1 thread", t1["seconds"] / n1["seconds"], TARGETS["vs_torch_1"])
    return out


def default_threads():
    """1 and 2 threads (the issue's), or 1 alone where numba may use only one."""
    return (1, 2) if max_threads() >= 2 else (1,)
