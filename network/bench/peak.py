"""The machine's float32 multiply-add peak, measured: what a fraction of peak is a fraction of.

``peak_gflops(threads)`` runs a tight compiled loop, x = x * a + b on 8 x 16 x 4
independent float32 numbers per thread (enough to keep every multiply-add unit
busy whatever its latency; each chain is one fused multiply-add per step, fma in
network/base/jit.py), on ``threads`` threads at once, and returns the best of a
few runs in GFLOP/s (a multiply-add counts 2).  The numbers stay in registers, so
memory plays no part: it is the ceiling no real kernel reaches.

Deliberately left out: float64, turbo and power states (a short burst measures the
clock the cores run at just then).
"""

import time

import numpy as np

from ..base.jit import jit, prange, threads as _threads

CHAINS = 8      # independent accumulators per vector lane group
WIDTH = 64      # numbers per chain: four 16-wide vectors, so the loop over them vectorises
STEPS = 16      # multiply-adds per number per pass


@jit(parallel=True, fma=True)
def _madd(acc, a, b, reps):
    """acc (T, CHAINS, WIDTH): thread t runs its own rows; each number gets reps * STEPS
    dependent multiply-adds, the CHAINS x WIDTH numbers independent of each other."""
    for t in prange(acc.shape[0]):
        for r in range(reps):
            for i in range(acc.shape[2]):
                x0, x1, x2, x3 = acc[t, 0, i], acc[t, 1, i], acc[t, 2, i], acc[t, 3, i]
                x4, x5, x6, x7 = acc[t, 4, i], acc[t, 5, i], acc[t, 6, i], acc[t, 7, i]
                for _ in range(STEPS):
                    x0 = x0 * a + b
                    x1 = x1 * a + b
                    x2 = x2 * a + b
                    x3 = x3 * a + b
                    x4 = x4 * a + b
                    x5 = x5 * a + b
                    x6 = x6 * a + b
                    x7 = x7 * a + b
                acc[t, 0, i], acc[t, 1, i], acc[t, 2, i], acc[t, 3, i] = x0, x1, x2, x3
                acc[t, 4, i], acc[t, 5, i], acc[t, 6, i], acc[t, 7, i] = x4, x5, x6, x7


def peak_gflops(threads=1, seconds=0.2, tries=5):
    """Best-of-``tries`` float32 GFLOP/s of the multiply-add loop on ``threads`` threads,
    each try about ``seconds`` long."""
    acc = np.ones((threads, CHAINS, WIDTH), dtype=np.float32)
    a, b = np.float32(0.999), np.float32(0.001)      # x -> a x + b stays near 1: no overflow
    with _threads(threads):
        _madd(acc, a, b, 1)                           # compile, wake the threads
        reps = 1
        while True:                                   # find reps for about ``seconds``
            start = time.perf_counter()
            _madd(acc, a, b, reps)
            if time.perf_counter() - start > seconds / 4 or reps > 1 << 30:
                break
            reps *= 4
        best = 0.0
        for _ in range(tries):
            start = time.perf_counter()
            _madd(acc, a, b, reps)
            elapsed = time.perf_counter() - start
            best = max(best, 2.0 * threads * CHAINS * WIDTH * STEPS * reps / elapsed / 1e9)
    return best
