"""Figures for the chapter scripts: curves, weight images, animations.

Every function takes plain arrays or lists (what an experiment saved) and a
file path, draws one figure with matplotlib's non-interactive Agg backend, and
writes it (PNG, or GIF through imageio).  Nothing here trains or loads data, and
nothing else in the library draws.

Deliberately left out: interactive windows, styling options beyond what the
book's figures need, video formats other than GIF.
"""

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display needed, same output everywhere

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .files import atomic_write_bytes  # noqa: E402

DIGIT_COLOURS = plt.get_cmap("tab10")


def _save(fig, path, dpi=100, **savefig_options):
    """Write the figure atomically (rendered in memory, then renamed into place) and close it."""
    path = Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=path.suffix.lstrip(".") or "png", dpi=dpi,
                **{"bbox_inches": "tight", **savefig_options})
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _frame(fig, dpi):
    """The figure as an RGB array (one GIF frame)."""
    fig.set_dpi(dpi)
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    return rgba[..., :3].copy()


def save_gif(path, frames, seconds_per_frame=0.5, loop=0):
    """Write equally sized RGB frames as a looping GIF."""
    import imageio.v2 as imageio
    path = Path(path)
    buffer = io.BytesIO()
    imageio.mimsave(buffer, list(frames), format="GIF", duration=seconds_per_frame, loop=loop)
    atomic_write_bytes(path, buffer.getvalue())  # a reader never sees half a GIF
    return path


# ---- curves ------------------------------------------------------------------------------

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
    fig, ax = plt.subplots(figsize=size)
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
    return _save(fig, path)


def panels(path, panel_curves, suptitle, xlabel="epoch", size=(10, 7), logy=()):
    """Several panels side by side: ``panel_curves`` maps a panel title to
    (ylabel, curves) as in ``line_plot``.  The book's four overfitting plots."""
    n = len(panel_curves)
    cols = 2 if n > 1 else 1
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=size, squeeze=False)
    for ax, (title, (ylabel, curves)) in zip(axes.flat, panel_curves.items()):
        _series(ax, curves, logy=title in logy)
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(suptitle)
    fig.tight_layout()
    return _save(fig, path)


def bar_plot(path, labels, values, title, ylabel, annotate="{:.2f}", log=False):
    fig, ax = plt.subplots(figsize=(max(4, 0.9 * len(labels) + 2), 4))
    bars = ax.bar(range(len(labels)), values, color="tab:blue")
    ax.set_xticks(range(len(labels)), labels, rotation=20 if len(labels) > 4 else 0, fontsize=8)
    for bar, v in zip(bars, values):
        ax.annotate(annotate.format(v), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8)
    if log:
        ax.set_yscale("log")
    ax.set(title=title, ylabel=ylabel)
    return _save(fig, path)


# ---- weights as images ---------------------------------------------------------------------

def _mask_axes(ax, image, bound, title):
    im = ax.imshow(image.reshape(28, 28), cmap="RdBu_r", vmin=-bound, vmax=bound)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    return im


def weight_grid(path, weights, titles, suptitle, cols=10):
    """Each row of ``weights`` (k, 784) as a 28x28 image, diverging colours with
    bounds symmetric about 0 (red: the pixel pushes the unit up, blue: down)."""
    weights = np.asarray(weights)
    k = len(weights)
    rows = (k + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.45 * rows + 0.4), squeeze=False)
    bound = float(np.max(np.abs(weights))) or 1.0
    for ax, w, t in zip(axes.flat, weights, titles):
        _mask_axes(ax, w, bound, t)
    for ax in list(axes.flat)[k:]:
        ax.axis("off")
    fig.suptitle(suptitle, fontsize=10)
    return _save(fig, path)


def weight_gif(path, weights, titles, suptitle, seconds_per_frame=0.8, dpi=80):
    """One 28x28 weight image per frame (a digit's mask, or a hidden unit's weights),
    each with its own symmetric colour bounds so every frame shows its structure."""
    frames = []
    for w, t in zip(np.asarray(weights), titles):
        fig, ax = plt.subplots(figsize=(3.2, 3.4))
        bound = float(np.max(np.abs(w))) or 1.0
        im = _mask_axes(ax, w, bound, t)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        fig.suptitle(suptitle, fontsize=8)
        frames.append(_frame(fig, dpi))
        plt.close(fig)
    return save_gif(path, frames, seconds_per_frame)


# ---- the seed's latent-space animation ------------------------------------------------------

def latent_scatter_gif(path, points, labels, digits, titles, degrees_per_frame=4.0, dpi=60,
                       seconds_per_frame=0.25):
    """A rotating 3-D scatter: ``points`` (frames, n, 3) in the unit cube, coloured by
    ``labels`` (n,); only the given ``digits`` are drawn; one frame per entry of
    ``titles`` (e.g. the epoch and the validation accuracy)."""
    points = np.asarray(points)
    labels = np.asarray(labels)
    keep = np.isin(labels, digits)
    frames = []
    for t, (pts, title) in enumerate(zip(points, titles)):
        fig = plt.figure(figsize=(4.2, 4.2))
        ax = fig.add_subplot(projection="3d")
        for i, d in enumerate(digits):
            sel = keep & (labels == d)
            ax.scatter(pts[sel, 0], pts[sel, 1], pts[sel, 2], s=3, alpha=0.5,
                       color=DIGIT_COLOURS(i), label=str(d))
        ax.set(xlim=(0, 1), ylim=(0, 1), zlim=(0, 1), xlabel="h1", ylabel="h2", zlabel="h3")
        ax.view_init(elev=20, azim=30 + degrees_per_frame * t)
        ax.legend(loc="upper left", fontsize=8, markerscale=3)
        ax.set_title(title, fontsize=9)
        frames.append(_frame(fig, dpi))
        plt.close(fig)
    return save_gif(path, frames, seconds_per_frame)


def scatter3d(path, points, labels, digits, title):
    """One still of the latent scatter (e.g. the last frame) as a PNG."""
    labels = np.asarray(labels)
    fig = plt.figure(figsize=(5, 5))
    ax = fig.add_subplot(projection="3d")
    for i, d in enumerate(digits):
        sel = labels == d
        ax.scatter(points[sel, 0], points[sel, 1], points[sel, 2], s=3, alpha=0.5,
                   color=DIGIT_COLOURS(i), label=str(d))
    ax.set(xlim=(0, 1), ylim=(0, 1), zlim=(0, 1), xlabel="h1", ylabel="h2", zlabel="h3")
    ax.view_init(elev=20, azim=30)
    ax.legend(loc="upper left", fontsize=8, markerscale=3)
    ax.set_title(title, fontsize=9)
    return _save(fig, path, dpi=80)
