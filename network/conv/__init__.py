"""Chapter 6: convolutional networks in NumPy and numba (the role of the book's network3.py).

- ``kernels``: im2col / col2im and max-pooling, numba loops with NumPy twins;
- ``layers``: ConvPoolLayer, FullyConnectedLayer, SoftmaxLayer with hand-derived backprop;
- ``network``: ConvNetwork, mini-batch SGD on the log-likelihood with L2 and dropout;
- ``io``: save/load as JSON or .npz (never pickle), validated.

Deliberately left out: anything the chapter does not use (padding, strides, batch
normalisation, other optimisers).
"""

from .layers import ConvPoolLayer, FullyConnectedLayer, SoftmaxLayer
from .network import ConvNetwork, load_conv_network

__all__ = ["ConvNetwork", "ConvPoolLayer", "FullyConnectedLayer", "SoftmaxLayer",
           "load_conv_network"]
