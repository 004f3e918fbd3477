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
broad strategy in ``strategy.py`` is a few grids in a row), plotting
(``network/plots/grid.py``).
"""

import concurrent.futures as cf
import contextlib
import hashlib
import itertools
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..base.activations import get_activation
from ..base.costs import get_cost
from ..base.checks import number
from ..errors import DataError, UsageError
from ..storage import strict_json
from .executor import (DatasetRef, InlineExecutor, build_network, data_fingerprint,
                       default_threads, examples, local_executor, run_config, run_key,
                       stop_now, train_config)
from .results import ResultsFile, dumps_line, read_results
from ..base.regularization import get_regularizer

RESULTS_NAME = "results.jsonl"
SELECTION_NAME = "selection.json"
MAX_RUNS = 100_000   # far more runs than anyone trains; a typo (--random 10**12) is refused

# ---- options: name -> (default, check); the order is the run order and table order ----


def _sizes(v):
    if not isinstance(v, (list, tuple)) or len(v) < 2:
        raise UsageError(f"sizes: each architecture needs two or more layer sizes, got {v!r}")
    return [number("sizes", s, low=1, whole=True) for s in v]


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
    "eta": (0.5, lambda v: number("eta", v, above=0)),
    "mini_batch_size": (10, lambda v: number("mini_batch_size", v, low=1, whole=True)),
    "lmbda": (0.0, lambda v: number("lmbda", v, low=0)),
    "regularization": ("L2", _named(get_regularizer)),
    "momentum": (0.0, lambda v: number("momentum", v)),
    "dropout": (0.0, lambda v: number("dropout", v, low=0, below=1)),
    "epochs": (10, lambda v: number("epochs", v, low=1, whole=True)),
    "dtype": ("float64", _choice("dtype", ("float64", "float32"))),
    "seed": (0, lambda v: number("seed", v, low=0, whole=True)),
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
        random = number("random", random, low=1, high=MAX_RUNS, whole=True)
    elif math.prod(len(v) for v in normalised.values()) > MAX_RUNS:
        raise UsageError(f"the grid has {math.prod(len(v) for v in normalised.values()):,} "
                         f"runs, more than {MAX_RUNS:,}; give fewer values, or sample with "
                         f"random=N (--random N)")
    return {"options": normalised, "random": random,
            "random_seed": number("random_seed", raw.get("random_seed", 0), low=0, whole=True),
            "training_cost": bool(raw.get("training_cost", False))}


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


def _finished(executor, configs, data, training_cost):
    """Yield each run's row as it finishes (in order, one at a time, for InlineExecutor)."""
    if isinstance(executor, InlineExecutor):
        for c in configs:  # run lazily, so each row is saved before the next run starts
            yield run_config(c, data, training_cost)
        return
    futures = [executor.submit(run_config, c, data, training_cost) for c in configs]
    for future in cf.as_completed(futures):
        yield future.result()


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


def check_runs(configs, train, n_classes):
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
             progress=None, score_test=True, data_name=None, scheduler=None, source=None):
    """Run every configuration of ``spec`` not already in ``out``; return a GridResult.

    ``data``: ((X, y) training, (X, y) validation[, (X, y) test]) with X (n, 784)
    (uint8 pixels are fine), or a data set name, default "mnist" (the book's
    50,000 / 10,000 / 10,000 split), or a ``DatasetRef`` (a name cut to the first
    N images).  ``source``: the DatasetRef that ``data``'s arrays were loaded from,
    so workers on other machines can load them too.
    Where the runs go: ``executor``, any concurrent.futures.Executor; or
    ``scheduler``, a Dask cluster ("tcp://HOST:PORT", "local:N" to start one here,
    or a distributed.Client; network/grid/cluster.py); by default
    ``local_executor(workers, threads)``, which hands the data to each worker
    once; ``workers=0`` runs in this process.  Workers of another executor or a
    Dask cluster load a named data set themselves (once per process, checked
    against this one's fingerprint); arrays without a name travel with each
    task to an executor, and are scattered once to a Dask cluster.
    ``out``: a folder for results.jsonl (resumable) and selection.json; None
    keeps everything in memory.  ``progress(row, done, total)`` is called as
    each run finishes.  ``score_test``: retrain the chosen configuration and
    score it on the test set (if ``data`` has one).
    """
    spec = grid_spec(spec)
    if executor is not None and scheduler is not None:
        raise UsageError("give run_grid an executor or a Dask scheduler, not both")
    (train, validation, test), source = _resolve(data, source)
    n_classes = int(max(np.max(train[1]), np.max(validation[1]))) + 1
    spec["data"] = data_fingerprint(train, validation,
                                    data_name or (source.name if source else None))
    if source is not None:
        source = replace(source, sha256=spec["data"]["sha256"])
    configs = run_configs(spec)
    check_runs(configs, train, n_classes)

    with contextlib.ExitStack() as stack:
        cluster = None
        if scheduler is not None:   # before any file is written: refused in seconds if unanswered
            from .cluster import connect
            cluster = stack.enter_context(connect(scheduler, threads))
        out = None if out is None else Path(out)
        results, rows = _open_results(out, spec, configs)
        if results is not None:
            stack.callback(results.close)
        resumed = len(rows)
        done = {r["key"] for r in rows}
        pending = [c for c in configs if run_key(c) not in done]
        if pending:
            _run_pending(pending, rows, results, progress, len(configs), spec,
                         (train, validation), source, executor, cluster, workers, threads)

    result = GridResult(spec=spec, rows=sort_rows(rows), resumed=resumed, out=out)
    if score_test and test is not None and result.rows:
        result.test = score_test_set(result.best, train, validation, test, out, spec)
    return result


def _resolve(data, source):
    """((training, validation, test), the DatasetRef they came from or None)."""
    if data is None or isinstance(data, str):
        data = DatasetRef(data or "mnist")
    if isinstance(data, DatasetRef):
        return data.load(), data
    train, validation, test = _split(data)
    return (train, validation, test), source


def _run_pending(pending, rows, results, progress, total, spec, data, source, executor,
                 cluster, workers, threads):
    """Run ``pending`` where the caller said, appending each row to ``rows`` and the
    results file as it arrives.  Ctrl-C, SIGTERM (network/storage/signals.py) or a
    failed run stops the search at once: a local pool's workers are killed, a Dask
    cluster's unfinished runs cancelled."""
    own = executor is None and cluster is None
    if own:
        executor = InlineExecutor() if workers == 0 else \
            local_executor(min(workers, len(pending)), threads or default_threads(workers),
                           data=data)
    if cluster is not None:
        finished = cluster.finished(pending, source or data, spec["training_cost"])
    else:
        finished = _finished(executor, pending, _task_data(executor, spec, source, data),
                             spec["training_cost"])
    try:
        for row in finished:
            rows.append(row)
            if results is not None:
                results.append(row)
            if progress is not None:
                progress(row, len(rows), total)
    except BaseException:
        if own:
            stop_now(executor)   # its workers end now, not after the runs in progress
        raise
    finally:
        finished.close()   # a Dask search cancels what has not finished
        if own:
            executor.shutdown(wait=True, cancel_futures=True)


def _open_results(out, spec, configs):
    """(the results file or None, the rows it already holds for these configs)."""
    if out is None:
        return None, []
    out.mkdir(parents=True, exist_ok=True)
    results = ResultsFile(out / RESULTS_NAME, spec)
    wanted = {run_key(c) for c in configs}
    return results, [r for r in results.open() if r["key"] in wanted]


def _task_data(executor, spec, source, data):
    """How the data reaches the runs: a local_executor made with it holds it already
    (None); threads share the arrays; other executors' workers load a named data set
    themselves (a DatasetRef); arrays given directly travel with each task."""
    if getattr(executor, "grid_data_sha256", None) == spec["data"]["sha256"]:
        return None
    if source is not None and not isinstance(executor, (InlineExecutor, cf.ThreadPoolExecutor)):
        return source
    return data


def score_test_set(row, train, validation, test, out=None, spec=None):
    """Retrain the chosen run with its own seed up to its best epoch; score the test set once.

    The retrained network's validation accuracy must equal the row's (same seed,
    same data): ``reproduced`` says whether it did.  Cached in selection.json.
    """
    from ..mlp.data_format import as_examples
    path = None if out is None else Path(out) / SELECTION_NAME
    spec_sha = hashlib.sha256(dumps_line(spec or {})).hexdigest()
    if path is not None and path.exists():
        try:
            cached = strict_json.load(path, "grid selection file", error=DataError)
            if isinstance(cached, dict) and cached.get("key") == row["key"] \
                    and cached.get("spec_sha256") == spec_sha:
                return cached
        except DataError:
            pass  # damaged: recompute it
    config = row["config"]
    train_ex, val_ex = examples((train, validation), config)
    net, epochs, _ = train_config(config, train_ex, val_ex, epochs=row["best_epoch"] + 1)
    test_ex = as_examples(test, config["sizes"][0], config["sizes"][-1],
                          np.dtype(config["dtype"]), "test data")
    test_cost, correct = net.cost_and_accuracy(test_ex, config["lmbda"],  # one forward pass
                                               regularization=config["regularization"])
    accuracy = epochs[-1]["validation_accuracy"]
    selection = {"key": row["key"], "config": config, "epochs_trained": row["best_epoch"] + 1,
                 "validation_accuracy": accuracy,
                 "reproduced": accuracy == row["best_validation_accuracy"],
                 "test_accuracy": correct / len(test_ex), "test_correct": correct,
                 "test_size": len(test_ex),
                 "test_cost": test_cost,
                 "spec_sha256": spec_sha}
    if path is not None:
        from ..storage.atomic import atomic_write_json
        atomic_write_json(path, selection, indent=1)
    return selection


def load_grid(out):
    """(spec, rows sorted best first) from a results folder or file, for tables and plots.

    The spec of a Hydra sweep's folder (network/sweep.py), whose header records only
    the data, is filled in from the rows (``as_grid_spec``), so tables, plots and the
    test score treat a sweep's rows as a grid's."""
    path = Path(out)
    spec, rows = read_results(path / RESULTS_NAME if path.is_dir() else path)
    return as_grid_spec(spec, rows), sort_rows(rows)


def as_grid_spec(spec, rows):
    """``spec`` if it is a grid's; for a sweep's header, a grid spec whose options list
    the values the rows took (so the axes of the table and heatmap are what was swept)."""
    if "options" in spec:
        return spec
    options = {}
    for name in OPTIONS:
        seen = {}
        for r in rows:
            value = r["config"].get(name)
            seen.setdefault(run_key(value), value)
        options[name] = [seen[k] for k in sorted(seen)] or [OPTIONS[name][0]]
    return {"options": options, "random": None, "random_seed": 0, "training_cost": False,
            **spec}


# ---- the table ----------------------------------------------------------------------


def varying_options(spec, rows=()):
    """The options that take more than one value (the table's and the plots' axes)."""
    names = [n for n, values in spec["options"].items() if len(values) > 1]
    if spec.get("random") is not None and rows:
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
