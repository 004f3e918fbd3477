"""Curves and bars: accuracy and cost per epoch, the book's overfitting panels, the
overfitting diagnostics of problem 6.10, gradient norms per layer (chapter 5), and the
chapter 5 interval-width problem.

Every function takes plain lists or arrays (what an experiment saved) and a path,
draws one figure and writes it (network/plots/render.py).  Nothing here trains.
"""

import numpy as np

from .render import save, subplots


def _series(ax, curves, logy=False, markers=False):
    for label, ys in curves.items():
        if isinstance(ys, dict):        # {"x": [...], "y": [...]}
            xs, ys = ys["x"], ys["y"]
        else:
            xs = np.arange(len(ys))
        ys = np.array([np.nan if v is None else v for v in ys], dtype=float)
        ax.plot(xs, ys, marker="o" if markers else None, ms=3, label=label)
    if logy:
        ax.set_yscale("log")
    if len(curves) > 1:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)


def line_plot(path, curves, title, xlabel="epoch", ylabel="accuracy (%)", logy=False,
              logx=False, markers=False, hlines=None, ylim=None, size=(6, 4)):
    """One panel of curves: ``curves`` maps a label to a list of y values (x = 0, 1, ...)
    or to {"x": [...], "y": [...]}.  ``hlines``: {label: y} reference lines."""
    fig, ax = subplots(figsize=size)
    _series(ax, curves, logy, markers)
    for label, y in (hlines or {}).items():
        ax.axhline(y, ls="--", lw=1, color="grey")
        ax.annotate(label, (0.01, y), xycoords=("axes fraction", "data"), fontsize=7,
                    color="grey", va="bottom")
    if logx:
        ax.set_xscale("log")
    if ylim:
        ax.set_ylim(*ylim)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    return save(fig, path)


def panels(path, panel_curves, suptitle, xlabel="epoch", size=(10, 7), logy=()):
    """Several panels side by side: ``panel_curves`` maps a panel title to
    (ylabel, curves) as in ``line_plot``.  The book's four overfitting plots."""
    n = len(panel_curves)
    cols = 2 if n > 1 else 1
    rows = (n + cols - 1) // cols
    fig, axes = subplots(rows, cols, figsize=size, squeeze=False)
    for ax, (title, (ylabel, curves)) in zip(axes.flat, panel_curves.items()):
        _series(ax, curves, logy=title in logy)
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(suptitle)
    fig.tight_layout()
    return save(fig, path)


def bar_plot(path, labels, values, title, ylabel, annotate="{:.2f}", log=False):
    fig, ax = subplots(figsize=(max(4, 0.9 * len(labels) + 2), 4))
    bars = ax.bar(range(len(labels)), values, color="tab:blue")
    ax.set_xticks(range(len(labels)), labels, rotation=20 if len(labels) > 4 else 0, fontsize=8)
    for bar, v in zip(bars, values):
        ax.annotate(annotate.format(v), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8)
    if log:
        ax.set_yscale("log")
    ax.set(title=title, ylabel=ylabel)
    return save(fig, path)


def accuracy_curves(path, curves, title, hlines=None, ylabel="accuracy (%)", ylim=None):
    """Accuracy per epoch, one curve per label (validation, test, ...)."""
    return line_plot(path, curves, title, ylabel=ylabel, hlines=hlines, ylim=ylim,
                              markers=True)


def gradient_norms(path, networks, title, logy=True):
    """One panel per network: ``networks`` maps a title to {layer label: norms per epoch}."""
    return panels(path, {t: ("gradient norm ||delta^l||", c) for t, c in networks.items()},
                  title, size=(11, 3.6 * ((len(networks) + 1) // 2)),
                  logy=tuple(networks) if logy else ())


def interval_width(path, w, width, title, best=None):
    """Chapter 5 problem: the width of the interval of inputs where |w sigma'(wa+b)| >= 1."""
    curves = {"interval width": {"x": list(w), "y": list(width)}}
    hl = {f"max {best[1]:.3f} at |w| = {best[0]:.2f}": best[1]} if best else None
    return line_plot(path, curves, title, xlabel="|w|", ylabel="width", hlines=hl)


def overfitting(path, runs, title):
    """Problem 6.10's diagnostics: for each run (label -> base/overfitting.py's report), the
    training and evaluation accuracy, the two costs, and the accuracy gap, per epoch.
    The epoch of the lowest evaluation cost is marked on the cost panel."""
    fig, axes = subplots(1, 3, figsize=(14, 4))
    for k, (label, r) in enumerate(runs.items()):
        colour = f"C{k}"
        percent = {key: 100 * np.asarray(r[key], dtype=float)     # the report holds fractions
                   for key in ("training_accuracy", "evaluation_accuracy", "accuracy_gap")}
        axes[0].plot(percent["training_accuracy"], color=colour, ls="--", label=f"{label}: training")
        axes[0].plot(percent["evaluation_accuracy"], color=colour, label=f"{label}: evaluation")
        axes[1].plot(r["training_cost"], color=colour, ls="--", label=f"{label}: training")
        axes[1].plot(r["evaluation_cost"], color=colour, label=f"{label}: evaluation")
        low = r["lowest_cost_epoch"]
        axes[1].plot([low], [r["evaluation_cost"][low]], "o", color=colour, ms=5)
        axes[2].plot(percent["accuracy_gap"], color=colour, label=label)
    axes[0].set(title="accuracy", xlabel="epoch", ylabel="accuracy (%)")
    axes[1].set(title="cost (dot: lowest evaluation cost)", xlabel="epoch", ylabel="cost")
    axes[2].set(title="gap: training - evaluation accuracy", xlabel="epoch",
                ylabel="percentage points")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return save(fig, path)
