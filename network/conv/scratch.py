"""Work arrays a layer keeps from one mini-batch to the next.

The compiled stages need buffers of up to a megabyte per call (the patches of ten
images, the routed errors, nabla_w of a 2880 x 100 layer).  Allocated afresh, such
an array is new memory from the system each time once the allocator has handed
the last one back, and its first touch costs a page fault per 4 kB: measured, the
same backward stage took 165 us or 510 us from one process to the next, depending
on the allocator's state.  Kept in a dict on the layer, each buffer is allocated
once per shape.

Deliberately left out: sharing buffers between layers, freeing them (a layer's
buffers live as long as the layer).
"""

import numpy as np


def scratch(work, name, shape, dtype, zeros=False):
    """``work[name]``, an array of ``shape`` and ``dtype``: the one from the last call when it
    fits, else a new one (kept for the next), uninitialised, or zeroed when ``zeros`` (for
    parts the caller never writes).  ``work`` None: always new."""
    buf = None if work is None else work.get(name)
    if buf is None or buf.shape != tuple(shape) or buf.dtype != dtype:
        buf = (np.zeros if zeros else np.empty)(shape, dtype=dtype)
        if work is not None:
            work[name] = buf
    return buf
