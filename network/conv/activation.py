"""The conv layers' activations in compiled code.  sigma and sigma' one number at a time
are network/base/activations.py's ``_activate`` and ``_prime``, shared with the MLP's
kernel: each activation has a small integer code there, so one compiled stage serves
them all; ``activation_code`` gives it for a conv layer's activation.
``_sigmoid_rows`` computes the sigmoid of a whole array with its own exponential, so
the loop vectorises (libm's exp is a call per number).

Deliberately left out: softmax (not elementwise; the softmax layer applies it in NumPy).
"""

import numpy as np

from ..base.activations import CODES, SOFTMAX
from ..base.jit import jit
from ..errors import UsageError


def activation_code(activation):
    """The compiled stages' code for an activation class (network/base/activations.py)."""
    if activation.name not in CODES or CODES[activation.name] == SOFTMAX:
        raise UsageError(f"a hidden layer's activation must be one of "
                         f"{', '.join(n for n, c in CODES.items() if c != SOFTMAX)}, "
                         f"got {activation.name!r}")
    return CODES[activation.name]


@jit(fma=True)
def _exp_parts32(z, part, bits):
    """float32: e^{-|z|} = part * 2^k, k's float exponent bits into bits (int32)."""
    f = np.float32
    for e in range(z.shape[0]):
        x = max(-abs(z[e]), f(-87.33654))               # ln of the smallest normal float32
        k = np.rint(x * f(1.4426950408889634))          # x / ln 2
        r = (x - k * f(0.693359375)) - k * f(-2.12194440e-4)   # ln 2 in two parts
        p = f(1 / 5040) * r + f(1 / 720)                # e^r, degree 7 (r^8/8! < 6e-9)
        p = p * r + f(1 / 120)
        p = p * r + f(1 / 24)
        p = p * r + f(1 / 6)
        p = p * r + f(0.5)
        p = p * r + f(1.0)
        part[e] = p * r + f(1.0)
        bits[e] = (np.int32(k) + np.int32(127)) << np.int32(23)


@jit(fma=True)
def _exp_parts64(z, part, bits):
    """float64: e^{-|z|} = part * 2^k, k's float exponent bits into bits (int64)."""
    for e in range(z.shape[0]):
        x = max(-abs(z[e]), -708.3964185322641)         # ln of the smallest normal float64
        k = np.rint(x * 1.4426950408889634)
        r = (x - k * 0.693145751953125) - k * 1.4286068203094172e-06
        p = (1 / 479001600) * r + 1 / 39916800          # e^r, degree 12 (r^13/13! < 2e-16)
        p = p * r + 1 / 3628800
        p = p * r + 1 / 362880
        p = p * r + 1 / 40320
        p = p * r + 1 / 5040
        p = p * r + 1 / 720
        p = p * r + 1 / 120
        p = p * r + 1 / 24
        p = p * r + 1 / 6
        p = p * r + 0.5
        p = p * r + 1.0
        part[e] = p * r + 1.0
        bits[e] = (np.int64(k) + np.int64(1023)) << np.int64(52)


@jit
def _sigmoid_rows(z, a, part, bits, scale):
    """(SIGMOID) a = sigma(z) over flat arrays, the stable form of activations.Sigmoid with
    e^{-|z|} = 2^k e^r computed here: k = round(-|z| / ln 2), r = -|z| - k ln 2 (ln 2 in two
    parts, so k ln 2 is exact), e^r by its Taylor polynomial, 2^k built as a float's
    exponent bits in ``bits`` (int32 or int64, as z's float) and read through a view.
    Within 2 units in the last place of libm's exp, and no call per number, so the loops
    vectorise (docs/speed.md, "What it took", has the measurement against libm's
    expf).  Where e^{-|z|} would leave the normal range (|z| > 87.3 in float32, 708 in
    float64) it is taken as 0; a NaN stays NaN.  ``part`` is a work array like z, ``scale``
    is ``bits`` viewed as z's float (made by the caller: a view made here, inside the
    threads, cost ~40 us per mini-batch, measured)."""
    if z.itemsize == 4:
        _exp_parts32(z, part, bits)
        floor = -87.33654
    else:
        _exp_parts64(z, part, bits)
        floor = -708.3964185322641
    _sigmoid_from_parts(z, part, scale, z.dtype.type(floor), a)


@jit
def _sigmoid_from_parts(z, part, scale, floor, a):
    """(SIGMOID) a = 1 / (1 + e) for z >= 0, e / (1 + e) below, e = e^{-|z|} = part * scale
    (0 below ``floor``, the log of the smallest normal number); a NaN stays NaN."""
    one = z.dtype.type(1.0)
    for e in range(z.shape[0]):
        ze = z[e]
        ex = part[e] * scale[e] if -abs(ze) > floor else part[e] * 0     # e^{-|z|}, or 0
        s = (one if ze >= 0 else ex) / (one + ex)
        a[e] = s if ze == ze else ze
