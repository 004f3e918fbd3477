"""The layers' stages: compiled and shared among threads, or their plain NumPy twins.

A conv-pool layer is two stages, a fully connected (or softmax) layer two more:

- ``conv_pool_forward``: patches, (CONV-FWD) as one matrix product, (POOL-FWD), the
  shared bias and sigma;
- ``conv_pool_backward``: (BP2) sigma', then (CONV-BP) for nabla_w, nabla_b and
  dC/dx through the pooling winners (POOL-BP);
- ``dense_forward`` / ``dense_backward``: (FF) and (BP2)-(BP4).

``IMPLEMENTATIONS["numba"]`` are the compiled stages (network/conv/conv_pool.py and
dense.py, built on the products of matmul.py); ``IMPLEMENTATIONS["numpy"]`` their
twins (network/conv/reference.py), which compute the same from the definitions with
BLAS; tests hold them equal to 1e-12 in float64.  The layers use the compiled stages
where numba runs (``DEFAULT``) and the twins where it does not (NNDL_NO_NUMBA=1).

How the work is shared among the threads (``threads`` in network/base/jit.py), so
that a result never depends on how many there are:

- every number is computed by one thread, and by the same instructions whatever the
  thread count; no sum is ever split between threads;
- forward stages, and dC/dx: by images (an image's numbers come from its own input);
  the patches of a thread's images form one matrix multiplied by the filters;
- nabla_w and nabla_b of a conv layer: with small patches (the first layer) image by
  image, each image's part computed whole, the parts added in image order after
  the threads are done; with large patches by columns of the patch, each thread
  adding all the images' terms to its columns in image order;
- a fully connected layer: by units (rows of w) for z, nabla_w and nabla_b, by
  columns for dC/dx.

The order of every sum is thus fixed by the shapes and the data alone: the same
seed gives the same weights bit for bit on 1 thread or 3 (tests/test_conv.py).  It
is not BLAS's order, so the compiled stages agree with the twins to rounding only.

Training calls the same compiled functions from network/conv/step.py, which gathers a
mini-batch into a few parallel regions in two compiled calls (conv-pool layers by images,
fully connected ones by units and columns, the gradients and the step by weights) instead
of a region per stage with Python between; scoring and
``cost_gradient`` go layer by layer, through the stages here.

How the compiled stages differ from the twins, besides the order:

- (POOL-BP) sends a pooled error to the one winner of its s x s block; the other
  positions contribute exactly 0.  dC/dx and the nabla_w of large patches visit the
  winners only (a quarter of the twins' products with 2 x 2 pooling); dC/dx also skips
  errors that are exactly 0 (ReLU units that were off), which add nothing;
- the patches are laid out transposed, (C k k, positions), so the forward product runs
  along positions; the large-patch backward stage reads patches from the input in
  (p, q, c) order.

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
