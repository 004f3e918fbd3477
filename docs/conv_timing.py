"""Timings behind docs/speed.md's chapter 6 sections, on random images (no MNIST needed).

    python docs/conv_timing.py epoch THREADS [conv1|relu] [IMAGES]
    python docs/conv_timing.py regions THREADS [conv1|relu]
    python docs/conv_timing.py rounds [conv1|relu]
    python docs/conv_timing.py mnist [conv1|relu]
    python docs/conv_timing.py wake
    python docs/conv_timing.py winner
    python docs/conv_timing.py calls [conv1|relu]

``epoch``: one warm-up epoch on 200 images, then three epochs on IMAGES (default 2,000)
random images, mini-batch 10; prints the best and the median ("Two threads on a busy
machine": run it with and without another busy process on the machine, e.g.
``python chapters/chap6.py relu --threads 1``, and with the OpenMP settings to compare
in the environment, ``GOMP_SPINCOUNT=...``, ``OMP_WAIT_POLICY=...``).

``regions``: the compiled training step (network/conv/step.py) taken apart: the forward
call, the softmax in NumPy and the backward-and-step call, each timed over 1,000
mini-batches of 10 after 50 to warm up ("One compiled step per mini-batch").

``rounds``: the step's regions called one by one (A, the softmax, B, C, D), on 1 and
then 2 threads in one process, five rounds of 300 mini-batches each, alternating; prints
each region's best round ("Arrays on cache lines": on this virtual machine the second
core's speed comes and goes, and the best round is the one least disturbed).

``mnist``: whole epochs of the benchmark's nets on the first 10,000 MNIST training images,
three on one thread, then three on two, in one process.

``wake``: how long an empty two-thread region takes when it follows a pause of 0 to 320
us in Python: whether the second thread was still spinning or had gone to sleep
(run it with ``GOMP_SPINCOUNT=...`` in the environment to compare).

``winner``: relu's second-layer nabla_w alone (conv_pool._winner_sums on a TrainingStep's
own arrays after one mini-batch), on one thread for columns 0..16, each half of the 512
and all of them, then on two threads by halves; best of nine runs of 300 calls each
("The winner sums' fixed work": what a thread does whatever its share of the columns).

``calls``: the training step taken one mini-batch per call from Python (TrainingStep's
__call__, as ConvNetwork.SGD took it before) and a hundred mini-batches per call
(TrainingStep.run, the softmax run from inside the call), on 1 and 2 threads, in bursts
of 100 mini-batches alternating between the two ways, 40 bursts each; prints the best and
the median burst, us per mini-batch ("A hundred mini-batches per call").

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


def mnist_epochs(name="conv1"):
    """Three epochs on the first 10,000 MNIST training images for each thread count, with
    the benchmark's eta and lambda (network/bench/conv.py), in this one process."""
    from network.bench.conv import NETWORKS
    from network.data.mnist import load_arrays
    (X, y), _, _ = load_arrays("mnist", dtype=np.uint8)
    X, y = X[:10_000], y[:10_000]
    _, eta, lmbda = NETWORKS[name]
    for T in (1, 2):
        net = ConvNetwork(layers(name), seed=0, threads=T)
        net.SGD((X[:500], y[:500]), 1, 10, eta, lmbda=lmbda, verbose=False)
        seconds = []
        for _ in range(3):
            start = time.perf_counter()
            net.SGD((X, y), 1, 10, eta, lmbda=lmbda, verbose=False)
            seconds.append(time.perf_counter() - start)
        print(f"{name} on {T} thread(s), 10,000 MNIST images: "
              + ", ".join(f"{1000 * t:.0f}" for t in seconds) + " ms")


def rounds(name="conv1", rounds=5, N=300):
    steps = {}
    for T in (1, 2):
        net, X, y = _net(name, T, 2000, raw=True)
        steps[T] = (step.TrainingStep(net.layers, 10, T, net.dtype), X, y)
    best = {T: np.full(5, np.inf) for T in steps}
    for _ in range(rounds):
        for T, (st, X, y) in steps.items():
            f = st.dtype.type
            args = (T, *st.conv, st.conv_spec, *st.dense, st.dense_spec)
            spent = np.zeros(5)
            with threads(T):
                for k in range(N):
                    idx = np.arange(10) + (k % 150) * 10
                    t0 = time.perf_counter()
                    step._forward(X, idx, f(1 / 255), True, *args)
                    t1 = time.perf_counter()
                    out = Softmax.fn(st.dense.z[-1])
                    t2 = time.perf_counter()
                    step._backward(out, y, idx, *args)
                    t3 = time.perf_counter()
                    step._gradients_step(f(0.01), f(0.0), False, *args)
                    t4 = time.perf_counter()
                    step._patch_weights_step(f(0.01), f(0.0), False, *args)
                    t5 = time.perf_counter()
                    spent += (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)
            best[T] = np.minimum(best[T], spent / N * 1e6)
    for T, us in best.items():
        print(f"{name} on {T} thread(s), best of {rounds} rounds, us per mini-batch of 10: "
              f"A {us[0]:.0f}, softmax {us[1]:.0f}, B {us[2]:.0f}, C {us[3]:.0f}, D {us[4]:.0f} "
              f"(each called from Python), sum {us.sum():.0f}")


def winner(reps=9, N=300):
    from network.base.jit import jit, prange
    from network.conv.conv_pool import _winner_sums

    @jit(parallel=True)
    def sums(bounds, dz, wins, x3, k, s, C, PH, PW, pat, g_r):
        for t in prange(bounds.shape[0]):       # thread t: columns bounds[t], its own copies
            _winner_sums(dz, wins, x3, k, s, C, PH, PW, bounds[t, 0], bounds[t, 1], pat[t],
                         g_r[t])

    net, X, y = _net("relu", 2, 2000, raw=True)
    st = step.TrainingStep(net.layers, 10, 2, net.dtype)
    f, idx = st.dtype.type, np.arange(10)
    args = (2, *st.conv, st.conv_spec, *st.dense, st.dense_spec)
    with threads(2):
        step._forward(X, idx, f(1 / 255), True, *args)
        step._backward(Softmax.fn(st.dense.z[-1]), y, idx, *args)
    c, l = st.conv, 1
    k, s = st.conv_spec[l, step.K_], st.conv_spec[l, step.POOL]
    layer = (c.dz[l], c.wins[l], c.x3[l], k, s, c.x[l].shape[3], *c.z[l].shape[1:3])
    width = c.g_r[l].shape[2]
    for T, label, bounds in ((1, "1 thread", [[0, 16]]), (1, "1 thread", [[0, width // 2]]),
                             (1, "1 thread", [[width // 2, width]]), (1, "1 thread", [[0, width]]),
                             (2, "2 threads", [[0, width // 2], [width // 2, width]])):
        bounds = np.array(bounds, dtype=np.int64)
        best = np.inf
        with threads(T):
            sums(bounds, *layer, c.pat[l], c.g_r[l])
            for _ in range(reps):
                t0 = time.perf_counter()
                for _ in range(N):
                    sums(bounds, *layer, c.pat[l], c.g_r[l])
                best = min(best, (time.perf_counter() - t0) / N)
        cols = ", ".join(f"{a}..{b}" for a, b in bounds)
        print(f"relu's second layer, winner sums on {label}, columns {cols}: {best * 1e6:.1f} us")


def calls(name="conv1", bursts=40, N=100):
    rng = np.random.default_rng(0)
    for T in (1, 2):
        net, X, y = _net(name, T, 2000, raw=True)
        st = step.TrainingStep(net.layers, 10, T, net.dtype)
        order = rng.permutation(len(y))
        took = {"one per call": [], "100 per call": []}
        with threads(T):
            for b in range(bursts + 1):
                k0 = (b % 2) * N * 10
                t0 = time.perf_counter()
                for k in range(k0, k0 + N * 10, 10):
                    st(X, y, order[k:k + 10], {}, 0.01, 0.0, len(y))
                t1 = time.perf_counter()
                st.run(X, y, order, k0, k0 + N * 10, 0.01, 0.0, len(y))
                t2 = time.perf_counter()
                if b:                                    # the first burst warms up
                    took["one per call"].append((t1 - t0) / N)
                    took["100 per call"].append((t2 - t1) / N)
        print(f"{name} on {T} thread(s), us per mini-batch, best / median of {bursts} bursts: "
              + "; ".join(f"{way} {min(t) * 1e6:.0f} / {statistics.median(t) * 1e6:.0f}"
                          for way, t in took.items()))


def wake():
    import numba

    from network.base.jit import jit, prange

    @jit(parallel=True)
    def empty(x):
        for t in prange(2):
            x[t * 16] += 1.0

    x = np.zeros(32)
    with threads(2):
        empty(x)
        for pause in (0, 10, 20, 40, 80, 160, 320):
            took = []
            for _ in range(300):
                t0 = time.perf_counter()
                while time.perf_counter() - t0 < pause * 1e-6:
                    pass
                t1 = time.perf_counter()
                empty(x)
                took.append(time.perf_counter() - t1)
            print(f"after {pause:3d} us in Python: an empty 2-thread region takes "
                  f"{statistics.median(took) * 1e6:5.1f} us (median of 300; threading layer "
                  f"{numba.threading_layer()})")


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "epoch":
        epoch(int(sys.argv[2]), *sys.argv[3:4], *[int(a) for a in sys.argv[4:5]])
    elif what == "regions":
        regions(int(sys.argv[2]), *sys.argv[3:4])
    elif what == "mnist":
        mnist_epochs(*sys.argv[2:3])
    elif what == "rounds":
        rounds(*sys.argv[2:3])
    elif what == "wake":
        wake()
    elif what == "winner":
        winner()
    elif what == "calls":
        calls(*sys.argv[2:3])
    else:
        sys.exit(f"conv_timing: unknown {what!r}; give epoch, regions, mnist, rounds, wake, "
                 f"winner or calls")
