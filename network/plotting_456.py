"""Figures for chapters 4-6: bump and tower approximations, gradient norms, conv runs.

Like ``plotting.py``: every function takes plain arrays or lists (what an
experiment saved) and a path, draws one figure with matplotlib's Agg backend and
writes a PNG.  Nothing here trains, and nothing else in the library draws.

Deliberately left out: animations (the chapters' figures are stills).
"""

import numpy as np

from . import plotting
from .plotting import _save, plt


def accuracy_curves(path, curves, title, hlines=None, ylabel="accuracy (%)", ylim=None):
    """Accuracy per epoch, one curve per label (validation, test, ...)."""
    return plotting.line_plot(path, curves, title, ylabel=ylabel, hlines=hlines, ylim=ylim,
                              markers=True)


def filters(path, w, title, cols=10):
    """Filters (F, k, k) as small images, each with its own symmetric colour bounds
    (red positive, blue negative), like the book's picture of the 20 feature maps."""
    w = np.asarray(w)
    rows = (len(w) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(1.1 * cols, 1.15 * rows + 0.4), squeeze=False)
    for ax, f in zip(axes.flat, w):
        bound = float(np.max(np.abs(f))) or 1.0
        ax.imshow(f, cmap="RdBu_r", vmin=-bound, vmax=bound)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def function_fits(path, x, target, fits, title, errors=None):
    """Left: a 1-D target and its approximations ({label: y}); right (optional): error
    against the number of hidden units ({label: {"x": units, "y": error}}), log-log."""
    n = 2 if errors else 1
    fig, axes = plt.subplots(1, n, figsize=(5.5 * n, 4), squeeze=False)
    ax = axes[0, 0]
    ax.plot(x, target, color="black", lw=2, label="f(x)")
    for label, y in fits.items():
        ax.plot(x, y, lw=1, label=label)
    ax.set(xlabel="x", ylabel="output", title=title)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    if errors:
        ax = axes[0, 1]
        for label, e in errors.items():
            ax.plot(e["x"], e["y"], marker="o", ms=3, label=label)
        ax.set(xscale="log", yscale="log", xlabel="hidden units", ylabel="max |error|",
               title="error against the number of hidden units")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return _save(fig, path)


def surfaces(path, grids, title):
    """2-D functions on a grid side by side: ``grids`` maps a title to (X, Y, Z)."""
    n = len(grids)
    fig = plt.figure(figsize=(4.2 * n, 3.8))
    for i, (label, (X, Y, Z)) in enumerate(grids.items()):
        ax = fig.add_subplot(1, n, i + 1, projection="3d")
        ax.plot_surface(np.asarray(X), np.asarray(Y), np.asarray(Z), cmap="viridis",
                        linewidth=0, antialiased=False)
        ax.set_title(label, fontsize=9)
        ax.view_init(elev=30, azim=-60)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def gradient_norms(path, panels, title, logy=True):
    """One panel per network: ``panels`` maps a title to {layer label: norms per epoch}."""
    return plotting.panels(path, {t: ("gradient norm ||delta^l||", c) for t, c in panels.items()},
                           title, size=(11, 3.6 * ((len(panels) + 1) // 2)),
                           logy=tuple(panels) if logy else ())


def interval_width(path, w, width, title, best=None):
    """Chapter 5 problem: the width of the interval of inputs where |w sigma'(wa+b)| >= 1."""
    curves = {"interval width": {"x": list(w), "y": list(width)}}
    hl = {f"max {best[1]:.3f} at |w| = {best[0]:.2f}": best[1]} if best else None
    return plotting.line_plot(path, curves, title, xlabel="|w|", ylabel="width", hlines=hl)
