"""Where the windows open: whether this machine can show one, and the figures they are drawn on.

``python -m network play`` is the one place in the library that opens windows, so it
is the one place that imports pyplot, and only once it knows a window is wanted:
importing ``network``, ``network.cli`` or ``network.play`` never imports pyplot and
never chooses a backend.  pyplot then picks the backend itself (Tk, Qt, ... on a
desktop); this module only asks whether the one it picked can show a window.

- ``why_no_window()``: None where a window can open, else the reason in a few words
  (no $DISPLAY or $WAYLAND_DISPLAY on Linux; no interactive backend usable);
- ``window_figure(size, title)``: a pyplot figure, shown by ``show()``;
- ``still_figure(size)``: a figure on its own Agg canvas, for ``--save`` and the
  tests: no display, no pyplot, no backend switched (network/plots/render.py).

Left out on purpose: choosing or forcing a backend, embedding in other toolkits.
"""

import os
import sys

from ..plots.render import figure as still_figure

__all__ = ["why_no_window", "window_figure", "still_figure", "show"]


def why_no_window():
    """None if a window can be opened here; else why not, in a few words."""
    if sys.platform not in ("darwin", "win32") and not (os.environ.get("DISPLAY")
                                                         or os.environ.get("WAYLAND_DISPLAY")):
        return "there is no display ($DISPLAY and $WAYLAND_DISPLAY are not set)"
    import matplotlib.pyplot as plt          # here pyplot chooses its backend, not before

    backend = plt.get_backend()
    if not _shows_windows(backend):
        return (f"matplotlib found no interactive backend here (it chose {backend!r}); install "
                f"Tk for Python (e.g. the python3-tk package) or PyQt, or set MPLBACKEND to one")
    return None


def _shows_windows(backend):
    """Whether ``backend`` runs a GUI event loop (TkAgg, QtAgg, ...), not only files (Agg, SVG)."""
    try:
        from matplotlib.backends import backend_registry     # matplotlib 3.9 and later
    except ImportError:
        from matplotlib.rcsetup import interactive_bk
        return backend.lower() in {b.lower() for b in interactive_bk}
    return backend_registry.resolve_backend(backend)[1] is not None


def window_figure(size, title=None):
    """A new pyplot figure of ``size`` inches, in a window called ``title`` once ``show()`` runs."""
    import matplotlib.pyplot as plt
    return plt.figure(num=title, figsize=size)


def show():
    """Show every window and wait until they are closed."""
    import matplotlib.pyplot as plt
    plt.show()
