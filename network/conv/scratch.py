"""Work arrays a layer keeps from one mini-batch to the next.

The compiled stages need buffers of up to a megabyte per call (the patches of ten
images, the routed errors, nabla_w of a 2880 x 100 layer).  Allocated afresh, such
an array is new memory from the system each time once the allocator has handed
the last one back, and its first touch costs a page fault per 4 kB: measured, the
same backward stage took 165 us or 510 us from one process to the next, depending
on the allocator's state.  Kept in a dict on the layer, each buffer is allocated
once per shape.

Every such array, and every parameter and work array of the training step, starts
on a 64-byte boundary (``aligned``): a cache line, and one AVX-512 vector.  NumPy's
own arrays start 16 bytes past one as often as not, and then every vector load of a
row straddles two cache lines, and two threads writing neighbouring columns share a
line at their border: measured, the compiled training step took 904 us per `relu`
mini-batch on one thread with NumPy's arrays and 749 us with aligned ones, 545 and
478 us for `conv1` (docs/speed.md, "Arrays on cache lines").  Where an array starts
changes no number: the same instructions run on the same values.

Deliberately left out: sharing buffers between layers, freeing them (a layer's
buffers live as long as the layer).
"""

import numpy as np

ALIGN = 64    # bytes: a cache line, and one AVX-512 vector


def aligned(shape, dtype, zeros=False):
    """An uninitialised (or, with ``zeros``, zeroed) C-contiguous array whose first element
    is on an ALIGN-byte boundary: a view into a byte buffer ALIGN bytes longer."""
    shape = (shape,) if np.ndim(shape) == 0 else tuple(int(n) for n in shape)
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    buf = (np.zeros if zeros else np.empty)(nbytes + ALIGN, dtype=np.uint8)
    start = -buf.ctypes.data % ALIGN
    return buf[start:start + nbytes].view(dtype).reshape(shape)


def aligned_copy(a, dtype=None):
    """A copy of ``a`` (converted to ``dtype``, if given) in an aligned array."""
    a = np.asarray(a)
    out = aligned(a.shape, a.dtype if dtype is None else dtype)
    out[...] = a
    return out


def scratch(work, name, shape, dtype, zeros=False):
    """``work[name]``, an array of ``shape`` and ``dtype``: the one from the last call when it
    fits, else a new one (kept for the next), uninitialised, or zeroed when ``zeros`` (for
    parts the caller never writes).  ``work`` None: always new."""
    buf = None if work is None else work.get(name)
    if buf is None or buf.shape != tuple(shape) or buf.dtype != dtype:
        buf = aligned(shape, dtype, zeros)
        if work is not None:
            work[name] = buf
    return buf
