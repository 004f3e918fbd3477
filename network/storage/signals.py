"""SIGTERM as an exception, so a terminated run takes the same clean path as Ctrl-C.

Python turns SIGINT (Ctrl-C) into ``KeyboardInterrupt``; SIGTERM (``kill``, a
batch system's time limit) would end the process on the spot.  Inside
``interruptible()`` SIGTERM raises ``Terminated``, a ``KeyboardInterrupt``
subclass, so every ``except KeyboardInterrupt``/``finally`` runs the same way
for both; ``exit_status`` gives the shell's convention, 128 + signal number
(130 for SIGINT, 143 for SIGTERM).

Only the first signal raises: a second Ctrl-C while the first is being handled
(saving what finished, ending worker processes) is ignored rather than allowed to
cut that clean-up short.

``held()`` postpones SIGINT and SIGTERM around a short call into compiled code that runs
Python inside itself (the conv net's training step): its stand-in handler only notes the
signal, and the real handler runs when the call has returned.

Left out on purpose: SIGHUP, SIGQUIT, Windows console events, and anything else
that writes state from inside a signal handler -- ``_interrupt`` only raises.
"""

import contextlib
import signal
import threading


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM."""

    signum = signal.SIGTERM


_state = {"stopping": False, "deferring": 0, "pending": None}


def _interrupt(signum, frame):
    """The first SIGINT or SIGTERM raises (or, inside ``deferred()``, waits until it ends);
    any later one is ignored: the first is already ending the run, and a second Ctrl-C
    (as impatient people do) must not land in the middle of the clean-up that saves
    what finished and ends the workers."""
    if _state["stopping"] or _state["pending"] is not None:
        return
    if _state["deferring"]:
        _state["pending"] = signum
        return
    _state["stopping"] = True
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


@contextlib.contextmanager
def deferred():
    """Within the block an interrupt waits, and is raised when the block ends: for steps
    that must not be cut in half (starting worker processes while their data is sent)."""
    _state["deferring"] += 1
    try:
        yield
    finally:
        _state["deferring"] -= 1
        signum, _state["pending"] = _state["pending"], None
        if signum is not None and not _state["deferring"]:
            _interrupt(signum, None)


@contextlib.contextmanager
def interruptible():
    """Within the block, SIGINT raises KeyboardInterrupt and SIGTERM raises Terminated --
    the first of them only; later ones are ignored while the run cleans up and ends.

    SIGINT is handled even if the process inherited it ignored (a background job of
    a non-interactive shell), since a training run promises to stop cleanly on
    Ctrl-C.  The old handlers come back on exit.  Outside the main thread (where
    signals cannot be handled) it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _state.update(stopping=False, pending=None)
    old_int = signal.signal(signal.SIGINT, _interrupt)
    old_term = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


@contextlib.contextmanager
def held():
    """Within the block, a SIGINT or SIGTERM whose handler is Python's (Python's own
    KeyboardInterrupt, or ``interruptible``'s) is held, and its handler called when the
    block ends: for compiled code that runs Python from inside itself (numba's objmode,
    the conv net's training step), where an exception raised by a handler can land in
    numba's own glue and come out as a SystemError.  The block should be short (the conv
    net's: 100 mini-batches, well under a second).  Outside the main thread (where
    handlers do not run) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    old = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(signum)
        if callable(handler):                    # SIG_DFL and SIG_IGN stay as they are
            old[signum] = signal.signal(signum, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        for signum, handler in old.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(caught):     # each signal once, in the order they came
            old[signum](signum, None)


def exit_status(interrupt):
    """128 + the signal number: 143 for Terminated, 130 for any other KeyboardInterrupt."""
    signum = signal.SIGTERM if isinstance(interrupt, Terminated) else signal.SIGINT
    return 128 + int(signum)
