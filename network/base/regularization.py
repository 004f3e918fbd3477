"""L2 and L1 regularisation as a penalty value and a gradient term, and dropout's mask
(chapter 3, "Regularization").

Both act on weights only; biases are never decayed (the book's choice).  ``n``
is the size of the *training* set, whichever set the cost is being evaluated on.
Expressed as a gradient term, the penalty works with every optimiser; with plain
SGD the step w -> w - eta (g + term) is exactly the book's update rule.

network3's convention (chapter 6) differs by the mini-batch size m: ``network3_lmbda``
converts.

Deliberately left out: elastic net, max-norm constraints, decaying biases, dropout
schedules.
"""

import numpy as np

from ..errors import UsageError


class L2:
    """(L2) C = C0 + (lmbda / 2n) sum_w w^2.

    Gradient term (lmbda / n) w, so plain SGD gives the book's weight decay
    w -> (1 - eta lmbda / n) w - (eta / m) sum_x dC_x/dw  (book eq. 93).
    """

    name = "L2"

    @staticmethod
    def penalty(weights, lmbda, n):
        return 0.5 * (lmbda / n) * sum(float(np.sum(w * w)) for w in weights)  # (L2)

    @staticmethod
    def gradient(w, lmbda, n):
        return (lmbda / n) * w  # (L2) d/dw of (lmbda / 2n) w^2


class L1:
    """(L1) C = C0 + (lmbda / n) sum_w |w|.

    Gradient term (lmbda / n) sgn(w), with sgn(0) = 0, so plain SGD gives the book's
    w -> w - (eta lmbda / n) sgn(w) - (eta / m) sum_x dC_x/dw  (book eq. 98).
    """

    name = "L1"

    @staticmethod
    def penalty(weights, lmbda, n):
        return (lmbda / n) * sum(float(np.sum(np.abs(w))) for w in weights)  # (L1)

    @staticmethod
    def gradient(w, lmbda, n):
        return (lmbda / n) * np.sign(w)  # (L1) np.sign(0) = 0, the book's convention


def network3_lmbda(lmbda, mini_batch_size):
    """The ``lmbda`` to give this library's (L2), (lmbda / 2n) sum w^2, for the strength that
    ``lmbda`` has in the book's network3.py (chapter 6).

    (L2-NETWORK3) network3 adds 0.5 * lmbda * sum(w^2) / num_training_batches to the *mean*
    cost of a mini-batch, and num_training_batches = n / m, so its penalty is
    (lmbda m / 2n) sum w^2: network2's term with lmbda m in place of lmbda.  At the
    book's mini-batch of 10, network3's "lmbda = 0.1" is network2's lmbda = 1.0.
    """
    return lmbda * mini_batch_size   # (L2-NETWORK3) lambda m / (2n) = (lambda m) / (2n)


REGULARIZERS = {"L2": L2, "L1": L1}


def get_regularizer(name):
    """L2 or L1 by name (case-insensitive); the class itself passes through."""
    if name in (L1, L2):
        return name
    key = str(name).upper()
    if key not in REGULARIZERS:
        raise UsageError(f"unknown regularization {name!r}; choose L2 or L1")
    return REGULARIZERS[key]


def dropout_mask(rng, shape, p, dtype):
    """(DROPOUT) a mask of ``shape`` that keeps each unit with probability 1 - p and scales
    the kept ones by 1/(1 - p) (inverted dropout: E[mask] = 1, so nothing changes at
    test time).  The one place the Network and the ConvNetwork draw their masks."""
    return ((rng.random(shape) >= p) / (1.0 - p)).astype(dtype)
