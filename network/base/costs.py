"""Cost functions as tiny classes with a value and an output error, as in the book.

Each cost has
  ``fn(a, y, z=None)``  the cost summed over every example (row) given,
  ``delta(z, a, y, activation)``  the output error delta^L = dC/dz^L for each row,
and a ``name`` used in model files.  ``a`` are the output activations (n, k),
``y`` the targets as one-hot (or fractional) rows (n, k), ``z`` the output
layer's weighted inputs (n, k).  Passing ``z`` to ``fn`` lets the
cross-entropy and log-likelihood costs use exact formulas that never take
log 0; the Network always does so.

Deliberately left out: costs the book does not use (hinge, Huber, ...).
"""

import numpy as np

from .activations import Sigmoid, Softmax
from ..errors import UsageError

# The smallest positive float64: only used when a cost is asked for from
# activations alone and an activation has rounded to exactly 0 or 1.
_TINY = np.finfo(np.float64).tiny


class QuadraticCost:
    """(QUAD) C = 1/2 ||y - a||^2 per example; delta^L = (a - y) * sigma'(z^L)."""

    name = "quadratic"

    @staticmethod
    def fn(a, y, z=None):
        return 0.5 * float(np.sum((a - y) ** 2))  # (QUAD)

    @staticmethod
    def delta(z, a, y, activation=Sigmoid):
        return (a - y) * activation.prime(z)  # (QUAD) with (BP1)

    @staticmethod
    def check_output(activation):
        if activation is Softmax:
            raise UsageError("the quadratic cost needs an elementwise output activation, "
                             "not softmax; use --cost log-likelihood with softmax")


class CrossEntropyCost:
    """(XENT) C = -sum_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)]; delta^L = a - y.

    The output error a - y holds only for sigmoid output neurons: the sigma'(z)
    of (BP1) cancels against the cost's derivative (book eq. 66).
    """

    name = "cross-entropy"

    @staticmethod
    def fn(a, y, z=None):
        if z is not None:
            # With a = sigma(z): -ln a = softplus(-z) and -ln(1-a) = softplus(z), so
            # C = sum [softplus(z) - y z]; logaddexp(0, z) = softplus(z) never overflows
            # and never meets log 0, even when a has rounded to exactly 0 or 1.
            return float(np.sum(np.logaddexp(0.0, z) - y * z))  # (XENT)
        # From activations alone: a term whose coefficient is 0 is 0 (not 0 * -inf = nan,
        # the book's nan_to_num problem); the clip only matters where a rounded to 0 or 1.
        ln_a = np.log(np.maximum(a, _TINY))
        ln_1ma = np.log(np.maximum(1.0 - a, _TINY))
        terms = np.where(y > 0, y * ln_a, 0.0) + np.where(y < 1, (1.0 - y) * ln_1ma, 0.0)
        return -float(np.sum(terms))  # (XENT)

    @staticmethod
    def delta(z, a, y, activation=Sigmoid):
        return a - y  # (XENT) output error for sigmoid outputs

    @staticmethod
    def check_output(activation):
        if activation is not Sigmoid:
            raise UsageError(f"the cross-entropy cost needs sigmoid output neurons (its output "
                             f"error a - y relies on them), got {activation.name!r}")


class LogLikelihoodCost:
    """(LOGLIK) C = -ln a_y for a softmax output layer; delta^L = a - y (book eq. 84)."""

    name = "log-likelihood"

    @staticmethod
    def fn(a, y, z=None):
        if z is not None:
            # -ln softmax(z)_j = logsumexp(z) - z_j, computed with the max shifted out so
            # nothing overflows and no log of a rounded-to-0 probability is taken.
            zmax = np.max(z, axis=-1, keepdims=True)
            lse = zmax + np.log(np.sum(np.exp(z - zmax), axis=-1, keepdims=True))
            return float(np.sum(y * (lse - z)))  # (LOGLIK)
        return -float(np.sum(np.where(y > 0, y * np.log(np.maximum(a, _TINY)), 0.0)))  # (LOGLIK)

    @staticmethod
    def delta(z, a, y, activation=Softmax):
        return a - y  # (LOGLIK) output error with softmax outputs

    @staticmethod
    def check_output(activation):
        if activation is not Softmax:
            raise UsageError(f"the log-likelihood cost needs a softmax output layer, "
                             f"got {activation.name!r}")


COSTS = {cls.name: cls for cls in (QuadraticCost, CrossEntropyCost, LogLikelihoodCost)}
# Book class names, as written in network2.py's JSON files.
COSTS_BY_CLASS_NAME = {cls.__name__: cls for cls in COSTS.values()}


def get_cost(name_or_class):
    """The cost class for 'quadratic', 'cross-entropy', 'log-likelihood', a book class
    name such as 'CrossEntropyCost', the class itself, or an instance of it."""
    if isinstance(name_or_class, str):
        key = name_or_class.lower().replace("_", "-")
        if key in COSTS:
            return COSTS[key]
        if name_or_class in COSTS_BY_CLASS_NAME:
            return COSTS_BY_CLASS_NAME[name_or_class]
        raise UsageError(f"unknown cost {name_or_class!r}; choose one of {', '.join(COSTS)}")
    if isinstance(name_or_class, type) and name_or_class in COSTS.values():
        return name_or_class
    if type(name_or_class) in COSTS.values():  # the book's save() failed on instances
        return type(name_or_class)
    raise UsageError(f"unknown cost {name_or_class!r}; choose one of {', '.join(COSTS)}")


def default_output_activation(cost):
    """Sigmoid outputs for quadratic and cross-entropy costs, softmax for log-likelihood."""
    return Softmax if cost is LogLikelihoodCost else Sigmoid
