"""Writes the files in this folder with the library as it was at commit 395cc31, before
the package restructure, so tests/test_legacy_files.py can prove that files written then
still load now.  Run from a checkout of that commit:

    git worktree add /tmp/old 395cc31 && PYTHONPATH=/tmp/old python tests/data/legacy/make.py

It also writes expected.json: what the old code computed from each file (outputs on a
fixed input, the checkpoint's epochs, the grid's best run), for the test to compare.
"""

import json
import shutil
from pathlib import Path

import numpy as np

import network
from network import Network
from network.checkpoint import load_checkpoint
from network.conv import ConvNetwork, ConvPoolLayer, FullyConnectedLayer, SoftmaxLayer
from network.grid import load_grid, run_grid
from network.optimizers import Adam
from network.resumable import train
from network.vae import VAE
from network.vae import io as vae_io
from network.vae.resumable import train as vae_train

HERE = Path(__file__).resolve().parent
X6 = np.random.default_rng(0).random((60, 6))
Y6 = np.random.default_rng(1).integers(0, 3, 60)
PROBE = np.linspace(0, 1, 12).reshape(2, 6)


def main():
    expected = {}
    net = Network([6, 5, 3], seed=1)
    net.SGD((X6, Y6), 2, 10, 0.5, verbose=False)
    net.save(HERE / "network.json")
    doc = json.loads((HERE / "network.json").read_text())
    (HERE / "network-book.json").write_text(json.dumps({k: doc[k] for k in
                                                        ("sizes", "weights", "biases", "cost")}))
    expected["network"] = net.feedforward(PROBE).tolist()

    for name, options in (("momentum", dict(momentum=0.9, dropout=0.2)),
                          ("adam", dict(optimizer=Adam(0.01)))):
        path = HERE / f"checkpoint-{name}.npz"
        train(Network([6, 5, 3], seed=2), (X6, Y6), 2, 10, 0.5, checkpoint=path,
              evaluation_data=(X6, Y6), **options, monitor_evaluation_accuracy=True)
        ck = load_checkpoint(path)
        expected[f"checkpoint-{name}"] = {"epochs_done": ck.epochs_done,
                                          "output": ck.network.feedforward(PROBE).tolist(),
                                          "history": ck.network.history}

    vae = VAE(2, [5], "tanh", 6, rng=np.random.default_rng(3), dtype=np.float64)
    for suffix in (".json", ".npz"):
        vae_io.save(vae, HERE / f"vae{suffix}")
    expected["vae"] = vae.reconstruct(PROBE).tolist()
    model = VAE(2, [5], "tanh", 6, rng=np.random.default_rng(4), dtype=np.float64)
    vae_train(model, X6, 2, 16, Adam(1e-2), 1.0, np.random.default_rng(5), X6[:10],
              checkpoint=HERE / "vae-checkpoint.npz", config={"made_by": "395cc31"})
    expected["vae-checkpoint"] = {"reconstruct": model.reconstruct(PROBE).tolist()}

    conv = ConvNetwork([ConvPoolLayer((2, 1, 3, 3), (1, 8, 8)), FullyConnectedLayer(18, 4),
                        SoftmaxLayer(4, 3)], seed=7, dtype=np.float64)
    X64 = np.random.default_rng(6).random((30, 64))
    conv.SGD((X64, np.arange(30) % 3), 1, 5, 0.5, verbose=False)
    for suffix in (".json", ".npz"):
        conv.save(HERE / f"conv{suffix}")
    expected["conv"] = conv.feedforward(X64[:2]).tolist()

    grid_dir = HERE / "grid"
    shutil.rmtree(grid_dir, ignore_errors=True)
    data = ((X6, Y6), (X6[:30], Y6[:30]), (X6[30:], Y6[30:]))
    result = run_grid({"sizes": [6, 4, 3], "eta": [0.5, 3.0], "epochs": 2}, data=data,
                      out=grid_dir, workers=0)
    expected["grid"] = {"best_key": result.best["key"], "runs": len(result.rows),
                        "test_accuracy": result.test["test_accuracy"]}
    assert load_grid(grid_dir)[1][0]["key"] == result.best["key"]
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1))
    print("written with", network.__file__)


if __name__ == "__main__":
    main()
