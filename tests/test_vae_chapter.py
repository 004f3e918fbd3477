"""chapters/vae_latent.py --quick runs end to end and lands in loose bands.

One subprocess run (as a user would run it) into a temporary folder, about 25 s of
CPU; the tests read the saved JSON and check that every figure was drawn. The
bands hold for any seed; a broken experiment (a sign, a lost factor, beta
ignored) falls outside them.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow   # the chapter's quick studies train several VAEs: left out by -m "not slow"

REPO = Path(__file__).resolve().parents[1]
FIGURES = ["kl_phases.png", "beta_class_densities.gif", "beta_test_means.png",
           "beta_prior_samples_beta1.png", "beta_prior_samples_beta10.png", "scatter3d.gif",
           "sliders.png", "sliders.gif", "tour.gif", "tour_class_means.png", "classify.png"]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("vae")
    proc = subprocess.run([sys.executable, str(REPO / "chapters" / "vae_latent.py"), "--quick",
                           "--out", str(out)], cwd=REPO, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}


def test_vae_latent_list_names_every_experiment():
    proc = subprocess.run([sys.executable, str(REPO / "chapters" / "vae_latent.py"), "--list"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for name in ("kl-phases", "beta", "scatter3d", "sliders", "tour", "classify"):
        assert name in proc.stdout


def test_quick_studies_save_results_and_draw_every_figure(results):
    out, r = results
    assert {"kl-phases", "beta", "scatter3d", "sliders", "tour", "classify"} <= set(r)
    for name in FIGURES:
        assert (out / name).stat().st_size > 1000, name
    assert sorted(r["tour"]["order"]) == list(range(10))


def test_quick_kl_surges_then_collapses_and_bigger_latents_hold_more_kl(results):
    runs = results[1]["kl-phases"]["runs"]
    for k in ("2", "8", "20"):
        ph = runs[k]["phases"]
        assert ph["initial_kl"] < 2 and ph["peak_step"] < 100 and ph["peak_kl"] > 5
        assert ph["trough_step"] > ph["peak_step"] and ph["trough_kl"] < ph["peak_kl"]
    assert runs["20"]["phases"]["final_kl"] > runs["2"]["phases"]["final_kl"]


def test_quick_beta_10_carries_less_kl_than_beta_1(results):
    runs = results[1]["beta"]["runs"]
    assert runs["beta 10"]["test_kl"][-1] < 0.5 * runs["beta 1"]["test_kl"][-1]


def test_quick_latent_codes_classify_digits_better_than_chance(results):
    rows = {row["latent_dim"]: row["final"] for row in results[1]["classify"]["rows"]}
    assert min(rows.values()) > 0.20 and rows[20] > rows[2]
