"""The classifier behind the drawing pad: the book's Network or a chapter-6 ConvNetwork,
seen from outside: its ten outputs and the activations of the layer just below them.

``load_classifier(path)`` reads either kind of model file: ``.npz`` is a conv net
(``network.conv.load_conv_network``); ``.json`` is tried as the book's Network
(``network.load``) and then as a conv net.  ``Classifier(net).read(x)`` gives, for
one 784-pixel row, the output activations (10,) and the last hidden layer's
activations laid out as a picture:

- the book's Network: the hidden neurons on a near-square grid (30 -> 5 x 6);
- a conv net with a fully connected layer before the softmax (chapter 6's FC100):
  its neurons on a grid (100 -> 10 x 10);
- a conv net whose last conv-pool layer feeds the softmax: its feature maps side by
  side, one small image each.

Left out on purpose: earlier hidden layers, and anything that needs gradients
(saliency maps).
"""

import numpy as np

from ..conv.layers import ConvPoolLayer
from ..conv.network import ConvNetwork, load_conv_network
from ..errors import ModelFileError, UsageError
from ..mlp.backprop import feedforward
from ..mlp.network import Network, load


KINDS = ("the pad takes the book's Network (.json, from python -m network train --save) or a "
         "chapter-6 conv net (.npz or .json)")


def load_classifier(path):
    """The Network or ConvNetwork saved in ``path``; ModelFileError if it is neither."""
    try:
        if str(path).lower().endswith(".npz"):
            return load_conv_network(path)
        try:
            return load(path)
        except ModelFileError as as_network:
            try:
                return load_conv_network(path)
            except ModelFileError:
                raise as_network from None
    except ModelFileError as exc:
        raise ModelFileError(f"{exc}; {KINDS}") from None


def as_grid(values):
    """A vector as a near-square picture (rows <= columns), unused cells NaN (drawn blank)."""
    n = len(values)
    rows = max(1, int(np.sqrt(n)))
    cols = -(-n // rows)
    grid = np.full(rows * cols, np.nan)
    grid[:n] = values
    return grid.reshape(rows, cols)


def as_mosaic(maps):
    """Feature maps (h, w, F) side by side on a near-square grid, a blank (NaN) line between."""
    h, w, F = maps.shape
    rows = max(1, int(np.sqrt(F)))
    cols = -(-F // rows)
    mosaic = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), np.nan)
    for f in range(F):
        r, c = divmod(f, cols)
        mosaic[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = maps[:, :, f]
    return mosaic


BOUNDED = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}   # activations with a fixed range


class Classifier:
    """A digit classifier (784 inputs, 10 outputs) read one image at a time.

    ``outputs_name`` and ``hidden_name`` say what ``read`` returns; ``hidden_name`` is
    None when there is no hidden layer (a [784, 10] Network).  ``hidden_bounds``: the
    range of the hidden activation ((0, 1) for sigmoid, (-1, 1) for tanh), or None
    for an unbounded one (ReLU), whose pictures are scaled one at a time."""

    def __init__(self, net):
        self.net = net
        if isinstance(net, Network):
            n_in, n_out = net.sizes[0], net.sizes[-1]
            self.outputs_name = f"output activations ({net.output_activation.name})"
            self.hidden_name = (f"hidden layer {net.num_layers - 2} ({net.sizes[-2]} "
                                f"{net.activation.name} neurons)" if net.num_layers > 2 else None)
            hidden_activation = net.activation.name
        elif isinstance(net, ConvNetwork):
            n_in, n_out = net.n_in, net.layers[-1].n_out
            self.outputs_name = "output activations (softmax)"
            self.hidden_name = _conv_layer_name(net.layers[-2]) if len(net.layers) > 1 else None
            hidden_activation = net.layers[-2].activation.name if len(net.layers) > 1 else None
        else:
            raise UsageError(f"the pad needs a Network or a ConvNetwork, got {type(net).__name__}")
        if (n_in, n_out) != (784, 10):
            raise UsageError(f"this model has {n_in} inputs and {n_out} outputs; the pad needs "
                             f"a digit classifier with 784 inputs (28x28 pixels) and 10 outputs")
        self.hidden_bounds = BOUNDED.get(hidden_activation)

    def read(self, x):
        """(outputs (10,), hidden picture (rows, cols) or None) for one row ``x`` (784,)."""
        x = np.asarray(x, dtype=np.float64).reshape(1, 784)
        if isinstance(self.net, Network):
            net = self.net
            _, activations = feedforward(net.weights, net.biases, x.astype(net.dtype),
                                         net.activation, net.output_activation)   # (FF)
            outputs, hidden = activations[-1][0], activations[-2][0]
            return outputs.astype(np.float64), (as_grid(hidden) if self.hidden_name else None)
        layers = self.net.layer_outputs(x)
        if self.hidden_name is None:
            return layers[-1][0].astype(np.float64), None
        hidden = layers[-2][0]
        picture = as_mosaic(hidden) if hidden.ndim == 3 else as_grid(hidden)
        return layers[-1][0].astype(np.float64), picture


def _conv_layer_name(layer):
    if isinstance(layer, ConvPoolLayer):
        h, w, F = layer.out_shape
        return f"last conv-pool layer ({F} maps of {h}x{w}, {layer.activation.name})"
    return f"fully connected layer ({layer.n_out} {layer.activation.name} neurons)"
