"""Seconds for one conv net epoch on random images, for docs/speed.md's "Two threads on a busy machine".

    python docs/busy_machine.py THREADS [conv1|relu] [IMAGES]

Trains the chapter-6 net (network/bench/conv.py's layers) for one warm-up epoch on 200
images, then three epochs on IMAGES (default 2,000) random images, mini-batch 10, and
prints the best and the median.  Run it with and without another busy process on the
machine (e.g. ``python chapters/chap6.py relu --threads 1``), and with the OpenMP
settings to compare in the environment (``GOMP_SPINCOUNT=...``, ``OMP_WAIT_POLICY=...``).
"""

import statistics
import sys
import time

import numpy as np

from network.bench.conv import layers
from network.conv import ConvNetwork


def main(threads, name="conv1", n=2000):
    import numba
    rng = np.random.default_rng(0)
    X = rng.random((n, 784), dtype=np.float32)
    y = rng.integers(0, 10, n)
    net = ConvNetwork(layers(name), seed=1, threads=threads)
    net.SGD((X[:200], y[:200]), 1, 10, 0.1, verbose=False)
    seconds = []
    for _ in range(3):
        start = time.perf_counter()
        net.SGD((X, y), 1, 10, 0.01, verbose=False)
        seconds.append(time.perf_counter() - start)
    print(f"{name} on {threads} thread(s), {n} images: best {min(seconds):.3f} s, median "
          f"{statistics.median(seconds):.3f} s (numba threading layer {numba.threading_layer()})")


if __name__ == "__main__":
    main(int(sys.argv[1]), *sys.argv[2:3], *[int(a) for a in sys.argv[3:4]])
