"""Making a figure and writing it to a file, without touching matplotlib's global state.

Every figure here is a ``matplotlib.figure.Figure`` drawn on its own Agg canvas:
pyplot is never imported and no backend is ever chosen or switched, so drawing
a file from a notebook or a program with an interactive window leaves that
backend alone, and a machine without a display needs nothing set.  Files are
rendered in memory and written atomically (network/storage/atomic.py): a reader
never sees half a PNG or GIF.

Left out on purpose: showing figures (the interactive windows of
``python -m network play`` use pyplot on purpose), styles, vector formats other
than what ``savefig`` infers from the suffix.
"""

import io
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..storage.atomic import atomic_write_bytes


def digit_colour(d):
    """The colour of digit (or class) ``d``: matplotlib's ten-colour qualitative map."""
    return matplotlib.colormaps["tab10"](d)


def figure(figsize, layout=None):
    """A new Figure on its own Agg canvas (no pyplot, no global backend)."""
    fig = Figure(figsize=figsize, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def subplots(nrows=1, ncols=1, figsize=(6, 4), squeeze=True, layout=None, **options):
    """(figure, axes) like pyplot.subplots, on a Figure of our own."""
    fig = figure(figsize, layout)
    return fig, fig.subplots(nrows, ncols, squeeze=squeeze, **options)


def save(fig, path, dpi=100, **savefig_options):
    """Render the figure in memory, then write it atomically; returns the Path."""
    path = Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=path.suffix.lstrip(".") or "png", dpi=dpi,
                **{"bbox_inches": "tight", **savefig_options})
    atomic_write_bytes(path, buffer.getvalue())
    return path


def frame(fig, dpi):
    """The figure as an RGB array (one GIF frame)."""
    fig.set_dpi(dpi)
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    return rgba[..., :3].copy()


def save_gif(path, frames, seconds_per_frame=0.5, loop=0):
    """Write equally sized RGB frames as a looping GIF, atomically."""
    import imageio.v2 as imageio
    path = Path(path)
    buffer = io.BytesIO()
    imageio.mimsave(buffer, list(frames), format="GIF", duration=seconds_per_frame, loop=loop)
    atomic_write_bytes(path, buffer.getvalue())
    return path
