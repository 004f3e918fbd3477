"""ConvNetwork: a stack of chapter-6 layers trained by mini-batch SGD (network3.py's role).

``ConvNetwork(layers)`` chains ConvPoolLayer / FullyConnectedLayer layers and ends
in a SoftmaxLayer; the cost is the log-likelihood (LOGLIK) plus, optionally, an L2
penalty on all weights, convolutional ones included, in the convention every trainer
here shares, network2's (lmbda / 2n) sum w^2 (L2), n the training-set size.  network3
itself adds lmbda m / (2n) sum w^2 (m the mini-batch size): to train with the strength
of the book's chapter 6 "lmbda", pass ``base.regularization.network3_lmbda(lmbda, m)``
(L2-NETWORK3), as chapters/chap6.py does.  Backprop is the layers' own ``backward`` in
reverse order.

Data: rows are examples.  ``X`` is (n, C*H*W) in the book's (C, H, W) flatten
order (MNIST: (n, 784)), floats in [0, 1] or raw uint8 pixels (scaled by 1/255
one mini-batch at a time, so an expanded training set can stay compact); ``y``
is int labels (n,).

Threads: training and scoring run on ``threads`` cores (default: all that numba
may use, ``network.base.jit.max_threads()``, which in a grid worker is its share).
The compiled stages split the work so that every number is computed the same way
whatever the count: the same seed gives the same weights, bit for bit, on 1
thread or on 2 (network/conv/kernels.py).

Beyond network3: no Theano, so the gradients are written out (layers.py);
dropout masks come from an explicit ``np.random.Generator`` (or are injected);
per-epoch records with timings; ``callbacks`` that can stop training; a fixed
fan-in initialisation (network3's fully connected layer divided by n_out).

Deliberately left out: other costs, other optimisers than plain SGD, learning
rate schedules (the chapter script can change ``eta`` from a callback).
"""

import sys
import time

import numpy as np

from ..base.checks import memory, number, training_arguments, weight_decay
from ..base.costs import LogLikelihoodCost
from ..base.divergence import check_epoch
from ..base.jit import HAVE_NUMBA, max_threads, on_threads, thread_count
from ..base.optimizers import SGD
from ..base.progress import bar
from ..base.regularization import L2, dropout_mask
from ..base.schedules import stop_requested
from ..errors import ModelFileError, NNDLError, UsageError
from . import io, step
from .kernels import DEFAULT, IMPLEMENTATIONS
from .layers import ConvPoolLayer, check_chain
from .scratch import aligned_copy

EVAL_CHUNK = 1000  # rows per forward pass when evaluating: bounds the im2col buffers


class ConvNetwork:
    """A network of chapter-6 layers ending in a softmax layer (log-likelihood cost).

    ``layers``: ConvPoolLayer / FullyConnectedLayer objects, then a SoftmaxLayer;
    each layer's ``n_in`` must equal the previous layer's ``n_out``.
    ``seed`` or ``rng``: all randomness (initial weights, shuffling, dropout).
    ``dtype``: float32 (default, twice as fast) or float64 (gradient checks).
    ``kernels``: "numba" (the default where numba runs) or "numpy", the layers'
    stages (network/conv/kernels.py).
    ``threads``: cores to train and score on, 1 to ``max_threads()`` (default None:
    all of them); the results do not depend on it.  May be changed between calls.
    """

    def __init__(self, layers, seed=None, rng=None, dtype=np.float32, kernels=None,
                 threads=None):
        self.layers = check_chain(layers)
        self.threads = threads
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise UsageError(f"dtype must be float32 or float64, got {dtype!r}")
        kernels = DEFAULT if kernels is None else kernels
        if kernels not in IMPLEMENTATIONS:
            raise UsageError(f"kernels must be 'numba' or 'numpy', got {kernels!r}")
        if kernels == "numba" and not HAVE_NUMBA:
            raise UsageError("kernels 'numba' needs numba, which is not installed (or is "
                             "disabled by NNDL_NO_NUMBA); use kernels='numpy'")
        self.kernels = kernels
        for layer in self.layers:
            layer.kernels = IMPLEMENTATIONS[kernels]
        self.rng = rng if rng is not None else np.random.default_rng(seed)
        self.cost = LogLikelihoodCost
        self.history = []
        self.training_set_size = None
        n_params = sum(layer.n_params for layer in self.layers)
        memory(n_params * (8 + 3 * self.dtype.itemsize),   # drawn in float64; w, gradient, step
               f"a ConvNetwork of {n_params:,} parameters", "use smaller layers")
        for layer in self.layers:
            layer.initialize(self.rng, self.dtype)

    @property
    def threads(self):
        """The cores training and scoring use (None: all that numba may use)."""
        return self._threads

    @threads.setter
    def threads(self, n):
        if n is not None:
            n = number("threads", n, low=1, high=max_threads(), whole=True)
        self._threads = n

    # ---- data at the edge ----------------------------------------------------------

    @property
    def n_in(self):
        return self.layers[0].n_in

    def _as_input(self, X):
        """Rows (m, C*H*W), float or uint8 -> the first layer's input in ``dtype``."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_in:
            raise UsageError(f"input of shape {X.shape} does not fit this network; "
                             f"give (n, {self.n_in}) rows")
        if X.dtype == np.uint8:
            X = X.astype(self.dtype) * self.dtype.type(1 / 255)   # raw pixels -> [0, 1]
        else:
            X = X.astype(self.dtype, copy=False)
        first = self.layers[0]
        if isinstance(first, ConvPoolLayer):
            C, H, W = first.image_shape
            X = X.reshape(-1, C, H, W)
            X = X[:, 0, :, :, None] if C == 1 else X.transpose(0, 2, 3, 1)  # (m, H, W, C)
        return np.ascontiguousarray(X)

    def _check_data(self, data, what):
        if not (isinstance(data, (tuple, list)) and len(data) == 2):
            raise UsageError(f"{what} must be an (X, y) pair of arrays")
        X, y = np.asarray(data[0]), np.asarray(data[1])
        if X.ndim != 2 or X.shape[1] != self.n_in:
            raise UsageError(f"{what}: X of shape {X.shape} does not fit; give (n, {self.n_in})")
        if y.shape != (X.shape[0],) or not np.issubdtype(y.dtype, np.integer):
            raise UsageError(f"{what}: y must be {X.shape[0]} integer labels, got shape {y.shape}")
        n_out = self.layers[-1].n_out
        if len(y) and (y.min() < 0 or y.max() >= n_out):
            raise UsageError(f"{what}: labels must be in 0..{n_out - 1}")
        return X, y

    # ---- forward and backward ------------------------------------------------------

    def _forward(self, a, masks=None):
        for l, layer in enumerate(self.layers):
            a = layer.forward(a, None if masks is None else masks.get(l))
        return a

    @on_threads
    def feedforward(self, X):
        """Softmax outputs (n, n_out) for the rows of X, in chunks."""
        out = [self._forward(self._as_input(X[s:s + EVAL_CHUNK]))
               for s in range(0, len(X), EVAL_CHUNK)]
        return np.concatenate(out) if out else np.zeros((0, self.layers[-1].n_out), self.dtype)

    @on_threads
    def layer_outputs(self, X):
        """Every layer's output for the rows of X (a few images), first layer first:
        a conv-pool layer's (m, H', W', F) maps, a fully connected layer's (m, n_out),
        the softmax outputs last.  For looking inside the net (python -m network play
        digits); training and scoring never need it."""
        a = self._as_input(X)
        outputs = []
        for layer in self.layers:
            a = layer.forward(a)
            outputs.append(a)
        return outputs

    def dropout_masks(self, m):
        """(DROPOUT) one (m, n_in) mask per layer with p_dropout > 0: keep with 1 - p,
        scaled by 1/(1 - p) so nothing changes at test time."""
        return {l: dropout_mask(self.rng, (m, layer.n_in), layer.p_dropout, self.dtype)
                for l, layer in enumerate(self.layers) if getattr(layer, "p_dropout", 0.0)}

    def _backprop(self, a_in, y, masks=None):
        """Forward then backward on one mini-batch; leaves nabla_w, nabla_b on each layer
        (gradients of the mean log-likelihood, no penalty).  Returns the output a."""
        a = self._forward(a_in, masks)
        m = len(y)
        delta = a.copy()
        delta[np.arange(m), y] -= 1.0                      # (LOGLIK) dC/dz^L = a - y ...
        delta /= m                                         # ... for the mean over the batch
        for l in range(len(self.layers) - 1, -1, -1):
            delta = self.layers[l].backward(delta, need_input_grad=l > 0)
        return a

    @on_threads
    def cost_gradient(self, data, lmbda=0.0, training_set_size=None, masks=None):
        """[(nabla_w, nabla_b) per layer]: the gradient of ``total_cost(data, lmbda, n)``."""
        X, y = self._check_data(data, "data")
        n = training_set_size or len(y)
        self._backprop(self._as_input(X), y, masks)
        return [(layer.nabla_w + (L2.gradient(layer.w, lmbda, n) if lmbda else 0.0),
                 layer.nabla_b) for layer in self.layers]

    @on_threads
    def total_cost(self, data, lmbda=0.0, training_set_size=None, masks=None):
        """Mean log-likelihood over ``data`` plus (lmbda / 2n) sum w^2, n = training size."""
        X, y = self._check_data(data, "data")
        n = training_set_size or self.training_set_size or len(y)
        if masks is None:
            a = self.feedforward(X)
        else:
            a = self._forward(self._as_input(X), masks)
        return self._cost(a, y, lmbda, n)

    def _cost(self, a, y, lmbda, n):
        # (LOGLIK) -ln a_y, with the tiny floor only where a probability rounded to 0
        cost = -float(np.mean(np.log(np.maximum(a[np.arange(len(y)), y],
                                                np.finfo(a.dtype).tiny))))
        if lmbda:
            cost += L2.penalty([layer.w for layer in self.layers], lmbda, n)  # (L2)
        return cost

    # ---- training -----------------------------------------------------------------

    @on_threads
    def SGD(self, training_data, epochs, mini_batch_size, eta, validation_data=None,
            test_data=None, lmbda=0.0, callbacks=(), verbose=True, augment=None, monitor=(),
            progress=True):
        """Mini-batch SGD on the log-likelihood (+ L2), network3's signature.

        ``augment``, if given, is called at the start of every epoch as
        ``augment(X, rng)`` with the training inputs and the network's generator and
        returns that epoch's inputs, same shape and dtype (labels unchanged): data
        expanded on the fly, e.g. ``network.data.expansion.random_distortions``
        (problem 6.8).

        After each epoch a record ``{"epoch" (from 0), "seconds", "eta",
        "validation_accuracy", "test_accuracy"}`` (accuracies as fractions, for the
        sets given) is appended to ``self.history``.  ``monitor`` adds the overfitting
        diagnostics of problem 6.10, any of "training_accuracy", "training_cost" (on
        the training data as given, not augmented) and "validation_cost": costs are
        ``total_cost`` with the same L2 term for both sets, so their difference is the
        data term's (base/overfitting.py reads them).  Each callback is called as
        ``cb(network, record)`` and may stop training by returning True.  NaN or
        infinite weights or costs end training with TrainingDiverged.  Returns
        ``self.history``.

        ``progress``: a bar over each epoch's mini-batches, drawn only when stdout is a
        terminal (an epoch takes seconds to a minute; network/base/progress.py).
        """
        X, y = self._check_data(training_data, "training_data")
        val = None if validation_data is None else self._check_data(validation_data,
                                                                    "validation_data")
        test = None if test_data is None else self._check_data(test_data, "test_data")
        callbacks = training_arguments(epochs, mini_batch_size, eta, len(y), lmbda=lmbda,
                                       callbacks=callbacks)
        weight_decay(eta, lmbda, len(y))
        monitor = self._monitored(monitor, val is not None)
        self.optimizer = SGD(eta)                      # a callback may change optimizer.eta
        self.training_set_size = len(y)
        for _ in range(epochs):
            start = time.perf_counter()
            X_epoch = X if augment is None else self._augmented(augment, X)
            with bar(-(-len(y) // mini_batch_size), f"epoch {len(self.history)}", unit="batch",
                     quiet=not progress) as batches:
                self._train_epoch(X_epoch, y, mini_batch_size, lmbda, batches.update)
            record = {"epoch": len(self.history), "seconds": time.perf_counter() - start,
                      "eta": self.optimizer.eta}
            self.history.append(record)
            check_epoch(record["epoch"], self._named_parameters(), {}, self.optimizer)
            for key, data in (("validation_accuracy", val), ("test_accuracy", test)):
                if data is not None and not (key == "validation_accuracy" and
                                             "validation_cost" in monitor):
                    record[key] = self.accuracy(data) / len(data[1])
            self._monitor(record, monitor, (X, y), val, lmbda)
            if val is not None:   # the keys base/schedules.py watches, so its rules apply here
                record["evaluation_accuracy"] = record["validation_accuracy"]
                if "validation_cost" in record:
                    record["evaluation_cost"] = record["validation_cost"]
            if verbose:
                self._print_epoch(record)
            if stop_requested(callbacks, self, record):
                break
        return self.history

    MONITORS = ("training_accuracy", "training_cost", "validation_cost")

    def _monitored(self, monitor, have_validation):
        monitor = tuple(monitor)
        unknown = [m for m in monitor if m not in self.MONITORS]
        if unknown:
            raise UsageError(f"monitor: unknown {unknown[0]!r}; choose from "
                             f"{', '.join(self.MONITORS)}")
        if "validation_cost" in monitor and not have_validation:
            raise UsageError("monitor 'validation_cost' needs validation_data")
        return monitor

    def _monitor(self, record, monitor, training, validation, lmbda):
        """(Problem 6.10) cost and accuracy of one forward pass per set, into the record;
        a cost that is not finite stops training like a non-finite weight."""
        n = len(training[1])
        sets = []
        if "training_accuracy" in monitor or "training_cost" in monitor:
            sets.append(("training", training))
        if "validation_cost" in monitor:
            sets.append(("validation", validation))
        costs = {}
        for name, (X, y) in sets:
            a = self.feedforward(X)                                    # (n, n_out)
            record[f"{name}_accuracy"] = float(np.mean(np.argmax(a, axis=1) == y))
            if name == "validation" or "training_cost" in monitor:
                record[f"{name}_cost"] = costs[f"{name}_cost"] = self._cost(a, y, lmbda, n)
        if costs:
            check_epoch(record["epoch"], [], costs, self.optimizer)

    # False: train layer by layer even where the compiled step fits (the tests compare the two)
    compiled_step = True
    # Mini-batches per compiled call of the step (TrainingStep.run): ~30-100 ms of training
    # between two updates of the progress bar and two chances to stop on Ctrl-C.
    BATCHES_PER_CALL = 100

    def _train_epoch(self, X, y, mini_batch_size, lmbda, done=lambda n: None):
        """One pass over (X, y) in a fresh random order, one SGD step per mini-batch;
        ``done(k)`` after every k (the progress bar).  By the compiled step
        (network/conv/step.py), BATCHES_PER_CALL mini-batches a call, where it fits, else
        layer by layer: the same numbers either way."""
        n = len(y)
        order = self.rng.permutation(n)            # the caller's data stays as it was
        if self.compiled_step and step.fits(self.layers, self.kernels, X):
            steps = {}                    # one per mini-batch size: the last may be smaller
            k = 0
            while k < n:
                m = min(mini_batch_size, n - k)
                if m not in steps:
                    steps[m] = step.TrainingStep(self.layers, m, thread_count(), self.dtype)
                if steps[m].dropout:               # masks from self.rng, one mini-batch at a time
                    steps[m](X, y, order[k:k + m], self.dropout_masks(m), self.optimizer.eta,
                             lmbda, n)
                    done(1)
                    k += m
                    continue
                batches = min(self.BATCHES_PER_CALL, (n - k) // m)
                steps[m].run(X, y, order, k, k + batches * m, self.optimizer.eta, lmbda, n)
                done(batches)
                k += batches * m
            return
        params = [p for layer in self.layers for p in (layer.w, layer.b)]
        for k in range(0, n, mini_batch_size):
            idx = order[k:k + mini_batch_size]
            masks = self.dropout_masks(len(idx))
            self._backprop(self._as_input(X[idx]), y[idx], masks or None)
            grads = []
            for layer in self.layers:
                # (L2) the penalty's gradient (lmbda/n) w; biases are not decayed
                gw = layer.nabla_w + L2.gradient(layer.w, lmbda, n) if lmbda else layer.nabla_w
                grads += [gw, layer.nabla_b]
            self.optimizer.step(params, grads)     # (SGD) w -> w - eta * mean gradient
            done(1)

    def _named_parameters(self):
        return [(f"layers[{l}].{name}", p) for l, layer in enumerate(self.layers)
                for name, p in (("w", layer.w), ("b", layer.b))]

    @staticmethod
    def _print_epoch(record):
        parts = [f"Epoch {record['epoch']}: {record['seconds']:.1f} s"]
        for key in ("training_accuracy", "validation_accuracy", "test_accuracy"):
            if key in record:
                parts.append(f"{key.split('_')[0]} accuracy {record[key]:.2%}")
        for key in ("training_cost", "validation_cost"):
            if key in record:
                parts.append(f"{key.split('_')[0]} cost {record[key]:.4f}")
        print(", ".join(parts), file=sys.stdout, flush=True)

    def _augmented(self, augment, X):
        """This epoch's inputs from ``augment``, checked like the data it replaces."""
        out = augment(X, self.rng)
        if not isinstance(out, np.ndarray) or out.shape != X.shape or out.dtype != X.dtype:
            got = (f"shape {out.shape}, dtype {out.dtype}" if isinstance(out, np.ndarray)
                   else type(out).__name__)
            raise UsageError(f"augment must return an array of shape {X.shape} and dtype "
                             f"{X.dtype} (the training inputs), got {got}")
        if out.dtype.kind == "f" and not np.all(np.isfinite(out)):
            raise UsageError("augment returned inputs containing NaN or infinity")
        return out

    # ---- the parameters as lists (what schedules.py's keep_best copies) --------------

    @property
    def weights(self):
        return [layer.w for layer in self.layers]

    @weights.setter
    def weights(self, values):
        for layer, w in zip(self.layers, values):
            layer.w = aligned_copy(np.reshape(w, layer.w.shape), self.dtype)

    @property
    def biases(self):
        return [layer.b for layer in self.layers]

    @biases.setter
    def biases(self, values):
        for layer, b in zip(self.layers, values):
            layer.b = aligned_copy(np.reshape(b, layer.b.shape), self.dtype)

    # ---- evaluation ---------------------------------------------------------------

    def accuracy(self, data):
        """The number of examples whose most probable class is the label."""
        X, y = self._check_data(data, "data")
        return int(np.sum(np.argmax(self.feedforward(X), axis=1) == y))

    def save(self, path):
        """Save as JSON (``.json``) or NumPy ``.npz`` (no pickle), chosen by the suffix."""
        io.save_conv_network(self, path)


def load_conv_network(path):
    """The ConvNetwork saved in ``path`` (.json or .npz) by ``save``, every field checked
    (network/conv/io.py); ModelFileError otherwise."""
    layers, dtype, arrays = io.read_conv_network(path)
    try:
        net = ConvNetwork(layers, seed=0, dtype=dtype)
    except NNDLError as exc:
        raise ModelFileError(f"{path}: inconsistent layers: {exc}") from None
    for layer, (w, b) in zip(net.layers, arrays):
        layer.w, layer.b = aligned_copy(w, net.dtype), aligned_copy(b, net.dtype)
    return net
