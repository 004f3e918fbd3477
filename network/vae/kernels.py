"""Fused elementwise kernels for the VAE's fast path, each with a plain NumPy twin.

Only the output layer's elementwise work is fused: for a (128, 784) batch the
Bernoulli loss and its gradient need exp, log1p, a sigmoid and a few
multiplies per pixel; NumPy makes one pass (and one temporary) per operation,
numba makes one pass in all. Matrix products stay in NumPy (BLAS is faster
than anything we would write). The tests hold each numba kernel equal to its
NumPy twin to ~1e-12 in float64.

numba is optional: without it (or with NNDL_NO_NUMBA=1 in the environment)
the NumPy twins are used and only speed changes.

Left out on purpose: fusing the hidden activations (ReLU on (128, 400) is one
cheap pass; measured, it did not pay) and a fused Adam (the optimiser is
shared with the Network and lives in network/optimizers.py).
"""

import os

import numpy as np


def rec_loss_and_delta_numpy(logits, x, scale, delta_out):
    """(VAE-REC) per-example rec = sum_j softplus(l_j) - x_j l_j, shape (m,); and, in place,
    delta_out = scale * (sigmoid(l) - x)  (the output error of the loss, scaled by beta-free 1/m)."""
    e = np.exp(-np.abs(logits))  # e^{-|l|} <= 1: never overflows
    rec = np.sum(np.maximum(logits, 0.0) + np.log1p(e) - x * logits, axis=1)  # (m,)
    s = np.where(logits >= 0, 1.0 / (1.0 + e), e / (1.0 + e))  # stable sigmoid(l)
    np.multiply(s - x, scale, out=delta_out)
    return rec


try:
    if os.environ.get("NNDL_NO_NUMBA"):
        raise ImportError("disabled by NNDL_NO_NUMBA")
    import numba
except ImportError:  # pragma: no cover - depends on the environment
    numba = None


if numba is not None:
    @numba.njit(cache=True, fastmath=False)
    def _rec_loss_and_delta_numba(logits, x, scale, delta_out, rec):
        m, n = logits.shape
        for i in range(m):
            acc = 0.0  # float64 accumulator even for float32 data
            for j in range(n):
                l = logits[i, j]
                e = np.exp(-abs(l))
                acc += max(l, 0.0) + np.log1p(e) - x[i, j] * l  # (VAE-REC)
                s = 1.0 / (1.0 + e) if l >= 0 else e / (1.0 + e)
                delta_out[i, j] = scale * (s - x[i, j])
            rec[i] = acc
        return rec

    def rec_loss_and_delta_numba(logits, x, scale, delta_out):
        """numba twin of rec_loss_and_delta_numpy: one pass over the pixels."""
        rec = np.empty(logits.shape[0], dtype=logits.dtype)
        return _rec_loss_and_delta_numba(logits, x, logits.dtype.type(scale), delta_out, rec)

    rec_loss_and_delta = rec_loss_and_delta_numba
else:  # pragma: no cover
    rec_loss_and_delta_numba = None
    rec_loss_and_delta = rec_loss_and_delta_numpy

HAVE_NUMBA = numba is not None
