"""The book's Network: network.py and network2.py in one class, without their defects.

A fully connected feedforward network trained by mini-batch stochastic gradient
descent.  It keeps the book's names and storage (``sizes``, ``num_layers``,
``weights[l]`` of shape (n_out, n_in), ``biases[l]`` of shape (n_out, 1),
``feedforward``, ``backprop``, ``SGD``, ``update_mini_batch``, ``evaluate``,
``accuracy``, ``total_cost``, ``save``) and adds what chapter 3 asks for:
costs, activations, L1/L2, dropout, momentum, the two initialisations.

What it fixes (REFERENCE.md section 3): Python 3; backprop is matrix-based over
the whole mini-batch (chapter 2, problem 5); the caller's data is never shuffled
in place; training and evaluation data may be in either layout, no ``convert``
flag; the regularisation term of ``total_cost`` uses the training-set size; the
cross-entropy never takes log 0; ``sigmoid`` never overflows; each monitored
quantity is computed once per epoch.

Two training paths give the same weights from the same seed (to ~1e-12 in
float64): ``backend="numba"`` (the default when numba imports) runs each epoch
in one compiled kernel (``network/mlp/kernels.py``); ``backend="numpy"`` is the
plain matrix-based reference (``network/mlp/backprop.py``).  The kernel covers every
cost, activation and regulariser here, plain SGD, momentum and dropout (with
the same random draws); other optimisers (Adam, custom ones) fall back to the
NumPy path automatically.  Each epoch's record says which path ran.

Deliberately left out: convolutional layers (chapter 6 has its own modules),
file formats (``model_io.py``), data loading (``mnist_loader.py``).
"""

import copy
import sys
import time

import numpy as np

from . import backprop, kernels
from ..base.activations import ACTIVATIONS, Sigmoid, get_activation
from ..base.costs import COSTS, CrossEntropyCost, default_output_activation, get_cost
from .data_format import as_examples
from ..errors import UsageError
from ..base.jit import HAVE_NUMBA
from ..base.optimizers import SGD, Momentum
from .pixels import pixel_table
from ..base.regularization import get_regularizer

EVAL_CHUNK = 10_000  # rows per forward pass when evaluating: bounds memory on big sets
COMPACT_EVAL_CHUNK = 1_000  # uint8 rows made float at a time (8 MB, not 63 MB, per chunk)


def _is_whole(value):
    """A whole number that is not a bool (True is an int in Python, but not an epoch count)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_number(name, value, low=None, low_inclusive=True, high=None):
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if ok:
        try:
            v = float(value)
        except OverflowError:  # a Python int beyond float range
            ok = False
        else:
            ok = np.isfinite(v) and (low is None or (v >= low if low_inclusive else v > low)) \
                and (high is None or v < high)
    if not ok:
        bound = "" if low is None else (f" >= {low}" if low_inclusive else f" > {low}")
        if high is not None:
            bound += f" and < {high}"
        raise UsageError(f"{name} must be a finite number{bound}, got {value!r}")


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
    one compiled kernel; "numpy" uses the matrix-based NumPy reference.  Both draw
    the same random numbers and give the same weights; optimisers other than
    plain SGD and momentum always use the NumPy path.
    """

    def __init__(self, sizes, cost=CrossEntropyCost, activation=Sigmoid,
                 output_activation=None, init="default", seed=None, rng=None,
                 dtype=np.float64, backend=None):
        sizes = list(sizes)
        if len(sizes) < 2 or not all(isinstance(s, (int, np.integer)) and s >= 1 for s in sizes):
            raise UsageError(f"sizes must be two or more positive whole numbers, got {sizes!r}")
        self.sizes = [int(s) for s in sizes]
        self.num_layers = len(self.sizes)
        self.cost = get_cost(cost)
        self.activation = get_activation(activation)
        self.output_activation = (get_activation(output_activation) if output_activation
                                  else default_output_activation(self.cost))
        self.cost.check_output(self.output_activation)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float64, np.float32):
            raise UsageError(f"dtype must be float64 or float32, got {dtype!r}")
        self.rng = rng if rng is not None else np.random.default_rng(seed)
        if backend is None:
            backend = "numba" if HAVE_NUMBA else "numpy"
        if backend not in ("numba", "numpy"):
            raise UsageError(f"backend must be 'numba' or 'numpy', got {backend!r}")
        if backend == "numba" and not HAVE_NUMBA:
            raise UsageError("backend 'numba' needs numba, which is not installed (or is "
                             "disabled by NNDL_NO_NUMBA); use backend='numpy'")
        self.backend = backend
        self.training_set_size = None  # n in the L1/L2 terms, set by SGD
        self.history = []              # one dict per trained epoch (see SGD)
        self.optimizer = None
        if init == "default":
            self.default_weight_initializer()
        elif init == "large":
            self.large_weight_initializer()
        else:
            raise UsageError(f"init must be 'default' or 'large', got {init!r}")

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
        zs, outs = [], []
        chunks = X.chunks(COMPACT_EVAL_CHUNK if X.compact else EVAL_CHUNK) \
            if hasattr(X, "chunks") else (
            X[start:start + EVAL_CHUNK] for start in range(0, X.shape[0], EVAL_CHUNK))
        for a in chunks:
            for l, (w, b) in enumerate(zip(self.weights, self.biases)):
                z = a @ w.T + b.T               # (FF) (rows, n_in) @ (n_in, n_out)
                a = (self.output_activation if l == self.num_layers - 2 else self.activation).fn(z)
            zs.append(z)
            outs.append(a)
        return np.concatenate(zs), np.concatenate(outs)

    # ---- gradients -------------------------------------------------------------------

    def backprop(self, x, y):
        """The book's backprop for one example: x (n_0, 1), y a one-hot (n_L, 1) or an int.

        Returns (nabla_b, nabla_w), the gradient of the cost C_x (no regularisation),
        shaped like ``biases`` and ``weights``.
        """
        ex = as_examples([(x, y)], self.sizes[0], self.sizes[-1], self.dtype, "backprop")
        return self._gradients(ex.X, ex.Y)

    def _gradients(self, X, Y, dropout_masks=None):
        zs, activations = backprop.feedforward(self.weights, self.biases, X, self.activation,
                                               self.output_activation, dropout_masks)
        return backprop.backward(self.weights, zs, activations, Y, self.cost, self.activation,
                                 self.output_activation, dropout_masks)

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
        self._step(ex.X, ex.Y, SGD(eta), get_regularizer("L2"), lmbda, n, 0.0)

    def _dropout_masks(self, m, p):
        """(DROPOUT) keep each hidden unit with probability 1 - p, scaled by 1/(1 - p)."""
        return [((self.rng.random((m, n)) >= p) / (1.0 - p)).astype(self.dtype)
                for n in self.sizes[1:-1]]

    def _step(self, X, Y, optimizer, regularizer, lmbda, n, dropout):
        masks = self._dropout_masks(X.shape[0], dropout) if dropout else None
        nabla_b, nabla_w = self._gradients(X, Y, masks)
        if lmbda:
            # (L2)/(L1) the penalty's gradient term; biases are not regularised.
            nabla_w = [g + regularizer.gradient(w, lmbda, n) for g, w in zip(nabla_w, self.weights)]
        optimizer.step(self.weights + self.biases, nabla_w + nabla_b)  # (SGD) or (MOMENTUM)

    def _kernel_supports(self, optimizer):
        """Whether the numba kernel can run this configuration (else: the NumPy path)."""
        return (self.backend == "numba" and HAVE_NUMBA
                and type(optimizer) in (SGD, Momentum)
                and self.cost in COSTS.values()
                and self.activation.name in kernels.ACTIVATION_CODES
                and self.activation.name != "softmax"
                and self.output_activation.name in kernels.ACTIVATION_CODES
                and ACTIVATIONS.get(self.activation.name) is self.activation
                and ACTIVATIONS.get(self.output_activation.name) is self.output_activation)

    def _train_epoch(self, ex, mini_batch_size, optimizer, regularizer, lmbda, dropout):
        """One pass over the training data in a fresh random order.

        Returns (backend that ran, index of the first mini-batch after which some
        weight or bias was not finite, or -1; 0 if the epoch started that way).
        Finiteness is checked once at the end of the epoch; only when that fails is
        the epoch replayed from a snapshot, checking after every mini-batch.
        """
        if self._kernel_supports(optimizer):
            return "numba", self._train_epoch_numba(ex, mini_batch_size, optimizer,
                                                    regularizer, lmbda, dropout)
        return "numpy", self._train_epoch_numpy(ex, mini_batch_size, optimizer, regularizer,
                                                lmbda, dropout)

    def _params_finite(self):
        return all(np.all(np.isfinite(p)) for p in self.weights + self.biases)

    def _train_epoch_numpy(self, ex, mini_batch_size, optimizer, regularizer, lmbda, dropout):
        """The NumPy path; returns the first non-finite mini-batch as _train_epoch."""
        start_finite = self._params_finite()
        snapshot = copy.deepcopy((self.weights, self.biases, optimizer, self.rng))
        self._numpy_batches(ex, mini_batch_size, optimizer, regularizer, lmbda, dropout)
        if self._params_finite():
            return -1
        if not start_finite:
            return 0
        # Replay the epoch from the snapshot (same draws), checking after every step.
        end = (self.weights, self.biases, self.rng)
        self.weights, self.biases, replay_optimizer, self.rng = snapshot
        try:
            return self._numpy_batches(ex, mini_batch_size, replay_optimizer, regularizer,
                                       lmbda, dropout, check_each_batch=True)
        finally:
            self.weights, self.biases, self.rng = end

    def _numpy_batches(self, ex, mini_batch_size, optimizer, regularizer, lmbda, dropout,
                       check_each_batch=False):
        order = self.rng.permutation(len(ex))  # the caller's data stays as it was
        for b, k in enumerate(range(0, len(ex), mini_batch_size)):
            idx = order[k:k + mini_batch_size]
            self._step(ex.rows(idx), ex.Y[idx], optimizer, regularizer, lmbda,
                       len(ex), dropout)
            if check_each_batch and not self._params_finite():
                return b
        return -1

    def _train_epoch_numba(self, ex, mini_batch_size, optimizer, regularizer, lmbda, dropout):
        """The compiled path: the same permutation and dropout draws as the NumPy path
        (one ``rng.random`` call per epoch gives the same numbers as one per mini-batch
        and layer), then one kernel call for the whole epoch."""
        n = len(ex)
        order = self.rng.permutation(n)
        n_hidden = sum(self.sizes[1:-1])
        uniforms = self.rng.random(n * n_hidden) if dropout else np.zeros(0)
        dtype = self.dtype
        params = kernels.pack(self.weights, self.biases, dtype)
        if type(optimizer) is Momentum:
            if optimizer.velocities is None:
                optimizer.velocities = [np.zeros_like(p) for p in self.weights + self.biases]
            velocity = kernels.pack(optimizer.velocities[:len(self.weights)],
                                    optimizer.velocities[len(self.weights):], dtype)
            mu = optimizer.mu
        else:
            velocity, mu = np.zeros(0, dtype=dtype), 0.0
        indptr, indices, values = ex.nonzero_entries()
        widths, w_off, b_off, u_off = kernels.layout(self.sizes)
        penalty = kernels.PENALTY_CODES[regularizer.name] if lmbda else kernels.NO_PENALTY
        args = (values, indptr, indices, pixel_table(dtype), np.ascontiguousarray(ex.Y), order,
                int(mini_batch_size))
        rest = (np.asarray(self.sizes, dtype=np.int64), widths, w_off, b_off, u_off,
                kernels.ACTIVATION_CODES[self.activation.name],
                kernels.ACTIVATION_CODES[self.output_activation.name],
                kernels.COST_CODES[self.cost.name], penalty, float(optimizer.eta),
                float(lmbda) / n, float(mu), float(dropout), uniforms)
        start = (params.copy(), velocity.copy())
        kernels.train_epoch(*args, params, velocity, *rest, False)
        first_bad = -1
        if not np.all(np.isfinite(params)):
            if not np.all(np.isfinite(start[0])):
                first_bad = 0
            else:  # replay from the start (same order and draws), checking every step
                first_bad = kernels.train_epoch(*args, start[0], start[1], *rest, True)
        kernels.unpack(params, self.sizes, self.weights, self.biases)
        if type(optimizer) is Momentum:
            kernels.unpack(velocity, self.sizes, optimizer.velocities[:len(self.weights)],
                           optimizer.velocities[len(self.weights):])
        return first_bad

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
        ``momentum`` mu (problem 26) or any ``optimizer`` from optimizers.py;
        ``dropout`` p for hidden units; ``callbacks``, each called as
        ``cb(network, record)`` after every epoch with that epoch's record (also
        appended to ``self.history``), stop training by returning True.

        A record holds "epoch", "seconds", "eta", the monitored values, "backend"
        (the path that ran: "numba" or "numpy") and "first_nonfinite_batch": the
        index of the first mini-batch after which some weight or bias was NaN or
        infinite (0 if the epoch began so), or -1.  Training does not stop there.
        """
        train = as_examples(training_data, self.sizes[0], self.sizes[-1], self.dtype,
                            "training_data")
        if test_data is not None:
            evaluation_data, monitor_evaluation_accuracy = test_data, True
        evaluation = None if evaluation_data is None else as_examples(
            evaluation_data, self.sizes[0], self.sizes[-1], self.dtype, "evaluation_data")
        if not _is_whole(epochs) or epochs < 0:
            raise UsageError(f"epochs must be a whole number >= 0, got {epochs!r}")
        if not _is_whole(mini_batch_size) or mini_batch_size < 1:
            raise UsageError(f"mini_batch_size must be a whole number >= 1, got {mini_batch_size!r}")
        if mini_batch_size > len(train):
            raise UsageError(f"mini_batch_size {mini_batch_size} is larger than the training "
                             f"data ({len(train)} examples); use at most {len(train)}")
        _check_number("eta", eta, 0, low_inclusive=False)
        _check_number("lmbda", lmbda, 0)
        _check_number("dropout", dropout, 0, high=1)
        _check_number("momentum mu", momentum)
        regularizer = get_regularizer(regularization)
        callbacks = list(callbacks)
        for cb in callbacks:
            if not callable(cb):
                raise UsageError(f"callbacks must be callables cb(network, record), got {cb!r}")
        if optimizer is not None and not (callable(getattr(optimizer, "step", None))
                                          and hasattr(optimizer, "eta")):
            raise UsageError(f"optimizer must be an object with step(params, grads) and eta, such "
                             f"as network.base.optimizers.Adam(lr), got {optimizer!r}")
        if optimizer is None:
            optimizer = Momentum(eta, momentum) if momentum else SGD(eta)
        self.optimizer = optimizer
        n = len(train)
        self.training_set_size = n

        evaluation_cost, evaluation_accuracy, training_cost, training_accuracy = [], [], [], []
        for j in range(epochs):
            start = time.perf_counter()
            backend, first_bad = self._train_epoch(train, mini_batch_size, optimizer,
                                                   regularizer, lmbda, dropout)
            record = {"epoch": len(self.history), "seconds": time.perf_counter() - start,
                      "eta": optimizer.eta, "backend": backend,
                      "first_nonfinite_batch": first_bad}
            if monitor_training_cost or monitor_training_accuracy:
                cost, correct = self._cost_and_correct(train, lmbda, n, regularizer)
                if monitor_training_cost:
                    training_cost.append(cost)
                    record["training_cost"] = cost
                if monitor_training_accuracy:
                    training_accuracy.append(correct)
                    record["training_accuracy"] = correct / len(train)
            if evaluation is not None and (monitor_evaluation_cost or monitor_evaluation_accuracy):
                cost, correct = self._cost_and_correct(evaluation, lmbda, n, regularizer)
                if monitor_evaluation_cost:
                    evaluation_cost.append(cost)
                    record["evaluation_cost"] = cost
                if monitor_evaluation_accuracy:
                    evaluation_accuracy.append(correct)
                    record["evaluation_accuracy"] = correct / len(evaluation)
                    record["evaluation_correct"] = correct
                    record["evaluation_size"] = len(evaluation)
            self.history.append(record)
            if verbose:
                self._print_epoch(j, record, test_data is not None, len(train),
                                  None if evaluation is None else len(evaluation))
            if any([bool(cb(self, record)) for cb in callbacks]):
                break
        return evaluation_cost, evaluation_accuracy, training_cost, training_accuracy

    @staticmethod
    def _print_epoch(j, record, book_form, n_train, n_eval):
        out = sys.stdout
        if book_form:
            print(f"Epoch {j}: {record['evaluation_correct']} / {n_eval}", file=out)
            return
        print(f"Epoch {j} training complete", file=out)
        if "training_cost" in record:
            print(f"Cost on training data: {record['training_cost']}", file=out)
        if "training_accuracy" in record:
            print(f"Accuracy on training data: {round(record['training_accuracy'] * n_train)}"
                  f" / {n_train}", file=out)
        if "evaluation_cost" in record:
            print(f"Cost on evaluation data: {record['evaluation_cost']}", file=out)
        if "evaluation_correct" in record:
            print(f"Accuracy on evaluation data: {record['evaluation_correct']} / {n_eval}",
                  file=out)

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
        from .io import save_network
        save_network(self, filename)
