"""The layers of chapter 6, each with its forward pass and its hand-derived backward pass.

Three layer types, as in the book's network3.py, plus their backprop (problem 6.1;
derivations in notes/chap6.md):

- ``ConvPoolLayer``: a valid, stride-1 convolution with F filters of C x k x k,
  2x2 max-pooling, then a shared bias per feature map and the activation.
- ``FullyConnectedLayer``: a = sigma(w x + b), with optional dropout on its input.
- ``SoftmaxLayer``: the softmax output layer for the log-likelihood cost.

Each layer holds ``w`` and ``b``, keeps in ``forward`` what ``backward`` needs,
and ``backward(delta_out)`` takes dC/d(its output) (or, for the softmax layer,
dC/dz) and returns dC/d(its input), leaving ``nabla_w`` and ``nabla_b`` on the
layer.  C is the mean cost over the mini-batch, so the gradients are means.

Layout: images are channels-last (m, H, W, C); the filters keep network3's
(F, C, k, k) order; fully connected weights are the book's (n_out, n_in) and
see their input flattened in (H, W, C) order.  Biases are 1-D (n_out,).

Pooling before the bias and activation (network3's order) gives the same output
as activation then pooling, because the bias is shared by the whole feature map
and sigma is nondecreasing: max_i sigma(z_i + b) = sigma(max_i z_i + b)
(POOL-ORDER).  It is four times cheaper.

Deliberately left out: padding, strides, other pooling; the optimiser and the
L2 penalty (the network applies them to every layer's ``w`` alike).
"""

import numpy as np

from ..base.activations import Sigmoid, Softmax, get_activation
from ..errors import UsageError
from .activation import activation_code
from .conv_pool import MAX_POOL
from .kernels import DEFAULT, IMPLEMENTATIONS
from .scratch import aligned, aligned_copy


def _shape(value, n, what):
    t = tuple(int(v) for v in value)
    if len(t) != n or any(v < 1 for v in t):
        raise UsageError(f"{what} must be {n} positive whole numbers, got {value!r}")
    return t


class ConvPoolLayer:
    """Convolution (valid, stride 1) + max-pooling + shared bias + activation.

    ``filter_shape`` (F, C, k, k): F feature maps, each seeing C input maps through
    a k x k local receptive field; ``image_shape`` (C, H, W) of the input;
    ``poolsize`` s (s x s blocks).  Output (m, (H-k+1)//s, (W-k+1)//s, F).
    """

    kind = "conv_pool"

    def __init__(self, filter_shape, image_shape, poolsize=2, activation=Sigmoid):
        self.filter_shape = _shape(filter_shape, 4, "filter_shape")
        self.image_shape = _shape(image_shape, 3, "image_shape")
        F, C, k, k2 = self.filter_shape
        C_in, H, W = self.image_shape
        if k != k2:
            raise UsageError(f"filters must be square, got {k}x{k2}")
        if C != C_in:
            raise UsageError(f"filter_shape expects {C} input maps but image_shape has {C_in}")
        if k > H or k > W:
            raise UsageError(f"a {k}x{k} filter does not fit a {H}x{W} image")
        self.poolsize = int(poolsize)
        if self.poolsize > MAX_POOL:
            raise UsageError(f"poolsize {poolsize!r} is larger than {MAX_POOL}: a block's winner "
                             f"is kept as one byte")
        if self.poolsize < 1 or (H - k + 1) // self.poolsize < 1:
            raise UsageError(f"poolsize {poolsize!r} does not fit the {H - k + 1}-wide "
                             f"convolution output")
        self.activation = get_activation(activation)
        activation_code(self.activation)          # elementwise, or a UsageError now
        self.conv_shape = (H - k + 1, W - k + 1)
        s = self.poolsize
        self.out_shape = (self.conv_shape[0] // s, self.conv_shape[1] // s, F)
        self.n_in = C * H * W
        self.n_out = int(np.prod(self.out_shape))
        self.fan_in = C * k * k
        self.w = self.b = None
        self.kernels = IMPLEMENTATIONS[DEFAULT]
        self.work = {}      # the stages' work arrays, kept between mini-batches (scratch.py)

    @property
    def n_params(self):
        return int(np.prod(self.filter_shape)) + self.filter_shape[0]

    def config(self):
        return {"type": self.kind, "filter_shape": list(self.filter_shape),
                "image_shape": list(self.image_shape), "poolsize": self.poolsize,
                "activation": self.activation.name}

    def initialize(self, rng, dtype):
        """(CONV-INIT) w ~ N(0, 1/n_in) with n_in = C k k inputs per output (fan-in);
        b ~ N(0, 1) as network3.  network3 used N(0, 1/n_out), n_out = F k k / s^2."""
        self.w = aligned_copy(rng.standard_normal(self.filter_shape) / np.sqrt(self.fan_in), dtype)
        self.b = aligned_copy(rng.standard_normal(self.filter_shape[0]), dtype)

    def forward(self, x, mask=None):
        """x (m, H, W, C) -> a (m, PH, PW, F); ``mask`` unused (no dropout on conv layers).
        (CONV-FWD) the convolution as one matrix product of patches and filters,
        (POOL-FWD) the block maxima, the shared bias, sigma (network/conv/kernels.py)."""
        self.z, self.a, self.arg, self.saved = self.kernels["conv_pool_forward"](
            x, self.w, self.b, self.poolsize, self.activation, self.work)  # z, a (m, PH, PW, F)
        return self.a

    def backward(self, delta_a, need_input_grad=True):
        """dC/da (m, PH, PW, F) -> dC/dx (m, H, W, C); sets nabla_w, nabla_b.  (BP2) the
        sigma'(z) factor, (POOL-BP) each error to its block's winner, (CONV-BP) the
        gradients as sums over positions and the input error as patches added back."""
        self.nabla_w, self.nabla_b, dx = self.kernels["conv_pool_backward"](
            delta_a, self.z, self.a, self.arg, self.saved, self.w, self.poolsize,
            self.activation, need_input_grad, self.work)
        return dx


class FullyConnectedLayer:
    """a = sigma(w x + b) on the flattened input; ``p_dropout`` drops inputs in training."""

    kind = "fully_connected"

    def __init__(self, n_in, n_out, activation=Sigmoid, p_dropout=0.0):
        self.n_in, self.n_out = int(n_in), int(n_out)
        if self.n_in < 1 or self.n_out < 1:
            raise UsageError(f"layer sizes must be positive, got n_in={n_in!r}, n_out={n_out!r}")
        if not 0.0 <= float(p_dropout) < 1.0:
            raise UsageError(f"p_dropout must be in [0, 1), got {p_dropout!r}")
        self.activation = get_activation(activation)
        if self.activation is Softmax and self.kind != "softmax":
            raise UsageError("a fully connected layer's activation cannot be softmax (it acts on a "
                             "whole row and has no elementwise derivative); end the network with "
                             "SoftmaxLayer(n_in, n_out) instead")
        self.p_dropout = float(p_dropout)
        self.fan_in = self.n_in
        self.w = self.b = None
        self.kernels = IMPLEMENTATIONS[DEFAULT]
        self.work = {}      # the stages' work arrays, kept between mini-batches (scratch.py)

    @property
    def n_params(self):
        return self.n_out * self.n_in + self.n_out

    def config(self):
        return {"type": self.kind, "n_in": self.n_in, "n_out": self.n_out,
                "activation": self.activation.name, "p_dropout": self.p_dropout}

    def initialize(self, rng, dtype):
        """(INIT) w ~ N(0, 1/n_in), b ~ N(0, 1).  network3 divided by n_out here, a defect."""
        w = rng.standard_normal((self.n_out, self.n_in)) / np.sqrt(self.n_in)
        self.w = aligned_copy(w, dtype)
        self.b = aligned_copy(rng.standard_normal(self.n_out), dtype)

    def forward(self, x, mask=None):
        self.in_shape = x.shape
        x = x.reshape(x.shape[0], -1)                       # (m, n_in)
        if mask is not None:
            x = x * mask                                    # (DROPOUT) mask/(1-p), E[mask] = 1
        self.mask = mask
        self.x = x
        # (FF) z = w x + b, a = sigma(z): (m, n_in) @ (n_in, n_out)
        self.z, self.a = self.kernels["dense_forward"](x, self.w, self.b, self.activation,
                                                       self.work)
        return self.a

    def backward(self, delta_a, need_input_grad=True):
        """dC/da (m, n_out) -> dC/dx; sets nabla_w, nabla_b."""
        return self._backward(delta_a, self.activation, need_input_grad)

    def _backward(self, delta, activation, need_input_grad):
        # (BP2) delta = dC/da * sigma'(z) (with no activation, delta is dC/dz already);
        # (BP3) nabla_b = sum of delta; (BP4) nabla_w = delta^T x; (BP2) dC/dx = delta w
        self.nabla_w, self.nabla_b, dx = self.kernels["dense_backward"](
            delta, self.z, self.a, self.x, self.w, activation, need_input_grad, self.work)
        if not need_input_grad:
            return None
        if self.mask is not None:
            dx = dx * self.mask                             # (DROPOUT) a dropped input passes no error
        return dx.reshape(self.in_shape)


class SoftmaxLayer(FullyConnectedLayer):
    """The softmax output layer; with the log-likelihood cost its error is a - y (LOGLIK)."""

    kind = "softmax"

    def __init__(self, n_in, n_out, p_dropout=0.0):
        super().__init__(n_in, n_out, Softmax, p_dropout)

    def config(self):
        return {"type": self.kind, "n_in": self.n_in, "n_out": self.n_out,
                "p_dropout": self.p_dropout}

    def initialize(self, rng, dtype):
        """Zero weights and biases, as network3: the softmax layer's inputs already differ,
        so there is no symmetry to break."""
        self.w = aligned((self.n_out, self.n_in), dtype, zeros=True)
        self.b = aligned(self.n_out, dtype, zeros=True)

    def backward(self, delta_z, need_input_grad=True):
        """Takes dC/dz directly: for softmax + log-likelihood that is (a - y)/m (LOGLIK)."""
        return self._backward(delta_z, None, need_input_grad)


LAYER_TYPES = {cls.kind: cls for cls in (ConvPoolLayer, FullyConnectedLayer, SoftmaxLayer)}


def layer_from_config(cfg):
    """Build a layer (without weights) from its ``config()`` dict."""
    kind = cfg["type"]
    if kind not in LAYER_TYPES:
        raise UsageError(f"unknown layer type {str(kind)[:40]!r}; expected one of "
                         f"{', '.join(LAYER_TYPES)}")
    args = {k: v for k, v in cfg.items() if k != "type"}
    return LAYER_TYPES[kind](**args)


def check_chain(layers):
    """The layers as a list, or a UsageError: each layer's input must be the previous
    layer's output, convolutional layers come first, a SoftmaxLayer comes last."""
    layers = list(layers)
    if not layers or not isinstance(layers[-1], SoftmaxLayer):
        raise UsageError("a ConvNetwork ends in a SoftmaxLayer (log-likelihood cost)")
    for prev, nxt in zip(layers[:-1], layers[1:]):
        if isinstance(nxt, ConvPoolLayer) and not isinstance(prev, ConvPoolLayer):
            raise UsageError("a convolutional layer must follow the input or another "
                             "convolutional layer")
        if prev.n_out != nxt.n_in:
            raise UsageError(f"layer sizes do not chain: {type(prev).__name__} gives "
                             f"{prev.n_out} outputs, {type(nxt).__name__} expects {nxt.n_in}")
    return layers
