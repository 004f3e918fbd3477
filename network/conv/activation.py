"""sigma and sigma' one number at a time, for the compiled stages (the same formulas as
network/base/activations.py, which the NumPy twins use).

Each activation has a small integer code, so one compiled stage serves them all.

Deliberately left out: softmax (not elementwise; the softmax layer applies it in NumPy).
"""

import numpy as np

from ..base.jit import jit
from ..errors import UsageError

IDENTITY, SIGMOID, TANH, RELU, SILU = 0, 1, 2, 3, 4
CODES = {"identity": IDENTITY, "sigmoid": SIGMOID, "tanh": TANH, "relu": RELU, "silu": SILU}


def activation_code(activation):
    """The compiled stages' code for an activation class (network/base/activations.py)."""
    if activation.name not in CODES:
        raise UsageError(f"a conv-pool layer's activation must be one of {', '.join(CODES)}, "
                         f"got {activation.name!r}")
    return CODES[activation.name]


@jit
def _activate(code, z):
    """(FF) sigma(z), each formula as in activations.py."""
    if code == SIGMOID:
        e = np.exp(-abs(z))                  # (SIGMOID) stable: exponentiate -|z| only
        return (1.0 if z >= 0 else e) / (1.0 + e)
    if code == TANH:
        return np.tanh(z)                    # (TANH)
    if code == RELU:
        return z if (z > 0 or z != z) else 0.0   # (RELU) max(z, 0); a NaN stays NaN
    if code == SILU:
        e = np.exp(-abs(z))
        return z * ((1.0 if z >= 0 else e) / (1.0 + e))   # z sigma(z)
    return z


@jit
def _prime(code, z, a):
    """sigma'(z) given z and a = sigma(z)."""
    if code == SIGMOID:
        return a * (1.0 - a)                 # (SIGMOID) sigma' = sigma (1 - sigma)
    if code == TANH:
        return 1.0 - a * a                   # (TANH) 1 - tanh^2
    if code == RELU:
        return 1.0 if z > 0 else 0.0         # (RELU) 0 at z = 0
    if code == SILU:
        e = np.exp(-abs(z))
        sig = (1.0 if z >= 0 else e) / (1.0 + e)
        return sig * (1.0 + z * (1.0 - sig))
    return 1.0
