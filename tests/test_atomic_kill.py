"""A writer killed at a random moment (SIGKILL: no cleanup runs) leaves the old file or the new
one, never a mix.  What it can leave is its temporary file, ``.NAME.<random>.tmp`` in the same
folder: one per kill at most, and never under the target's name (network/storage/atomic.py).
"""

import multiprocessing
import os
import signal
import time

import numpy as np
import pytest

from network import Network
from network.mlp.checkpoint import load_checkpoint, save_checkpoint
from network.mlp.network import load as load_network
from network.base.optimizers import Momentum

KILLS = 12
TRAINING = {"epochs": 1, "mini_batch_size": 10, "eta": 0.5, "options": {}}


def big_networks():
    # 784-100-10: a ~1.6 MB JSON file, so a write takes long enough to be caught halfway.
    return [Network([784, 100, 10], seed=s) for s in (1, 2)]


def write(kind, path, net, i):
    if kind == "model":
        net.save(path)
    else:
        opt = Momentum(0.5, 0.9)
        opt.velocities = [np.full_like(p, i) for p in net.weights + net.biases]
        save_checkpoint(path, net, opt, 0, TRAINING)


def read(kind, path):
    return load_network(path) if kind == "model" else load_checkpoint(path).network


def writer_loop(kind, path, nets, first):
    """The child: rewrite ``path`` with the two networks in turn, ``nets[first]`` first,
    until killed."""
    i = first
    while True:
        write(kind, path, nets[i % 2], i)
        i += 1


def wait_for_new_temp(folder, name, known, timeout=10.0):
    """Poll (every millisecond) until more than ``known`` temporary files of ``name`` exist."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(list(folder.glob(f".{name}.*.tmp"))) > known:
            return
        time.sleep(0.001)
    raise AssertionError("the writer never started a write")


def which(net, nets):
    for k, candidate in enumerate(nets):
        if all(np.array_equal(a, b) for a, b in zip(net.weights + net.biases,
                                                    candidate.weights + candidate.biases)):
            return k
    return None


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork to start writers quickly")
@pytest.mark.parametrize("kind,name", [("model", "net.json"), ("checkpoint", "run.npz")])
def test_writer_killed_midway_leaves_the_old_or_the_new_file(tmp_path, kind, name):
    rng = np.random.default_rng(8)
    nets = big_networks()
    path = tmp_path / name
    write(kind, path, nets[0], 0)            # there is always an old file to keep
    ctx = multiprocessing.get_context("fork")
    seen, orphans, current = set(), 0, 0
    for k in range(KILLS):
        child = ctx.Process(target=writer_loop, args=(kind, path, nets, 1 - current), daemon=True)
        child.start()
        if k % 2:
            time.sleep(rng.uniform(0.02, 0.4))   # anywhere: serialising, writing, renaming
        else:
            wait_for_new_temp(tmp_path, name, orphans)  # inside a write, for sure
            time.sleep(rng.uniform(0, 0.003))
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        assert child.exitcode == -signal.SIGKILL
        found = which(read(kind, path), nets)
        assert found is not None, f"kill {k}: {name} is neither the old nor the new network"
        seen.add(found)
        current = found
        leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name != name)
        assert all(l.startswith(f".{name}.") and l.endswith(".tmp") for l in leftovers), leftovers
        assert len(leftovers) - orphans <= 1, "one kill left more than one temporary file"
        orphans = len(leftovers)
    assert seen == {0, 1}, "the writer never got to replace the file: kill later"
    assert orphans >= 1, "no kill landed inside a write: the test did not test anything"
    # Orphans do not disturb later writes.
    write(kind, path, nets[1], 99)
    assert which(read(kind, path), nets) == 1
