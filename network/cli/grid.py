"""``python -m network grid``: search hyper-parameters, resumably, in worker processes.

Every option takes one or more values; the runs are their product (or
``--random N`` samples).  Writes into ``--out DIR``: results.jsonl (one line
per finished run; rerun the same command to finish an interrupted grid),
table.txt, selection.json (the configuration chosen on validation accuracy
and its test score, computed once), heatmap.png and curves.png.

``--scheduler tcp://HOST:PORT`` sends the runs to a Dask cluster, ``--scheduler
local:N`` starts one of N workers here (network/grid/cluster.py).  ``--report
DIR`` reads a finished folder -- a grid's, or a Hydra sweep's (network/sweep.py)
-- and writes the same table, selection and figures without training anything
but the chosen run's test score.  On a terminal a bar counts the runs done and
estimates the time left (network/base/progress.py); ``--quiet`` prints neither
it nor a line per run.
"""

import signal
import sys
import time
from pathlib import Path

import numpy as np

from ..base.progress import bar as progress_bar
from ..errors import DataError, UsageError
from ..grid.executor import DatasetRef, first_images
from ..storage.signals import exit_status, interruptible
from ..storage.atomic import atomic_write_text
from ..grid.search import OPTIONS
from . import options
from .common import plural
from .options import non_negative_int, positive_int

# option name -> (flag, type, help)
SWEPT = [
    ("cost", "--cost", str, "quadratic, cross-entropy, log-likelihood"),
    ("activation", "--activation", str, "hidden activation: sigmoid, tanh, relu, identity"),
    ("output_activation", "--output-activation", str, "default (by cost), sigmoid, softmax"),
    ("init", "--init", str, "default (N(0, 1/n_in)) or large (N(0, 1))"),
    ("eta", "--eta", float, "learning rates"),
    ("mini_batch_size", "--mini-batch-size", int, "mini-batch sizes"),
    ("lmbda", "--lmbda", float, "regularisation strengths lambda"),
    ("regularization", "--regularization", str, "L2 or L1"),
    ("momentum", "--momentum", float, "momentum coefficients mu"),
    ("dropout", "--dropout", float, "dropout probabilities of hidden units"),
    ("epochs", "--epochs", int, "epochs per run"),
    ("dtype", "--dtype", str, "float64 or float32"),
    ("seed", "--seed", int, "seeds (0: every run starts from the same weights)"),
    ("backend", "--backend", str, "numba or numpy (None: the Network's own choice)"),
]


def add_parser(subparsers):
    p = subparsers.add_parser(
        "grid", help="grid or random search over hyper-parameters",
        description="Train one network per combination of the values given, select on the "
                    "validation set, score the chosen one on the test set.")
    p.add_argument("--sizes", nargs="+", default=None, metavar="N",
                   help="layer sizes, e.g. 784 30 10 (default); several architectures as "
                        "784,30,10 784,100,10")
    for name, flag, kind, text in SWEPT:
        default = OPTIONS[name][0]
        text = f"{text}; one or more values (default: {default})"
        if name in options.IDEAS:   # the same flag and rule as every other command
            options.add(p, name, nargs="+", default=None, help=text)
        else:
            p.add_argument(flag, dest=name, nargs="+", type=kind, default=None, metavar="V",
                           help=text)
    p.add_argument("--random", type=positive_int, default=None, metavar="N",
                   help="sample N configurations instead of the full product (eta and lambda "
                        "log-uniform between the smallest and largest value given)")
    p.add_argument("--random-seed", type=non_negative_int, default=0, metavar="S",
                   help="seed of the random sampling (not of the runs: see --seed)")
    p.add_argument("--training-cost", action="store_true",
                   help="also record the training cost before and after every epoch")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="folder for results.jsonl, table.txt, selection.json and the plots")
    p.add_argument("--report", metavar="DIR", default=None,
                   help="train nothing: read DIR/results.jsonl (of a grid or of a "
                        "python -m network.sweep), select on validation, score the test set "
                        "once, write the table and figures into DIR")
    p.add_argument("--workers", type=non_negative_int, default=1,
                   help="worker processes of the local pool (default 1; 0 runs in this "
                        "process; --scheduler replaces the pool)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="run on a Dask cluster instead: tcp://HOST:8786 (started with "
                        "`dask scheduler` and `dask worker`), or local:N to start N worker "
                        "processes here for the search (needs the dask extra)")
    options.add(p, "threads", default=None,
                help="BLAS/numba threads per worker (default: cores // workers)")
    options.add(p, "quiet", help="no line per finished run and no progress bar; the table "
                                 "and the choice are still printed")
    p.add_argument("--top", type=non_negative_int, default=10,
                   help="rows of the table to print (all are in table.txt)")
    p.add_argument("--curves", type=positive_int, default=5,
                   help="how many of the best runs curves.png shows")
    p.add_argument("--no-plots", action="store_true", help="skip heatmap.png and curves.png")
    p.add_argument("--no-test", action="store_true", help="do not score the test set at all")
    options.add(p, "dataset", choices=("mnist", "fashion-mnist"), default="mnist")
    options.add(p, "data_path", default=None)
    p.add_argument("--data", metavar="FILE.npz", default=None,
                   help="use these arrays instead: X_train, y_train, X_val, y_val "
                        "(and optionally X_test, y_test)")
    options.add(p, "training_size", default=None)
    p.add_argument("--validation-size", type=positive_int, default=None,
                   help="use the first N validation images only")
    p.set_defaults(run=run)
    return p


def _sizes(tokens):
    """784 30 10 -> one architecture; 784,30,10 784,100,10 -> several."""
    try:
        if any("," in t for t in tokens):
            return [[int(s) for s in t.split(",")] for t in tokens]
        return [[int(t) for t in tokens]]
    except ValueError:
        raise UsageError(f"--sizes: {' '.join(tokens)!r} is not a list of whole numbers") from None


def spec_from_args(args):
    spec = {name: getattr(args, name) for name, *_ in SWEPT if getattr(args, name) is not None}
    if args.sizes is not None:
        spec["sizes"] = _sizes(args.sizes)
    spec.update(random=args.random, random_seed=args.random_seed,
                training_cost=args.training_cost)
    return spec


def load_data(args):
    """(training, validation, test) as uint8 pixels and int labels, the data's name, and
    the DatasetRef a worker elsewhere loads the same arrays from (None for --data)."""
    if args.data:
        arrays = _read_data(args.data)
        splits = [first_images((arrays["X_train"], arrays["y_train"]), args.training_size),
                  first_images((arrays["X_val"], arrays["y_val"]), args.validation_size),
                  (arrays["X_test"], arrays["y_test"]) if "X_test" in arrays else None]
        return splits, str(args.data), None
    source = DatasetRef(args.dataset, training_size=args.training_size,
                        validation_size=args.validation_size, path=args.data_path)
    return list(source.load()), args.dataset, source


DATA_MEMBERS = {"X_train", "y_train", "X_val", "y_val", "X_test", "y_test"}
PIXELS = [np.uint8, np.float32, np.float64]
LABELS = [np.uint8, np.int8, np.int16, np.int32, np.int64, np.uint16, np.uint32, np.uint64]


def _read_data(path):
    """The arrays of a --data file, through the library's one npz reader: every member
    read at the shape its header declares only if the file really holds those bytes,
    nothing compressed, nothing pickled, nothing unexpected."""
    from ..storage.npz import NpzReader

    with NpzReader(path, "--data file", error=DataError,
                   hint="give plain arrays saved with np.savez") as reader:
        missing = sorted({"X_train", "y_train", "X_val", "y_val"} - reader.names)
        if missing:
            raise UsageError(f"--data {path}: missing array(s) {', '.join(missing)}")
        unknown = sorted(reader.names - DATA_MEMBERS)
        if unknown:
            raise UsageError(f"--data {path}: unknown array(s) {', '.join(unknown)[:80]}; "
                             f"expected {', '.join(sorted(DATA_MEMBERS))}")
        return {k: reader.read(k, PIXELS if k[0] == "X" else LABELS, None)
                for k in reader.names}


def run(args):
    """The search, stopped cleanly by Ctrl-C (once or twice) or SIGTERM: the workers end at
    once, the finished runs stay in results.jsonl, and the same command resumes."""
    progress = {"done": 0, "total": "?"}
    with interruptible():
        try:
            return _run(args, progress)
        except KeyboardInterrupt as exc:
            what = "terminated (SIGTERM)" if exit_status(exc) == 143 else "interrupted"
            print(f"{what} after {progress['done']} of {plural(progress['total'], 'run')}; "
                  f"they are kept in {args.out or args.report}/results.jsonl; run the same "
                  f"command again to finish the grid", file=sys.stderr)
            status = exit_status(exc)
    # The search has stopped and said so; an impatient second Ctrl-C must not interrupt the
    # interpreter's own shutdown (joining the pool's threads) with a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return status


def _run(args, counts):
    from .. import grid

    if args.report is not None:
        return _report(args)
    if args.out is None:
        raise UsageError("give --out DIR for the results (or --report DIR to read finished ones)")
    spec = grid.grid_spec(spec_from_args(args))  # a bad spec fails before data is loaded
    if args.scheduler is not None:
        from ..grid.cluster import check_scheduler
        check_scheduler(args.scheduler)
    splits, name, source = load_data(args)
    data = tuple(s for s in splits if s is not None)
    n_runs = len(grid.run_configs(spec))
    counts["total"] = n_runs
    shown = [n for n in grid.varying_options(spec) if n != "seed"]
    where = f"on the Dask scheduler {args.scheduler}" if args.scheduler else \
        f"in {args.workers} worker process{'es' if args.workers != 1 else ''}" if args.workers \
        else "in this process"
    print(f"Grid of {plural(n_runs, 'run')} ({', '.join(shown)}) on {len(data[0][1])} {name} "
          f"training images, selecting on {len(data[1][1])} validation images, {where}; results in "
          f"{args.out}/{grid.RESULTS_NAME}", flush=True)
    start = time.perf_counter()
    with progress_bar(n_runs, "runs", unit="run", quiet=args.quiet) as bar:

        def progress(row, done, total):
            counts.update(done=done, total=total)
            if bar.n == 0:   # the first to finish here: the runs resumed count as done
                bar.n = bar.initial = done - 1   # so the rate and time left are this session's
            bar.update(1)
            bar.refresh()   # runs are coarse: show each one, whatever tqdm's redraw interval
            if args.quiet:
                return
            c = row["config"]
            setting = ", ".join(f"{n} {c[n]}" for n in shown)
            print(f"[{done}/{total}] {setting}: best validation "
                  f"{100 * row['best_validation_accuracy']:.2f}% (epoch {row['best_epoch']}), "
                  f"{row['seconds']:.1f} s", flush=True)

        result = grid.run_grid(spec, data=data, out=args.out, workers=args.workers,
                               threads=args.threads, progress=progress,
                               score_test=not args.no_test, data_name=name,
                               scheduler=args.scheduler, source=source)
    if result.resumed:
        print(f"Resumed: {result.resumed} of {n_runs} runs were already finished and were "
              f"not repeated.")
    print(f"{plural(n_runs, 'run')} in {time.perf_counter() - start:.1f} s. Best first "
          f"(validation set):")
    _present(args, result, args.out)
    return 0


def _report(args):
    """--report DIR: the table, the choice on validation, the test score and the figures of
    a finished folder, from its results.jsonl alone (a grid's or a sweep's)."""
    from .. import grid

    folder = Path(args.report)
    spec, rows = grid.load_grid(folder)
    if not rows:
        raise UsageError(f"{folder / grid.RESULTS_NAME} holds no finished runs yet")
    result = grid.GridResult(spec=spec, rows=rows, out=folder)
    test = None if args.no_test else _report_test_data(args, spec["data"])
    print(f"{plural(len(rows), 'run')} in {folder / grid.RESULTS_NAME}. Best first "
          f"(validation set):")
    if test is not None:
        train, validation, test = test
        result.test = grid.score_test_set(result.best, train, validation, test, folder, spec)
    _present(args, result, folder)
    return 0


def _report_test_data(args, recorded):
    """The data the runs of a --report folder were trained on (as its header records them,
    or --data / --dataset / --data-path), with its test split; None, with a note, if the
    folder's data cannot be found here or has no test split."""
    from ..grid import data_fingerprint

    name = recorded.get("name")
    if args.data is not None or (name or "").endswith(".npz"):
        arrays = _read_data(args.data or name)
        train = first_images((arrays["X_train"], arrays["y_train"]), recorded["training_size"])
        validation = first_images((arrays["X_val"], arrays["y_val"]), recorded["validation_size"])
        test = (arrays["X_test"], arrays["y_test"]) if "X_test" in arrays else None
    elif name in ("mnist", "fashion-mnist"):
        train, validation, test = DatasetRef(name, training_size=recorded["training_size"],
                                             validation_size=recorded["validation_size"],
                                             path=args.data_path).load()
    else:
        print(f"No test score: the runs were trained on arrays without a name; give them "
              f"with --data FILE.npz to score the test set")
        return None
    if data_fingerprint(train, validation)["sha256"] != recorded["sha256"]:
        raise DataError(f"{args.report}: the runs were trained on other data than "
                        f"{args.data or name} holds here (the sha256 differs); give the same "
                        f"files with --data or --data-path")
    if test is None:
        print("No test score: the data has no test split")
        return None
    return train, validation, test


def _present(args, result, out):
    """Print the table and the choice, write table.txt, and draw the figures into ``out``."""
    from .. import grid

    print(result.table(args.top or None))
    atomic_write_text(f"{out}/table.txt", result.table() + "\n")
    best = result.best
    shown = [n for n in grid.varying_options(result.spec, result.rows) if n != "seed"]
    setting = ", ".join(f"{n} {best['config'][n]}" for n in shown)
    print(f"Chosen on validation accuracy: {setting}: "
          f"{100 * best['best_validation_accuracy']:.2f}% at epoch {best['best_epoch']}.")
    if result.test is not None:
        t = result.test
        note = "" if t["reproduced"] else " (warning: the retrained run did not reproduce " \
                                          "the grid's validation accuracy)"
        print(f"Test set, scored once for this configuration only (retrained "
              f"{plural(t['epochs_trained'], 'epoch')} with seed {t['config']['seed']}): "
              f"{100 * t['test_accuracy']:.2f}% ({t['test_correct']} / {t['test_size']}){note}")
    if not args.no_plots:
        from ..plots.grid import plot_curves, plot_heatmaps
        plot_heatmaps(result.spec, result.rows, f"{out}/heatmap.png")
        plot_curves(result.spec, result.rows, f"{out}/curves.png", top=args.curves)
        print(f"Figures: {out}/heatmap.png, {out}/curves.png")
