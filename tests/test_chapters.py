"""Every chapter script runs end to end with --quick and lands in loose bands.

Each script is run once per test session as a subprocess (as a user would run
it) into a temporary folder; the tests then read the saved JSON results.  The
bands are wide enough for any seed and any machine, and narrow enough that a
broken experiment (a wrong sign, a lost factor, an unused option) falls outside.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow   # each test runs a whole chapter script in quick mode: left out by -m "not slow"

REPO = Path(__file__).resolve().parents[1]


def run_script(name, out, *args):
    env_cmd = [sys.executable, str(REPO / "chapters" / f"{name}.py"), "--quick", "--out", str(out),
               *args]
    proc = subprocess.run(env_cmd, cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def chapter_results(tmp_path_factory):
    """Run each chapter's --quick once; results[chapter][experiment] -> saved JSON."""
    cache = {}

    def get(name):
        if name not in cache:
            out = tmp_path_factory.mktemp(name)
            stdout = run_script(name, out)
            cache[name] = {"out": out, "stdout": stdout,
                           **{p.stem: json.loads(p.read_text()) for p in out.glob("*.json")
                              if not p.name.endswith(".model.json")}}
        return cache[name]
    return get


def run_of(result):
    return next(iter(result["runs"].values()))


# ---- chapter 1 ------------------------------------------------------------------------------

def test_chapter1_quick_runs_land_in_their_bands(chapter_results):
    r = chapter_results("chap1")
    assert "Epoch 0: " in r["stdout"] and " / 2000" in r["stdout"]   # the book's output
    assert run_of(r["net30"])["best"] > 0.75 and len(r["net30"]["runs"]) == 1             # [784,30,10], 10k images, 2 epochs
    assert run_of(r["net100"])["best"] > 0.30
    assert run_of(r["eta-small"])["best"] < 0.35         # eta 0.001 barely moves
    assert run_of(r["eta-large"])["final"] < 0.25        # eta 100: chance
    runs = r["no-hidden"]["runs"]
    assert runs["[784,10] eta 3.0, init N(0,1/n_in)"]["best"] > 0.75
    assert 0.14 < r["darkness"]["accuracy"] < 0.30          # the book: 22.25%
    b = r["binary-output"]
    assert b["accuracy_bits"] > 0.65 and abs(b["accuracy_bits"] - b["accuracy_argmax"]) < 0.05
    for run in r["masks"]["runs"].values():
        assert run["final"] > 0.75
    sweep = {run["eta"]: run["best"] for run in r["eta-sweep"]["runs"].values()}
    assert sweep[3.0] > sweep[100.0] and sweep[100.0] < 0.25


def test_chapter1_draws_its_figures(chapter_results):
    out = chapter_results("chap1")["out"]
    for name in ("net30.png", "masks-quadratic.gif", "masks-cross-entropy.gif",
                 "hidden-weights.gif", "eta-sweep.png"):
        assert (out / name).stat().st_size > 1000, name
    with np.load(out / "hidden-weights.npz", allow_pickle=False) as f:
        assert f["w1"].shape == (30, 784)


def test_binary_layer_decodes_every_one_hot_output():
    sys.path.insert(0, str(REPO / "chapters"))
    try:
        from chap1 import binary_layer
    finally:
        sys.path.remove(str(REPO / "chapters"))
    w, b = binary_layer()
    a = np.eye(10)                                       # each digit's ideal output
    bits = 1 / (1 + np.exp(-(a @ w.T + b.T))) > 0.5       # (10, 4)
    assert ((bits * (1 << np.arange(4))).sum(axis=1) == np.arange(10)).all()


# ---- chapter 2 ------------------------------------------------------------------------------

def test_chapter2_checks_pass_and_their_controls_fail(chapter_results):
    r = chapter_results("chap2")
    for name in ("f-neuron", "linear"):
        assert r[name]["passed"], name
        assert r[name]["worst"] < 1e-7 and r[name]["control_best"] > 1e-3
    assert r["sigma-matrix"]["passed"] and r["sigma-matrix"]["worst"] < 1e-12
    assert r["timing"]["speedup"]["10"] > 1.5 and r["timing"]["speedup"]["100"] > 2.0


# ---- chapter 3 ------------------------------------------------------------------------------

def test_chapter3_quick_runs_land_in_their_bands(chapter_results):
    r = chapter_results("chap3")
    slow = r["slowdown"]["runs"]
    assert slow["quadratic, eta 0.15, (w,b)=(2,2)"]["output"][100] > 0.5      # stuck at first
    assert slow["cross-entropy, eta 0.15, (w,b)=(2,2)"]["output"][100] < 0.1  # learns at once
    assert run_of(r["xent-30"])["best"] > 0.75
    assert run_of(r["xent-100"])["best"] > 0.75
    over = r["overfit"]["runs"]
    assert 0.65 < over["lambda 0"]["best"] < 0.86
    assert over["lambda 0"]["training_cost"][-1] < over["lambda 0"]["training_cost"][0]
    assert len(over["lambda 0"]["training_accuracy"]) == len(over["lambda 0"]["evaluation_cost"])
    assert run_of(r["l2-30"])["best"] > 0.75 and len(run_of(r["l2-30"])["weight_rms"]) == 2
    assert run_of(r["l2-100"])["best"] > 0.80
    more = [row["final"] for row in r["more-data"]["sizes"].values()]
    assert more == sorted(more) and more[-1] > 0.85
    for run in r["expanded"]["runs"].values():
        assert run["best"] > 0.80
    init = r["init"]["runs"]
    assert init["[784, 30, 10] 1/sqrt(n)"]["accuracy"][0] > init["[784, 30, 10] large"]["accuracy"][0]
    for run in list(r["softmax"]["runs"].values()) + list(r["l1"]["runs"].values()) \
            + list(r["dropout"]["runs"].values()) + list(r["activations"]["runs"].values()):
        assert run["best"] > 0.80
    for run in r["early-stopping"]["runs"].values():
        assert all(rule["stop_epoch"] is not None for rule in run["rules"].values())
    eta = r["schedule"]["runs"]["schedule"]["eta_per_epoch"]
    assert all(b <= a for a, b in zip(eta, eta[1:])) and eta[-1] < eta[0]
    broad = r["broad-strategy"]
    assert broad["eta"] > 0 and 0.5 < broad["validation"] <= 1 and broad["test"] is not None
    mom = r["momentum"]["runs"]
    assert mom["mu 0.5"]["best"] > 0.85 and mom["mu 1.1"]["final"] < 0.30   # mu > 1 diverges


def test_chapter3_draws_the_four_overfitting_plots(chapter_results):
    out = chapter_results("chap3")["out"]
    assert (out / "overfit.png").stat().st_size > 1000
    assert (out / "more-data.png").stat().st_size > 1000


# ---- the seed's latent-space experiment ----------------------------------------------------

def test_seed_latent_records_every_epoch_and_animates(chapter_results):
    r = chapter_results("seed_latent")
    run = run_of(r["latent"])
    assert run["final"] > 0.50 and run["accuracy_before_training"] < 0.25
    with np.load(r["out"] / "latent.npz", allow_pickle=False) as f:
        points = f["points"]
        assert points.shape[0] == run["epochs_run"] + 1 and points.shape[2] == 3
        assert 0 <= points.min() and points.max() <= 1
    assert (r["out"] / "latent.gif").stat().st_size > 1000


# ---- the command line -----------------------------------------------------------------------

def test_list_names_every_experiment_and_unknown_names_are_refused(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "chapters" / "chap2.py"), "--list"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0
    assert all(name in proc.stdout for name in ("timing", "f-neuron", "linear", "sigma-matrix"))
    proc = subprocess.run([sys.executable, str(REPO / "chapters" / "chap2.py"), "nonsense",
                           "--out", str(tmp_path)], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and "unknown experiment 'nonsense'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_unwritable_output_folder_is_one_line_not_a_traceback(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc = subprocess.run([sys.executable, str(REPO / "chapters" / "chap2.py"), "linear",
                           "--out", str(blocker / "out")], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and "cannot create the output folder" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_plot_only_redraws_from_saved_results(tmp_path):
    run_script("chap2", tmp_path, "sigma-matrix", "linear")
    (tmp_path / "linear.png").unlink()
    run_script("chap2", tmp_path, "linear", "--plot-only")
    assert (tmp_path / "linear.png").exists()


@pytest.mark.parametrize("edit", ["percent", "damaged"])
def test_plot_only_refuses_an_old_or_damaged_result_with_the_command_to_rerun(tmp_path, edit):
    run_script("chap2", tmp_path, "linear")
    path = tmp_path / "linear.json"
    saved = json.loads(path.read_text())
    assert saved["accuracy_as"] == "fraction"
    if edit == "percent":                       # what files saved before fractions look like
        del saved["accuracy_as"]
        path.write_text(json.dumps(saved))
    else:
        path.write_text(path.read_text()[:50])
    proc = subprocess.run([sys.executable, str(REPO / "chapters" / "chap2.py"), "linear",
                           "--plot-only", "--out", str(tmp_path)],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert str(path) in proc.stderr
    if edit == "percent":
        assert "python chapters/chap2.py linear" in proc.stderr
    else:
        assert "not valid JSON" in proc.stderr
