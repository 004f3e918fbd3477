"""The grid search: specs, the run list, the resumable results file, executors, the CLI.

Everything runs on a tiny fake data set (a few hundred noisy copies of ten
random prototype images) and [784, 10, 10] networks for 1-2 epochs, with the
NumPy backend so no kernel is compiled.
"""

import concurrent.futures as cf
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from network import DataError, Network, UsageError
from network import grid
from network.cli import main
from network.grid.results import read_results

REPO = Path(__file__).resolve().parents[1]


def fake_data(n_train=300, n_val=100, n_test=100, seed=0):
    rng = np.random.default_rng(seed)
    prototypes = rng.integers(0, 256, size=(10, 784))

    def split(n):
        y = rng.integers(0, 10, n)
        X = np.clip(prototypes[y] + rng.normal(0, 80, (n, 784)), 0, 255).astype(np.uint8)
        return X, y

    return split(n_train), split(n_val), split(n_test)


@pytest.fixture(scope="module")
def data():
    return fake_data()


SMALL = {"sizes": [784, 10, 10], "eta": [0.1, 3.0], "mini_batch_size": [5, 20],
         "lmbda": [0.0, 1.0], "epochs": 2, "backend": "numpy"}


def npz(tmp_path, data, n_train=None):
    (Xt, yt), (Xv, yv), (Xs, ys) = data
    path = tmp_path / "fake.npz"
    np.savez(path, X_train=Xt[:n_train], y_train=yt[:n_train], X_val=Xv, y_val=yv,
             X_test=Xs, y_test=ys)
    return path


# ---- the spec and the run list ------------------------------------------------------

@pytest.mark.parametrize("bad, words", [
    ({"eta": [0.1, -1]}, ["eta", "-1"]),
    ({"eta": []}, ["eta", "at least one"]),
    ({"lmbda": -0.5}, ["lmbda", "-0.5"]),
    ({"mini_batch_size": [0]}, ["mini_batch_size", "0"]),
    ({"mini_batch_size": [2.5]}, ["mini_batch_size", "whole"]),
    ({"dropout": [1.0]}, ["dropout", "< 1"]),
    ({"epochs": [0]}, ["epochs"]),
    ({"cost": ["hinge"]}, ["hinge"]),
    ({"init": ["huge"]}, ["init", "huge"]),
    ({"sizes": [784]}, ["sizes"]),
    ({"etta": [0.1]}, ["unknown grid option", "etta"]),
    ({"random": 0}, ["random"]),
])
def test_bad_specs_are_refused_with_the_offending_value(bad, words):
    with pytest.raises(UsageError) as info:
        grid.grid_spec(bad)
    for word in words:
        assert word in str(info.value)


def test_run_list_is_the_product_of_the_values_in_a_stable_order():
    spec = grid.grid_spec(SMALL)
    configs = grid.run_configs(spec)
    assert len(configs) == 8
    assert [(c["eta"], c["mini_batch_size"], c["lmbda"]) for c in configs][:3] == \
        [(0.1, 5, 0.0), (0.1, 5, 1.0), (0.1, 20, 0.0)]
    assert len({grid.run_key(c) for c in configs}) == 8
    assert grid.grid_spec(spec) == spec  # normalising twice changes nothing


def test_any_network_option_can_be_an_axis():
    spec = grid.grid_spec(sizes=[[784, 10], [784, 10, 10]], cost=["quadratic", "cross-entropy"],
                          activation=["sigmoid", "tanh"], init=["default", "large"],
                          dropout=[0.0, 0.5], momentum=[0.0, 0.9], regularization=["L1", "L2"])
    assert len(grid.run_configs(spec)) == 2 ** 7


def test_random_search_is_log_uniform_for_eta_and_lambda_and_reproducible():
    spec = grid.grid_spec(eta=[0.001, 10.0], lmbda=[0.0, 1.0, 100.0], mini_batch_size=[1, 10],
                          random=600, random_seed=3)
    configs = grid.run_configs(spec)
    assert configs == grid.run_configs(spec)
    etas = np.array([c["eta"] for c in configs])
    assert etas.min() >= 0.001 and etas.max() <= 10.0
    # log-uniform on [1e-3, 10]: a quarter of the draws below 10^-2, median near 10^-1
    assert abs(np.mean(etas < 0.01) - 0.25) < 0.06
    assert abs(np.log10(np.median(etas)) + 1) < 0.2
    lmbdas = np.array([c["lmbda"] for c in configs])
    assert abs(np.mean(lmbdas == 0) - 1 / 3) < 0.07  # 0 is kept as one of the three choices
    positive = lmbdas[lmbdas > 0]
    assert positive.min() >= 1 and positive.max() <= 100
    assert abs(np.mean(positive < 10) - 0.5) < 0.08
    assert {c["mini_batch_size"] for c in configs} == {1, 10}


# ---- runs, reproduction, selection ----------------------------------------------------

def test_table_matches_single_runs_with_the_same_seeds(data):
    result = grid.run_grid(dict(SMALL, seed=[0, 7]), data=data, workers=0, score_test=False)
    assert len(result.rows) == 16
    (X, y), (Xv, yv), _ = data
    for row in result.rows[::3]:
        c = row["config"]
        net = Network(c["sizes"], cost=c["cost"], activation=c["activation"], init=c["init"],
                      seed=c["seed"], backend="numpy")
        cost, correct, _, _ = net.SGD((X, y), c["epochs"], c["mini_batch_size"], c["eta"],
                                      c["lmbda"], evaluation_data=(Xv, yv),
                                      monitor_evaluation_cost=True,
                                      monitor_evaluation_accuracy=True, verbose=False)
        assert [e["validation_correct"] for e in row["epochs"]] == correct
        assert [e["validation_cost"] for e in row["epochs"]] == cost  # exactly
    accuracies = [r["best_validation_accuracy"] for r in result.rows]
    assert accuracies == sorted(accuracies, reverse=True)
    table = result.table().splitlines()
    assert len(table) == 17 and "val best %" in table[0] and "seed" in table[0]
    assert f"{100 * accuracies[0]:.2f}" in table[1]


def test_test_set_is_scored_once_for_the_configuration_chosen_on_validation(data, tmp_path):
    result = grid.run_grid(SMALL, data=data, workers=0, out=tmp_path)
    assert not any("test" in k for row in result.rows for k in row)
    best = max(result.rows, key=lambda r: r["best_validation_accuracy"])
    assert result.best["best_validation_accuracy"] == best["best_validation_accuracy"]
    assert result.test["key"] == result.best["key"]
    assert result.test["reproduced"]
    assert result.test["epochs_trained"] == result.best["best_epoch"] + 1
    assert 0 <= result.test["test_accuracy"] <= 1 and result.test["test_size"] == 100
    saved = json.loads((tmp_path / "selection.json").read_text())
    assert saved["test_correct"] == result.test["test_correct"]


def test_any_executor_gives_the_same_rows(data):
    inline = grid.run_grid(SMALL, data=data, workers=0, score_test=False)
    with cf.ThreadPoolExecutor(2) as pool:
        threaded = grid.run_grid(SMALL, data=data, executor=pool, score_test=False)
    strip = [{k: v for k, v in r.items() if k not in ("seconds", "worker", "epochs")}
             for r in inline.rows]
    assert strip == [{k: v for k, v in r.items() if k not in ("seconds", "worker", "epochs")}
                     for r in threaded.rows]


def test_mini_batch_larger_than_the_data_fails_before_any_run(data, tmp_path):
    with pytest.raises(UsageError, match="mini_batch_size 1000"):
        grid.run_grid(dict(SMALL, mini_batch_size=[10, 1000]), data=data, workers=0,
                      out=tmp_path)
    assert not (tmp_path / "results.jsonl").exists()


# ---- the results file ---------------------------------------------------------------

def test_a_partial_last_line_is_ignored_and_cut_before_resuming(data, tmp_path):
    first = grid.run_grid(SMALL, data=data, workers=0, out=tmp_path, score_test=False)
    path = tmp_path / "results.jsonl"
    whole = path.read_bytes()
    with open(path, "ab") as f:
        f.write(b'{"kind": "run", "key": "half a li')  # a kill in the middle of a write
    spec, rows = read_results(path)
    assert len(rows) == 8 and spec == first.spec
    again = grid.run_grid(SMALL, data=data, workers=0, out=tmp_path, score_test=False)
    assert again.resumed == 8
    assert path.read_bytes() == whole


def test_resuming_runs_only_the_missing_runs(data, tmp_path):
    grid.run_grid(SMALL, data=data, workers=0, out=tmp_path, score_test=False)
    path = tmp_path / "results.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:4]))  # header + 3 finished runs
    seen = []
    again = grid.run_grid(SMALL, data=data, workers=0, out=tmp_path, score_test=False,
                          progress=lambda row, done, total: seen.append(row["key"]))
    assert again.resumed == 3 and len(seen) == 5 and len(again.rows) == 8
    _, rows = read_results(path)
    assert len({r["key"] for r in rows}) == len(rows) == 8


@pytest.mark.parametrize("change, field", [({"eta": [0.1, 0.5]}, "options.eta"),
                                           ({"epochs": 1}, "options.epochs")])
def test_results_of_a_different_grid_are_refused(data, tmp_path, change, field):
    grid.run_grid(dict(SMALL, eta=[0.1]), data=data, workers=0, out=tmp_path, score_test=False)
    with pytest.raises(UsageError, match="different grid") as info:
        grid.run_grid({**SMALL, "eta": [0.1], **change}, data=data, workers=0, out=tmp_path)
    assert field in str(info.value)


def test_results_on_different_data_are_refused(data, tmp_path):
    spec = dict(SMALL, eta=[0.1], mini_batch_size=[5], lmbda=[0.0])
    grid.run_grid(spec, data=data, workers=0, out=tmp_path, score_test=False)
    other = fake_data(seed=1)
    with pytest.raises(UsageError, match="data.sha256"):
        grid.run_grid(spec, data=other, workers=0, out=tmp_path, score_test=False)


# ---- processes ----------------------------------------------------------------------

def test_worker_processes_have_pinned_threads_and_the_parent_keeps_its_own():
    before = {v: os.environ.get(v) for v in grid.THREAD_VARIABLES}
    pool = grid.local_executor(1, threads=1)
    try:
        settings = pool.submit(grid.thread_settings).result()
    finally:
        pool.shutdown()
    assert all(settings[v] == "1" for v in grid.THREAD_VARIABLES)
    assert {v: os.environ.get(v) for v in grid.THREAD_VARIABLES} == before


def test_stopping_a_pool_survives_the_race_with_its_manager_thread(monkeypatch):
    """The race behind a traceback seen once under a Ctrl-C: the pool's manager thread, its
    workers killed, closes the pipe shutdown() writes to between shutdown's check and its
    write ("Bad file descriptor").  stop_now ends the pool all the same."""
    import errno
    from network.grid.executor import stop_now
    pool = grid.local_executor(1, threads=1)
    processes = list(pool._processes.values())

    wakeup = pool._executor_manager_thread_wakeup
    real, calls = wakeup.wakeup, []

    def closed_under_us():                  # shutdown's own call meets the race; later ones not
        calls.append(1)
        if len(calls) == 1:
            raise OSError(errno.EBADF, "Bad file descriptor")
        real()
    monkeypatch.setattr(wakeup, "wakeup", closed_under_us)
    stop_now(pool)
    assert not any(p.is_alive() for p in processes)


def test_after_a_stop_only_pipe_errors_of_helper_threads_are_silenced(monkeypatch):
    """The same race in the pool's feeder thread ends that thread with the error: after
    stop_now it ends silently; any other error in a thread is reported as before."""
    import errno
    import threading
    from network.grid.executor import _quiet_helper_threads
    reported = []
    monkeypatch.setattr(threading, "excepthook", lambda args: reported.append(args.exc_type))
    _quiet_helper_threads()

    def fail(exc):
        def run():
            raise exc
        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
    fail(OSError(errno.EBADF, "Bad file descriptor"))
    fail(BrokenPipeError(errno.EPIPE, "Broken pipe"))
    fail(OSError(errno.ENOSPC, "No space left on device"))
    fail(ValueError("a real bug"))
    assert reported == [OSError, ValueError]


def test_grid_killed_midway_resumes_without_repeating_finished_runs(data, tmp_path):
    data_file = npz(tmp_path, data, n_train=300)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "network", "grid", "--data", str(data_file),
               "--sizes", "784", "10", "10", "--eta", "0.1", "0.3", "1",
               "--mini-batch-size", "1", "2", "--epochs", "2", "--backend", "numpy",
               "--workers", "1", "--out", str(out), "--no-plots"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    results = out / "results.jsonl"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if results.exists() and results.read_bytes().count(b"\n") >= 2:  # header + one run
                break
            time.sleep(0.005)
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its worker, mid-grid
    finally:
        proc.wait(timeout=30)
    before = results.read_bytes()
    _, rows_before = read_results(results)
    assert 1 <= len(rows_before) < 6, "the kill came too late to test resuming"
    print(f"killed after {len(rows_before)} of 6 runs")

    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"Resumed: {len(rows_before)} of 6 runs" in done.stdout
    after = results.read_bytes()
    assert after.startswith(before[:before.rfind(b"\n") + 1])  # finished lines untouched
    _, rows = read_results(results)
    keys = [r["key"] for r in rows]
    assert len(keys) == len(set(keys)) == 6
    assert rows[:len(rows_before)] == rows_before
    assert "Test set, scored once" in done.stdout


# ---- command line -------------------------------------------------------------------

def test_cli_bad_values_are_one_line_and_exit_2(tmp_path, capsys, data):
    data_file = npz(tmp_path, data)
    with pytest.raises(SystemExit) as info:   # the option's rule, as every command checks it
        main(["grid", "--data", str(data_file), "--eta", "0.1", "-1", "--out", str(tmp_path / "a")])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--eta" in err[0] and "-1" in err[0]
    assert main(["grid", "--data", str(data_file), "--epochs", "0", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip().splitlines()   # the grid's own rule: at least 1 epoch
    assert len(err) == 1 and "epochs" in err[0] and "0" in err[0]
    with pytest.raises(SystemExit) as info:
        main(["grid", "--data", str(data_file), "--bogus", "1", "--out", str(tmp_path)])
    assert info.value.code == 2


def test_cli_writes_table_selection_and_figures_then_refuses_another_grid(tmp_path, capsys,
                                                                         data):
    data_file = npz(tmp_path, data)
    out = tmp_path / "out"
    args = ["grid", "--data", str(data_file), "--sizes", "784", "10", "10", "--eta", "0.1", "3",
            "--mini-batch-size", "5", "20", "--lmbda", "0", "1", "--epochs", "1",
            "--backend", "numpy", "--workers", "0", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "val best %" in printed and "Test set, scored once" in printed
    for name in ("results.jsonl", "table.txt", "selection.json", "heatmap.png", "curves.png"):
        assert (out / name).stat().st_size > 0
    assert (out / "heatmap.png").read_bytes()[:4] == b"\x89PNG"
    args[args.index("--epochs") + 1] = "2"
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "different grid" in err and "options.epochs" in err


def test_plots_redraw_from_saved_results_including_a_random_search(data, tmp_path):
    from network.plots.grid import plot_curves, plot_heatmaps
    spec = dict(SMALL, eta=[0.05, 5.0], lmbda=[0.0, 1.0], random=6, epochs=1)
    grid.run_grid(spec, data=data, workers=0, out=tmp_path, score_test=False)
    saved_spec, rows = grid.load_grid(tmp_path)
    plot_heatmaps(saved_spec, rows, tmp_path / "h.png")
    plot_curves(saved_spec, rows, tmp_path / "c.png", top=3)
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


# ---- the broad strategy (chapter 3) -------------------------------------------------

def _row(eta=0.1, mb=10, costs=None, accuracies=None, seconds=1.0):
    accuracies = accuracies or [0.5] * (len(costs) - 1)
    epochs = [{"epoch": i, "validation_accuracy": a, "seconds": seconds}
              for i, a in enumerate(accuracies)]
    row = {"config": {"eta": eta, "mini_batch_size": mb}, "epochs": epochs,
           "best_validation_accuracy": max(accuracies)}
    if costs is not None:
        row["initial_training_cost"] = costs[0]
        for e, c in zip(epochs, costs[1:]):
            e["training_cost"] = c
    return row


def test_eta_threshold_is_the_last_eta_before_the_cost_first_fails_to_fall():
    from network.grid.strategy import eta_threshold
    rows = [_row(0.01, costs=[5, 4, 3]), _row(0.1, costs=[5, 3, 2]),
            _row(1.0, costs=[5, 3, 3.5]),             # oscillates: the threshold is below
            _row(10.0, costs=[5, 4, 3.9]),            # falls again: ignored, 1.0 failed first
            _row(100.0, costs=[5, None, None])]       # diverged
    assert eta_threshold(rows) == 0.1
    assert eta_threshold(rows[2:]) is None


def test_mini_batch_size_is_chosen_by_accuracy_per_second_not_per_epoch():
    from network.grid.strategy import fastest_learner
    slow_but_better_per_epoch = _row(mb=1, accuracies=(0.90, 0.95), seconds=10.0)
    fast = _row(mb=100, accuracies=(0.80, 0.85, 0.88), seconds=1.0)
    assert fastest_learner([slow_but_better_per_epoch, fast]) is fast
    quick_and_good = _row(mb=10, accuracies=(0.92,), seconds=2.0)
    assert fastest_learner([slow_but_better_per_epoch, fast, quick_and_good]) is quick_and_good
    assert fastest_learner([slow_but_better_per_epoch, fast], seconds=20) is \
        slow_but_better_per_epoch  # given 20 s, the slow one gets further


def test_broad_strategy_runs_its_three_steps_and_resumes(data, tmp_path):
    from network.grid.strategy import broad_strategy
    from network.plots.grid import plot_broad_strategy
    kwargs = dict(data=data, out=tmp_path, sizes=[784, 10, 10], epochs=1, threshold_epochs=2,
                  etas=(0.01, 0.1, 1.0, 10.0), lmbdas=(0.0, 1.0), mini_batch_sizes=(10, 50),
                  workers=0, backend="numpy")
    result = grid.broad_strategy(**kwargs)
    assert result.eta == result.eta_threshold / 2
    assert result.lmbda in (0.0, 1.0, 0.5, 2.0) and result.mini_batch_size in (10, 50)
    assert set(result.stages) >= {"1-eta", "2-lambda", "3-mini-batch"}
    assert result.test["key"] == result.chosen["key"] and result.test["reproduced"]
    assert (tmp_path / "strategy.json").exists()
    assert "test accuracy" in result.summary()
    plot_broad_strategy(result, tmp_path / "s.png")
    again = broad_strategy(**kwargs)
    assert all(g.resumed == len(g.rows) for g in again.stages.values())
    assert (again.eta, again.lmbda) == (result.eta, result.lmbda)


def test_a_worker_loads_a_named_data_set_once_and_refuses_different_files(data, monkeypatch):
    from network.data import mnist as mnist_loader
    from network.grid import executor as grid_executor
    loads = []

    def fake_load(name, dtype=None, **kwargs):
        loads.append(name)
        return data

    monkeypatch.setattr(mnist_loader, "load_arrays", fake_load)
    monkeypatch.setattr(grid_executor, "_WORKER", {"data": None, "prepared": {}, "ref": None})
    sha = grid.data_fingerprint(data[0], data[1])["sha256"]
    config = grid.run_configs(grid.grid_spec(SMALL))[0]
    inline = grid.run_config(config, (data[0], data[1]))
    for _ in range(2):
        row = grid.run_config(config, grid.DatasetRef("mnist", sha))
        assert row["epochs"] == [dict(e, seconds=f["seconds"]) for e, f in
                                 zip(inline["epochs"], row["epochs"])]
    assert loads == ["mnist"]
    with pytest.raises(DataError, match="differ"):
        grid.run_config(config, grid.DatasetRef("mnist", "0" * 64))
