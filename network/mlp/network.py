"""The book's Network: network.py and network2.py in one class, without their defects.

A fully connected feedforward network trained by mini-batch stochastic gradient
descent.  It keeps the book's names and storage (``sizes``, ``num_layers``,
``weights[l]`` of shape (n_out, n_in), ``biases[l]`` of shape (n_out, 1),
``feedforward``, ``backprop``, ``SGD``, ``update_mini_batch``, ``evaluate``,
``accuracy``, ``total_cost``, ``save``) and adds what chapter 3 asks for:
costs, activations, L1/L2, dropout, momentum, the two initialisations.

What it fixes (REFERENCE.md section 3): Python 3; backprop is matrix-based over
the whole mini-batch (problem 2.5); the caller's data is never shuffled
in place; training and evaluation data may be in either layout, no ``convert``
flag; the regularisation term of ``total_cost`` uses the training-set size; the
cross-entropy never takes log 0; ``sigmoid`` never overflows; each monitored
quantity is computed once per epoch; a run whose weights or costs become NaN
stops with ``TrainingDiverged`` instead of training on NaN.

Two training paths give the same weights from the same seed (to ~1e-12 in
float64): ``backend="numba"`` (the default when numba imports) runs each epoch
in one compiled kernel; ``backend="numpy"`` is the plain matrix-based reference
(``network/mlp/epoch.py`` holds both; ``backprop.py`` the equations).  Adam and
custom optimisers always take the NumPy path.  Each epoch's record says which
path ran.

Deliberately left out: convolutional layers (``network/conv``), the file format
(``io.py``; ``load`` here builds a Network from it), data loading (``network/data``).
"""

import sys
import time

import numpy as np

from ..base.activations import Sigmoid, get_activation
from ..base.checks import memory, number, training_arguments, weight_decay
from ..base.costs import CrossEntropyCost, default_output_activation, get_cost
from ..base.divergence import check_epoch
from ..base.jit import HAVE_NUMBA
from ..base.optimizers import SGD, Momentum
from ..base.regularization import get_regularizer
from ..base.schedules import stop_requested
from ..errors import ModelFileError, UsageError
from . import backprop, epoch, io
from .data_format import as_examples

EVAL_CHUNK = 10_000  # rows per forward pass when evaluating: bounds memory on big sets
COMPACT_EVAL_CHUNK = 1_000  # uint8 rows made float at a time (8 MB, not 63 MB, per chunk)


class Network:
    """A feedforward network ``sizes = [n_0, n_1, ..., n_L]`` (the book's API).

    ``cost``: QuadraticCost, CrossEntropyCost (default, as in network2) or
    LogLikelihoodCost (softmax outputs), as a class, an instance or a name.
    ``activation``: the hidden neurons' activation (sigmoid, tanh, relu, identity).
    ``output_activation``: defaults to sigmoid, or softmax for log-likelihood.
    ``init``: "default" (weights N(0, 1/n_in)) or "large" (N(0, 1), network.py's).
    ``seed`` or ``rng``: all randomness (initial weights, shuffling, dropout) comes
    from one ``np.random.Generator``, so the same seed gives the same network.
    ``dtype``: float64 (default) or float32.
    ``backend``: "numba" (the default when numba is installed) trains each epoch in
    one compiled kernel; "numpy" uses the matrix-based NumPy reference.
    """

    def __init__(self, sizes, cost=CrossEntropyCost, activation=Sigmoid,
                 output_activation=None, init="default", seed=None, rng=None,
                 dtype=np.float64, backend=None):
        self.sizes = check_sizes(sizes)
        self.num_layers = len(self.sizes)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float64, np.float32):
            raise UsageError(f"dtype must be float64 or float32, got {dtype!r}")
        check_memory(self.sizes, self.dtype)
        self.cost = get_cost(cost)
        self.activation = get_activation(activation)
        self.output_activation = (get_activation(output_activation) if output_activation
                                  else default_output_activation(self.cost))
        self.cost.check_output(self.output_activation)
        self.rng = rng if rng is not None else np.random.default_rng(seed)
        self.backend = check_backend(backend)
        self.training_set_size = None  # n in the L1/L2 terms, set by SGD
        self.history = []              # one dict per trained epoch (see SGD)
        self.optimizer = None
        if init not in ("default", "large"):
            raise UsageError(f"init must be 'default' or 'large', got {init!r}")
        self.default_weight_initializer() if init == "default" else self.large_weight_initializer()

    # ---- initialisation (chapter 3, "Weight initialization") -------------------------

    def default_weight_initializer(self):
        """(INIT) weights N(0, 1/n_in), biases N(0, 1): hidden neurons start unsaturated."""
        self.biases = [self.rng.standard_normal((n, 1)).astype(self.dtype)
                       for n in self.sizes[1:]]
        self.weights = [(self.rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)).astype(self.dtype)
                        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:])]

    def large_weight_initializer(self):
        """(INIT) weights and biases N(0, 1): chapter 1's initialisation."""
        self.biases = [self.rng.standard_normal((n, 1)).astype(self.dtype)
                       for n in self.sizes[1:]]
        self.weights = [self.rng.standard_normal((n_out, n_in)).astype(self.dtype)
                        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:])]

    # ---- forward ---------------------------------------------------------------------

    def feedforward(self, a):
        """(FF) The output for one column vector (n_0, 1) -> (n_L, 1), one 1-D vector,
        or a batch of rows (n, n_0) -> (n, n_L)."""
        a = np.asarray(a, dtype=self.dtype)
        if a.ndim == 1:
            return self._outputs(a[None, :])[1][0]
        if a.ndim == 2 and a.shape == (self.sizes[0], 1):
            return self._outputs(a.T)[1].T     # the book's column vector
        if a.ndim == 2 and a.shape[1] == self.sizes[0]:
            return self._outputs(a)[1]
        raise UsageError(f"feedforward: input of shape {a.shape} does not fit a network with "
                         f"{self.sizes[0]} inputs; give ({self.sizes[0]}, 1) or (n, {self.sizes[0]})")

    def _outputs(self, X):
        """(z^L, a^L) for the rows of X (an array or Examples), evaluated in chunks to
        bound memory (compact uint8 pixels become floats one chunk at a time)."""
        chunks = X.chunks(COMPACT_EVAL_CHUNK if X.compact else EVAL_CHUNK) \
            if hasattr(X, "chunks") else (
            X[start:start + EVAL_CHUNK] for start in range(0, X.shape[0], EVAL_CHUNK))
        zs, outs = [], []
        for a in chunks:
            z, activations = backprop.feedforward(self.weights, self.biases, a, self.activation,
                                                  self.output_activation)
            zs.append(z[-1])
            outs.append(activations[-1])
        return np.concatenate(zs), np.concatenate(outs)

    # ---- gradients -------------------------------------------------------------------

    def backprop(self, x, y):
        """The book's backprop for one example: x (n_0, 1), y a one-hot (n_L, 1) or an int.

        Returns (nabla_b, nabla_w), the gradient of the cost C_x (no regularisation),
        shaped like ``biases`` and ``weights``.
        """
        ex = as_examples([(x, y)], self.sizes[0], self.sizes[-1], self.dtype, "backprop")
        return self._gradients(ex.X, ex.Y)

    def _gradients(self, X, Y):
        zs, activations = backprop.feedforward(self.weights, self.biases, X, self.activation,
                                               self.output_activation)
        return backprop.backward(self.weights, zs, activations, Y, self.cost, self.activation,
                                 self.output_activation)

    def cost_gradient(self, data, lmbda=0.0, training_set_size=None, regularization="L2"):
        """(nabla_b, nabla_w): the gradient of ``total_cost(data, lmbda, ...)`` itself,
        i.e. the mean of backprop's per-example gradients plus the penalty's term."""
        ex = as_examples(data, self.sizes[0], self.sizes[-1], self.dtype, "data")
        n = training_set_size or self.training_set_size or len(ex)
        nabla_b, nabla_w = self._gradients(ex.X, ex.Y)
        if lmbda:
            reg = get_regularizer(regularization)
            nabla_w = [g + reg.gradient(w, lmbda, n) for g, w in zip(nabla_w, self.weights)]
        return nabla_b, nabla_w

    def cost_derivative(self, output_activations, y):
        """network.py's dC_x/da for the quadratic cost: a - y."""
        return output_activations - y

    # ---- training --------------------------------------------------------------------

    def update_mini_batch(self, mini_batch, eta, lmbda=0.0, n=None):
        """One gradient step on one mini-batch, the book's way (plain SGD, L2).

        ``mini_batch`` is a list of (x, y) pairs or an (X, y) tuple; ``n`` is the
        training-set size used in the L2 term (defaults to the mini-batch size).
        """
        ex = as_examples(mini_batch, self.sizes[0], self.sizes[-1], self.dtype, "mini_batch")
        n = len(ex) if n is None else n
        epoch.step(self, ex.X, ex.Y, SGD(eta), get_regularizer("L2"), lmbda, n, 0.0)

    def SGD(self, training_data, epochs, mini_batch_size, eta, lmbda=0.0,
            evaluation_data=None, monitor_evaluation_cost=False,
            monitor_evaluation_accuracy=False, monitor_training_cost=False,
            monitor_training_accuracy=False, *, test_data=None, regularization="L2",
            momentum=0.0, optimizer=None, dropout=0.0, callbacks=(), verbose=True):
        """Train by mini-batch stochastic gradient descent (the book's signature).

        Returns the book's four per-epoch lists (evaluation_cost,
        evaluation_accuracy, training_cost, training_accuracy); accuracies are
        counts of correct examples, as in the book.  ``test_data=`` gives
        network.py's behaviour: evaluate after every epoch and print
        ``Epoch j: correct / n``.

        Beyond the book: ``regularization`` "L2" or "L1" (strength ``lmbda``);
        ``momentum`` mu (problem 3.26) or any ``optimizer`` from base/optimizers.py;
        ``dropout`` p for hidden units; ``callbacks``, each called as
        ``cb(network, record)`` after every epoch with that epoch's record (also
        appended to ``self.history``), stop training by returning True.

        A record holds "epoch" (from 0), "seconds", "eta", the monitored values,
        "backend" (the path that ran: "numba" or "numpy") and
        "first_nonfinite_batch": the first mini-batch after which some weight or
        bias was NaN or infinite (0 if the epoch began so), or -1.  Such an epoch,
        or a monitored cost that is not finite, ends training with TrainingDiverged.
        """
        if test_data is not None:
            evaluation_data, monitor_evaluation_accuracy = test_data, True
        train, evaluation, regularizer, optimizer, callbacks = self._sgd_arguments(
            training_data, evaluation_data, epochs, mini_batch_size, eta, lmbda, regularization,
            momentum, optimizer, dropout, callbacks)
        n = len(train)
        lists = {"evaluation_cost": [], "evaluation_accuracy": [], "training_cost": [],
                 "training_accuracy": []}
        for j in range(epochs):
            start = time.perf_counter()
            backend, first_bad = epoch.train_epoch(self, train, mini_batch_size, optimizer,
                                                   regularizer, lmbda, dropout)
            record = {"epoch": len(self.history), "seconds": time.perf_counter() - start,
                      "eta": optimizer.eta, "backend": backend,
                      "first_nonfinite_batch": first_bad}
            self._monitor(train, "training", monitor_training_cost, monitor_training_accuracy,
                          lmbda, n, regularizer, record, lists)
            if evaluation is not None:
                self._monitor(evaluation, "evaluation", monitor_evaluation_cost,
                              monitor_evaluation_accuracy, lmbda, n, regularizer, record, lists)
            self.history.append(record)
            self._check_finite(record)
            if verbose:
                self._print_epoch(j, record, test_data is not None, n)
            if stop_requested(callbacks, self, record):
                break
        return (lists["evaluation_cost"], lists["evaluation_accuracy"], lists["training_cost"],
                lists["training_accuracy"])

    def _sgd_arguments(self, training_data, evaluation_data, epochs, mini_batch_size, eta, lmbda,
                       regularization, momentum, optimizer, dropout, callbacks):
        """Every check of SGD's arguments, before any weight moves; returns (training
        Examples, evaluation Examples or None, regularizer, optimizer, callbacks)."""
        train = as_examples(training_data, self.sizes[0], self.sizes[-1], self.dtype,
                            "training_data")
        evaluation = None if evaluation_data is None else as_examples(
            evaluation_data, self.sizes[0], self.sizes[-1], self.dtype, "evaluation_data")
        callbacks = training_arguments(epochs, mini_batch_size, eta, len(train), lmbda=lmbda,
                                       callbacks=callbacks)
        number("dropout", dropout, low=0, below=1)
        number("momentum mu", momentum)
        regularizer = get_regularizer(regularization)
        if regularizer.name == "L2":
            weight_decay(eta, lmbda, len(train))
        if optimizer is not None and not (callable(getattr(optimizer, "step", None))
                                          and hasattr(optimizer, "eta")):
            raise UsageError(f"optimizer must be an object with step(params, grads) and eta, such "
                             f"as network.base.optimizers.Adam(lr), got {optimizer!r}")
        if optimizer is None:
            optimizer = Momentum(eta, momentum) if momentum else SGD(eta)
        self.optimizer = optimizer
        self.training_set_size = len(train)
        return train, evaluation, regularizer, optimizer, callbacks

    def _monitor(self, ex, name, want_cost, want_accuracy, lmbda, n, regularizer, record, lists):
        """Cost and accuracy on ``ex`` from one forward pass, into the record and the lists."""
        if not (want_cost or want_accuracy):
            return
        cost, correct = self._cost_and_correct(ex, lmbda, n, regularizer)
        if want_cost:
            lists[f"{name}_cost"].append(cost)
            record[f"{name}_cost"] = cost
        if want_accuracy:
            lists[f"{name}_accuracy"].append(correct)
            record[f"{name}_accuracy"] = correct / len(ex)
            record[f"{name}_correct"] = correct
            record[f"{name}_size"] = len(ex)

    def _check_finite(self, record):
        """(base/divergence.py) stop with TrainingDiverged on NaN or infinite weights or costs."""
        parameters = [(f"weights[{l}]", w) for l, w in enumerate(self.weights)] + \
                     [(f"biases[{l}]", b) for l, b in enumerate(self.biases)]
        costs = {k: record[k] for k in ("training_cost", "evaluation_cost") if k in record}
        unbounded = self.activation.name if self.activation.name in ("relu", "identity") else None
        check_epoch(record["epoch"], parameters, costs, self.optimizer,
                    record["first_nonfinite_batch"], unbounded)

    @staticmethod
    def _print_epoch(j, record, book_form, n_train):
        out = sys.stdout
        if book_form:
            print(f"Epoch {j}: {record['evaluation_correct']} / {record['evaluation_size']}",
                  file=out)
            return
        print(f"Epoch {j} training complete", file=out)
        if "training_cost" in record:
            print(f"Cost on training data: {record['training_cost']}", file=out)
        if "training_accuracy" in record:
            print(f"Accuracy on training data: {record['training_correct']} / {n_train}", file=out)
        if "evaluation_cost" in record:
            print(f"Cost on evaluation data: {record['evaluation_cost']}", file=out)
        if "evaluation_correct" in record:
            print(f"Accuracy on evaluation data: {record['evaluation_correct']} / "
                  f"{record['evaluation_size']}", file=out)

    # ---- evaluation ------------------------------------------------------------------

    def _cost_and_correct(self, ex, lmbda, n, regularizer):
        """Mean cost (plus the penalty with the *training* set size n) and the number of
        correct answers, from a single forward pass."""
        z, a = self._outputs(ex)
        cost = self.cost.fn(a, ex.Y, z) / len(ex)
        if lmbda:
            cost += regularizer.penalty(self.weights, lmbda, n)
        correct = int(np.sum(np.argmax(a, axis=1) == ex.labels))
        return cost, correct

    def accuracy(self, data):
        """The number of examples whose most active output is the right label."""
        ex = as_examples(data, self.sizes[0], self.sizes[-1], self.dtype, "data")
        return int(np.sum(np.argmax(self._outputs(ex)[1], axis=1) == ex.labels))

    def evaluate(self, test_data):
        """network.py's name for ``accuracy``."""
        return self.accuracy(test_data)

    def total_cost(self, data, lmbda=0.0, training_set_size=None, regularization="L2"):
        """Mean cost over ``data`` plus the regularisation penalty.

        The penalty uses n = the training-set size (``training_set_size``, else the
        size of the last SGD's training data, else len(data)); the book divided by
        the size of whatever set it was given, which made the same network's
        penalty differ between training and evaluation data.
        """
        return self.cost_and_accuracy(data, lmbda, training_set_size, regularization)[0]

    def cost_and_accuracy(self, data, lmbda=0.0, training_set_size=None, regularization="L2"):
        """(``total_cost``, ``accuracy``) from a single forward pass over ``data``."""
        ex = as_examples(data, self.sizes[0], self.sizes[-1], self.dtype, "data")
        n = training_set_size or self.training_set_size or len(ex)
        return self._cost_and_correct(ex, lmbda, n, get_regularizer(regularization))

    def save(self, filename):
        """Save as JSON in network2.py's format (plus extra keys); atomic."""
        io.save_network(self, filename)


def load(filename):
    """network2.py's ``load``: the Network saved in ``filename`` (by ``save`` or by the
    book's network2.py), every field checked (network/mlp/io.py); ModelFileError otherwise."""
    spec = io.read_network(filename)
    try:
        net = Network(spec["sizes"], cost=spec["cost"], activation=spec["activation"],
                      output_activation=spec["output_activation"], dtype=spec["dtype"], seed=0)
    except UsageError as exc:
        raise ModelFileError(f"{filename}: inconsistent model: {exc}") from None
    net.weights = [w.astype(net.dtype) for w in spec["weights"]]
    net.biases = [b.astype(net.dtype) for b in spec["biases"]]
    return net


def check_sizes(sizes):
    """The layer sizes as a list of ints, or a UsageError: two or more whole numbers >= 1."""
    try:
        sizes = list(sizes)
    except TypeError:
        raise UsageError(f"sizes must be a list of layer sizes such as [784, 30, 10], "
                         f"got {sizes!r}") from None
    if len(sizes) < 2:
        raise UsageError(f"sizes must be two or more positive whole numbers, got {sizes!r}")
    return [number("sizes", s, low=1, whole=True) for s in sizes]


def check_memory(sizes, dtype):
    """Refuse sizes whose parameters or activations cannot fit, before allocating them:
    the weights (drawn in float64, kept in ``dtype``, packed once more for the compiled
    epoch) and one evaluation chunk's weighted inputs and activations."""
    n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    nbytes = n_params * (8 + 2 * dtype.itemsize) + 3 * 8 * EVAL_CHUNK * max(sizes[1:])
    memory(nbytes, f"a network of sizes {sizes} ({n_params:,} parameters)",
           "use smaller layers")


def check_backend(backend):
    """"numba" or "numpy" (None: numba when it is installed and not disabled)."""
    if backend is None:
        return "numba" if HAVE_NUMBA else "numpy"
    if backend not in ("numba", "numpy"):
        raise UsageError(f"backend must be 'numba' or 'numpy', got {backend!r}")
    if backend == "numba" and not HAVE_NUMBA:
        raise UsageError("backend 'numba' needs numba, which is not installed (or is "
                         "disabled by NNDL_NO_NUMBA); use backend='numpy'")
    return backend
