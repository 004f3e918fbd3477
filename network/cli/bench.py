"""``python -m network bench``: seconds per epoch, four ways, in one run (issue 3).

Prints the Markdown table of ``network/bench/mlp.py`` (per-example loop, NumPy
matrix path, numba path, PyTorch if installed), the numba compile time (cold
and warm cache) and the process's peak memory.  ``--quick`` times 10,000
images once per method (scaled to 50,000) for a short check.

``python -m network bench --conv`` times the chapter-6 conv nets instead
(network/bench/conv.py, issue 16): conv1 and the two-layer ReLU net, this library
and PyTorch, on 1 and 2 threads (``--threads``), with the fraction of the
machine's multiply-add peak and the issue's targets, met or missed.
"""

import platform
import time

import numpy as np

from .. import bench
from ..bench import conv as conv_bench
from ..data.mnist import N_TRAIN
from ..errors import UsageError
from ..storage.atomic import atomic_write_json
from .common import output_file, plural
from . import options
from .options import positive_int


def add_parser(subparsers):
    p = subparsers.add_parser("bench", help="time one epoch four ways",
                              description="Seconds per epoch on the MNIST training images: "
                                          "per-example loop, NumPy matrix path, numba path, "
                                          "PyTorch (when installed).")
    p.add_argument("--quick", action="store_true",
                   help="10,000 images, one timed epoch per method (scaled to 50,000)")
    options.add(p, "training_size", default=None,
                help="training images to time on, at most 50,000 (default: 50,000; 10,000 "
                     "with --quick)")
    p.add_argument("--repeats", type=positive_int, default=None,
                   help="timed epochs per method, median reported (default 3; 1 with --quick)")
    p.add_argument("--methods", nargs="+", choices=bench.METHODS, default=list(bench.METHODS),
                   help="which ways to time: the book's per-example loop, the library's NumPy "
                        "and numba paths, PyTorch")
    p.add_argument("--conv", action="store_true",
                   help="time the chapter-6 conv nets on 1 and 2 threads against PyTorch "
                        "instead (default 10,000 images, median of 3; --quick 2,000 once)")
    options.add(p, "threads", nargs="+", default=None,
                help="with --conv: the thread counts to time (default: 1 2)")
    p.add_argument("--no-compile-time", action="store_true",
                   help="skip measuring the numba compile time in fresh processes")
    p.add_argument("--json", metavar="PATH", type=output_file,
                   help="also write every timing here")
    p.set_defaults(run=run)
    return p


def run(args):
    if args.conv:
        return run_conv(args)
    if args.threads:
        raise UsageError("--threads goes with --conv (the book's networks run on one thread)")
    n_train = args.training_size or (10_000 if args.quick else 50_000)
    if n_train > N_TRAIN:
        raise UsageError(f"--training-size {n_train} is more than the {N_TRAIN} training images "
                         f"the benchmark times on; use at most {N_TRAIN}")
    if "torch" in args.methods and bench.torch_version() is None:
        raise UsageError("--methods torch: PyTorch is not installed here; install it "
                         "(pip install torch==2.13.0) or leave torch out")
    repeats = args.repeats or (1 if args.quick else 3)
    start = time.perf_counter()
    print(f"Timing {n_train} MNIST training images, median of {plural(repeats, 'epoch')} per method "
          f"after a warm-up; seconds scaled to 50,000 images.", flush=True)
    rows = bench.run(n_train=n_train, repeats=repeats, methods=args.methods,
                     log=lambda msg: print(msg, flush=True))
    print()
    print(bench.format_table(rows, n_train))
    print()
    compile_times = None
    if not args.no_compile_time and "numba" in args.methods:
        compile_times = bench.compile_seconds()
        (ci, cf, cci, ccf), (wi, wf, wci, wcf) = compile_times["cold"], compile_times["warm"]
        print(f"numba compile (fresh process, empty cache): import {ci:.2f} s + first epoch "
              f"{cf:.2f} s wall ({cci:.2f} + {ccf:.2f} s CPU); with the cache filled: import "
              f"{wi:.2f} s + first epoch {wf:.2f} s wall ({wci:.2f} + {wcf:.2f} s CPU)")
    print(f"peak resident memory of this process: {bench.peak_rss_mb():.0f} MB; "
          f"{platform.processor() or platform.machine()}, numpy {np.__version__}; "
          f"total {time.perf_counter() - start:.0f} s")
    if args.json:
        atomic_write_json(args.json, {
            "n_train": n_train, "repeats": repeats, "compile_seconds": compile_times,
            "rows": [{"config": bench.config_name(*r["config"]), "results": r["results"]}
                     for r in rows]})
    return 0


def run_conv(args):
    """``bench --conv``: the conv nets, nndl and PyTorch, on each thread count."""
    from ..base.jit import max_threads
    from ..data.mnist import load_arrays
    n_train = args.training_size or (2_000 if args.quick else 10_000)
    if n_train > N_TRAIN:
        raise UsageError(f"--training-size {n_train} is more than the {N_TRAIN} training images; "
                         f"use at most {N_TRAIN}")
    threads = tuple(args.threads or conv_bench.default_threads())
    if max(threads) > max_threads():
        raise UsageError(f"--threads {max(threads)}: numba may use at most {max_threads()} "
                         f"here (NUMBA_NUM_THREADS)")
    repeats = args.repeats or (1 if args.quick else 3)
    (X, y), _, _ = load_arrays("mnist", dtype=np.uint8)
    print(f"Timing conv1 and relu on {n_train} MNIST training images, threads "
          f"{' '.join(map(str, threads))}, median of {repeats} epoch(s) after a warm-up; "
          f"seconds scaled to 50,000 images.", flush=True)
    result = conv_bench.run(X[:n_train], y[:n_train], threads=threads, repeats=repeats,
                            log=lambda msg: print(msg, flush=True))
    print()
    print(conv_bench.report(result))
    if args.json:
        atomic_write_json(args.json, result)
    return 0
