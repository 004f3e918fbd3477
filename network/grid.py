"""Hyper-parameter search (chapter 3, "How to choose a neural network's hyper-parameters?").

A *spec* names values for any Network or SGD option (``eta``,
``mini_batch_size``, ``lmbda``, ``cost``, ``activation``, ``init``, ``dropout``,
``momentum``, ``regularization``, ``sizes``, ``epochs``, ``seed``, ...).  The
run list is their Cartesian product, or ``random=N`` configurations sampled from
it (log-uniform between the smallest and largest value for eta and lambda).
Each run is trained on the training set and scored on the *validation* set
every epoch; selection looks at validation accuracy only.  The test set is
scored once, for the chosen configuration, by ``score_test`` (reported apart).

Reproducible: every run's seed is part of its configuration (the ``seed``
option, default 0 for all runs, so runs differ only in their hyper-parameters),
so ``Network(..., seed=row["config"]["seed"])`` trained alone gives the row again.

Runs go to any ``concurrent.futures.Executor`` (a Dask or Ray executor spreads
them over machines); the default is a local pool of spawned processes whose
BLAS and numba threads are pinned so workers x threads fits the cores.  Rows
are appended to a JSON Lines file as runs finish (``grid_results.py``), and a
rerun skips the finished ones.

Left out on purpose: early stopping inside the grid, adaptive search (the
broad strategy in ``grid_strategy.py`` is a few grids in a row), plotting
(``plotting_grid.py``).
"""

import concurrent.futures as cf
import hashlib
import itertools
import json
import math
import multiprocessing
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .activations import get_activation
from .costs import get_cost
from .errors import UsageError
from .grid_results import ResultsFile, dumps_line, read_results
from .regularization import get_regularizer

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "NUMBA_NUM_THREADS")
RESULTS_NAME = "results.jsonl"
SELECTION_NAME = "selection.json"

# ---- options: name -> (default, check); the order is the run order and table order ----


def _number(name, v, low=None, above=None, below=None, whole=False):
    ok = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) \
        and math.isfinite(v) and (not whole or float(v).is_integer())
    if ok and low is not None:
        ok = v >= low
    if ok and above is not None:
        ok = v > above
    if ok and below is not None:
        ok = v < below
    if not ok:
        kind = "a whole number" if whole else "a number"
        bounds = [f">= {low}" if low is not None else "", f"> {above}" if above is not None else "",
                  f"< {below}" if below is not None else ""]
        bounds = " and ".join(b for b in bounds if b)
        raise UsageError(f"{name}: each value must be {kind}{' ' + bounds if bounds else ''}, "
                         f"got {v!r}")
    return int(v) if whole else float(v)


def _sizes(v):
    if not isinstance(v, (list, tuple)) or len(v) < 2:
        raise UsageError(f"sizes: each architecture needs two or more layer sizes, got {v!r}")
    return [_number("sizes", s, low=1, whole=True) for s in v]


def _choice(name, allowed):
    def check(v):
        if v not in allowed:
            raise UsageError(f"{name}: unknown value {v!r}; choose from "
                             f"{', '.join(a for a in allowed if a is not None)}")
        return v
    return check


def _named(getter):
    return lambda v: getter(v).name


OPTIONS = {
    "sizes": ([784, 30, 10], _sizes),
    "cost": ("cross-entropy", _named(get_cost)),
    "activation": ("sigmoid", _named(get_activation)),
    "output_activation": (None, lambda v: None if v in (None, "default") else
                          get_activation(v).name),
    "init": ("default", _choice("init", ("default", "large"))),
    "eta": (0.5, lambda v: _number("eta", v, above=0)),
    "mini_batch_size": (10, lambda v: _number("mini_batch_size", v, low=1, whole=True)),
    "lmbda": (0.0, lambda v: _number("lmbda", v, low=0)),
    "regularization": ("L2", _named(get_regularizer)),
    "momentum": (0.0, lambda v: _number("momentum", v)),
    "dropout": (0.0, lambda v: _number("dropout", v, low=0, below=1)),
    "epochs": (10, lambda v: _number("epochs", v, low=1, whole=True)),
    "dtype": ("float64", _choice("dtype", ("float64", "float32"))),
    "seed": (0, lambda v: _number("seed", v, low=0, whole=True)),
    "backend": (None, _choice("backend", (None, "numba", "numpy"))),
}
LOG_UNIFORM = ("eta", "lmbda")  # sampled on a log scale by random search
SPEC_KEYS = ("random", "random_seed", "training_cost")


def grid_spec(spec=None, **options):
    """Validate and normalise a spec: every option becomes a non-empty list of values.

    Accepts a dict (or keywords) mapping option names to a value or a list of
    values; ``sizes`` is one architecture ``[784, 30, 10]`` or a list of them.
    Also ``random`` (sample that many configurations instead of the product),
    ``random_seed`` and ``training_cost`` (record the training cost per epoch,
    and before training, as the eta-threshold step needs).  Idempotent.
    """
    raw = dict(spec or {})
    raw.update(options)
    if "options" in raw:  # already normalised: validate again
        raw = {**raw.pop("options"), **raw}
    raw.pop("data", None)
    unknown = sorted(set(raw) - set(OPTIONS) - set(SPEC_KEYS))
    if unknown:
        raise UsageError(f"unknown grid option(s) {', '.join(unknown)}; the options are "
                         f"{', '.join(OPTIONS)} (plus {', '.join(SPEC_KEYS)})")
    normalised = {}
    for name, (default, check) in OPTIONS.items():
        values = raw.get(name, default)
        if name == "sizes" and isinstance(values, (list, tuple)) and values \
                and not isinstance(values[0], (list, tuple)):
            values = [values]  # one architecture
        if not isinstance(values, (list, tuple)):
            values = [values]
        if len(values) == 0:
            raise UsageError(f"{name}: give at least one value")
        checked = []
        for v in values:
            v = check(v)
            if v not in checked:
                checked.append(v)
        normalised[name] = checked
    random = raw.get("random")
    if random is not None:
        random = _number("random", random, low=1, whole=True)
    return {"options": normalised, "random": random,
            "random_seed": _number("random_seed", raw.get("random_seed", 0), low=0, whole=True),
            "training_cost": bool(raw.get("training_cost", False))}


def run_key(config):
    """The identity of a run: its configuration as canonical JSON."""
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def _sig3(x):
    return float(f"{x:.3g}")  # sampled values read like values a person would type


def run_configs(spec):
    """The list of configurations (dicts) of a normalised spec, in a stable order."""
    options = spec["options"]
    names = list(options)
    if spec["random"] is None:
        return [dict(zip(names, values)) for values in itertools.product(*options.values())]
    rng = np.random.default_rng(spec["random_seed"])
    configs, seen = [], set()
    for _ in range(spec["random"]):
        config = {}
        for name in names:
            values = options[name]
            if name not in LOG_UNIFORM:
                config[name] = values[rng.integers(len(values))]
                continue
            positive = [v for v in values if v > 0]
            if not positive or (0.0 in values and rng.random() < 1 / len(values)):
                config[name] = 0.0  # lambda = 0 stays one choice among the values listed
            else:
                lo, hi = np.log(min(positive)), np.log(max(positive))
                config[name] = _sig3(float(np.exp(rng.uniform(lo, hi))))  # log-uniform
        if run_key(config) not in seen:  # a repeat would only waste a run
            seen.add(run_key(config))
            configs.append(config)
    return configs


def data_fingerprint(train, validation, name=None):
    """What the header records about the data, so results from other data are refused."""
    h = hashlib.sha256()
    for a in (*train, *validation):
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.data)
    return {"name": name, "training_size": int(len(train[1])),
            "validation_size": int(len(validation[1])), "sha256": h.hexdigest()}


# ---- one run (executes in a worker) -------------------------------------------------

_WORKER = {"data": None, "prepared": {}}


def _init_worker(data, threads):
    """Process-pool initializer: keep the data for every run, pin numba's threads.

    The BLAS variables must be in the environment before numpy loads, which in
    a spawned child happens while it unpickles this function, so the parent
    sets them before starting the children (``local_executor``); setting them
    here again covers libraries loaded later.
    """
    for var in THREAD_VARIABLES:
        os.environ[var] = str(threads)
    _WORKER["data"], _WORKER["prepared"] = data, {}
    import sys
    if "numba" in sys.modules:
        import numba
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))


def thread_settings():
    """This process's thread settings (the tests ask workers for them)."""
    import sys
    settings = {var: os.environ.get(var) for var in THREAD_VARIABLES}
    if "numba" in sys.modules:
        settings["numba_threads"] = sys.modules["numba"].get_num_threads()
    return settings


def _examples(data, config):
    from .data_format import as_examples
    sizes, dtype = config["sizes"], np.dtype(config["dtype"])
    train, validation = data[0], data[1]
    return (as_examples(train, sizes[0], sizes[-1], dtype, "training data"),
            as_examples(validation, sizes[0], sizes[-1], dtype, "validation data"))


def _worker_examples(config):
    """The worker's data as float Examples, converted once per dtype and shape."""
    key = (config["dtype"], config["sizes"][0], config["sizes"][-1])
    if key not in _WORKER["prepared"]:
        _WORKER["prepared"][key] = _examples(_WORKER["data"], config)
    return _WORKER["prepared"][key]


def build_network(config):
    """The untrained Network of a configuration (its seed fixes the initial weights)."""
    from .network import Network
    extra = {} if config.get("backend") is None else {"backend": config["backend"]}
    return Network(config["sizes"], cost=config["cost"], activation=config["activation"],
                   output_activation=config["output_activation"], init=config["init"],
                   seed=config["seed"], dtype=np.dtype(config["dtype"]), **extra)


def train_config(config, train, validation, epochs=None, training_cost=False):
    """Train one configuration; return (network, per-epoch list of dicts, initial cost)."""
    net = build_network(config)
    initial = net.total_cost(train, config["lmbda"], regularization=config["regularization"]) \
        if training_cost else None
    epochs_out = []

    def record(network, r):
        e = {"epoch": r["epoch"], "validation_accuracy": r["evaluation_accuracy"],
             "validation_correct": r["evaluation_correct"], "validation_cost": r["evaluation_cost"],
             "seconds": r["seconds"]}
        if training_cost:
            e["training_cost"] = r["training_cost"]
        epochs_out.append(e)

    net.SGD(train, config["epochs"] if epochs is None else epochs, config["mini_batch_size"],
            config["eta"], config["lmbda"], evaluation_data=validation,
            monitor_evaluation_cost=True, monitor_evaluation_accuracy=True,
            monitor_training_cost=training_cost, regularization=config["regularization"],
            momentum=config["momentum"], dropout=config["dropout"], callbacks=[record],
            verbose=False)
    return net, epochs_out, initial


def run_config(config, data=None, training_cost=False):
    """Train one configuration and return its results row (a JSON-ready dict).

    ``data`` is ((X, y) training, (X, y) validation), or None for the data the
    worker's initializer stored (the default pool), so MNIST is not sent per run.
    """
    start = time.perf_counter()
    train, validation = _worker_examples(config) if data is None else _examples(data, config)
    _, epochs, initial = train_config(config, train, validation, training_cost=training_cost)
    best = max(epochs, key=lambda e: e["validation_accuracy"])  # first of equal bests
    row = {"key": run_key(config), "config": config, "epochs": epochs,
           "best_epoch": best["epoch"], "best_validation_accuracy": best["validation_accuracy"],
           "final_validation_accuracy": epochs[-1]["validation_accuracy"],
           "seconds": time.perf_counter() - start,
           "worker": f"{socket.gethostname()}:{os.getpid()}"}
    if training_cost:
        row["initial_training_cost"] = initial
    return row


# ---- executors ----------------------------------------------------------------------


class InlineExecutor(cf.Executor):
    """Runs each task at once in the calling process (workers=0): for tests and debugging."""

    def submit(self, fn, /, *args, **kwargs):
        future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the caller through the future
            future.set_exception(exc)
        return future


def _finished(executor, configs, data, training_cost):
    """Yield each run's row as it finishes (in order, one at a time, for InlineExecutor)."""
    if isinstance(executor, InlineExecutor):
        for c in configs:  # run lazily, so each row is saved before the next run starts
            yield run_config(c, data, training_cost)
        return
    futures = [executor.submit(run_config, c, data, training_cost) for c in configs]
    for future in cf.as_completed(futures):
        yield future.result()


def default_threads(workers):
    """Threads per worker so that workers x threads does not exceed the cores."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def local_executor(workers, threads=None, data=None):
    """A process pool of ``workers`` spawned processes with pinned thread counts.

    Which mechanism: the parent sets OMP/OPENBLAS/MKL/NUMBA_NUM_THREADS in its
    own environment while it starts the children (the 'spawn' context starts a
    fresh interpreter that inherits that environment, so numpy and numba read
    the values when the child first imports them), then restores its own.  The
    children are started here, eagerly, by one warm-up task each.  ``data``
    ((X, y) training, (X, y) validation) is handed to every worker once, through
    the initializer; ``run_grid`` on the same data then sends none with the runs,
    so one pool can serve several grids.
    """
    threads = default_threads(workers) if threads is None else int(threads)
    if workers < 1 or threads < 1:
        raise UsageError(f"workers and threads must be >= 1, got {workers} and {threads}")
    saved = {var: os.environ.get(var) for var in THREAD_VARIABLES}
    os.environ.update({var: str(threads) for var in THREAD_VARIABLES})
    try:
        pool = cf.ProcessPoolExecutor(max_workers=workers,
                                      mp_context=multiprocessing.get_context("spawn"),
                                      initializer=_init_worker, initargs=(data, threads))
        if data is not None:  # run_grid then sends no data with the tasks
            pool.grid_data_sha256 = data_fingerprint(*data)["sha256"]
        warm = [pool.submit(thread_settings) for _ in range(workers)]  # starts each child
        for f in warm:
            f.result()
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
    return pool


# ---- the search ---------------------------------------------------------------------


@dataclass
class GridResult:
    """What ``run_grid`` returns: rows sorted best first, the chosen one, the test score."""

    spec: dict
    rows: list
    resumed: int = 0
    test: dict = None
    out: Path = None

    @property
    def best(self):
        return self.rows[0] if self.rows else None

    def table(self, top=None):
        return format_table(self.rows, self.spec, top)


def sort_rows(rows):
    """Best validation accuracy first; ties: better final accuracy, then the run key."""
    return sorted(rows, key=lambda r: (-r["best_validation_accuracy"],
                                       -r["final_validation_accuracy"], r["key"]))


def _split(data):
    if not isinstance(data, (tuple, list)) or len(data) not in (2, 3):
        raise UsageError("data must be (training, validation) or (training, validation, test), "
                         "each an (X, y) pair of arrays")
    return data[0], data[1], (data[2] if len(data) == 3 else None)


def _check_runs(configs, train, n_classes):
    """Fail before any work starts: sizes that do not fit, batches larger than the data,
    cost/output combinations the Network refuses."""
    n_in = np.asarray(train[0]).shape[1]
    n_train = len(train[1])
    seen = set()
    for c in configs:
        if c["sizes"][0] != n_in or c["sizes"][-1] != n_classes:
            raise UsageError(f"sizes {c['sizes']} do not fit the data: {n_in} inputs and "
                             f"{n_classes} classes; use sizes {n_in} ... {n_classes}")
        if c["mini_batch_size"] > n_train:
            raise UsageError(f"mini_batch_size {c['mini_batch_size']} is larger than the "
                             f"training data ({n_train} examples)")
        arch = (c["cost"], c["activation"], c["output_activation"])
        if arch not in seen:
            seen.add(arch)
            build_network(dict(c, sizes=[c["sizes"][0], c["sizes"][-1]]))


def run_grid(spec, data=None, executor=None, out=None, workers=1, threads=None,
             progress=None, score_test=True, data_name=None):
    """Run every configuration of ``spec`` not already in ``out``; return a GridResult.

    ``data``: ((X, y) training, (X, y) validation[, (X, y) test]) with X (n, 784)
    (uint8 pixels are fine); default MNIST (50,000 / 10,000 / 10,000).
    ``executor``: any concurrent.futures.Executor; the data then travels with
    each task.  Default: ``local_executor(workers, threads)``, which sends it
    to each worker once.  ``out``: a folder for results.jsonl (resumable) and
    selection.json; None keeps everything in memory.  ``progress(row, done,
    total)`` is called as each run finishes.  ``score_test``: retrain the
    chosen configuration and score it on the test set (if data has one).
    """
    spec = grid_spec(spec)
    if data is None:
        from .mnist_loader import load_arrays
        data, data_name = load_arrays("mnist", dtype=np.uint8), data_name or "mnist"
    train, validation, test = _split(data)
    n_classes = int(max(np.max(train[1]), np.max(validation[1]))) + 1
    spec["data"] = data_fingerprint(train, validation, data_name)
    configs = run_configs(spec)
    _check_runs(configs, train, n_classes)

    rows, results = [], None
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        results = ResultsFile(out / RESULTS_NAME, spec)
        wanted = {run_key(c) for c in configs}
        rows = [r for r in results.open() if r["key"] in wanted]
    resumed = len(rows)
    done = {r["key"] for r in rows}
    pending = [c for c in configs if run_key(c) not in done]

    own = executor is None and bool(pending)
    if own:
        executor = InlineExecutor() if workers == 0 else \
            local_executor(workers, threads, data=(train, validation))
    # Workers of a local_executor made with this data hold it already; others get it per task.
    held = getattr(executor, "grid_data_sha256", None) == spec["data"]["sha256"]
    task_data = None if held else (train, validation)
    try:
        for row in _finished(executor, pending, task_data, spec["training_cost"]):
            rows.append(row)
            if results is not None:
                results.append(row)
            if progress is not None:
                progress(row, len(rows), len(configs))
    finally:
        if own:
            executor.shutdown(wait=True, cancel_futures=True)
        if results is not None:
            results.close()

    result = GridResult(spec=spec, rows=sort_rows(rows), resumed=resumed, out=out)
    if score_test and test is not None and result.rows:
        result.test = score_test_set(result.best, train, validation, test, out, spec)
    return result


def score_test_set(row, train, validation, test, out=None, spec=None):
    """Retrain the chosen run with its own seed up to its best epoch; score the test set once.

    The retrained network's validation accuracy must equal the row's (same seed,
    same data): ``reproduced`` says whether it did.  Cached in selection.json.
    """
    from .data_format import as_examples
    path = None if out is None else Path(out) / SELECTION_NAME
    spec_sha = hashlib.sha256(dumps_line(spec or {})).hexdigest()
    if path is not None and path.exists():
        try:
            cached = json.loads(path.read_text())
            if cached.get("key") == row["key"] and cached.get("spec_sha256") == spec_sha:
                return cached
        except ValueError:
            pass  # damaged: recompute
    config = row["config"]
    train_ex, val_ex = _examples((train, validation), config)
    net, epochs, _ = train_config(config, train_ex, val_ex, epochs=row["best_epoch"] + 1)
    test_ex = as_examples(test, config["sizes"][0], config["sizes"][-1],
                          np.dtype(config["dtype"]), "test data")
    correct = net.accuracy(test_ex)
    selection = {"key": row["key"], "config": config, "epochs_trained": row["best_epoch"] + 1,
                 "validation_accuracy": epochs[-1]["validation_accuracy"],
                 "reproduced": epochs[-1]["validation_accuracy"] == row["best_validation_accuracy"],
                 "test_accuracy": correct / len(test_ex), "test_correct": correct,
                 "test_size": len(test_ex),
                 "test_cost": net.total_cost(test_ex, config["lmbda"],
                                             regularization=config["regularization"]),
                 "spec_sha256": spec_sha}
    if path is not None:
        from .files import atomic_write_json
        atomic_write_json(path, selection, indent=1)
    return selection


def load_grid(out):
    """(spec, rows sorted best first) from a results folder or file, for tables and plots."""
    path = Path(out)
    spec, rows = read_results(path / RESULTS_NAME if path.is_dir() else path)
    return spec, sort_rows(rows)


# ---- the table ----------------------------------------------------------------------


def varying_options(spec, rows=()):
    """The options that take more than one value (the table's and the plots' axes)."""
    names = [n for n, values in spec["options"].items() if len(values) > 1]
    if spec.get("random") is not None:
        names = [n for n in spec["options"] if len({run_key(r["config"][n]) for r in rows}) > 1]
    return names or ["eta"]


def _fmt(value):
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "-".join(map(str, value))
    return str(value)


def format_table(rows, spec, top=None):
    """A plain-text table of the runs, best validation accuracy first."""
    names = [n for n in varying_options(spec, rows) if n != "seed"]
    header = names + ["val best %", "epoch", "val final %", "val cost", "seconds", "seed"]
    lines = []
    for r in sort_rows(rows)[:top]:
        final_cost = r["epochs"][-1]["validation_cost"]
        lines.append([_fmt(r["config"][n]) for n in names] + [
            f"{100 * r['best_validation_accuracy']:.2f}", str(r["best_epoch"]),
            f"{100 * r['final_validation_accuracy']:.2f}",
            "nan" if final_cost is None else f"{final_cost:.4f}", f"{r['seconds']:.1f}",
            str(r["config"]["seed"])])
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h)
              for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:>{w}}}" for w in widths)
    return "\n".join([fmt.format(*header)] + [fmt.format(*line) for line in lines])


def broad_strategy(*args, **kwargs):
    """Chapter 3's broad strategy: the eta threshold, then lambda, then the mini-batch
    size, each a small grid.  See ``grid_strategy.broad_strategy`` for the arguments."""
    from .grid_strategy import broad_strategy as strategy
    return strategy(*args, **kwargs)
