"""Chapter 4's pictures: a function and its approximations by hand-built networks, the
error against the number of hidden units, and 2-D surfaces (towers).

Nothing here builds a network (network/mlp/universality.py does); the functions
take sampled values and a path.
"""

import numpy as np

from .render import figure, save, subplots


def function_fits(path, x, target, fits, title, errors=None):
    """Left: a 1-D target and its approximations ({label: y}); right (optional): error
    against the number of hidden units ({label: {"x": units, "y": error}}), log-log."""
    n = 2 if errors else 1
    fig, axes = subplots(1, n, figsize=(5.5 * n, 4), squeeze=False)
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
    return save(fig, path)


def surfaces(path, grids, title):
    """2-D functions on a grid side by side: ``grids`` maps a title to (X, Y, Z)."""
    n = len(grids)
    fig = figure((4.2 * n, 3.8))
    for i, (label, (X, Y, Z)) in enumerate(grids.items()):
        ax = fig.add_subplot(1, n, i + 1, projection="3d")
        ax.plot_surface(np.asarray(X), np.asarray(Y), np.asarray(Z), cmap="viridis",
                        linewidth=0, antialiased=False)
        ax.set_title(label, fontsize=9)
        ax.view_init(elev=30, azim=-60)
    fig.suptitle(title, fontsize=10)
    return save(fig, path)
