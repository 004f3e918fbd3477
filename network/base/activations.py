"""Activation functions as tiny objects with a value and a derivative, and the same
formulas one number at a time for compiled code.

Each activation has ``fn(z)`` and ``prime(z)`` acting elementwise on arrays of
any shape (rows are examples), plus a ``name`` used in model files and on the
command line.  The compiled kernels (network/mlp/kernels.py, network/conv/) take an
activation as a small integer ``CODES[name]`` and compute it with ``_activate`` and
``_prime`` below, one number at a time.  Softmax is the exception: it acts on each row as a whole and has
no elementwise derivative; it only ever appears as the output layer of a
log-likelihood network, where the output error is simply a - y (LOGLIK).

Deliberately left out: parametric activations (PReLU, ...), anything with state.
"""

import numpy as np

from ..errors import UsageError
from .jit import inline, jit


class Sigmoid:
    """(SIGMOID) sigma(z) = 1 / (1 + e^{-z}),  sigma'(z) = sigma(z) (1 - sigma(z))."""

    name = "sigmoid"

    @staticmethod
    def fn(z):
        # Stable form: exponentiate only -|z| <= 0, so e^{-z} never overflows for very
        # negative z (the book's version warns there) and tiny outputs keep full precision.
        e = np.exp(-np.abs(z))
        return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))

    @staticmethod
    def prime(z):
        s = Sigmoid.fn(z)
        return s * (1.0 - s)  # (SIGMOID) sigma' = sigma (1 - sigma)


class Tanh:
    """(TANH) tanh(z) = 2 sigma(2z) - 1,  tanh'(z) = 1 - tanh(z)^2."""

    name = "tanh"

    @staticmethod
    def fn(z):
        return np.tanh(z)

    @staticmethod
    def prime(z):
        t = np.tanh(z)
        return 1.0 - t * t  # (TANH)


class ReLU:
    """(RELU) max(0, z), derivative 1 for z > 0 and 0 otherwise (we take 0 at z = 0)."""

    name = "relu"

    @staticmethod
    def fn(z):
        return np.maximum(z, 0.0)

    @staticmethod
    def prime(z):
        return (z > 0).astype(z.dtype)  # (RELU)


class Identity:
    """Linear neurons: a = z (chapter 2, exercise 4; chapter 3, exercise 5)."""

    name = "identity"

    @staticmethod
    def fn(z):
        return z

    @staticmethod
    def prime(z):
        return np.ones_like(z)


class SiLU:
    """SiLU (swish): z sigma(z), derivative sigma(z) (1 + z (1 - sigma(z))). Used by the VAE."""

    name = "silu"

    @staticmethod
    def fn(z):
        return z * Sigmoid.fn(z)

    @staticmethod
    def prime(z):
        s = Sigmoid.fn(z)
        return s * (1.0 + z * (1.0 - s))


class Softmax:
    """(SOFTMAX) a_j = e^{z_j} / sum_k e^{z_k}, over the last axis (each row one example)."""

    name = "softmax"

    @staticmethod
    def fn(z):
        # Subtracting the row maximum changes nothing mathematically (it cancels in the
        # ratio) and keeps every exponent <= 0, so nothing overflows.
        e = np.exp(z - np.max(z, axis=-1, keepdims=True))
        return e / np.sum(e, axis=-1, keepdims=True)

    @staticmethod
    def prime(z):
        raise TypeError("softmax has no elementwise derivative; its Jacobian is "
                        "a_j (delta_jk - a_k). Use it only as the output of LogLikelihoodCost, "
                        "whose output error a - y already includes it.")


ACTIVATIONS = {cls.name: cls for cls in (Sigmoid, Tanh, ReLU, Identity, SiLU, Softmax)}


def get_activation(name_or_class):
    """The activation class for a name ('sigmoid', 'tanh', ...) or the class itself."""
    if isinstance(name_or_class, str):
        key = name_or_class.lower()
        if key not in ACTIVATIONS:
            raise UsageError(f"unknown activation {name_or_class!r}; choose one of "
                             f"{', '.join(sorted(ACTIVATIONS))}")
        return ACTIVATIONS[key]
    if isinstance(name_or_class, type) and name_or_class in ACTIVATIONS.values():
        return name_or_class
    if type(name_or_class) in ACTIVATIONS.values():  # an instance: use its class
        return type(name_or_class)
    raise UsageError(f"unknown activation {name_or_class!r}")


# ---- one number at a time, for compiled code ---------------------------------------------

SIGMOID, TANH, RELU, IDENTITY, SILU, SOFTMAX = 0, 1, 2, 3, 4, 5
CODES = {"sigmoid": SIGMOID, "tanh": TANH, "relu": RELU, "identity": IDENTITY, "silu": SILU,
         "softmax": SOFTMAX}


@inline
def _sigma(z):
    """(SIGMOID) the stable sigmoid of one number, as Sigmoid.fn: exponentiate -|z| only,
    1 / (1 + e) for z >= 0, e / (1 + e) below.  The numerator is picked without a branch
    (the sign of z is a coin toss: mispredicted branches cost ~5% of the MLP's epoch)."""
    e = np.exp(-abs(z))
    return (1.0 if z >= 0 else e) / (1.0 + e)


@jit
def _activate(code, z):
    """(FF) sigma(z) for one weighted input, each formula as in the classes above (SOFTMAX
    is not elementwise: the caller takes it per row)."""
    if code == SIGMOID:
        return _sigma(z)                     # (SIGMOID)
    if code == TANH:
        return np.tanh(z)                    # (TANH)
    if code == RELU:
        return z if (z > 0 or z != z) else 0.0   # (RELU) max(z, 0); a NaN stays NaN
    if code == SILU:
        return z * _sigma(z)                 # z sigma(z)
    return z                                 # identity


@jit
def _prime(code, z, a):
    """sigma'(z) given z and a = sigma(z), each formula as in the classes above."""
    if code == SIGMOID:
        return a * (1.0 - a)                 # (SIGMOID) sigma' = sigma (1 - sigma)
    if code == TANH:
        return 1.0 - a * a                   # (TANH) 1 - tanh^2
    if code == RELU:
        return 1.0 if z > 0 else 0.0         # (RELU) 0 at z = 0
    if code == SILU:
        sig = _sigma(z)
        return sig * (1.0 + z * (1.0 - sig))   # (z sigma(z))' = sigma + z sigma (1 - sigma)
    return 1.0                               # identity
