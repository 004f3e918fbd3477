"""Images: weights drawn as 28x28 pictures (the notes repository's digit "masks" and
hidden units), chapter 6's filters, and mosaics and strips of digits.

Diverging colours with bounds symmetric about 0 for weights (red: the pixel pushes
the unit up, blue: down); grey for images in [0, 1].  Nothing here trains.
"""

import numpy as np

from .render import frame, save, save_gif, subplots


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
    fig, axes = subplots(rows, cols, figsize=(1.3 * cols, 1.45 * rows + 0.4), squeeze=False)
    bound = float(np.max(np.abs(weights))) or 1.0
    for ax, w, t in zip(axes.flat, weights, titles):
        _mask_axes(ax, w, bound, t)
    for ax in list(axes.flat)[k:]:
        ax.axis("off")
    fig.suptitle(suptitle, fontsize=10)
    return save(fig, path)


def weight_gif(path, weights, titles, suptitle, seconds_per_frame=0.8, dpi=80):
    """One 28x28 weight image per frame (a digit's mask, or a hidden unit's weights),
    each with its own symmetric colour bounds so every frame shows its structure."""
    frames = []
    for w, t in zip(np.asarray(weights), titles):
        fig, ax = subplots(figsize=(3.2, 3.4))
        bound = float(np.max(np.abs(w))) or 1.0
        im = _mask_axes(ax, w, bound, t)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        fig.suptitle(suptitle, fontsize=8)
        frames.append(frame(fig, dpi))
    return save_gif(path, frames, seconds_per_frame)


def filters(path, w, title, cols=10):
    """Filters (F, k, k) as small images, each with its own symmetric colour bounds
    (red positive, blue negative), like the book's picture of the 20 feature maps."""
    w = np.asarray(w)
    rows = (len(w) + cols - 1) // cols
    fig, axes = subplots(rows, cols, figsize=(1.1 * cols, 1.15 * rows + 0.4), squeeze=False)
    for ax, f in zip(axes.flat, w):
        bound = float(np.max(np.abs(f))) or 1.0
        ax.imshow(f, cmap="RdBu_r", vmin=-bound, vmax=bound)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    return save(fig, path)


def image_grid(path, images, title, row_labels=None, col_labels=None, scale=0.6):
    """images (rows, cols, 28, 28) in [0, 1], drawn as one grey mosaic with optional labels."""
    rows, cols, h, w = images.shape
    mosaic = np.ones((rows * (h + 2), cols * (w + 2)))
    for r in range(rows):
        for c in range(cols):
            mosaic[r * (h + 2) + 1:r * (h + 2) + 1 + h, c * (w + 2) + 1:c * (w + 2) + 1 + w] = images[r, c]
    fig, ax = subplots(figsize=(max(3, cols * scale), max(2, rows * scale) + 0.5))
    ax.imshow(mosaic, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([(c + 0.5) * (w + 2) for c in range(cols)] if col_labels is not None else [])
    if col_labels is not None:
        ax.set_xticklabels(col_labels, fontsize=7)
    ax.set_yticks([(r + 0.5) * (h + 2) for r in range(rows)] if row_labels is not None else [])
    if row_labels is not None:
        ax.set_yticklabels(row_labels, fontsize=7)
    ax.set_title(title, fontsize=9)
    return save(fig, path)


def image_row_gif(path, frames_images, captions, title, dpi=70, seconds_per_frame=0.1):
    """frames_images (frames, n, 28, 28): each frame a row of n images, with a caption."""
    frames = []
    n = frames_images.shape[1]
    for imgs, caption in zip(frames_images, captions):
        fig, axes = subplots(1, n, figsize=(1.1 * n + 0.4, 1.7))
        for ax, img in zip(np.atleast_1d(axes), imgs):
            ax.imshow(img, cmap="gray_r", vmin=0, vmax=1)
            ax.axis("off")
        fig.suptitle(f"{title}  {caption}", fontsize=9)
        frames.append(frame(fig, dpi))
    return save_gif(path, frames, seconds_per_frame)
