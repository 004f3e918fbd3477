"""numba, if it is there: the one switch every compiled kernel goes through.

``HAVE_NUMBA`` is False when numba cannot be imported or ``NNDL_NO_NUMBA`` is set;
then ``jit`` returns the plain Python function, which computes the same numbers
(slowly), and the Network trains on its NumPy path instead.  Every kernel is
compiled with ``cache=True`` (once per machine) and without ``fastmath`` (it
would break bit-level agreement with the NumPy reference).

Deliberately left out: parallel kernels, explicit signatures.
"""

import os

try:
    if os.environ.get("NNDL_NO_NUMBA"):
        raise ImportError("disabled by NNDL_NO_NUMBA")
    import numba
    from llvmlite import ir
    from numba.core import cgutils
    from numba.extending import intrinsic, overload
except ImportError:  # pragma: no cover - depends on the environment
    numba = ir = cgutils = intrinsic = overload = None

HAVE_NUMBA = numba is not None



def jit(fn=None, *, numpy_division=False):
    """numba.njit(cache=True) when numba is available, else ``fn`` unchanged.

    ``@jit(numpy_division=True)``: x / 0 gives inf or nan as in NumPy instead of
    raising ZeroDivisionError as in Python.  The check Python's rule needs is a
    branch in every division, which keeps a loop from vectorising (measured: Adam's
    pass ran scalar, one element at a time, until this was set)."""
    if fn is None:
        return lambda f: jit(f, numpy_division=numpy_division)
    if numba is None:
        return fn
    return numba.njit(cache=True, fastmath=False,
                      error_model="numpy" if numpy_division else "python")(fn)


def inline(fn):
    """``jit``, and numba copies the function into every compiled caller
    (``inline="always"``): for the compiled epoch's per-example helpers, which LLVM did
    not inline by itself and which, as calls, cost more than their work (measured: the
    epoch 12-39% slower)."""
    if numba is None:
        return fn
    return numba.njit(cache=True, fastmath=False, error_model="python", inline="always")(fn)
