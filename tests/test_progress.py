"""Progress on long work: bars under a pseudo-terminal, nothing of them in a pipe.

A terminal is a pty (``os.openpty``) standing in for stdout, in this process or a
subprocess's; its output is read back and searched for tqdm's redraws (carriage
returns) and labels.  The same work with stdout a pipe (pytest's capture) must print
its lines and no carriage return; ``--quiet`` / ``progress=False`` must draw nothing.
"""

import fcntl
import io
import os
import re
import select
import struct
import subprocess
import sys
import termios
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest

from network import Network
from network.cli import main
from network.conv import ConvNetwork, ConvPoolLayer, SoftmaxLayer

REPO = Path(__file__).resolve().parents[1]


def _pty():
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    return master, slave


def _drain(master, chunks, until):
    """Read the pty's master side into ``chunks`` until ``until()`` and nothing is left."""
    while True:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:   # the other side is closed
                return
            if not data:
                return
            chunks.append(data)
        elif until():
            return


def on_terminal(work):
    """Run ``work()`` with sys.stdout a terminal; return what the terminal received."""
    master, slave = _pty()
    chunks, done = [], threading.Event()
    reader = threading.Thread(target=_drain, args=(master, chunks, done.is_set))
    reader.start()
    saved = sys.stdout
    sys.stdout = io.TextIOWrapper(os.fdopen(slave, "wb", buffering=0), write_through=True)
    try:
        work()
    finally:
        sys.stdout.close()
        sys.stdout = saved
        done.set()
        reader.join(10)
        os.close(master)
    return b"".join(chunks).decode()


def subprocess_on_terminal(command, cwd, seconds=120):
    """(exit status, what the terminal received, stderr) of ``command`` run with its stdout
    a terminal."""
    master, slave = _pty()
    proc = subprocess.Popen(command, cwd=cwd, stdout=slave, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"})
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + seconds
    _drain(master, chunks, lambda: proc.poll() is not None or time.monotonic() > deadline)
    os.close(master)
    try:
        proc.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, b"".join(chunks).decode(), proc.stderr.read().decode()


def redraws(text):
    """The carriage returns that redraw a line (a terminal writes each newline as \\r\\n)."""
    return text.replace("\r\n", "\n").count("\r")


def tiny_conv():
    rng = np.random.default_rng(0)
    X, y = rng.random((300, 64)), np.arange(300) % 3
    net = ConvNetwork([ConvPoolLayer((2, 1, 3, 3), (1, 8, 8)), SoftmaxLayer(18, 3)], seed=0)
    return net, (X, y)


def tiny_vae_run(progress=True):
    from network.base.optimizers import Adam
    from network.vae.model import VAE
    from network.vae.train import train
    rng = np.random.default_rng(0)
    X = rng.random((256, 784))
    train(VAE(2, [16], "relu", rng=rng), X, 1, 8, Adam(1e-3), rng=rng, progress=progress)


def test_a_conv_epoch_and_a_vae_epoch_show_a_bar_over_their_batches_on_a_terminal(capsys):
    net, data = tiny_conv()
    shown = on_terminal(lambda: net.SGD(data, 2, 5, 0.1, validation_data=data))
    assert "epoch 0:" in shown and "/60 [" in shown and "batch" in shown and redraws(shown)
    lines = [line for line in shown.replace("\r\n", "\n").split("\n") if "Epoch" in line]
    assert len(lines) == 2   # the epoch lines stay; the bars are erased
    assert "epoch" in on_terminal(tiny_vae_run) and "/32 [" in on_terminal(tiny_vae_run)

    quiet = on_terminal(lambda: tiny_conv()[0].SGD(data, 1, 5, 0.1, progress=False))
    assert not redraws(quiet) and on_terminal(lambda: tiny_vae_run(False)) == ""
    net.SGD(data, 1, 5, 0.1, validation_data=data)   # stdout a pipe: the line, no bar
    printed = capsys.readouterr().out
    assert printed.startswith("Epoch 2:") and "\r" not in printed


def test_the_compiled_mlp_epoch_draws_no_bar():
    rng = np.random.default_rng(0)
    X, y = rng.random((500, 784)), np.arange(500) % 10
    shown = on_terminal(lambda: Network([784, 10, 10], seed=0).SGD(
        (X, y), 2, 10, 0.5, test_data=(X, y)))
    assert "Epoch 1:" in shown and not redraws(shown)


def _grid_args(tmp_path, *extra):
    from test_grid import fake_data, npz
    return ["grid", "--data", str(npz(tmp_path, fake_data())), "--sizes", "784", "10", "10",
            "--eta", "0.1", "1", "3", "--mini-batch-size", "5", "--epochs", "2", "--backend",
            "numpy", "--workers", "0", "--no-plots", "--no-test", *extra]


def test_a_grid_counts_its_runs_with_the_time_left_on_a_terminal_and_quiet_draws_nothing(
        tmp_path, capsys):
    shown = on_terminal(lambda: main(_grid_args(tmp_path, "--out", str(tmp_path / "a"))))
    assert "runs:" in shown and re.search(r"[123]/3 \[\d\d:\d\d<\d\d:\d\d", shown)  # time left
    assert "[3/3] eta" in shown and "Chosen on validation accuracy" in shown
    quiet = on_terminal(lambda: main(_grid_args(tmp_path, "--out", str(tmp_path / "b"),
                                                "--quiet")))
    assert not redraws(quiet) and "[1/3]" not in quiet
    assert "Chosen on validation accuracy" in quiet
    main(_grid_args(tmp_path, "--out", str(tmp_path / "c")))   # a pipe: lines, no bar
    printed = capsys.readouterr().out
    assert "[3/3] eta" in printed and "\r" not in printed


def test_a_chapter_scripts_run_says_which_run_and_epoch_it_is_in(tmp_path):
    sys.path.insert(0, str(REPO / "chapters"))
    try:
        import common
    finally:
        sys.path.remove(str(REPO / "chapters"))
    rng = np.random.default_rng(0)
    data = (rng.random((200, 784)), np.arange(200) % 10)
    chapter = types.SimpleNamespace(name="chap3")

    def two_runs(quiet):
        ctx = common.Context(chapter, "overfit", tmp_path, True, 0, quiet)
        for _ in range(2):
            ctx.train(Network([784, 10, 10], seed=0, backend="numpy"), data, 3, 10, 0.5, data)

    shown = on_terminal(lambda: two_runs(False))
    assert "chap3 overfit, run 1:" in shown and "chap3 overfit, run 2:" in shown
    assert "/3 [" in shown and "epoch" in shown
    assert not redraws(on_terminal(lambda: two_runs(True)))


@pytest.mark.slow   # Hydra in a subprocess: left out by -m "not slow"
def test_a_sweep_shows_jobs_done_of_the_total_on_a_terminal(tmp_path):
    pytest.importorskip("hydra")
    status, shown, err = subprocess_on_terminal(
        [sys.executable, "-m", "network.sweep", "--multirun", "eta=0.1,3.0", "epochs=1",
         "training_size=2000", "seed=0", f"out={tmp_path / 'out'}",
         f"hydra.sweep.dir={tmp_path / 'hydra'}"], tmp_path)
    assert status == 0, err
    assert "jobs:" in shown and re.search(r"[12]/2 \[\d\d:\d\d<\d\d:\d\d", shown)  # time left
    assert "[2/2] eta" in shown
