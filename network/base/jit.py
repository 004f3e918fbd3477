"""numba, if it is there: the one switch every compiled kernel goes through.

``HAVE_NUMBA`` is False when numba cannot be imported or ``NNDL_NO_NUMBA`` is set;
then ``jit`` returns the plain Python function, which computes the same numbers
(slowly), and the Network trains on its NumPy path instead.  Every kernel is
compiled with ``cache=True`` (once per machine) and without ``fastmath`` (it
would break bit-level agreement with the NumPy reference).  ``inline`` copies a
small function into its compiled callers; ``borrowed`` lets one compiled call
pass its arrays around without numba's reference counting.

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
    (``inline="always"``): for the compiled epoch's stages and per-example helpers,
    which LLVM did not inline by itself and which, as calls, cost more than their work
    (measured: the epoch 12-39% slower with the helpers called, and at mini-batch 1 up
    to ~10% slower with the stages called, even with nothing reference-counted; see
    docs/speed.md)."""
    if numba is None:
        return fn
    return numba.njit(cache=True, fastmath=False, error_model="python", inline="always")(fn)


def borrowed(arrays):
    """The same array, or tuple of arrays (other members pass unchanged), as views that
    numba does not reference-count; for use inside one compiled call, on arrays that
    its own arguments keep alive, and never returned from it.

    numba updates an array's reference count, atomically, each time the array is
    passed to a compiled function, sliced or taken out of a tuple, and its pruning of
    those updates gives up across calls, possible exceptions and other updates.  A
    view whose owner (its meminfo) is NULL is not counted: numba skips it, and where
    the views are known to have none, LLVM drops the updates altogether (measured:
    ~45 updates an example in the compiled epoch at mini-batch 1, ~20% of its time;
    see docs/speed.md).  Without numba this returns ``arrays`` itself."""
    return arrays


if numba is not None:
    def _unowned(context, builder, ty, value):
        if isinstance(ty, numba.types.Array):
            view = context.make_array(ty)(context, builder, value)
            view.meminfo = cgutils.get_null_value(view.meminfo.type)   # no owner: not counted
            view.parent = cgutils.get_null_value(view.parent.type)     # nor a NumPy object
            return view._getvalue()
        if isinstance(ty, numba.types.BaseTuple):
            for k, member in enumerate(ty):
                item = _unowned(context, builder, member, builder.extract_value(value, k))
                value = builder.insert_value(value, item, k)
        return value

    @intrinsic
    def _borrowed_intrinsic(typingctx, arrays):
        def codegen(context, builder, signature, args):
            return _unowned(context, builder, signature.args[0], args[0])
        return arrays(arrays), codegen

    @overload(borrowed, inline="always")
    def _borrowed_overload(arrays):
        return lambda arrays: _borrowed_intrinsic(arrays)
