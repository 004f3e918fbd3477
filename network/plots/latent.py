"""Latent spaces: the 3-unit hidden layer of the notes repository's [784,10,3,10] net,
and the VAE's codes (scatters by digit, class mixture densities, the KL phases,
the decoded tour through every digit, classification from the code).

Every function takes arrays that an experiment saved and a path; nothing here
trains, encodes or loads data.
"""

from pathlib import Path

import numpy as np

from .render import digit_colour, figure, frame, save, save_gif, subplots

MIX_COLOURS = ("tab:red", "tab:green", "tab:blue")  # three classes, three clearly different inks


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
        fig = figure((4.2, 4.2))
        ax = fig.add_subplot(projection="3d")
        for i, d in enumerate(digits):
            sel = keep & (labels == d)
            ax.scatter(pts[sel, 0], pts[sel, 1], pts[sel, 2], s=3, alpha=0.5,
                       color=digit_colour(i), label=str(d))
        ax.set(xlim=(0, 1), ylim=(0, 1), zlim=(0, 1), xlabel="h1", ylabel="h2", zlabel="h3")
        ax.view_init(elev=20, azim=30 + degrees_per_frame * t)
        ax.legend(loc="upper left", fontsize=8, markerscale=3)
        ax.set_title(title, fontsize=9)
        frames.append(frame(fig, dpi))
    return save_gif(path, frames, seconds_per_frame)


def scatter3d(path, points, labels, digits, title):
    """One still of the latent scatter (e.g. the last frame) as a PNG."""
    labels = np.asarray(labels)
    fig = figure((5, 5))
    ax = fig.add_subplot(projection="3d")
    for i, d in enumerate(digits):
        sel = labels == d
        ax.scatter(points[sel, 0], points[sel, 1], points[sel, 2], s=3, alpha=0.5,
                   color=digit_colour(i), label=str(d))
    ax.set(xlim=(0, 1), ylim=(0, 1), zlim=(0, 1), xlabel="h1", ylabel="h2", zlabel="h3")
    ax.view_init(elev=20, azim=30)
    ax.legend(loc="upper left", fontsize=8, markerscale=3)
    ax.set_title(title, fontsize=9)
    return save(fig, path, dpi=80)


def latent_scatter(path, panels, title, lim=4.0):
    """panels: list of (points (n, 2), labels (n,), title): test-set means coloured by digit."""
    fig, axes = subplots(1, len(panels), figsize=(5 * len(panels), 4.8))
    for ax, (pts, labels, sub) in zip(np.atleast_1d(axes), panels):
        for d in range(10):
            sel = labels == d
            ax.scatter(pts[sel, 0], pts[sel, 1], s=2, alpha=0.5, color=digit_colour(d), label=str(d))
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), title=sub, xlabel="mu_1", ylabel="mu_2")
        ax.set_aspect("equal")
        ax.legend(markerscale=5, fontsize=7, loc="upper right", ncol=2)
    fig.suptitle(title, fontsize=10)
    return save(fig, path)


def rotating_scatter3d_gif(path, points, labels, title, frames=36, dpi=75, seconds_per_frame=0.15):
    """points (n, 3) coloured by digit, the camera turning once around the z axis."""
    lim = float(np.percentile(np.abs(points), 99.5))
    out = []
    for t in range(frames):
        fig = figure((5.6, 5.6))
        ax = fig.add_subplot(projection="3d")
        for d in range(10):
            sel = labels == d
            ax.scatter(points[sel, 0], points[sel, 1], points[sel, 2], s=2, alpha=0.45,
                       color=digit_colour(d), label=str(d))
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), zlim=(-lim, lim), xlabel="mu_1",
               ylabel="mu_2", zlabel="mu_3")
        ax.view_init(elev=20, azim=360.0 * t / frames)
        ax.legend(loc="upper left", fontsize=7, markerscale=4, ncol=2)
        ax.set_title(title, fontsize=9)
        out.append(frame(fig, dpi))
    return save_gif(path, out, seconds_per_frame)


def kl_phase_curves(path, runs, title):
    """runs: {label: {"kl": per-step KL, "rec": per-step reconstruction, "phases": dict}}.
    Two panels on a log step axis; the phase boundaries found in the data as dotted lines."""
    fig, (ax_kl, ax_rec) = subplots(1, 2, figsize=(12, 4.2))
    for i, (label, run) in enumerate(runs.items()):
        colour = digit_colour(i)
        steps = np.arange(1, len(run["kl"]) + 1)
        ax_kl.plot(steps, run["kl"], color=colour, alpha=0.25, lw=0.6)
        ax_kl.plot(steps, run["kl_smooth"], color=colour, lw=1.6, label=label)
        ax_rec.plot(steps, run["rec"], color=colour, lw=1.0, label=label)
        ph = run["phases"]
        for key, style in (("peak_step", ":"), ("trough_step", "--"), ("rise_end_step", "-.")):
            if ph.get(key):
                ax_kl.axvline(ph[key], color=colour, ls=style, lw=0.9)
    ax_kl.set(xscale="log", xlabel="step (log scale)", ylabel="KL per example (nats)",
              title="KL: surge (to :), collapse (to --), sharp rise (to -.), creep")
    ax_rec.set(xscale="log", yscale="log", xlabel="step (log scale)",
               ylabel="reconstruction per example (nats)", title="reconstruction")
    ax_kl.legend(fontsize=8)
    ax_rec.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    return save(fig, path)


def _density_rgb(densities):
    """Overlay per-class densities (c, G, G) as coloured ink on white: one colour per class."""
    from matplotlib.colors import to_rgb
    img = np.ones(densities.shape[1:] + (3,))
    for c, dens in enumerate(densities):
        # each class scaled to its own peak; the square root lifts the tails so that a
        # mixture of many narrow posteriors does not show only its few tallest spikes
        ink = np.sqrt(dens / max(dens.max(), 1e-300))
        colour = np.array(to_rgb(MIX_COLOURS[c % len(MIX_COLOURS)]))
        img *= 1.0 - ink[..., None] * (1.0 - colour)  # multiply inks: overlaps darken
    return img


def mixture_density_gif(path, densities, steps, panel_titles, digits, extent, means=None,
                        dpi=80, seconds_per_frame=0.25):
    """densities (frames, panels, classes, G, G) on a grid over ``extent`` (lo, hi) in both
    axes; one frame per training step in ``steps``; panels side by side (beta 1 | beta 10)."""
    lo, hi = extent
    frames = []
    n_panels = densities.shape[1]
    for f, step in enumerate(steps):
        fig, axes = subplots(1, n_panels, figsize=(3.6 * n_panels, 3.8))
        axes = np.atleast_1d(axes)
        for p, ax in enumerate(axes):
            ax.imshow(_density_rgb(densities[f, p]), origin="lower",
                      extent=(lo, hi, lo, hi), interpolation="bilinear")
            if means is not None:
                for c, d in enumerate(digits):
                    ax.text(*np.clip(means[f, p, c], lo, hi), str(d), ha="center", va="center",
                            fontsize=12, weight="bold", color=MIX_COLOURS[c % len(MIX_COLOURS)],
                            bbox={"facecolor": "white", "alpha": 0.6, "pad": 1, "lw": 0})
            ax.set(title=panel_titles[p], xlabel="z1", ylabel="z2")
        fig.suptitle(f"class densities of digits {', '.join(map(str, digits))} (VAE-MIX), "
                     f"step {step}", fontsize=10)
        frames.append(frame(fig, dpi))
    return save_gif(path, frames, seconds_per_frame)


def tour_gif(path, images, captions, path_2d, means_2d, order, dpi=70, seconds_per_frame=0.08):
    """The decoded tour: each frame the current image beside the tour drawn in 2-D
    (``path_2d`` (frames, 2) the current position, ``means_2d`` (10, 2) the class means,
    both projected onto the first two principal axes of the means)."""
    frames = []
    for img, caption, pos in zip(images, captions, path_2d):
        fig, (ax_img, ax_map) = subplots(1, 2, figsize=(5.6, 2.9))
        ax_img.imshow(img, cmap="gray_r", vmin=0, vmax=1)
        ax_img.axis("off")
        ax_img.set_title(caption, fontsize=9)
        ordered = means_2d[order]
        ax_map.plot(ordered[:, 0], ordered[:, 1], "-", color="0.7", lw=1)
        for d in range(10):
            ax_map.text(*means_2d[d], str(d), color=digit_colour(d), ha="center", va="center",
                        fontsize=11, weight="bold")
        ax_map.plot(*pos, "o", color="black", ms=5)
        pad = 0.15 * np.ptp(means_2d, axis=0).max()
        ax_map.set(xlim=(means_2d[:, 0].min() - pad, means_2d[:, 0].max() + pad),
                   ylim=(means_2d[:, 1].min() - pad, means_2d[:, 1].max() + pad), xticks=[], yticks=[],
                   title="class means (PCA of the means)")
        frames.append(frame(fig, dpi))
    return save_gif(path, frames, seconds_per_frame)


def accuracy_table_plot(path, latent_dims, accuracies, title):
    fig, ax = subplots(figsize=(5, 3.2))
    ax.bar([str(k) for k in latent_dims], accuracies, color="tab:blue")
    for i, a in enumerate(accuracies):
        ax.text(i, a + 0.5, f"{a:.2f}", ha="center", fontsize=8)
    ax.set(xlabel="latent dimension", ylabel="test accuracy (%)", ylim=(0, 100), title=title)
    return save(fig, Path(path))
