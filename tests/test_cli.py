"""The command line: the main job's shape, metrics files, and one-line errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

from network import Network
from network.data.mnist import load_arrays


def run_cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "network", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def test_network_trained_on_10000_images_for_3_epochs_beats_90_percent_on_validation():
    (X, y), validation, _ = load_arrays(dtype=np.uint8)
    net = Network([784, 30, 10], seed=1)
    _, accuracy, _, _ = net.SGD((X[:10000], y[:10000]), 3, 10, 0.5, evaluation_data=validation,
                                monitor_evaluation_accuracy=True, verbose=False)
    assert max(accuracy) / len(validation[1]) > 0.90


def test_train_prints_epochs_and_writes_metrics_and_model(tmp_path):
    metrics, model = tmp_path / "m.json", tmp_path / "net.json"
    r = run_cli("train", "--sizes", 784, 30, 10, "--cost", "quadratic", "--eta", 3.0,
                "--epochs", 2, "--mini-batch-size", 10, "--init", "large", "--training-size",
                3000, "--seed", 7, "--metrics", metrics, "--save", model)
    assert r.returncode == 0, r.stderr
    epoch_lines = [l for l in r.stdout.splitlines() if l.startswith("Epoch")]
    assert len(epoch_lines) == 2 and "/ 10000" in epoch_lines[0]
    data = json.loads(metrics.read_text())
    assert data["config"]["seed"] == 7 and data["config"]["sizes"] == [784, 30, 10]
    epochs = data["epochs"]
    assert [e["epoch"] for e in epochs] == [0, 1]
    assert all(0.3 < e["evaluation_accuracy"] <= 1.0 and e["seconds"] > 0 for e in epochs)
    assert epochs[-1]["evaluation_correct"] == round(epochs[-1]["evaluation_accuracy"] * 10000)
    # the saved model scores what the last epoch reported
    r = run_cli("evaluate", model)
    assert r.returncode == 0, r.stderr
    assert f"{epochs[-1]['evaluation_correct']} / 10000" in r.stdout


def test_same_seed_same_metrics(tmp_path):
    outs = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.json"
        r = run_cli("train", "--epochs", 1, "--training-size", 1000, "--seed", 3, "--metrics", path)
        assert r.returncode == 0, r.stderr
        outs.append([e["evaluation_correct"] for e in json.loads(path.read_text())["epochs"]])
    assert outs[0] == outs[1]


@pytest.mark.parametrize("args,message", [
    (["train", "--eta", "-3"], "must be a positive number"),
    (["train", "--sizes", "100", "30", "10", "--epochs", "1"], "does not fit the data"),
    (["train", "--cost", "hinge"], "invalid choice"),
    (["train", "--epochs", "many"], "not a whole number"),
    (["train", "--mini-batch-size", "60000", "--epochs", "1"], "larger than the training data"),
    (["evaluate", "absent.json"], "no such model file"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_arguments_exit_2_with_one_line_and_no_traceback(args, message):
    r = run_cli(*args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_corrupt_model_file_exits_2(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"sizes": [784, 10], "weights": [[1, 2]]}')
    r = run_cli("evaluate", path)
    assert r.returncode == 2 and "bad.json" in r.stderr and "Traceback" not in r.stderr


OUTPUT_FILES = [(["train", "--sizes", "784", "10"], option)
                for option in ("--save", "--metrics", "--checkpoint")]
OUTPUT_FILES += [(["vae", "train"], option) for option in ("--save", "--metrics", "--checkpoint")]
OUTPUT_FILES += [(["bench"], "--json")]


@pytest.mark.parametrize("command, option", OUTPUT_FILES)
def test_an_output_files_folder_is_made_and_a_bad_one_refused_before_any_work(tmp_path, command,
                                                                              option):
    from network.cli import build_parser
    target = tmp_path / "made" / "here" / "out.json"
    args = build_parser().parse_args([*command, option, str(target)])
    assert getattr(args, option[2:]) == str(target) and target.parent.is_dir()
    assert not target.exists()                                    # only the folder, so far
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    r = run_cli(*command, option, blocker / "out.json", timeout=60)
    assert r.returncode == 2, r.stderr
    assert f"argument {option}: cannot create the folder {blocker}" in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""        # refused before training
    folder = run_cli(*command, option, tmp_path, timeout=60)
    assert folder.returncode == 2 and "is a folder; give the name of a file in it" in folder.stderr
