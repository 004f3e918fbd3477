"""One epoch of mini-batch SGD for a ``Network``, two ways that give the same weights.

``train_epoch`` shuffles the training data with the network's generator and runs
every mini-batch, either

* on the NumPy path: ``update_mini_batch``'s matrix form, one mini-batch at a time
  (backprop.py, the reference), with any optimiser; or
* on the compiled path: the whole epoch in one numba call (kernels.py), for plain
  SGD and momentum with every cost, activation and regulariser here.

Both draw the same random numbers (the permutation, then the dropout masks) and
agree to ~1e-12 in float64 (tests/test_kernels.py).  Finiteness is checked once
at the end of the epoch; only when that fails is the epoch replayed from a
snapshot, checking after every mini-batch, to name the first one that broke.

Left out on purpose: anything that happens between epochs (evaluation, records,
callbacks: that is ``Network.SGD``).
"""

import copy

import numpy as np

from ..base.activations import ACTIVATIONS
from ..base.costs import COSTS
from ..base.jit import HAVE_NUMBA
from ..base.optimizers import SGD, Momentum
from ..base.regularization import dropout_mask
from . import backprop, kernels, layout
from .pixels import pixel_table


def train_epoch(net, ex, mini_batch_size, optimizer, regularizer, lmbda, dropout):
    """One pass over ``ex`` (Examples) in a fresh random order, updating ``net`` in place.

    Returns (the path that ran, "numba" or "numpy"; the index of the first mini-batch
    after which some weight or bias was not finite, 0 if the epoch started so, else -1).
    """
    if compiled_path_supports(net, optimizer):
        return "numba", _compiled_epoch(net, ex, mini_batch_size, optimizer, regularizer,
                                        lmbda, dropout)
    return "numpy", _numpy_epoch(net, ex, mini_batch_size, optimizer, regularizer, lmbda,
                                 dropout)


def compiled_path_supports(net, optimizer):
    """Whether the numba kernel can run this configuration (else: the NumPy path)."""
    return (net.backend == "numba" and HAVE_NUMBA
            and type(optimizer) in (SGD, Momentum)
            and net.cost in COSTS.values()
            and net.activation.name in layout.ACTIVATION_CODES
            and net.activation.name != "softmax"
            and net.output_activation.name in layout.ACTIVATION_CODES
            and ACTIVATIONS.get(net.activation.name) is net.activation
            and ACTIVATIONS.get(net.output_activation.name) is net.output_activation)


def step(net, X, Y, optimizer, regularizer, lmbda, n, dropout):
    """One gradient step on the mini-batch (X, Y): backprop, the penalty, the optimiser."""
    masks = [dropout_mask(net.rng, (X.shape[0], width), dropout, net.dtype)
             for width in net.sizes[1:-1]] if dropout else None
    zs, activations = backprop.feedforward(net.weights, net.biases, X, net.activation,
                                           net.output_activation, masks)
    nabla_b, nabla_w = backprop.backward(net.weights, zs, activations, Y, net.cost,
                                         net.activation, net.output_activation, masks)
    if lmbda:
        # (L2)/(L1) the penalty's gradient term; biases are not regularised.
        nabla_w = [g + regularizer.gradient(w, lmbda, n) for g, w in zip(nabla_w, net.weights)]
    optimizer.step(net.weights + net.biases, nabla_w + nabla_b)  # (SGD) or (MOMENTUM)


def _finite(net):
    return all(np.all(np.isfinite(p)) for p in net.weights + net.biases)


def _numpy_epoch(net, ex, mini_batch_size, optimizer, regularizer, lmbda, dropout):
    start_finite = _finite(net)
    snapshot = copy.deepcopy((net.weights, net.biases, optimizer, net.rng))
    _numpy_batches(net, ex, mini_batch_size, optimizer, regularizer, lmbda, dropout)
    if _finite(net):
        return -1
    if not start_finite:
        return 0
    # Replay the epoch from the snapshot (same draws), checking after every step.
    end = (net.weights, net.biases, net.rng)
    net.weights, net.biases, replay_optimizer, net.rng = snapshot
    try:
        return _numpy_batches(net, ex, mini_batch_size, replay_optimizer, regularizer, lmbda,
                              dropout, check_each_batch=True)
    finally:
        net.weights, net.biases, net.rng = end


def _numpy_batches(net, ex, mini_batch_size, optimizer, regularizer, lmbda, dropout,
                   check_each_batch=False):
    order = net.rng.permutation(len(ex))  # the caller's data stays as it was
    for b, k in enumerate(range(0, len(ex), mini_batch_size)):
        idx = order[k:k + mini_batch_size]
        step(net, ex.rows(idx), ex.Y[idx], optimizer, regularizer, lmbda, len(ex), dropout)
        if check_each_batch and not _finite(net):
            return b
    return -1


def _compiled_epoch(net, ex, mini_batch_size, optimizer, regularizer, lmbda, dropout):
    """The same permutation and dropout draws as the NumPy path (one ``rng.random`` call
    per epoch gives the same numbers as one per mini-batch and layer), then one kernel
    call for the whole epoch."""
    n = len(ex)
    order = net.rng.permutation(n)
    n_hidden = sum(net.sizes[1:-1])
    uniforms = net.rng.random(n * n_hidden) if dropout else np.zeros(0)
    dtype = net.dtype
    params = layout.pack(net.weights, net.biases, dtype)
    L = len(net.weights)
    if type(optimizer) is Momentum:
        if optimizer.velocities is None:
            optimizer.velocities = [np.zeros_like(p) for p in net.weights + net.biases]
        velocity = layout.pack(optimizer.velocities[:L], optimizer.velocities[L:], dtype)
        mu = optimizer.mu
    else:
        velocity, mu = np.zeros(0, dtype=dtype), 0.0
    data = layout.TrainingSet(*ex.nonzero_entries(), pixel_table(dtype),
                               np.ascontiguousarray(ex.Y))
    hyper = layout.hyperparameters(
        hidden=net.activation.name, output=net.output_activation.name, cost=net.cost.name,
        penalty=regularizer.name if lmbda else None, eta=optimizer.eta,
        lmbda_n=float(lmbda) / n, mu=mu, dropout=dropout, dtype=dtype)
    layers = layout.layers(net.sizes)
    mb_size = int(mini_batch_size)
    work = layout.workspace(layers, mb_size, dtype)
    start = (params.copy(), velocity.copy())
    kernels.train_epoch(data, order, mb_size, params, velocity, layers, hyper, work, uniforms,
                        False)
    first_bad = -1
    if not np.all(np.isfinite(params)):
        if not np.all(np.isfinite(start[0])):
            first_bad = 0
        else:  # replay from the start (same order and draws), checking every step
            first_bad = kernels.train_epoch(data, order, mb_size, *start, layers, hyper, work,
                                            uniforms, True)
    layout.unpack(params, net.sizes, net.weights, net.biases)
    if type(optimizer) is Momentum:
        layout.unpack(velocity, net.sizes, optimizer.velocities[:L], optimizer.velocities[L:])
    return first_bad
