"""The drawing pad's ink: strokes of a round pen painted on a fine grid under the 28x28 pad.

The pad shows 28x28 pixels, but the ink is kept at ``SCALE`` = 4 times that resolution
(112x112), the way NIST scanned its digits finer than MNIST's 28x28: the bounding
box is then *shrunk* to 20x20 by area averaging (preprocess.py), which gives the
soft grey edges MNIST digits have.  Coordinates are the pad's: x to the right and
y downwards, both from 0 to 28, so a pixel (row r, column c) covers
[c, c + 1) x [r, r + 1).

The pen is a disc of radius ``RADIUS`` pad pixels with a soft rim of ``RIM``: full
ink inside RADIUS - RIM/2, none beyond RADIUS + RIM/2.  MNIST's strokes are about
two to three pixels wide once the digit fills its 20x20 box; a pen 2.6 pixels
wide gives that for a digit drawn at about the same size.

Left out on purpose: pressure, erasing with the pen (the pad's "clear" empties it).
"""

import numpy as np

SIDE = 28
SCALE = 4
RADIUS = 1.3   # pad pixels
RIM = 0.6      # pad pixels


def blank():
    """An empty ink grid (112, 112)."""
    return np.zeros((SIDE * SCALE, SIDE * SCALE))


def _centres():
    """The pad coordinates of the fine grid's pixel centres, x (1, 112) and y (112, 1)."""
    c = (np.arange(SIDE * SCALE) + 0.5) / SCALE
    return c[None, :], c[:, None]


def paint_segment(ink, start, end, radius=RADIUS, rim=RIM):
    """Paint the pen's path from ``start`` to ``end`` ((x, y) in pad pixels) into ``ink``
    (in place): every fine pixel takes the larger of its ink and the pen's."""
    x, y = _centres()
    (x0, y0), (x1, y1) = start, end
    dx, dy = x1 - x0, y1 - y0
    length_sq = dx * dx + dy * dy
    # the nearest point of the segment to each pixel centre: t in [0, 1] along it
    t = 0.0 if length_sq == 0 else np.clip(((x - x0) * dx + (y - y0) * dy) / length_sq, 0, 1)
    dist = np.hypot(x - (x0 + t * dx), y - (y0 + t * dy))   # (112, 112)
    pen = np.clip((radius + rim / 2 - dist) / rim, 0.0, 1.0)
    np.maximum(ink, pen, out=ink)
    return ink


def from_image(row):
    """A 28x28 image (a (784,) row in [0, 1]) as ink: each pixel becomes a SCALE x SCALE
    block, so preprocessing an MNIST image shown on the pad gives it back unchanged."""
    return np.kron(np.asarray(row, dtype=np.float64).reshape(SIDE, SIDE), np.ones((SCALE, SCALE)))
