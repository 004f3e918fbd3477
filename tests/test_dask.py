"""The grid on Dask, from the command line: a real scheduler and two worker processes on
127.0.0.1 (``python -m dask scheduler`` / ``python -m dask worker``), a LocalCluster the
search starts itself (``--scheduler local:N``), and the Python API's scattered arrays.

Every subprocess runs the checkout under test (PYTHONPATH) with a tag in its environment,
so a process left behind is found; nothing listens or connects beyond 127.0.0.1; every
wait is bounded.  Runs are small: 2,000 training and 1,000 validation images, 1 epoch,
the NumPy path (no kernel to compile in a fresh worker).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

import processes

from network import DataError, UsageError, grid
from network.cli import main
from network.grid import cluster
from network.grid.results import read_results

distributed = pytest.importorskip("distributed")   # the test extra brings it; CI must not skip
pytestmark = pytest.mark.slow   # a cluster of processes and searches through the command line:
                                # left out by -m "not slow"

REPO = Path(__file__).resolve().parents[1]
SMALL = ["--sizes", "784", "30", "10", "--eta", "0.1", "3", "--mini-batch-size", "10", "50",
         "--epochs", "1", "--training-size", "2000", "--validation-size", "1000",
         "--backend", "numpy", "--no-plots", "--no-test"]


def tagged_env(tag):
    return {**os.environ, "PYTHONPATH": str(REPO), "NNDL_DASK_TAG": tag,
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def tagged(tag):
    """The pids of the processes this test started (their environment carries ``tag``)."""
    return processes.tagged("NNDL_DASK_TAG", tag)


def listening(pids):
    """The addresses (hex IP as /proc/net/tcp writes it) that processes ``pids`` listen on."""
    inodes = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            pass
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:   # 0A: LISTEN
                found.add(fields[1].split(":")[0])
    return found


LOOPBACK = {"0100007F"}   # 127.0.0.1, as /proc/net/tcp writes it


def wait_for(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


def grid_command(out, scheduler, *extra):
    return [sys.executable, "-m", "network", "grid", *SMALL, *extra,
            "--scheduler", scheduler, "--out", str(out)]


def rows_of(out):
    _, rows = read_results(Path(out) / "results.jsonl")
    return rows


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """A scheduler and one `dask worker --nworkers 2` (two worker processes under nannies,
    which start a new worker if one is killed), all on 127.0.0.1; a client for the test."""
    folder = tmp_path_factory.mktemp("dask")
    tag = uuid.uuid4().hex
    env = tagged_env(tag)
    started = []
    try:
        started.append(subprocess.Popen(
            [sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", "0",
             "--dashboard-address", "127.0.0.1:0", "--scheduler-file",
             str(folder / "scheduler.json")],
            cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        address = wait_for(lambda: (folder / "scheduler.json").exists() and json.loads(
            (folder / "scheduler.json").read_text())["address"], 60, "the scheduler")
        assert address.startswith("tcp://127.0.0.1:")
        started.append(subprocess.Popen(
            [sys.executable, "-m", "dask", "worker", address, "--nworkers", "2", "--nthreads",
             "1", "--host", "127.0.0.1", "--dashboard-address", "127.0.0.1:0",
             "--local-directory", str(folder)],
            cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        client = distributed.Client(address, timeout=30)
        client.wait_for_workers(2, timeout=60)
        assert listening(tagged(tag)) == LOOPBACK   # nothing listens beyond 127.0.0.1
        yield {"address": address, "client": client, "tag": tag}
        client.close()
    finally:
        for p in started:   # at once: their worker processes end when their nanny goes
            p.kill()
            p.wait(timeout=10)
        wait_for(lambda: not tagged(tag), 20, "the cluster's processes to end")


def worker_pids(client):
    return client.run(os.getpid)   # {worker address: pid}


def test_a_grid_runs_on_the_cluster_from_the_command_line_stops_on_ctrl_c_and_resumes(
        dask_cluster, tmp_path):
    client = dask_cluster["client"]
    command = grid_command(tmp_path / "g", dask_cluster["address"], "--epochs", "3")
    p = subprocess.Popen(command, cwd=tmp_path, env=tagged_env("none"),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    results = tmp_path / "g" / "results.jsonl"
    wait_for(lambda: results.exists() and results.read_bytes().count(b"\n") >= 2, 60,
             "the first row")
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 130, err
    assert err.strip().splitlines() == [err.strip()] and "run the same command again" in err
    before = rows_of(tmp_path / "g")
    assert 1 <= len(before) < 4, "the interrupt came too late to test resuming"
    # its runs were cancelled: the scheduler forgets them once the search has gone
    wait_for(lambda: not client.run_on_scheduler(lambda dask_scheduler: len(
        [k for k in dask_scheduler.tasks if "run_on_worker" in str(k)])), 20,
        "the scheduler to drop the cancelled runs")

    pids = worker_pids(client)
    again = subprocess.run(command, cwd=tmp_path, env=tagged_env("none"), capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert f"on the Dask scheduler {dask_cluster['address']}" in again.stdout
    assert f"Resumed: {len(before)} of 4 runs" in again.stdout and again.stderr == ""
    rows = rows_of(tmp_path / "g")
    assert rows[:len(before)] == before   # the caller alone wrote them, once
    assert len(rows) == len({r["key"] for r in rows}) == 4
    for row in rows[len(before):]:   # each row names the worker process that ran it, both ways
        assert row["dask_worker"] in pids, row["dask_worker"]
        assert row["worker"] == f"{socket.gethostname()}:{pids[row['dask_worker']]}"


def test_a_worker_killed_mid_run_still_yields_every_run_exactly_once(dask_cluster, tmp_path):
    client = dask_cluster["client"]
    command = grid_command(tmp_path / "g", dask_cluster["address"], "--mini-batch-size", "1", "2")
    p = subprocess.Popen(command, cwd=tmp_path, env=tagged_env("none"),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def busy():   # a worker with a run in progress, and its pid
            for address, keys in client.processing().items():
                if any("run_on_worker" in str(k) for k in keys):
                    return address, worker_pids(client)[address]
        address, pid = wait_for(busy, 60, "a run in progress")
        os.kill(pid, signal.SIGKILL)
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    rows = rows_of(tmp_path / "g")
    assert len(rows) == len({r["key"] for r in rows}) == 4   # every run, once
    assert {r["config"]["mini_batch_size"] for r in rows} == {1, 2}
    client.wait_for_workers(2, timeout=60)   # the nanny started a new worker for the module


def test_a_scheduler_that_does_not_answer_is_refused_within_seconds_in_one_line(tmp_path,
                                                                                 capsys):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)   # accepts connections, never speaks Dask
    try:
        start = time.monotonic()
        status = main(["grid", *SMALL, "--scheduler", f"tcp://127.0.0.1:"
                       f"{silent.getsockname()[1]}", "--out", str(tmp_path / "g")])
        seconds = time.monotonic() - start
    finally:
        silent.close()
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1 and "no Dask scheduler" in err
    assert seconds < cluster.CONNECT_SECONDS + 5
    assert not (tmp_path / "g" / "results.jsonl").exists()


def test_scheduler_addresses_are_checked_and_a_closed_port_is_refused(monkeypatch):
    for bad in ("local:0", "local:two", "nowhere"):
        with pytest.raises(UsageError, match="--scheduler"):
            cluster.check_scheduler(bad)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))   # bound, not listening: connections are refused
    try:
        start = time.monotonic()
        with pytest.raises(UsageError, match="no Dask scheduler"):
            cluster._probe(f"tcp://127.0.0.1:{closed.getsockname()[1]}", seconds=1)
        assert time.monotonic() - start < 5
    finally:
        closed.close()


def test_local_n_starts_a_cluster_for_the_search_and_ctrl_c_leaves_no_process(tmp_path):
    tag = uuid.uuid4().hex
    command = grid_command(tmp_path / "g", "local:2", "--mini-batch-size", "1", "2")
    p = subprocess.Popen(command, cwd=tmp_path, env=tagged_env(tag), stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_for(lambda: len(tagged(tag)) >= 3, 60, "the search and its two workers")
        results = tmp_path / "g" / "results.jsonl"
        wait_for(lambda: results.exists(), 60, "the results file")   # the runs have started
        assert listening(tagged(tag)) == LOOPBACK   # nothing listens beyond 127.0.0.1
        os.killpg(p.pid, signal.SIGINT)   # Ctrl-C in a terminal: the whole process group
        _, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode == 130, err
    assert len(err.strip().splitlines()) == 1 and "run the same command again" in err, err
    wait_for(lambda: not tagged(tag), 10, "every worker of the local cluster to end")

    again = subprocess.run(command, cwd=tmp_path, env=tagged_env(tag), capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    rows = rows_of(tmp_path / "g")
    assert len(rows) == len({r["key"] for r in rows}) == 4
    assert all(r["dask_worker"].startswith("tcp://127.0.0.1:") for r in rows)
    wait_for(lambda: not tagged(tag), 10, "the local cluster to close")


def fake_data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    prototypes = rng.integers(0, 256, size=(10, 784))

    def split(m):
        y = rng.integers(0, 10, m)
        return np.clip(prototypes[y] + rng.normal(0, 80, (m, 784)), 0, 255).astype(np.uint8), y

    return split(n), split(100), split(100)


def test_arrays_from_python_are_scattered_once_and_a_differing_data_set_is_refused():
    data = fake_data()
    spec = {"sizes": [784, 10, 10], "eta": [0.1, 3.0], "mini_batch_size": [5, 20], "epochs": 1,
            "backend": "numpy"}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  protocol="tcp", host="127.0.0.1",   # 127.0.0.1 only
                                  dashboard_address="127.0.0.1:0") as local, \
            distributed.Client(local) as client:
        sent = []
        submit = client.submit

        def spy(fn, *args, **kwargs):
            sent.append(args)
            return submit(fn, *args, **kwargs)

        client.submit = spy
        result = grid.run_grid(spec, data=data, scheduler=client, score_test=False)
        assert len(result.rows) == 4 and len(sent) == 4
        shipped = {a[1].key for a in sent}   # (config, data, training_cost)
        assert all(isinstance(a[1], distributed.Future) for a in sent) and len(shipped) == 1
        assert len(client.who_has()[shipped.pop()]) == 2   # one copy on each worker
        inline = grid.run_grid(spec, data=data, workers=0, score_test=False)
        assert [r["epochs"][0]["validation_correct"] for r in result.rows] == \
            [r["epochs"][0]["validation_correct"] for r in inline.rows]

        client.submit = submit
        wrong = grid.DatasetRef("mnist", "0" * 64, training_size=100, validation_size=100)
        configs = grid.run_configs(grid.grid_spec(spec))[:1]
        with pytest.raises(DataError, match="differ"):
            list(cluster.Cluster(client, owned=False).finished(configs, wrong, False))
