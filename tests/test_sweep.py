"""Hydra sweeps (``python -m network.sweep``) and the results file they share with the grid.

A 2x1 multirun with Hydra's basic launcher, then one with the joblib launcher and two
jobs, append their rows to one folder; ``grid --report`` reads it.  Runs are small
(2,000 training images, 1 epoch); every subprocess is bounded in time and imports the
checkout under test.
"""

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest

from network import UsageError, grid, sweep
from network.cli import main
from network.grid.results import ResultsFile, read_results

pytest.importorskip("hydra")   # the test extra brings it; CI must not skip
pytest.importorskip("hydra_plugins.hydra_joblib_launcher")

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
SMALL = ["epochs=1", "training_size=2000", "seed=0", "mini_batch_size=10"]


def sweep_command(tmp_path, name, *overrides):
    return [sys.executable, "-m", "network.sweep", "--multirun", *SMALL, *overrides,
            f"out={tmp_path / 'out'}", f"hydra.sweep.dir={tmp_path / name}"]


def test_the_config_holds_every_train_option_with_the_train_commands_defaults():
    from network.cli import build_parser
    parser = build_parser()
    train = next(a for a in parser._actions if a.dest == "command").choices["train"]
    expected = {a.dest: a.default for a in train._actions
                if a.dest != "help" and a.help != argparse.SUPPRESS}   # not the hidden aliases
    assert sweep.train_options() == expected
    assert {"eta", "mini_batch_size", "epochs", "lmbda", "seed", "save", "quiet"} <= set(expected)


def test_config_groups_hold_the_books_chapter_1_and_chapter_3_set_ups():
    from hydra import compose, initialize
    from omegaconf import OmegaConf
    sweep.register_configs()
    with initialize(version_base="1.3", config_path=None):
        plain = compose("sweep")
        chap1 = compose("sweep", overrides=["setup=chap1"])
        chap3 = compose("sweep", overrides=["setup=chap3", "eta=0.1"])
    assert plain.eta == 0.5 and plain.cost == "cross-entropy" and OmegaConf.is_missing(plain, "out")
    assert (chap1.cost, chap1.init, chap1.eta, chap1.epochs) == ("quadratic", "large", 3.0, 30)
    assert (chap3.cost, chap3.lmbda, chap3.eta) == ("cross-entropy", 5.0, 0.1)  # overrides win


@pytest.mark.parametrize("settings, words", [
    ({"eta": -1}, ["eta", "positive", "-1"]),
    ({"cost": "hinge"}, ["cost", "hinge"]),
    ({"evaluation_set": "test"}, ["validation", "--report"]),
    ({"checkpoint": "c.npz"}, ["checkpoint", "seed"]),
    ({"epochs": 0}, ["epochs", ">= 1"]),
])
def test_a_job_checks_its_settings_by_the_train_commands_rules(settings, words, tmp_path):
    with pytest.raises(UsageError) as info:
        sweep._job({**sweep.train_options(), "out": str(tmp_path), **settings}, tmp_path,
                   {"num": 0, "overrides": [], "multirun": True})
    for word in words:
        assert word in str(info.value)
    assert not (tmp_path / "results.jsonl").exists()


def _append(path, spec, worker, n):
    with ResultsFile(path, spec) as results:
        results.open()
        for i in range(n):
            results.append({"key": f"{worker}-{i}", "config": {}, "padding": "x" * 5000})


def test_parallel_writers_append_whole_lines_to_one_results_file(tmp_path):
    path, spec = tmp_path / "results.jsonl", {"sweep": "test", "data": {"sha256": "0"}}
    context = multiprocessing.get_context("fork")   # four processes, one file
    writers = [context.Process(target=_append, args=(path, spec, w, 40)) for w in range(4)]
    for w in writers:
        w.start()
    for w in writers:
        w.join(60)
        assert w.exitcode == 0
    header, rows = read_results(path)
    assert header == spec and path.read_bytes().count(b"\n") == 1 + 160
    assert sorted(r["key"] for r in rows) == sorted(f"{w}-{i}" for w in range(4)
                                                     for i in range(40))
    with pytest.raises(UsageError, match="different grid"):   # another sweep's data
        ResultsFile(path, {"sweep": "test", "data": {"sha256": "1"}}).open()


@pytest.mark.slow   # Hydra in subprocesses: left out by -m "not slow"
def test_multiruns_basic_then_joblib_append_rows_that_grid_report_reads(tmp_path, capsys):
    basic = subprocess.run(sweep_command(tmp_path, "basic", "eta=0.1,3.0"), cwd=tmp_path,
                           env=ENV, capture_output=True, text=True, timeout=120)
    assert basic.returncode == 0, basic.stderr
    assert "[2/2] eta 0.1" in basic.stdout or "[2/2] eta 3.0" in basic.stdout
    assert "\r" not in basic.stdout   # a pipe: lines, no bar
    joblib = subprocess.run(sweep_command(tmp_path, "joblib", "eta=0.5,1.0", "hydra/launcher=joblib",
                                          "hydra.launcher.n_jobs=2"),
                            cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120)
    assert joblib.returncode == 0, joblib.stderr
    header, rows = read_results(tmp_path / "out" / "results.jsonl")
    assert header["sweep"] == "python -m network.sweep" and "options" not in header
    assert sorted(r["config"]["eta"] for r in rows) == [0.1, 0.5, 1.0, 3.0]
    assert len({r["key"] for r in rows}) == 4
    in_parallel = {r["worker"] for r in rows if r["config"]["eta"] in (0.5, 1.0)}
    assert len({r["worker"] for r in rows if r["config"]["eta"] in (0.1, 3.0)}) == 1
    assert not in_parallel & {r["worker"] for r in rows if r["config"]["eta"] == 0.1}
    for r in rows:   # each job's row is also in its own Hydra folder
        saved = json.loads((Path(r["sweep"]["output_dir"]) / "row.json").read_text())
        assert saved["key"] == r["key"]

    assert main(["grid", "--report", str(tmp_path / "out"), "--no-plots"]) == 0
    printed = capsys.readouterr().out
    assert "4 runs in" in printed and "val best %" in printed
    best = max(rows, key=lambda r: r["best_validation_accuracy"])
    assert f"Chosen on validation accuracy: eta {best['config']['eta']}" in printed
    selection = json.loads((tmp_path / "out" / "selection.json").read_text())
    assert selection["key"] == best["key"] and selection["reproduced"]
    assert "Test set, scored once" in printed
    spec, _ = grid.load_grid(tmp_path / "out")
    assert spec["options"]["eta"] == [0.1, 0.5, 1.0, 3.0]


def test_a_job_already_in_the_results_with_a_seed_is_not_trained_again(tmp_path, capsys):
    settings = {**sweep.train_options(), "out": str(tmp_path / "out"), "epochs": 1,
                "training_size": 2000, "seed": 3, "quiet": False}
    single = {"num": None, "overrides": [], "multirun": False}
    first = sweep._job(dict(settings), tmp_path, single)
    assert capsys.readouterr().out.startswith("eta 0.5, mini_batch_size 10, lmbda 0.0: best")
    assert sweep._job(dict(settings), tmp_path, single) == first
    assert "already in the results, not trained again" in capsys.readouterr().out
    assert len(read_results(tmp_path / "out" / "results.jsonl")[1]) == 1
    sweep._job({**settings, "seed": None}, tmp_path, single)   # a seed drawn: a new run
    assert len(read_results(tmp_path / "out" / "results.jsonl")[1]) == 2


@pytest.mark.slow   # Hydra in subprocesses: left out by -m "not slow"
def test_a_bad_value_stops_the_sweep_in_one_line_with_status_2(tmp_path):
    done = subprocess.run(sweep_command(tmp_path, "bad", "eta=0.1,-1"), cwd=tmp_path, env=ENV,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "python -m network.sweep: error: eta: must be a positive number, got -1"]
