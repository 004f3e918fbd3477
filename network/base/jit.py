"""numba, if it is there: the one switch every compiled kernel goes through.

``HAVE_NUMBA`` is False when numba cannot be imported or ``NNDL_NO_NUMBA`` is set;
then ``jit`` returns the plain Python function, which computes the same numbers
(slowly), and the Network trains on its NumPy path instead.  Every kernel is
compiled with ``cache=True`` (once per machine) and without ``fastmath`` (it
would break bit-level agreement with the NumPy reference), except for the two
flags that keep a result independent of the machine's load and thread count
(``fma``, ``vector_sums``; see ``jit``).  ``inline`` copies a small function into
its compiled callers; ``borrowed`` lets one compiled call pass its arrays around
without numba's reference counting.

Parallel kernels (``parallel=True``, loops over ``prange``) run on numba's
threads; ``threads(n)`` sets how many for a block of code, ``thread_count()`` says how
many, and ``max_threads()`` is the default, all the cores numba was given (``NUMBA_NUM_THREADS``, which a
grid worker pins to its share).  A parallel kernel here splits its work so that
every number is computed by one thread in a fixed order: the thread count
changes who computes it, never how.

Deliberately left out: explicit signatures, other fastmath flags (``nnan``,
``ninf``, ``nsz``, ``arcp``, ``afn`` would change results for special values or
by the approximation chosen).
"""

import contextlib
import functools
import os
import threading

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

# How long an idle thread waits, spinning, for the next parallel region.  numba's threads
# here are GNU OpenMP's, which by default spin a long while before they sleep (300,000 turns,
# its documentation says): right on an idle machine, ruinous on a busy one.  With one other busy process on the two cores, a thread
# that has finished its share spins through the time slice its partner needs, and a conv1
# epoch on 2 threads took 36 times as long as on 1 (9.7 s against 0.27 s for 5,000 images).
# 1,000 turns cost nothing measurable on the idle machine and bring that case to 0.38 s
# (docs/speed.md, "Two threads on a busy machine").  It must be in the environment before
# numba starts its threads, so it is set at import; a GOMP_SPINCOUNT or OMP_WAIT_POLICY the
# user gave is kept, and ``SPIN_TURNS_SET`` says whether this module set it.
SPIN_TURNS = "1000"
SPIN_TURNS_SET = HAVE_NUMBA and not (os.environ.get("GOMP_SPINCOUNT")
                                     or os.environ.get("OMP_WAIT_POLICY"))
if SPIN_TURNS_SET:
    os.environ["GOMP_SPINCOUNT"] = SPIN_TURNS

prange = numba.prange if numba is not None else range

# ``with objmode():`` inside a compiled function runs its block as plain Python (the
# arrays it uses handed over as NumPy arrays); without numba, a block that does nothing.
objmode = numba.objmode if numba is not None else contextlib.nullcontext


def jit(fn=None, *, numpy_division=False, parallel=False, fma=False, vector_sums=False):
    """numba.njit(cache=True) when numba is available, else ``fn`` unchanged.

    ``@jit(numpy_division=True)``: x / 0 gives inf or nan as in NumPy instead of
    raising ZeroDivisionError as in Python.  The check Python's rule needs is a
    branch in every division, which keeps a loop from vectorising (measured: Adam's
    pass ran scalar, one element at a time, until this was set).

    ``parallel=True``: ``prange`` loops run on numba's threads (``threads``).

    ``fma=True`` (fastmath "contract"): ``a * b + c`` may become one fused
    multiply-add, rounded once.  The same instruction wherever the line runs, so
    results still do not depend on threads; they differ from NumPy's in the last
    bit (the tests compare to 1e-12 in float64).

    ``vector_sums=True`` (fastmath "reassoc", with "contract"): a sum over a loop
    may be split into one partial sum per vector lane and interleaved copy, added
    up at the end.  Which element goes to which partial sum depends only on the
    loop's length, so the order is fixed by the shapes, not by the threads;
    without it a sum over a contiguous row runs one element at a time."""
    if fn is None:
        return lambda f: jit(f, numpy_division=numpy_division, parallel=parallel, fma=fma,
                             vector_sums=vector_sums)
    if numba is None:
        return fn
    flags = ({"contract", "reassoc"} if vector_sums else {"contract"} if fma else False)
    return numba.njit(cache=True, fastmath=flags, parallel=parallel,
                      error_model="numpy" if numpy_division else "python")(fn)


def compile_for(fn, args):
    """Compile (or load from the cache) the jitted ``fn`` for these arguments now, without
    running it: for a call that must not be interrupted halfway (``storage.signals.held``),
    so that a first call's minute of compiling stays interruptible.  Nothing without numba."""
    if numba is not None:
        fn.compile(tuple(numba.typeof(a) for a in args))


def max_threads():
    """The threads a parallel kernel may use: numba's NUMBA_NUM_THREADS (all cores unless
    the environment says otherwise, as a grid worker's does), 1 without numba."""
    return numba.config.NUMBA_NUM_THREADS if numba is not None else 1


_set_here = threading.local()   # the count ``threads`` set in this thread of the program


def thread_count():
    """The threads parallel kernels use now (set by ``threads``).  Kernels take it as an
    argument: numba's own get_num_threads inside a kernel would keep it from being cached.
    Inside ``threads`` the count is remembered here (numba's get_num_threads takes a lock
    on every call: ~2 us, several times per mini-batch)."""
    n = getattr(_set_here, "n", None)
    if n is not None:
        return n
    return numba.get_num_threads() if numba is not None else 1


@contextlib.contextmanager
def threads(n):
    """Run the block with ``n`` numba threads (1 <= n <= max_threads()), then restore."""
    if numba is None:
        yield
        return
    before, remembered = numba.get_num_threads(), getattr(_set_here, "n", None)
    numba.set_num_threads(n)
    _set_here.n = n
    try:
        yield
    finally:
        numba.set_num_threads(before)
        _set_here.n = remembered


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


@inline
def share(n, unit, t, T):
    """Thread t's part lo..hi of n items when T threads split them in whole groups of
    ``unit`` items (the last group may be short), as evenly as whole groups allow; unit 1
    splits the items themselves.  Every parallel kernel that splits its work by threads
    takes its part here, so the split is written once."""
    groups = -(-n // unit)
    return min(n, groups * t // T * unit), min(n, groups * (t + 1) // T * unit)


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


def on_threads(method):
    """Decorator: the method of an object with a ``threads`` attribute (a count, or None for
    ``max_threads()``) runs with that many numba threads; the count before is restored
    afterwards, so a caller's own setting survives."""
    @functools.wraps(method)
    def run(self, *args, **kwargs):
        with threads(self.threads or max_threads()):
            return method(self, *args, **kwargs)
    return run
