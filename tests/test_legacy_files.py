"""Files written before the package restructure still load, and give the same numbers.

``tests/data/legacy/`` holds a model file (and one in the book's own keys only), two
checkpoints, a VAE model in both formats and a VAE checkpoint of the older layout
(version 1: its history as per-key lists counted from 1), a conv net in both formats and
a grid folder, all written by the library at commit 395cc31 (``make.py`` there says how),
with what that code computed from them in ``expected.json``.
"""

import json
from pathlib import Path

import numpy as np
import pytest

import network
from network.conv import load_conv_network
from network.grid import load_grid, run_grid
from network.mlp.checkpoint import load_checkpoint
from network.mlp.resumable import resume
from network.vae import io as vae_io
from network.vae.checkpoint import load_checkpoint as load_vae_checkpoint
from network.vae.resumable import resume as vae_resume

HERE = Path(__file__).resolve().parent / "data" / "legacy"
EXPECTED = json.loads((HERE / "expected.json").read_text())
X6 = np.random.default_rng(0).random((60, 6))            # the data make.py trained on
Y6 = np.random.default_rng(1).integers(0, 3, 60)
PROBE = np.linspace(0, 1, 12).reshape(2, 6)


@pytest.mark.parametrize("name", ["network.json", "network-book.json"])
def test_an_old_model_file_loads_with_the_same_outputs(name):
    net = network.load(HERE / name)
    assert np.array_equal(net.feedforward(PROBE), EXPECTED["network"])


@pytest.mark.parametrize("kind", ["momentum", "adam"])
def test_an_old_checkpoint_loads_and_resumes(tmp_path, kind):
    ck = load_checkpoint(HERE / f"checkpoint-{kind}.npz")
    expected = EXPECTED[f"checkpoint-{kind}"]
    assert ck.epochs_done == expected["epochs_done"] == 2
    assert np.array_equal(ck.network.feedforward(PROBE), expected["output"])
    assert ck.network.history == expected["history"]
    net, _ = resume(HERE / f"checkpoint-{kind}.npz", (X6, Y6), epochs=3,
                    checkpoint=tmp_path / "more.npz", evaluation_data=(X6, Y6))
    assert [r["epoch"] for r in net.history] == [0, 1, 2]


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_an_old_vae_file_loads_with_the_same_reconstructions(suffix):
    model = vae_io.load(HERE / f"vae{suffix}")
    assert np.array_equal(model.reconstruct(PROBE), EXPECTED["vae"])


def test_an_old_vae_checkpoint_loads_its_history_counted_from_0_and_resumes(tmp_path):
    ck = load_vae_checkpoint(HERE / "vae-checkpoint.npz")
    assert ck.epochs_done == 2 and [r["epoch"] for r in ck.history] == [0, 1]
    assert all(isinstance(r["train_loss"], float) for r in ck.history)
    assert len(ck.model.steps["kl"]) == 2 * 4 and ck.config == {"made_by": "395cc31"}
    assert np.array_equal(ck.model.reconstruct(PROBE), EXPECTED["vae-checkpoint"]["reconstruct"])
    model, history = vae_resume(HERE / "vae-checkpoint.npz", X6, X6[:10], epochs=3,
                                checkpoint=tmp_path / "more.npz")
    assert [r["epoch"] for r in history] == [0, 1, 2] and len(model.steps["kl"]) == 12


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_an_old_conv_file_loads_with_the_same_outputs(suffix):
    net = load_conv_network(HERE / f"conv{suffix}")
    X64 = np.random.default_rng(6).random((30, 64))
    assert np.array_equal(net.feedforward(X64[:2]), EXPECTED["conv"])


def test_an_old_grid_folder_is_read_and_resumed_without_rerunning(tmp_path):
    import shutil
    folder = tmp_path / "grid"
    shutil.copytree(HERE / "grid", folder)
    spec, rows = load_grid(folder)
    assert rows[0]["key"] == EXPECTED["grid"]["best_key"] and len(rows) == 2
    data = ((X6, Y6), (X6[:30], Y6[:30]), (X6[30:], Y6[30:]))
    result = run_grid({"sizes": [6, 4, 3], "eta": [0.5, 3.0], "epochs": 2}, data=data,
                      out=folder, workers=0)
    assert result.resumed == 2 and result.best["key"] == EXPECTED["grid"]["best_key"]
    assert result.test["test_accuracy"] == EXPECTED["grid"]["test_accuracy"]
