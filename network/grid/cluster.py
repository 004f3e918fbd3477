"""Grid runs on a Dask cluster: connect to it (or start one here), send the data once,
collect the rows.

``connect("tcp://HOST:8786")`` joins a running cluster (started with ``dask
scheduler`` and ``dask worker``); ``connect("local:N")`` starts a LocalCluster
of N worker processes on this machine, listening on 127.0.0.1 only, for the
length of the search.  Either way a scheduler that does not answer is refused
within ``CONNECT_SECONDS``.

How the data travels: a named data set (a ``DatasetRef``) is loaded by each
worker from its own disk, once per process, and refused if its fingerprint
differs from the caller's; arrays are scattered to the workers once, and every
task names that one copy.  Rows come back to the caller, which alone writes
results.jsonl, so a search resumes on a cluster as it does here.  A worker
that dies mid-run costs only that run: the scheduler gives the task to another
worker (up to Dask's ``distributed.scheduler.allowed-failures`` times), and the
run's row still arrives once.

Left out on purpose: adaptive scaling, job-queue clusters (dask-jobqueue gives a
scheduler address like any other), and stopping runs already executing on a
cluster this search did not start when it is interrupted: their tasks are
cancelled, but Dask cannot interrupt a running Python function, so those runs
finish on their workers and their rows are dropped.
"""

import asyncio
import contextlib
import logging
import os
import re
import signal
import threading

from ..errors import NNDLError, UsageError
from ..storage.signals import deferred
from .executor import THREAD_VARIABLES, DatasetRef, default_threads, run_config

CONNECT_SECONDS = 3
_LOCAL = re.compile(r"local:(\d+)")


def _dask():
    try:
        import distributed
    except ImportError:
        raise UsageError("--scheduler needs Dask, which is not installed; install it with "
                         "pip install -e \".[dask]\" (or pip install \"dask[distributed]\")"
                         ) from None
    return distributed


def check_scheduler(text):
    """``local:N`` or a scheduler address; anything else is refused in one line."""
    match = _LOCAL.fullmatch(text)
    if match:
        if int(match.group(1)) < 1:
            raise UsageError(f"--scheduler {text}: a local cluster needs at least one worker")
        return text
    if "://" not in text and not re.fullmatch(r"[\w.\-\[\]:]+:\d+", text):
        raise UsageError(f"--scheduler {text!r}: give a Dask scheduler address such as "
                         f"tcp://HOST:8786, or local:N to start N workers here")
    return text


class Cluster:
    """A client of a Dask cluster for one search (``connect`` makes it; ``close`` ends it
    and a LocalCluster it started)."""

    def __init__(self, client, local=None, owned=True, log_level=None):
        self.client, self.local, self.owned = client, local, owned
        self.log_level = log_level   # the level of the "distributed" logger to restore

    def finished(self, configs, data, training_cost):
        """Yield each run's row as it finishes anywhere on the cluster.  Closing the
        generator early (Ctrl-C, a failed run) cancels every run not yet finished."""
        distributed = _dask()
        if not isinstance(data, DatasetRef):   # arrays: one copy on each worker, not one a task
            [data] = self.client.scatter([data], broadcast=True, hash=False)
        futures = [self.client.submit(run_on_worker, c, data, training_cost, pure=False)
                   for c in configs]
        try:
            for future in distributed.as_completed(futures):
                try:
                    yield future.result()
                except distributed.KilledWorker as exc:
                    raise NNDLError(f"a run killed every worker it was given ({exc}); the "
                                    f"search stops here, the finished runs are kept") from None
        finally:
            self.client.cancel(futures)

    def close(self, now=False):
        """Disconnect; shut a LocalCluster this search started down with its workers --
        ``now`` (an interrupted or failed search) without waiting for the runs in
        progress, whose workers are killed.  Ctrl-C and SIGTERM wait meanwhile, so an
        impatient second one cannot leave worker processes behind."""
        if not self.owned:
            return
        main = threading.current_thread() is threading.main_thread()
        old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)} \
            if main else {}
        try:
            if now and self.local is not None:
                for nanny in list(self.local.workers.values()):
                    pid = nanny.pid
                    nanny.close_gracefully()   # tells the nanny not to start a new worker
                    if pid:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
            if self.client is not None:
                self.client.close(timeout=CONNECT_SECONDS)
            if self.local is not None:
                self.local.close(timeout=2 * CONNECT_SECONDS)
        finally:
            if self.log_level is not None:
                logging.getLogger("distributed").setLevel(self.log_level)
            for s, handler in old.items():
                signal.signal(s, handler)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        self.close(now=exc_type is not None)


def connect(scheduler, threads=None):
    """A ``Cluster`` for ``scheduler``: "local:N", an address such as "tcp://HOST:8786",
    or a ``distributed.Client`` the caller made (left open at the end).

    ``threads``: BLAS/numba threads per worker of a local cluster (default: cores
    // N); the workers of a cluster started elsewhere are pinned where they are
    started (docs/grid.md).
    """
    distributed = _dask()
    if isinstance(scheduler, distributed.Client):
        return Cluster(scheduler, owned=False)   # the caller's client: theirs to close
    scheduler = check_scheduler(str(scheduler))
    match = _LOCAL.fullmatch(scheduler)
    if match:
        n = int(match.group(1))
        threads = default_threads(n) if threads is None else threads
        # The scheduler and the nannies of a local cluster live in this process, the workers
        # in their own: their notes (a comm closed as a killed worker went, a cancelled
        # run) are no news to someone who pressed Ctrl-C; errors still show.
        log = logging.getLogger("distributed")
        cluster = Cluster(None, log_level=log.level)
        log.setLevel(logging.ERROR)
        try:
            with deferred():   # an interrupt now waits for the workers, then ends them at once
                cluster.local = distributed.LocalCluster(   # every port on 127.0.0.1, any free
                    n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                    dashboard_address="127.0.0.1:0", worker_dashboard_address="127.0.0.1:0",
                    silence_logs=logging.ERROR,
                    env={var: str(threads) for var in THREAD_VARIABLES})
                cluster.client = distributed.Client(cluster.local)
                cluster.client.register_plugin(_ignore_ctrl_c(distributed))
        except BaseException:
            cluster.close(now=True)
            raise
        return cluster
    _probe(scheduler)
    return Cluster(distributed.Client(scheduler, timeout=CONNECT_SECONDS))


def _probe(address, seconds=CONNECT_SECONDS):
    """Ask the scheduler who it is, and give up after ``seconds``.  ``Client(address,
    timeout=...)`` alone bounds only the TCP connection: a port that accepts but never
    answers (not a Dask scheduler, or a hung one) would keep it waiting for ever."""
    from distributed.core import rpc

    async def identity():
        remote = rpc(address, timeout=seconds)
        try:
            return await remote.identity()
        finally:
            await remote.close_rpc()

    outcome = {}

    def ask():   # in a thread of its own: the caller may be running an event loop already
        try:
            outcome["reply"] = asyncio.run(asyncio.wait_for(identity(), seconds))
        except BaseException as exc:   # handed to the caller
            outcome["error"] = exc

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    thread.join(seconds + 1)
    reply = outcome.get("reply")
    if not isinstance(reply, dict) or reply.get("type") != "Scheduler":
        error = outcome.get("error")
        why = ("it did not answer" if error is None or isinstance(error, asyncio.TimeoutError)
               else str(error).split("\n")[0] or type(error).__name__)
        if reply is not None:
            why = f"it is a Dask {reply.get('type')}, not a scheduler"
        raise UsageError(f"--scheduler {address}: no Dask scheduler there within {seconds} s "
                         f"({why}); start one with `dask scheduler` and give the address it "
                         f"prints, or use --scheduler local:N")


def _ignore_ctrl_c(distributed):
    """A worker plugin: the workers of a local cluster ignore Ctrl-C, which a terminal sends
    to the whole process group; the search (the parent) stops them itself, at once.  The
    same rule as the local pool's workers (executor.py)."""

    class IgnoreCtrlC(distributed.WorkerPlugin):
        name = "nndl-ignore-ctrl-c"

        def setup(self, worker):
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, signal.SIG_IGN)

    return IgnoreCtrlC()


def run_on_worker(config, data, training_cost):
    """``run_config`` on a Dask worker; the row also names the worker by its Dask address."""
    from distributed import get_worker
    row = run_config(config, data, training_cost)
    row["dask_worker"] = get_worker().address
    return row
