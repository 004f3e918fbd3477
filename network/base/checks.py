"""The checks at the door: one rule for a number, one set of rules for a training call.

Every trainer (the book's ``Network``, the ``ConvNetwork``, the VAE), the grid and
the optimisers check their arguments here, so the same value is refused the same
way everywhere and each ``SGD`` can open with one call and then read like the
book's loop.  Every refusal is a ``UsageError`` that names the argument, the
rule and the value given.

Left out on purpose: checks of data (``mlp/data_format.py`` and each trainer's
own edge), checks of files (``network/storage``).
"""

import math

import numpy as np

from ..errors import UsageError


def number(name, value, *, low=None, above=None, below=None, high=None, whole=False):
    """``value`` as a float (or an int when ``whole``), or a UsageError naming ``name``.

    Refused: booleans (True is an int in Python, but not a count), anything that is
    not a real number, NaN and infinity, and values outside ``value >= low``,
    ``value > above``, ``value < below`` or ``value <= high``.
    """
    ok = isinstance(value, (int, float, np.integer, np.floating)) \
        and not isinstance(value, (bool, np.bool_))
    if ok and whole:
        ok = isinstance(value, (int, np.integer))   # 2.0 epochs is a typo, not a count
    if ok:
        try:
            finite = math.isfinite(value)      # exact for Python ints of any size
        except OverflowError:                  # an int too large for a float
            finite = whole
        ok = finite and (low is None or value >= low) and (above is None or value > above) \
            and (below is None or value < below) and (high is None or value <= high)
    if not ok:
        rule = [f">= {low}" if low is not None else "", f"> {above}" if above is not None else "",
                f"< {below}" if below is not None else "", f"<= {high}" if high is not None else ""]
        rule = " and ".join(r for r in rule if r)
        kind = "a whole number" if whole else "a finite number"
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise UsageError(f"{name} must be {kind}{' ' + rule if rule else ''}, got {shown}")
    return int(value) if whole else float(value)


def training_arguments(epochs, mini_batch_size, eta, n, *, lmbda=0.0, callbacks=()):
    """The rules every trainer's ``SGD`` shares, checked before any weight moves:
    ``epochs`` a whole number >= 0, ``mini_batch_size`` a whole number from 1 to the
    ``n`` training examples, ``eta`` > 0, ``lmbda`` >= 0, each callback callable.
    Returns the callbacks as a list."""
    number("epochs", epochs, low=0, whole=True)
    number("mini_batch_size", mini_batch_size, low=1, whole=True)
    if mini_batch_size > n:
        raise UsageError(f"mini_batch_size {mini_batch_size} is larger than the training "
                         f"data ({n} examples); use at most {n}")
    number("eta", eta, above=0)
    number("lmbda", lmbda, low=0)
    callbacks = list(callbacks)
    for cb in callbacks:
        if not callable(cb):
            raise UsageError(f"callbacks must be callables cb(network, record), got {cb!r}")
    return callbacks
