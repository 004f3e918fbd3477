"""Chapter 6: convolutional networks in NumPy and numba (the role of the book's network3.py).

- ``layers``: ConvPoolLayer, FullyConnectedLayer, SoftmaxLayer with hand-derived backprop;
- ``network``: ConvNetwork, mini-batch SGD on the log-likelihood with L2 and dropout,
  on as many threads as asked, with the same numbers whatever the count;
- ``step``: a mini-batch of training as one compiled step (two calls, a few parallel regions);
- ``kernels``: the layers' stages and how their work is shared among threads;
  ``conv_pool``, ``dense`` (compiled), ``matmul`` (their products), ``activation``
  (the vectorised sigmoid; sigma one number at a time is network/base/activations.py's),
  ``scratch`` (work arrays, each on a cache line); ``reference``: the
  definitions in NumPy (im2col, col2im, max-pooling) and every stage's NumPy twin;
- ``io``: save/load as JSON or .npz (never pickle), validated.

Deliberately left out: anything the chapter does not use (padding, strides, batch
normalisation, other optimisers).
"""

from .layers import ConvPoolLayer, FullyConnectedLayer, SoftmaxLayer
from .network import ConvNetwork, load_conv_network

__all__ = ["ConvNetwork", "ConvPoolLayer", "FullyConnectedLayer", "SoftmaxLayer",
           "load_conv_network"]
