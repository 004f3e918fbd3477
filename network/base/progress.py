"""Progress on long work: a tqdm bar on a terminal, nothing anywhere else.

What shows one: a conv-net or VAE epoch (a bar over its mini-batches), a grid
search or a sweep (runs done of the total, with tqdm's estimate of the time
left), a chapter script's training run (its epochs).  The rules:

- drawn on stdout, and only when stdout is a terminal and the caller is not
  quiet: a pipe or a log file never receives a carriage-return redraw;
- while a bar is up, lines printed go above it (tqdm's ``DummyTqdmFile``), so a
  bar and a line never share a row;
- a bar is erased when its work ends (``leave=False``): the printed lines are
  all that stays on the screen, as in a log.

Why tqdm and not our own: redrawing a line well is fiddly (terminal width,
rates smoothed into an estimate of the time left, output from other code
arriving mid-bar, Jupyter), and tqdm is the ecosystem's well-kept answer;
it is pure Python with no dependencies of its own.

Left out on purpose: nested bars, anything on stderr, and a per-batch bar for
the compiled MLP epoch (0.13 s for 50,000 images: the bar would tell nothing
and cost time in the one loop that is tuned).
"""

import contextlib
import sys


def on_terminal(quiet=False):
    """Whether a bar would be drawn now: not quiet, and stdout is a terminal."""
    isatty = getattr(sys.stdout, "isatty", None)
    try:
        return not quiet and isatty is not None and bool(isatty())
    except ValueError:   # a closed stream
        return False


@contextlib.contextmanager
def bar(total, description, unit="it", quiet=False, delay=0.0):
    """A tqdm bar for the block, or a silent stand-in with the same methods (``update``,
    ``set_postfix_str``, ``n``, ``total``) when it may not be drawn (see the module
    docstring).  ``total`` None: a counter without an end.  ``delay``: seconds before
    it first appears, so work that ends sooner shows nothing."""
    from tqdm import tqdm
    from tqdm.contrib import DummyTqdmFile

    if not on_terminal(quiet):
        yield tqdm(total=total, disable=True)
        return
    stream = sys.stdout
    shown = tqdm(total=total, desc=description, unit=unit, file=stream, leave=False,
                 dynamic_ncols=True, delay=delay)
    try:
        with contextlib.redirect_stdout(DummyTqdmFile(stream)):
            yield shown
    finally:
        shown.close()
