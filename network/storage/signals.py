"""SIGTERM as an exception, so a terminated run takes the same clean path as Ctrl-C.

Python turns SIGINT (Ctrl-C) into ``KeyboardInterrupt``; SIGTERM (``kill``, a
batch system's time limit) would end the process on the spot.  Inside
``interruptible()`` SIGTERM raises ``Terminated``, a ``KeyboardInterrupt``
subclass, so every ``except KeyboardInterrupt``/``finally`` runs the same way
for both; ``exit_status`` gives the shell's convention, 128 + signal number
(130 for SIGINT, 143 for SIGTERM).  ``held()`` holds both back for a moment
that must not be cut in half (starting worker processes) and delivers them after.

Left out on purpose: SIGHUP, SIGQUIT, Windows console events, and anything
that writes state from inside a signal handler -- the handler only raises.
"""

import contextlib
import signal
import threading


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM."""

    signum = signal.SIGTERM


def _raise_terminated(signum, frame):
    raise Terminated()


@contextlib.contextmanager
def interruptible():
    """Within the block, SIGINT raises KeyboardInterrupt and SIGTERM raises Terminated.

    SIGINT gets Python's default handler even if the process inherited it
    ignored (a background job of a non-interactive shell), since a training
    run promises to stop cleanly on Ctrl-C.  The old handlers come back on exit.
    Outside the main thread (where signals cannot be handled) it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    old_term = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


def exit_status(interrupt):
    """128 + the signal number: 143 for Terminated, 130 for any other KeyboardInterrupt."""
    signum = signal.SIGTERM if isinstance(interrupt, Terminated) else signal.SIGINT
    return 128 + int(signum)


@contextlib.contextmanager
def held():
    """Within the block, SIGINT and SIGTERM are held back; on leaving it, the first one that
    arrived is delivered to whatever handler was there before.

    For the few steps an interrupt would leave half done: a worker process whose
    start-up data was cut off mid-write dies with a traceback of its own.  Outside
    the main thread it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived = []
    old = {signum: signal.signal(signum, lambda signum, frame: arrived.append(signum))
           for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in old.items():
            signal.signal(signum, handler)
        if arrived:
            signal.raise_signal(arrived[0])
