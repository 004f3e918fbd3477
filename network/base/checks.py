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
import os

import numpy as np

from ..errors import UsageError

try:
    import resource
except ImportError:  # pragma: no cover - not on Linux
    resource = None


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


def weight_decay(eta, lmbda, n):
    """Refuse an L2 strength whose weight decay factor 1 - eta lmbda / n (L2) is -1 or less:
    every step would multiply the weights by it, so they grow without bound however the
    cost behaves -- a run that could only diverge, for a reason the divergence message
    could not see."""
    factor = 1.0 - eta * lmbda / n
    if factor <= -1.0:
        raise UsageError(f"lmbda {lmbda:g} with eta {eta:g} and {n} training examples makes the "
                         f"L2 weight decay factor 1 - eta*lmbda/n = {factor:.3g}: every step "
                         f"would multiply the weights by it; use lmbda < {2 * n / eta:g}")


def available_memory():
    """Bytes this process can still allocate: the memory the system has available, and no
    more than what is left under an address-space limit (``ulimit -v``), if one is set."""
    try:
        with open("/proc/meminfo") as f:
            avail = next(int(line.split()[1]) * 1024 for line in f
                         if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    if resource is not None:
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            try:
                with open("/proc/self/statm") as f:
                    used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            except (OSError, ValueError):
                used = 0
            avail = min(avail, soft - used)
    return max(avail, 0)


def memory(nbytes, what, advice):
    """Refuse, before allocating, work that needs more memory than this process can get:
    a UsageError with the bytes needed and available, and ``advice``."""
    avail = available_memory()
    if nbytes > avail:
        raise UsageError(f"{what} would need about {_size(nbytes)} of memory, more than the "
                         f"{_size(avail)} available; {advice}")


def _size(nbytes):
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if nbytes < 1000 or unit == "TB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
