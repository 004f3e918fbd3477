"""Figures of a grid search, drawn from its saved results (never while training).

``plot_heatmaps``: validation accuracy over eta x mini-batch size, one panel
per value of the other swept options (lambda, usually); a random search is
drawn as a scatter over the same axes.  ``plot_curves``: validation accuracy
and cost per epoch for the best few runs.  ``plot_broad_strategy``: the three
steps of chapter 3's broad strategy side by side.

Each takes rows as ``network.grid.load_grid`` returns them, so a figure can be
redrawn from results.jsonl without retraining.  Left out on purpose:
interactive plots.
"""

import matplotlib.ticker
import numpy as np

from ..grid import run_key, varying_options
from .render import save, subplots

AXES = ("eta", "mini_batch_size")
SHORT = {"mini_batch_size": "mb", "lmbda": "lambda", "regularization": "reg",
         "output_activation": "output"}


def _label(config, names):
    parts = []
    for n in names:
        v = config[n]
        v = "-".join(map(str, v)) if isinstance(v, list) else (f"{v:g}" if isinstance(v, float)
                                                               else v)
        parts.append(f"{SHORT.get(n, n)}={v}")
    return ", ".join(parts)


def _groups(rows, names):
    groups = {}
    for r in rows:
        key = run_key([r["config"][n] for n in names])
        groups.setdefault(key, []).append(r)
    return list(groups.values())


def plot_heatmaps(spec, rows, path, title=None):
    """Validation accuracy (%) over eta x mini-batch size, a panel per other setting.

    A cell is the mean over the runs in it (several seeds) of each run's best
    validation accuracy; the colour scale is shared by all panels.
    """
    others = [n for n in varying_options(spec, rows) if n not in AXES and n != "seed"]
    groups = sorted(_groups(rows, others), key=lambda g: run_key([g[0]["config"][n]
                                                                  for n in others]))
    acc = [100 * r["best_validation_accuracy"] for r in rows]
    vmin, vmax = min(acc), max(acc)
    fig, axes = subplots(1, len(groups), figsize=(4.2 * len(groups) + 1, 3.8),
                             squeeze=False, layout="constrained")
    for ax, group in zip(axes[0], groups):
        if spec.get("random") is None:
            etas = sorted({r["config"]["eta"] for r in group})
            mbs = sorted({r["config"]["mini_batch_size"] for r in group})
            cells = np.full((len(mbs), len(etas)), np.nan)
            for i, mb in enumerate(mbs):
                for j, eta in enumerate(etas):
                    vals = [100 * r["best_validation_accuracy"] for r in group
                            if r["config"]["eta"] == eta and r["config"]["mini_batch_size"] == mb]
                    if vals:
                        cells[i, j] = np.mean(vals)
                        ax.text(j, i, f"{cells[i, j]:.1f}", ha="center", va="center", fontsize=7,
                                color="white" if cells[i, j] < (vmin + vmax) / 2 else "black")
            image = ax.imshow(cells, origin="lower", cmap="viridis", vmin=vmin, vmax=vmax,
                              aspect="auto")
            ax.set_xticks(range(len(etas)), [f"{e:g}" for e in etas])
            ax.set_yticks(range(len(mbs)), [str(m) for m in mbs])
        else:
            image = ax.scatter([r["config"]["eta"] for r in group],
                               [r["config"]["mini_batch_size"] for r in group],
                               c=[100 * r["best_validation_accuracy"] for r in group],
                               cmap="viridis", vmin=vmin, vmax=vmax, s=40, edgecolors="k")
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_xlabel("eta")
        ax.set_ylabel("mini-batch size")
        ax.set_title(_label(group[0]["config"], others) or "all runs", fontsize=9)
    fig.colorbar(image, ax=axes[0].tolist(), label="validation accuracy (%)")
    fig.suptitle(title or "Grid search: best validation accuracy", fontsize=10)
    save(fig, path, dpi=110, bbox_inches=None)
    return path


def plot_curves(spec, rows, path, top=5, title=None):
    """Validation accuracy and cost per epoch of the ``top`` best runs (rows best first)."""
    names = [n for n in varying_options(spec, rows) if n != "seed"] or ["eta"]
    fig, (left, right) = subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    for r in rows[:top]:
        epochs = [e["epoch"] for e in r["epochs"]]
        label = _label(r["config"], names)
        left.plot(epochs, [100 * e["validation_accuracy"] for e in r["epochs"]], marker=".",
                  label=label)
        right.plot(epochs, [np.nan if e["validation_cost"] is None else e["validation_cost"]
                            for e in r["epochs"]], marker=".", label=label)
    for ax in (left, right):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    left.set_ylabel("validation accuracy (%)")
    right.set_ylabel("validation cost")
    left.legend(fontsize=7)
    fig.suptitle(title or f"The best {min(top, len(rows))} runs", fontsize=10)
    save(fig, path, dpi=110, bbox_inches=None)
    return path


def plot_broad_strategy(result, path):
    """The three steps of the broad strategy (a grid_strategy.StrategyResult) side by side:
    training cost per epoch for each eta, validation accuracy against lambda, and
    validation accuracy against seconds of training for each mini-batch size."""
    fig, (a, b, c) = subplots(1, 3, figsize=(14, 4), layout="constrained")
    eta_rows = [r for name, g in result.stages.items() if name.startswith("1-") for r in g.rows]
    for r in sorted(eta_rows, key=lambda r: r["config"]["eta"]):
        costs = [r["initial_training_cost"]] + [e["training_cost"] for e in r["epochs"]]
        a.plot(range(len(costs)), [np.nan if v is None else v for v in costs], marker=".",
               label=f"eta={r['config']['eta']:g}",
               linewidth=2.5 if r["config"]["eta"] == result.eta_threshold else 1)
    a.set_yscale("log")
    a.set_xlabel("epoch (0 = before training)")
    a.set_ylabel("training cost")
    a.set_title(f"1. eta threshold {result.eta_threshold:g} -> eta {result.eta:g}", fontsize=9)
    a.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    a.legend(fontsize=7)

    lam_rows = sorted((r for name, g in result.stages.items() if name.startswith("2-")
                       for r in g.rows), key=lambda r: r["config"]["lmbda"])
    b.plot([r["config"]["lmbda"] for r in lam_rows],
           [100 * r["best_validation_accuracy"] for r in lam_rows], marker="o")
    b.set_xscale("symlog", linthresh=min([r["config"]["lmbda"] for r in lam_rows
                                          if r["config"]["lmbda"] > 0] or [1.0]))
    b.set_xlabel("lambda")
    b.set_ylabel("best validation accuracy (%)")
    b.set_title(f"2. lambda {result.lmbda:g} (eta {result.eta:g})", fontsize=9)

    for r in sorted(result.stages["3-mini-batch"].rows,
                    key=lambda r: r["config"]["mini_batch_size"]):
        seconds = np.cumsum([e["seconds"] for e in r["epochs"]])
        c.plot(seconds, [100 * e["validation_accuracy"] for e in r["epochs"]], marker=".",
               label=f"mb={r['config']['mini_batch_size']}",
               linewidth=2.5 if r is result.chosen else 1)
    c.set_xlabel("seconds of training")
    c.set_ylabel("validation accuracy (%)")
    c.set_title(f"3. mini-batch size {result.mini_batch_size}", fontsize=9)
    c.legend(fontsize=7)
    fig.suptitle("Chapter 3's broad strategy", fontsize=10)
    save(fig, path, dpi=110, bbox_inches=None)
    return path
