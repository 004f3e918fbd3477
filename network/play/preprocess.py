"""A drawn digit made to look like an MNIST digit: MNIST's own size and position normalisation.

MNIST's digits were prepared in two steps (LeCun, Cortes and Burges' description of the
data set): each digit's bounding box was scaled, keeping its aspect ratio, to fit a
20x20 box, with anti-aliasing, so the result has grey levels; then the 20x20 image was
put in the 28x28 field so that its centre of mass falls on the centre of the field.
``mnist_style`` does the same to an image of any size (the pad's ink, drawn at four
times the resolution so that the scaling has something to anti-alias):

    crop to the bounding box of the non-zero pixels   (h, w)
    scale by 20 / max(h, w) by area averaging          (h', w'), max(h', w') = 20
    shift by whole pixels so the centre of mass is at row 14, column 14

Measured on the shipped training images: their centres of mass, in pixel indices,
average (13.99, 14.00) with a spread of 0.29 in each direction, exactly the spread
of a uniform rounding error in (-0.5, 0.5), so MNIST shifted by whole pixels to put
the centre of mass at index 14.  An MNIST digit moved anywhere on a larger field (or
enlarged four times) comes back as the original, pixel for pixel (tested).

Left out on purpose: deskewing, stroke-width normalisation, thresholding of faint
ink (every non-zero pixel counts towards the bounding box, as in MNIST).
"""

import numpy as np

SIDE = 28          # the field
BOX = 20           # the bounding box's longer side after scaling
CENTRE = 14.0      # where the centre of mass goes, in pixel indices (row and column)


def overlap_matrix(n_src, n_dst):
    """(n_dst, n_src): how much of each source pixel falls in each destination pixel,
    when n_src pixels are stretched onto n_dst; each row sums to 1, so ``M @ v`` is the
    area average (anti-aliased when shrinking, exact when n_dst divides n_src)."""
    edges = np.arange(n_src + 1) * (n_dst / n_src)          # source pixel edges, destination units
    dst = np.arange(n_dst)[:, None]
    lo = np.maximum(edges[None, :-1], dst)                  # (n_dst, n_src)
    hi = np.minimum(edges[None, 1:], dst + 1)
    return np.clip(hi - lo, 0.0, None)


def resize_area(image, shape):
    """``image`` (h, w) resampled to ``shape`` (h', w') by area averaging."""
    rows = overlap_matrix(image.shape[0], shape[0])         # (h', h)
    cols = overlap_matrix(image.shape[1], shape[1])         # (w', w)
    return rows @ image @ cols.T                            # (h', h) @ (h, w) @ (w, w') -> (h', w')


def bounding_box(image):
    """(top, bottom, left, right), bottom and right exclusive, of the non-zero pixels;
    None for an empty image."""
    rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
    if len(rows) == 0:
        return None
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


def centre_of_mass(image):
    """(row, column) of the intensity's centre of mass, in pixel indices."""
    mass = image.sum()
    rows = image.sum(axis=1) @ np.arange(image.shape[0]) / mass
    cols = image.sum(axis=0) @ np.arange(image.shape[1]) / mass
    return rows, cols


def mnist_style(image):
    """``image`` (h, w), intensities in [0, 1] (ink high), as a (784,) MNIST-style row:
    bounding box scaled into 20x20, centre of mass at the centre of the 28x28 field.
    An empty image stays empty (all zeros)."""
    image = np.asarray(image, dtype=np.float64)
    out = np.zeros((SIDE, SIDE))
    box = bounding_box(image)
    if box is None:
        return out.ravel()
    top, bottom, left, right = box
    crop = image[top:bottom, left:right]                    # (h, w)
    scale = BOX / max(crop.shape)
    shape = tuple(max(1, round(n * scale)) for n in crop.shape)
    digit = np.clip(resize_area(crop, shape), 0.0, 1.0)     # (h', w'), the longer side 20
    rows, cols = centre_of_mass(digit)
    top, left = int(round(CENTRE - rows)), int(round(CENTRE - cols))
    # paste at (top, left); a very lopsided digit may lose an edge, as it would in MNIST
    r0, r1 = max(top, 0), min(top + shape[0], SIDE)
    c0, c1 = max(left, 0), min(left + shape[1], SIDE)
    out[r0:r1, c0:c1] = digit[r0 - top:r1 - top, c0 - left:c1 - left]
    return out.ravel()
