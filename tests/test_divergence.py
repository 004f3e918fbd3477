"""Divergence stops training with where and why, and keeps the last good checkpoint;
accuracy stuck at chance level is reported as saturation; healthy runs trigger neither.
(The ConvNetwork and the VAE stop the same way: tests/test_conv.py, tests/test_vae.py.)"""

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from network import Network
from network.mlp.checkpoint import load_checkpoint
from network.base.divergence import check_epoch, likely_cause
from network.errors import NNDLError, TrainingDiverged
from network.mlp.saturation import SaturationWatch, chance_level, stuck_neurons
from network.base.optimizers import Momentum
from network.mlp.resumable import train

BACKENDS = ["numpy", "numba"] if "backend" in Network.__init__.__code__.co_varnames else [None]


def data(seed=0, n=200):
    rng = np.random.default_rng(seed)
    return rng.random((n, 12)), rng.integers(0, 3, n)


def linear_net(backend):
    """Identity units and outputs with the quadratic cost: linear least squares, which
    diverges for any step size above 2 / (largest curvature), the textbook case."""
    kw = {} if backend is None else {"backend": backend}
    return Network([12, 7, 3], activation="identity", output_activation="identity",
                   cost="quadratic", seed=1, **kw)


@pytest.mark.parametrize("backend", BACKENDS)
def test_too_large_eta_stops_with_epoch_minibatch_and_cause(backend):
    X, y = data()
    net = linear_net(backend)
    with np.errstate(over="ignore", invalid="ignore"), pytest.raises(TrainingDiverged) as exc:
        net.SGD((X, y), 5, 10, 0.5, verbose=False)
    e = exc.value
    assert isinstance(e, NNDLError)
    assert e.epoch == 0 and "in epoch 0" in str(e)
    if "first_nonfinite_batch" in net.history[-1]:
        assert isinstance(e.batch, int) and 0 <= e.batch < 20
        assert f"after mini-batch {e.batch}" in str(e)
    assert "eta = 0.5 is probably too large" in str(e) and "try eta = 0.05" in str(e)
    assert len(net.history) == 1  # stopped at once, no further epoch


def test_momentum_above_one_is_named_as_the_cause_and_the_last_good_checkpoint_is_kept(tmp_path):
    X, y = data()
    net = linear_net(BACKENDS[0])
    path = tmp_path / "run.npz"
    with np.errstate(over="ignore", invalid="ignore"), pytest.raises(TrainingDiverged) as exc:
        train(net, (X, y), 10, 10, 0.01, checkpoint=path, momentum=1.1)
    assert "momentum mu = 1.1 has |mu| >= 1" in str(exc.value)
    ck = load_checkpoint(path)         # the last good state: the epochs before the bad one
    assert ck.epochs_done == exc.value.epoch >= 1
    assert all(np.all(np.isfinite(p)) for p in ck.network.weights + ck.network.biases)


def test_non_finite_cost_with_finite_weights_is_caught_too():
    net = Network([4, 3, 2], seed=0)
    optimizer = Momentum(3.0, 0.5)
    with pytest.raises(TrainingDiverged, match="evaluation cost became NaN or infinite with "
                                               "finite weights") as exc:
        check_epoch(4, [("weights[0]", net.weights[0])], {"evaluation_cost": math.inf},
                    optimizer, batch=-1)
    assert exc.value.epoch == 4 and exc.value.batch is None
    assert "eta = 3.0" in likely_cause(optimizer)
    check_epoch(4, [("weights[0]", net.weights[0])], {"evaluation_cost": 0.5}, optimizer)  # control


def test_a_network_whose_outputs_overflow_stops_in_its_first_epoch():
    X, y = data()
    net = Network([12, 3, 3], cost="log-likelihood", seed=0)
    net.weights[-1][:] = 1e308     # finite, but z = W a overflows to infinity
    with np.errstate(all="ignore"), pytest.raises(TrainingDiverged) as exc:
        net.SGD((X, y), 1, 10, 1e-300, evaluation_data=(X, y), monitor_evaluation_cost=True,
                verbose=False)
    assert exc.value.epoch == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_healthy_run_is_neither_diverged_nor_saturated(backend):
    X, y = data(1)
    y = (X[:, 0] > 0.5).astype(int) + (X[:, 1] > 0.5)   # learnable labels 0..2
    kw = {} if backend is None else {"backend": backend}
    net = Network([12, 10, 3], seed=2, **kw)
    guard = SaturationWatch(chance=chance_level(y, 3), evaluation_size=len(y))
    net.SGD((X, y), 30, 10, 1.0, evaluation_data=(X, y), monitor_evaluation_accuracy=True,
            monitor_evaluation_cost=True, callbacks=[guard], verbose=False)
    assert net.history[-1]["evaluation_accuracy"] > 0.8
    assert guard.saturation() is None


def test_accuracy_at_chance_is_reported_as_saturation_with_stuck_neurons():
    X, y = data(2)
    net = Network([12, 6, 3], seed=3)
    net.biases[0][:] = 1000.0   # every hidden sigmoid is 1 for every input: sigma'(z) = 0
    guard = SaturationWatch(chance=chance_level(y, 3), evaluation_size=len(y), probe=X[:50])
    net.SGD((X, y), 2, 10, 0.01, evaluation_data=(X, y), monitor_evaluation_accuracy=True,
            callbacks=[guard], verbose=False)
    info = guard.saturation()
    assert info is not None and info["epochs_at_chance"] == [0, 1]
    assert info["chance_level"] == chance_level(y, 3)
    assert "Saturated at chance level" in info["message"]
    assert info["stuck_neurons"] == [6, 3]   # constant hidden layer, hence constant outputs


def test_chance_level_is_the_most_common_class_and_stuck_neurons_counts_constant_units():
    assert chance_level(np.array([0, 1, 1, 2]), 3) == 0.5
    assert chance_level(np.array([], dtype=int), 4) == 0.25
    net = Network([2, 3, 2], seed=0)
    net.weights[0][:] = 0.0         # every hidden unit sees only its bias: constant outputs
    X = np.random.default_rng(0).random((20, 2))
    assert stuck_neurons(net, X) == [3, 2]


# ---- the command line ---------------------------------------------------------------------------

def cli(*args):
    return subprocess.run([sys.executable, "-m", "network", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_cli_divergence_is_one_line_naming_epoch_batch_cause_and_kept_checkpoint(tmp_path):
    ck, metrics = tmp_path / "run.npz", tmp_path / "m.json"
    r = cli("train", "--training-size", 2000, "--epochs", 2, "--seed", 1, "--activation",
            "identity", "--eta", 50, "--checkpoint", ck, "--metrics", metrics)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr and "Warning" not in r.stderr
    assert "training diverged in epoch 0" in lines[0] and "mini-batch" in lines[0]
    assert "eta = 50.0 is probably too large" in lines[0]
    assert f"{ck} keeps the last good state (0 complete epochs)" in lines[0]
    assert load_checkpoint(ck).epochs_done == 0
    summary = json.loads(metrics.read_text())["summary"]["diverged"]
    assert summary["epoch"] == 0 and "eta" in summary["cause"]


def test_cli_summary_reports_saturation_at_chance(tmp_path):
    metrics = tmp_path / "m.json"
    r = cli("train", "--training-size", 2000, "--epochs", 1, "--seed", 1, "--activation", "relu",
            "--eta", 500, "--metrics", metrics)
    assert r.returncode == 0, r.stderr
    assert "Saturated at chance level" in r.stdout
    info = json.loads(metrics.read_text())["summary"]["saturated_at_chance"]
    assert info["epochs_at_chance"] == [0] and 0.1 < info["chance_level"] < 0.12
