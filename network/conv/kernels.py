"""The layers' stages, compiled and shared among threads, each with a plain NumPy twin.

A conv-pool layer is two stages, a fully connected layer two more:

- ``conv_pool_forward``: patches, (CONV-FWD) as one matrix product, (POOL-FWD), the
  shared bias and sigma;
- ``conv_pool_backward``: (BP2) sigma', then (CONV-BP) for nabla_w, nabla_b and
  dC/dx through the pooling winners only (POOL-BP);
- ``dense_forward`` / ``dense_backward``: (FF) and (BP2)-(BP4) of a fully connected
  or softmax layer, through the products of network/conv/matmul.py.

Each ``*_numba`` stage has a ``*_numpy`` twin that computes the same from the
definitions (network/conv/reference.py and BLAS products); tests hold them equal to
1e-12 in float64.  The layers use the compiled stages where numba runs
(``DEFAULT``) and the twins where it does not (NNDL_NO_NUMBA=1).

How the work is shared, so that a result never depends on the thread count
(the threads: ``threads`` in network/base/jit.py; tests hold 1 and 2 threads equal
bit for bit):

- forward, and dC/dx backward: by images.  An image's numbers are computed by one
  thread from its own input, and the k x k patches of a thread's images form one
  matrix (C k k, images x OH x OW) multiplied by the filters (F, C k k) at once;
- nabla_w and nabla_b: by filters.  A thread owns its filters' gradients and adds
  the images' contributions in image order, so every sum has one order.

How the compiled stages differ from the twins (same numbers, other order):

- (POOL-BP) sends a pooled error to the one winner of its s x s block, so the
  other s^2 - 1 positions contribute exactly 0 to nabla_w and dC/dx.  The compiled
  backward visits the winners only, a quarter of the products of the twin's dense
  ones with 2 x 2 pooling, and skips errors that are exactly 0 (ReLU units that
  were off), which add nothing;
- the patches are laid out transposed, (C k k, positions), so the product runs
  along positions (a multiple of the vector width for 24 x 24 and 8 x 8 maps);
  the backward pass reads the input itself, where a filter row of one channel
  layout is k C contiguous numbers.

Deliberately left out: anything the layers do not use (strides, padding,
overlapping pools); softmax inside a conv layer (it is not elementwise).
"""

from ..base.jit import HAVE_NUMBA
from . import conv_pool, dense, reference

IMPLEMENTATIONS = {
    "numba": dict(conv_pool_forward=conv_pool.conv_pool_forward_numba,
                  conv_pool_backward=conv_pool.conv_pool_backward_numba,
                  dense_forward=dense.dense_forward_numba,
                  dense_backward=dense.dense_backward_numba),
    "numpy": dict(conv_pool_forward=reference.conv_pool_forward_numpy,
                  conv_pool_backward=reference.conv_pool_backward_numpy,
                  dense_forward=reference.dense_forward_numpy,
                  dense_backward=reference.dense_backward_numpy),
}
# numba where it runs (network/base/jit.py; NNDL_NO_NUMBA=1 turns it off), else the twins.
DEFAULT = "numba" if HAVE_NUMBA else "numpy"
