"""Latent-space studies of the variational autoencoder (issue 6; notes/vae.md).

    python chapters/vae_latent.py [EXPERIMENT ...] [--list] [--quick] [--seed S] [--out DIR]

Experiments (default: all, in this order):
  kl-phases   KL and reconstruction per step for latent dims 2, 8, 20; the phase
              boundaries (surge, collapse, sharp rise, creep) found from the data
  beta        2-D latents, beta 1 vs beta 10: per-class mixture densities of digits
              0, 4, 9 (VAE-MIX) animated over training steps; test-set means coloured
              by digit; samples from the prior
  scatter3d   3-D latents: a rotating scatter of test-set means, coloured by digit
  sliders     each latent dimension swept from -3 to +3 (others 0), as a PNG grid and a GIF
  tour        the shortest path through latent space visiting every digit's class mean,
              decoded along the way, as a GIF
  classify    a Network trained on the latent means: test accuracy for each latent size

Each experiment computes and saves its results (out/vae/<experiment>.json and .npz)
and then draws its figures from those saved files only (--plot-only redraws).
Training runs are shared between experiments; each trained model, its history and
(2-D) its encoder snapshots are kept in out/vae/models/ and reused by a later
invocation with exactly the same configuration. --quick trains on a few thousand images for two
epochs: a smoke test for CI, not a result.
"""

import io
import json
import sys
from pathlib import Path

import numpy as np

import common
from common import Chapter  # chapters/common.py: command line, context, saving

from network.storage.atomic import atomic_write_bytes, atomic_write_json
from network.base.optimizers import Adam
from network.vae import VAE
from network.vae.io import load as load_vae, save as save_vae
from network.vae.latent import (class_mixture_moments, kl_phases, log_time_smooth,
                                mixture_density, shortest_tour, slider_codes)
from network.vae.loss import sigmoid
from network.vae.train import records_from_columns, train

# ---- defaults (the reference setup); --quick overrides ----------------------------
HIDDEN, EPOCHS, BATCH_SIZE, LR = (400,), 10, 128, 1e-3
QUICK_HIDDEN, QUICK_EPOCHS, QUICK_BATCH_SIZE = (128,), 2, 64
PHASE_DIMS = (2, 8, 20)
CLASSIFY_DIMS = (2, 3, 8, 20)
MIX_DIGITS = (0, 4, 9)
GRID_LIM = 3.0
SLIDER_DIM = 8           # the sliders and the tour use the 8-dimensional model
CLASSIFIER_HIDDEN, CLASSIFIER_EPOCHS, CLASSIFIER_ETA = 100, 10, 0.1

chapter = Chapter("vae_latent", "Latent-space studies of the VAE (notes/vae.md)")
_RUNS = {}


def vae_data(ctx):
    """All training images (the book's training + validation sets) and the test set, as float32."""
    (Xtr, ytr), (Xva, yva), (Xte, yte) = ctx.data()
    X_train = np.concatenate([Xtr, Xva]).astype(np.float32) / 255.0  # uint8 -> [0, 1]
    return X_train, np.concatenate([ytr, yva]), Xte.astype(np.float32) / 255.0, yte


def snapshot_steps(total, n=40):
    """About n steps spread on a log scale over training (the KL phases live on one), with 0."""
    return sorted({0, *np.unique(np.geomspace(1, total, n).astype(int)).tolist()})


def get_run(ctx, latent_dim, beta):
    """Train a VAE, or reuse it from this invocation or from out/vae/models/ when the saved
    run has exactly this configuration; 2-D runs also record encoder snapshots.

    Returns {"model", "epochs", "steps", "snapshots"}: the per-epoch records and per-step
    series of the run; snapshots (2-D only) hold the probe images' mu and logvar (steps, n, 2)
    for digits MIX_DIGITS of the test set.
    """
    key = (latent_dim, beta, ctx.quick, ctx.seed)
    if key in _RUNS:
        return _RUNS[key]
    X_train, _, X_test, y_test = vae_data(ctx)
    hidden = ctx.pick(HIDDEN, QUICK_HIDDEN)
    epochs, batch = ctx.pick(EPOCHS, QUICK_EPOCHS), ctx.pick(BATCH_SIZE, QUICK_BATCH_SIZE)
    config = {"latent_dim": latent_dim, "beta": beta, "hidden": list(hidden), "epochs": epochs,
              "batch_size": batch, "lr": LR, "seed": ctx.seed, "quick": ctx.quick,
              "n_train": len(X_train), "n_test": len(X_test), "activation": "relu"}
    folder = ctx.out / "models"
    folder.mkdir(exist_ok=True)
    stem = folder / f"vae_z{latent_dim}_beta{beta:g}"
    run = _load_run(stem, config)
    if run is None:
        run = _train_run(config, X_train, X_test, y_test, progress=not ctx.quiet)
        save_vae(run["model"], stem.with_suffix(".npz"))
        if run["snapshots"] is not None:
            s = run["snapshots"]
            atomic_write_bytes(Path(f"{stem}.snapshots.npz"), _npz_bytes(
                steps=np.array(s["steps"]), mu=np.array(s["mu"]), logvar=np.array(s["logvar"]),
                labels=s["labels"]))
        atomic_write_json(Path(f"{stem}.run.json"), {"config": config, "epochs": run["epochs"],
                                                      "steps": run["steps"]})
    _RUNS[key] = run
    return run


def _npz_bytes(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _load_run(stem, config):
    """The saved run with this exact config, or None (then it is trained again)."""
    meta = Path(f"{stem}.run.json")
    if not meta.exists() or not stem.with_suffix(".npz").exists():
        return None
    try:
        saved = json.loads(meta.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return None                              # a damaged cache is trained again
    if not isinstance(saved, dict) or saved.get("config") != config:
        return None
    snaps = None
    if config["latent_dim"] == 2:
        path = Path(f"{stem}.snapshots.npz")
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as d:
            snaps = {"steps": d["steps"].tolist(), "mu": list(d["mu"]), "logvar": list(d["logvar"]),
                     "labels": d["labels"]}
    print(f"   reusing the trained VAE {stem.name} (same configuration)", flush=True)
    if "history" in saved:   # written before the metrics layout was shared: per-key lists
        epochs, steps = records_from_columns(saved["history"])
    else:
        epochs, steps = saved["epochs"], saved["steps"]
    return {"model": load_vae(stem.with_suffix(".npz")), "epochs": epochs, "steps": steps,
            "snapshots": snaps}


def _train_run(config, X_train, X_test, y_test, progress=True):
    latent_dim, beta, epochs, batch = (config[k] for k in ("latent_dim", "beta", "epochs", "batch_size"))
    rng = np.random.default_rng([config["seed"], latent_dim, int(round(beta * 1000))])
    model = VAE(latent_dim, config["hidden"], config["activation"], rng=rng, dtype=np.float32)
    snaps = on_step = None
    if latent_dim == 2:
        per_class = 60 if config["quick"] else 300
        probe_idx = np.concatenate([np.nonzero(y_test == d)[0][:per_class] for d in MIX_DIGITS])
        probe = X_test[probe_idx]
        wanted = set(snapshot_steps(epochs * -(-len(X_train) // batch)))
        snaps = {"steps": [], "mu": [], "logvar": [], "labels": y_test[probe_idx]}

        def on_step(step, *_):
            if step in wanted:
                mu, logvar, _ = model.encode(probe)
                snaps["steps"].append(step)
                snaps["mu"].append(mu)
                snaps["logvar"].append(logvar)

        on_step(0)
    label = f"latent {latent_dim}, beta {beta:g}"
    print(f"   training VAE 784-{'-'.join(map(str, config['hidden']))}-{latent_dim}, beta {beta:g}, "
          f"{epochs} epochs on {len(X_train)} images", flush=True)
    train(model, X_train, epochs, batch, Adam(config["lr"]), beta, rng, X_test=X_test,
          on_step=on_step, progress=progress,
          callbacks=[lambda m, r: print(f"     {label}: epoch {r['epoch']}: train {r['train_loss']:.2f} "
                                        f"test {r['test_loss']:.2f} (KL {r['test_kl']:.2f}) "
                                        f"{r['seconds']:.1f} s", flush=True)])
    return {"model": model, "epochs": model.history, "steps": model.steps, "snapshots": snaps}


def epoch_summary(run):
    """A run's per-epoch numbers as lists, one per quantity (what the figures read)."""
    return {k: [r[k] for r in run["epochs"]] for k in ("train_loss", "test_loss", "kl",
                                                        "reconstruction", "test_kl", "seconds")}


def encode_mu(model, X, chunk=10000):
    return np.concatenate([model.encode(X[i:i + chunk])[0] for i in range(0, len(X), chunk)])


# ---- KL phases -----------------------------------------------------------------------------

@chapter.experiment("kl-phases", "KL and reconstruction per step for latent dims 2, 8, 20")
def kl_phases_compute(ctx):
    arrays, result = {}, {"runs": {}}
    for k in PHASE_DIMS:
        h = get_run(ctx, k, 1.0)
        kl, rec = np.array(h["steps"]["kl"]), np.array(h["steps"]["reconstruction"])
        arrays[f"kl_{k}"], arrays[f"rec_{k}"] = kl, rec
        result["runs"][str(k)] = {"phases": kl_phases(kl), "steps": len(kl), **epoch_summary(h)}
    result["arrays"] = ctx.save_npz(**arrays)
    result["hidden"] = list(ctx.pick(HIDDEN, QUICK_HIDDEN))
    return result


@chapter.plotter("kl-phases")
def kl_phases_plot(result, folder):
    from network.plots import kl_phase_curves
    data = np.load(folder / result["arrays"])
    runs = {f"latent {k}": {"kl": data[f"kl_{k}"], "kl_smooth": log_time_smooth(data[f"kl_{k}"]),
                            "rec": data[f"rec_{k}"], "phases": r["phases"]}
            for k, r in result["runs"].items()}
    hidden = "-".join(map(str, result["hidden"]))
    return [kl_phase_curves(folder / "kl_phases.png", runs,
                            f"VAE 784-{hidden}-k, beta 1: KL per step (batch mean; thick: smoothed)")]


# ---- beta 1 vs beta 10 in 2-D --------------------------------------------------------------

@chapter.experiment("beta", "2-D latents, beta 1 vs 10: class densities over training, scatter, prior samples")
def beta_compute(ctx):
    betas = (1.0, 10.0)
    g = ctx.pick(121, 31)  # fine enough for posteriors with sigma ~ 0.1
    axis = np.linspace(-GRID_LIM, GRID_LIM, g)
    grid = np.stack(np.meshgrid(axis, axis), axis=-1).reshape(-1, 2)  # (g*g, 2), x fastest
    runs = [get_run(ctx, 2, b) for b in betas]
    steps = runs[0]["snapshots"]["steps"]
    labels = runs[0]["snapshots"]["labels"]
    dens = np.zeros((len(steps), len(betas), len(MIX_DIGITS), g, g), dtype=np.float32)
    means = np.zeros((len(steps), len(betas), len(MIX_DIGITS), 2))
    covs = np.zeros((len(steps), len(betas), len(MIX_DIGITS), 2, 2))
    for p, run in enumerate(runs):
        s = run["snapshots"]
        for f in range(len(steps)):
            for c, d in enumerate(MIX_DIGITS):
                mu, lv = s["mu"][f][labels == d].astype(float), s["logvar"][f][labels == d].astype(float)
                dens[f, p, c] = mixture_density(grid, mu, lv).reshape(g, g)  # (VAE-MIX)
                means[f, p, c], covs[f, p, c] = class_mixture_moments(mu, lv)  # (VAE-MIX)
    _, _, X_test, y_test = vae_data(ctx)
    prior_rng = np.random.default_rng([ctx.seed, 99])
    z = prior_rng.standard_normal((64, 2)).astype(np.float32)
    test_mu = np.stack([encode_mu(r["model"], X_test) for r in runs])  # (2, n, 2)
    samples = np.stack([sigmoid(r["model"].decode(z)).reshape(8, 8, 28, 28) for r in runs])
    arrays = ctx.save_npz(densities=dens, means=means, covs=covs, steps=np.array(steps),
                          axis=axis, test_mu=test_mu.astype(np.float32), test_labels=y_test,
                          prior_samples=samples.astype(np.float32))
    final = {f"beta {b:g}": {str(d): {"mean": means[-1, p, c].tolist(), "cov": covs[-1, p, c].tolist()}
                             for c, d in enumerate(MIX_DIGITS)} for p, b in enumerate(betas)}
    return {"betas": list(betas), "digits": list(MIX_DIGITS), "snapshot_steps": steps,
            "final_class_moments": final, "arrays": arrays,
            "runs": {f"beta {b:g}": epoch_summary(r) for b, r in zip(betas, runs)}}


@chapter.plotter("beta")
def beta_plot(result, folder):
    from network.plots import image_grid, latent_scatter, mixture_density_gif
    d = np.load(folder / result["arrays"])
    titles = [f"beta {b:g}" for b in result["betas"]]
    lim = float(d["axis"][-1])
    out = [mixture_density_gif(folder / "beta_class_densities.gif", d["densities"], d["steps"],
                               titles, result["digits"], (-lim, lim), means=d["means"])]
    out.append(latent_scatter(folder / "beta_test_means.png",
                              [(d["test_mu"][p], d["test_labels"], t) for p, t in enumerate(titles)],
                              "test-set latent means mu(x), coloured by digit"))
    for p, t in enumerate(titles):
        out.append(image_grid(folder / f"beta_prior_samples_{t.replace(' ', '')}.png", d["prior_samples"][p],
                              f"decoded samples z ~ N(0, I), {t}"))
    return out


# ---- 3-D scatter -----------------------------------------------------------------------------

@chapter.experiment("scatter3d", "3-D latents: rotating scatter of test-set means by digit")
def scatter3d_compute(ctx):
    run = get_run(ctx, 3, 1.0)
    _, _, X_test, y_test = vae_data(ctx)
    mu = encode_mu(run["model"], X_test)
    centres = np.stack([mu[y_test == d].mean(axis=0) for d in range(10)])
    return {"arrays": ctx.save_npz(mu=mu, labels=y_test), "class_means": centres.tolist(),
            "run": epoch_summary(run)}


@chapter.plotter("scatter3d")
def scatter3d_plot(result, folder):
    from network.plots import rotating_scatter3d_gif
    d = np.load(folder / result["arrays"])
    keep = np.random.default_rng(0).permutation(len(d["labels"]))[:4000]  # 4,000 points read clearly
    return [rotating_scatter3d_gif(folder / "scatter3d.gif", d["mu"][keep], d["labels"][keep],
                                   "3-D latent means of test digits")]


# ---- sliders ---------------------------------------------------------------------------------

@chapter.experiment("sliders", "each latent dimension from -3 to +3 sigma, others 0")
def sliders_compute(ctx):
    model = get_run(ctx, SLIDER_DIM, 1.0)["model"]
    _, _, X_test, _ = vae_data(ctx)
    mu, logvar, _ = model.encode(X_test)
    kl_per_dim = (-0.5 * (1 + logvar - mu ** 2 - np.exp(logvar))).mean(axis=0)  # (VAE-KL), per dimension
    values = np.linspace(-3, 3, 13)
    grid = sigmoid(model.decode(slider_codes(SLIDER_DIM, values).reshape(-1, SLIDER_DIM)))
    sweep = np.concatenate([np.linspace(-3, 3, 31), np.linspace(3, -3, 31)[1:-1]])
    frames = sigmoid(model.decode(slider_codes(SLIDER_DIM, sweep).transpose(1, 0, 2).reshape(-1, SLIDER_DIM)))
    arrays = ctx.save_npz(grid=grid.reshape(SLIDER_DIM, len(values), 28, 28), values=values,
                          frames=frames.reshape(len(sweep), SLIDER_DIM, 28, 28), sweep=sweep)
    return {"latent_dim": SLIDER_DIM, "values": values.tolist(), "kl_per_dim": kl_per_dim.tolist(),
            "active_dims": int(np.sum(kl_per_dim > 0.1)), "arrays": arrays}


@chapter.plotter("sliders")
def sliders_plot(result, folder):
    from network.plots import image_grid, image_row_gif
    d = np.load(folder / result["arrays"])
    rows = [f"z{i + 1} (KL {kl:.1f})" for i, kl in enumerate(result["kl_per_dim"])]
    cols = [f"{v:+.1f}" for v in result["values"]]
    return [image_grid(folder / "sliders.png", d["grid"], f"latent sliders ({result['latent_dim']}-D VAE): "
                       f"one dimension from -3 to +3, the others 0", rows, cols),
            image_row_gif(folder / "sliders.gif", d["frames"], [f"value {v:+.1f}" for v in d["sweep"]],
                          "z1 ... z%d all at" % result["latent_dim"])]


# ---- a tour of the class means -----------------------------------------------------------------

@chapter.experiment("tour", "shortest path through every digit's class mean, decoded")
def tour_compute(ctx):
    model = get_run(ctx, SLIDER_DIM, 1.0)["model"]
    _, _, X_test, y_test = vae_data(ctx)
    mu = encode_mu(model, X_test).astype(float)
    means = np.stack([mu[y_test == d].mean(axis=0) for d in range(10)])  # (10, k)
    order, length = shortest_tour(means)
    legs = [float(np.linalg.norm(means[b] - means[a])) for a, b in zip(order, order[1:])]
    frames_per_unit = 100 / max(length, 1e-9)  # about 100 frames in all, spread by distance
    points, captions = [], []
    for (a, b), leg in zip(zip(order, order[1:]), legs):
        n = max(4, int(round(leg * frames_per_unit)))
        for t in np.linspace(0, 1, n, endpoint=False):
            points.append((1 - t) * means[a] + t * means[b])
            captions.append(f"{a} -> {b}")
    points.append(means[order[-1]])
    captions.append(f"{order[-1]}")
    points = np.array(points)
    images = sigmoid(model.decode(points)).reshape(-1, 28, 28)
    centred = means - means.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)  # PCA of the 10 means for the map
    arrays = ctx.save_npz(images=images.astype(np.float32), points_2d=(points - means.mean(axis=0)) @ vt[:2].T,
                          means_2d=centred @ vt[:2].T, order=np.array(order),
                          mean_images=sigmoid(model.decode(means[order])).reshape(1, 10, 28, 28))
    return {"order": order, "length": length, "legs": legs, "captions": captions,
            "latent_dim": SLIDER_DIM, "arrays": arrays}


@chapter.plotter("tour")
def tour_plot(result, folder):
    from network.plots import image_grid, tour_gif
    d = np.load(folder / result["arrays"])
    return [tour_gif(folder / "tour.gif", d["images"], result["captions"], d["points_2d"],
                     d["means_2d"], result["order"]),
            image_grid(folder / "tour_class_means.png", d["mean_images"],
                       "decoded class means in tour order", None,
                       [str(o) for o in result["order"]], scale=0.9)]


# ---- classification from latent means ---------------------------------------------------------

@chapter.experiment("classify", "a Network on latent means: test accuracy per latent size")
def classify_compute(ctx):
    X_train, y_train, X_test, y_test = vae_data(ctx)
    rows = []
    for k in CLASSIFY_DIMS:
        model = get_run(ctx, k, 1.0)["model"]
        Ztr, Zte = encode_mu(model, X_train), encode_mu(model, X_test)
        net = ctx.network([k, CLASSIFIER_HIDDEN, 10], seed_offset=k)
        run = ctx.train(net, (Ztr, y_train), ctx.pick(CLASSIFIER_EPOCHS, 2), 10, CLASSIFIER_ETA,
                        evaluation=(Zte, y_test))
        rows.append({"latent_dim": k, "final": run["final"], "best": run["best"],
                     "accuracy": run["accuracy"], "seconds": run["seconds"]})
        print(f"   latent {k}: test accuracy {run['final']:.2%} (best {run['best']:.2%})", flush=True)
    return {"classifier": f"Network [k, {CLASSIFIER_HIDDEN}, 10], sigmoid, cross-entropy, "
                          f"eta {CLASSIFIER_ETA}, mini-batch 10, on the latent means mu(x)",
            "rows": rows}


@chapter.plotter("classify")
def classify_plot(result, folder):
    from network.plots import accuracy_table_plot
    rows = result["rows"]
    return [accuracy_table_plot(folder / "classify.png", [r["latent_dim"] for r in rows],
                                common.percents([r["final"] for r in rows]), "digits classified from latent means")]


if __name__ == "__main__":
    argv = sys.argv[1:]
    if "--out" not in argv and not any(a.startswith("--out=") for a in argv) and \
            not {"--list", "-h", "--help"} & set(argv):
        argv += ["--out", str(Path("out") / "vae")]  # the default folder
    sys.exit(chapter.main(argv))
