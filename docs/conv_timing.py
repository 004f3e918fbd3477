"""Timings behind docs/speed.md's chapter 6 sections, on random images (no MNIST needed).

    python docs/conv_timing.py epoch THREADS [conv1|relu] [IMAGES]
    python docs/conv_timing.py regions THREADS [conv1|relu]

``epoch``: one warm-up epoch on 200 images, then three epochs on IMAGES (default 2,000)
random images, mini-batch 10; prints the best and the median ("Two threads on a busy
machine": run it with and without another busy process on the machine, e.g.
``python chapters/chap6.py relu --threads 1``, and with the OpenMP settings to compare
in the environment, ``GOMP_SPINCOUNT=...``, ``OMP_WAIT_POLICY=...``).

``regions``: the compiled training step (network/conv/step.py) taken apart: the forward
call, the softmax in NumPy and the backward-and-step call, each timed over 1,000
mini-batches of 10 after 50 to warm up ("One compiled step per mini-batch").

The nets are network/bench/conv.py's, float32.
"""

import statistics
import sys
import time

import numpy as np

from network.base.activations import Softmax
from network.base.jit import threads
from network.bench.conv import layers
from network.conv import ConvNetwork, step


def _net(name, T, n, raw):
    """The net trained one epoch on 200 images; X random floats in [0, 1), or raw uint8
    pixels (raw), as the measurements in docs/speed.md used them."""
    rng = np.random.default_rng(0)
    X = (rng.random((n, 784)) * 255).astype(np.uint8) if raw else rng.random((n, 784), np.float32)
    y = rng.integers(0, 10, n)
    net = ConvNetwork(layers(name), seed=1, threads=T)
    net.SGD((X[:200], y[:200]), 1, 10, 0.01, verbose=False)
    return net, X, y


def epoch(T, name="conv1", n=2000):
    import numba
    net, X, y = _net(name, T, n, raw=False)
    seconds = []
    for _ in range(3):
        start = time.perf_counter()
        net.SGD((X, y), 1, 10, 0.01, verbose=False)
        seconds.append(time.perf_counter() - start)
    print(f"{name} on {T} thread(s), {n} images: best {min(seconds):.3f} s, median "
          f"{statistics.median(seconds):.3f} s (numba threading layer {numba.threading_layer()})")


def regions(T, name="conv1", warm=50, N=1000):
    net, X, y = _net(name, T, 2000, raw=True)
    st = step.TrainingStep(net.layers, 10, T, net.dtype)
    f = st.dtype.type
    spent = np.zeros(3)
    with threads(T):
        for k in range(warm + N):
            idx = np.arange(10) + (k % 150) * 10
            t0 = time.perf_counter()
            step._forward(X, idx, f(1 / 255), True, T, *st.conv, st.conv_spec, *st.dense,
                          st.dense_spec)
            t1 = time.perf_counter()
            out = Softmax.fn(st.dense.z[-1])
            t2 = time.perf_counter()
            step._backward_and_step(out, y, idx, f(0.01), f(0.0), False, T, *st.conv,
                                    st.conv_spec, *st.dense, st.dense_spec)
            t3 = time.perf_counter()
            if k >= warm:
                spent += (t1 - t0, t2 - t1, t3 - t2)
    us = spent / N * 1e6
    print(f"{name} on {T} thread(s), us per mini-batch of 10: forward {us[0]:.0f}, softmax "
          f"{us[1]:.0f}, backward and step {us[2]:.0f}, whole step {us.sum():.0f}")


if __name__ == "__main__":
    what, T, rest = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    if what == "epoch":
        epoch(T, *rest[:1], *[int(a) for a in rest[1:2]])
    elif what == "regions":
        regions(T, *rest[:1])
    else:
        sys.exit(f"conv_timing: unknown {what!r}; give epoch or regions")
