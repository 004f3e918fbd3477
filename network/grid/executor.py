"""Where one grid run executes: the run itself and the executors that carry it.

``run_config`` trains one configuration and returns its results row; it runs
in whatever process the executor chooses.  ``local_executor`` is the default:
a pool of spawned processes that receive the data once (initializer) and have
their BLAS/numba threads pinned.  ``InlineExecutor`` runs in the calling
process.  Any other ``concurrent.futures.Executor`` (Dask's ``client.
get_executor()``, a ThreadPoolExecutor, ...) works too; it gets the data
with every task.

Left out on purpose: retries, timeouts, GPU placement -- a cluster engine's
executor brings its own.
"""

import concurrent.futures as cf
import errno
import json
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np

from ..errors import DataError, UsageError
from ..storage.signals import deferred
from ..storage.training_state import fingerprint

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "NUMBA_NUM_THREADS")


def run_key(config):
    """The identity of a run: its configuration as canonical JSON."""
    return json.dumps(config, sort_keys=True, separators=(",", ":"))

def data_fingerprint(train, validation, name=None):
    """What the header records about the data, so results from other data are refused."""
    return {"name": name, "training_size": int(len(train[1])),
            "validation_size": int(len(validation[1])),
            "sha256": fingerprint(*train, *validation)}


# ---- one run (executes in a worker) -------------------------------------------------

_WORKER = {"data": None, "prepared": {}, "ref": None}


@dataclass(frozen=True)
class DatasetRef:
    """A named data set that each worker loads from its own disk, once per process.

    Sent instead of the arrays to executors on other machines; ``sha256`` is the
    fingerprint of the parent's copy, so a worker whose files differ refuses to run.
    ``training_size`` / ``validation_size`` keep the first N images of each split
    (None: all); ``path`` is where the parent found the files, used by a worker
    only if that folder exists where it runs (otherwise it looks the data set up
    as usual: $NNDL_DATA, data/<name>/, ...).
    """

    name: str
    sha256: str = None
    training_size: int = None
    validation_size: int = None
    path: str = None

    def load(self):
        """((X, y) training, (X, y) validation, (X, y) test): uint8 pixels, int labels."""
        from ..data.mnist import load_arrays
        path = self.path if self.path is not None and os.path.isdir(self.path) else None
        train, validation, test = load_arrays(self.name, path=path, dtype=np.uint8)
        return (first_images(train, self.training_size),
                first_images(validation, self.validation_size), test)


def first_images(split, n):
    """The first ``n`` images and labels of an (X, y) split (all of them for None)."""
    if n is None:
        return split
    if n > len(split[1]):
        raise UsageError(f"asked for the first {n} images of a split that holds {len(split[1])}; "
                         f"give at most {len(split[1])}")
    return split[0][:n], split[1][:n]


def _load_dataset(ref):
    if _WORKER["ref"] != ref:
        train, validation, _ = ref.load()
        found = data_fingerprint(train, validation)["sha256"]
        if found != ref.sha256:
            raise DataError(f"{socket.gethostname()}: its {ref.name} files differ from the ones "
                            f"the grid started with (sha256 {found[:12]}... against "
                            f"{ref.sha256[:12]}...); give every machine the same files")
        _WORKER.update(data=(train, validation), prepared={}, ref=ref)


def _init_worker(data, threads, started=None):
    """Process-pool initializer: keep the data for every run, pin numba's threads.

    The BLAS variables must be in the environment before numpy loads, which in
    a spawned child happens while it unpickles this function, so the parent
    sets them before starting the children (``local_executor``); setting them
    here again covers libraries loaded later.
    """
    for var in THREAD_VARIABLES:
        os.environ[var] = str(threads)
    _WORKER.update(data=data, prepared={}, ref=None)
    numba = sys.modules.get("numba")   # only if this worker has loaded it (network/base/jit.py)
    if numba is not None:
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    # Ctrl-C in a terminal reaches the whole process group: only the parent acts on it
    # (it stops the search and ends its workers); a worker whose parent died ends itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), daemon=True).start()
    if started is not None:
        try:   # every worker waits for the others, so the pool starts all of them at once
            started.wait(timeout=120)
        except threading.BrokenBarrierError:
            return


def _exit_when_orphaned(parent, every=0.5):
    """Watch the parent process; when it is gone (killed, even by SIGKILL), exit at once
    rather than compute for nobody."""
    while os.getppid() == parent:
        time.sleep(every)
    os._exit(1)


def stop_now(executor):
    """End a local process pool at once: its workers are killed (a run in progress is
    lost; finished runs are already in results.jsonl), nothing queued starts.  Further
    Ctrl-Cs are ignored meanwhile, so an impatient second one cannot leave it half done."""
    main = threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        # ProcessPoolExecutor keeps its workers in _processes (pid -> Process) and has no
        # public way to end them without waiting for the runs in progress.
        processes = list((getattr(executor, "_processes", None) or {}).values())
        _quiet_helper_threads()
        for process in processes:
            process.kill()
        try:
            executor.shutdown(wait=False, cancel_futures=True)
        except OSError:
            # The pool's manager thread, seeing its workers killed, closes the pipe that
            # shutdown() writes to wake it; between shutdown's check and its write that is
            # "Bad file descriptor" (seen once in a loaded test run).  Nothing is left to wake.
            pass
        for process in processes:
            process.join(timeout=5)
    finally:
        if main:
            signal.signal(signal.SIGINT, old)


def _quiet_helper_threads():
    """From now on, a broken-pipe or closed-descriptor error in a thread other than the main
    one (a torn-down pool's manager and queue-feeder threads, writing to the pipes of the
    workers just killed) ends that thread silently instead of printing a traceback under
    the one-line message; any other error in any thread is reported as before."""
    previous = threading.excepthook
    if getattr(previous, "quiet_pipes", False):
        return

    def hook(args):
        if (args.thread is not threading.main_thread() and isinstance(args.exc_value, OSError)
                and args.exc_value.errno in (errno.EBADF, errno.EPIPE)):
            return
        previous(args)
    hook.quiet_pipes = True
    threading.excepthook = hook


def thread_settings():
    """This process's thread settings (the tests ask workers for them)."""
    settings = {var: os.environ.get(var) for var in THREAD_VARIABLES}
    if "numba" in sys.modules:
        settings["numba_threads"] = sys.modules["numba"].get_num_threads()
    return settings


def examples(data, config):
    """(training, validation) as float Examples in the configuration's dtype."""
    from ..mlp.data_format import as_examples
    sizes, dtype = config["sizes"], np.dtype(config["dtype"])
    train, validation = data[0], data[1]
    return (as_examples(train, sizes[0], sizes[-1], dtype, "training data"),
            as_examples(validation, sizes[0], sizes[-1], dtype, "validation data"))


def _worker_examples(config):
    """The worker's data as float Examples, converted once per dtype and shape."""
    key = (config["dtype"], config["sizes"][0], config["sizes"][-1])
    if key not in _WORKER["prepared"]:
        _WORKER["prepared"][key] = examples(_WORKER["data"], config)
    return _WORKER["prepared"][key]


def build_network(config):
    """The untrained Network of a configuration (its seed fixes the initial weights)."""
    from ..mlp.network import Network
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
             "validation_correct": r["evaluation_correct"],
             "validation_cost": r["evaluation_cost"],
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

    ``data`` is ((X, y) training, (X, y) validation); None for the data the
    worker's initializer stored (the default pool); or a DatasetRef, loaded by
    the worker once.  Either way MNIST is not sent with every run.
    """
    start = time.perf_counter()
    if isinstance(data, DatasetRef):
        _load_dataset(data)
        data = None
    train, validation = _worker_examples(config) if data is None else examples(data, config)
    _, epochs, initial = train_config(config, train, validation, training_cost=training_cost)
    return results_row(config, epochs, time.perf_counter() - start,
                       initial if training_cost else None)


def results_row(config, epochs, seconds, initial_training_cost=None):
    """The results row of one trained configuration, from ``train_config``'s epochs: the
    one line results.jsonl holds for it (network/grid/results.py)."""
    best = max(epochs, key=lambda e: e["validation_accuracy"])  # first of equal bests
    row = {"key": run_key(config), "config": config, "epochs": epochs,
           "best_epoch": best["epoch"], "best_validation_accuracy": best["validation_accuracy"],
           "final_validation_accuracy": epochs[-1]["validation_accuracy"],
           "seconds": seconds, "worker": f"{socket.gethostname()}:{os.getpid()}"}
    if initial_training_cost is not None:
        row["initial_training_cost"] = initial_training_cost
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
    # Ctrl-C or SIGTERM now would cut a child's start (the data it is being sent) in half,
    # before the pool even knows it: the signal waits until every worker is up.
    pool = None
    try:
        with deferred():
            pool = _start_pool(workers, threads, data, saved)
    except BaseException:     # the interrupt that waited: the workers just started end too
        if pool is not None:
            stop_now(pool)
        raise
    return pool


def _start_pool(workers, threads, data, saved):
    try:
        context = multiprocessing.get_context("spawn")
        # A barrier every worker's initializer waits at: without it, one worker can take
        # every warm-up task while the pool starts the next only later, outside this
        # interrupt-safe stretch (and a Ctrl-C then cuts that start in half).
        pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=context,
                                      initializer=_init_worker,
                                      initargs=(data, threads, context.Barrier(workers)))
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
