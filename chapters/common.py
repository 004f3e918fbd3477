"""Plumbing shared by the chapter scripts: command line, data, training runs, saving.

Each chapter script is a list of experiments.  An experiment is a function
``compute(ctx) -> dict`` that trains and measures, plus an optional
``plot(result, folder)`` that draws figures *only* from what ``compute`` saved
(the JSON result and any ``.npz`` arrays), so a figure can be redrawn without
retraining (``--plot-only``).  Saved accuracies are fractions (0.9088), as in
every file the library writes; printed lines and figure axes show percent.  The
command line is the same for every script::

    python chapters/chapN.py [EXPERIMENT ...] [--list] [--quick] [--seed S] [--out DIR]

``--quick`` runs every experiment on a small slice of MNIST for one or two
epochs; it exists so that CI can check that every experiment still runs and
lands near the right numbers.  Without it, the book's hyperparameters apply.

Deliberately left out: parallel runs, resuming half-finished experiments, and
anything that draws (that is ``network/plots/``).
"""

import math
import shlex
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as `python chapters/chapN.py` without installing
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from network import Network  # noqa: E402
from network.base.progress import bar  # noqa: E402
from network.cli import options  # noqa: E402
from network.cli.common import plural  # noqa: E402
from network.errors import NNDLError, TrainingDiverged, UsageError  # noqa: E402
from network.storage import strict_json  # noqa: E402
from network.storage.atomic import atomic_write_bytes, atomic_write_json  # noqa: E402

# --quick: how much data and how many epochs (small enough for ~20 s per chapter on 2 cores).
QUICK_TRAIN = 10000
QUICK_EVAL = 2000
# Training runs in float32: four times faster than float64 in the NumPy path on this
# hardware, and no result in the book depends on the extra precision.
DTYPE = np.float32


# ---- experiments -------------------------------------------------------------------------

class Chapter:
    """A named list of experiments with the common command line."""

    def __init__(self, name, description):
        self.name = name
        self.description = description
        self.experiments = {}   # name -> (title, compute, plot)

    def experiment(self, name, title):
        """Decorator registering ``compute(ctx) -> dict`` under ``name``."""
        def register(compute):
            self.experiments[name] = [title, compute, None]
            return compute
        return register

    def plotter(self, name):
        """Decorator registering ``plot(result, folder)`` for experiment ``name``."""
        def register(plot):
            self.experiments[name][2] = plot
            return plot
        return register

    # ---- the command line ----

    def parser(self):
        p = options.Parser(prog=f"chapters/{self.name}.py", description=self.description,
                           epilog="Experiments: " + ", ".join(self.experiments))
        p.add_argument("experiments", nargs="*", metavar="EXPERIMENT",
                       help="which experiments to run (default: all; see --list)")
        p.add_argument("--list", action="store_true", help="list the experiments and exit")
        p.add_argument("--quick", action="store_true",
                       help=f"small data ({QUICK_TRAIN} training images), few epochs: a smoke test")
        options.add(p, "seed", default=12345678)
        p.add_argument("--out", type=Path, default=None,
                       help=f"folder for results and figures (default: out/{self.name}/)")
        p.add_argument("--plot-only", action="store_true",
                       help="redraw the figures from saved results, no training")
        p.add_argument("--no-plots", action="store_true", help="save results, draw nothing")
        options.add(p, "quiet", help="no progress bars (they are drawn only on a terminal)")
        return p

    def main(self, argv=None):
        args = self.parser().parse_args(argv)
        if args.list:
            for name, (title, _, _) in self.experiments.items():
                print(f"{name:22s} {title}")
            return 0
        unknown = [e for e in args.experiments if e not in self.experiments]
        if unknown:
            print(f"{self.name}: unknown experiment {unknown[0]!r}; choose from "
                  f"{', '.join(self.experiments)} (or run with --list)", file=sys.stderr)
            return 2
        names = args.experiments or list(self.experiments)
        out = args.out or Path("out") / self.name
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            print(f"{self.name}: cannot create the output folder {out} ({exc.strerror}); "
                  f"pass a writable folder with --out", file=sys.stderr)
            return 2
        command = "python " + " ".join(shlex.quote(a) for a in
                                        [f"chapters/{self.name}.py", *sys.argv[1:]]) \
            if argv is None else f"python chapters/{self.name}.py " + " ".join(argv)
        start_all = time.perf_counter()
        try:
            for name in names:
                title, compute, plot = self.experiments[name]
                path = out / f"{name}.json"
                if not args.plot_only:
                    print(f"== {self.name} {name}: {title}", flush=True)
                    if args.quick:
                        print(f"   quick mode: not the title's setup, but {QUICK_TRAIN} training "
                              f"images (or fewer), {QUICK_EVAL} to score, fewer epochs and seeds; "
                              f"each run says what it runs", flush=True)
                    ctx = Context(self, name, out, args.quick, args.seed, args.quiet)
                    start = time.perf_counter()
                    result = compute(ctx)
                    result = {"experiment": name, "title": title, "chapter": self.name,
                              "command": command, "code": code_version(),
                              "quick": args.quick, "seed": args.seed,
                              "accuracy_as": ACCURACY_AS,
                              "seconds": round(time.perf_counter() - start, 2), **result}
                    atomic_write_json(path, clean_json(result), indent=1)
                    print(f"   saved {path} ({result['seconds']:.1f} s)", flush=True)
                if plot is not None and not args.no_plots:
                    if not path.exists():
                        print(f"{self.name}: no saved result {path}; run {name} first",
                              file=sys.stderr)
                        return 1
                    saved = load_result(path, f"python chapters/{self.name}.py {name}")
                    for figure in plot(saved, out) or ():
                        print(f"   drew {figure}", flush=True)
        except NNDLError as exc:
            print(f"{self.name}: {exc}", file=sys.stderr)
            return 2
        print(f"{self.name}: {plural(len(names), 'experiment')} in "
              f"{time.perf_counter() - start_all:.1f} s", flush=True)
        return 0


# Saved results hold accuracies as fractions (0.9088); files from before this key held percent.
ACCURACY_AS = "fraction"


def load_result(path, rerun):
    """A saved result, for drawing its figures (plots use only what was saved).  Refused, with
    the command that makes it again, when it is not valid JSON or was saved in percent."""
    saved = strict_json.load(path, "chapter result", error=UsageError)
    if not isinstance(saved, dict) or saved.get("accuracy_as") != ACCURACY_AS:
        raise UsageError(f"{path} was saved by an older version (accuracies in percent, not "
                         f"fractions); run `{rerun}` to save it again")
    return saved


def code_version():
    """``git describe --always --dirty`` of the repository, so a result names the code
    that produced it (None outside a git checkout)."""
    import subprocess
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO,
                              capture_output=True, text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def clean_json(obj):
    """NaN and infinities (a diverging run) as null: JSON has no such numbers."""
    if isinstance(obj, dict):
        return {str(k): clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_json(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, np.ndarray):
        return clean_json(obj.tolist())
    return obj


# ---- the context an experiment runs in ---------------------------------------------------

_DATA_CACHE = {}


def mnist():
    """The book's split as raw uint8 pixels (n, 784) and int labels, loaded once."""
    if "mnist" not in _DATA_CACHE:
        from network.data.mnist import load_arrays
        _DATA_CACHE["mnist"] = load_arrays("mnist", dtype=np.uint8)
    return _DATA_CACHE["mnist"]


class Context:
    """What an experiment needs: quick or full, the seed, where to save, the data."""

    def __init__(self, chapter, name, out, quick, seed, quiet=False):
        self.chapter, self.name, self.out, self.quick, self.seed = chapter, name, out, quick, seed
        self.quiet = quiet   # no progress bars
        self.runs = 0        # training runs so far, named on the progress bar

    def pick(self, full, quick):
        """``quick`` in --quick mode, else ``full``."""
        return quick if self.quick else full

    def data(self, n_train=None):
        """(training, validation, test) as (X uint8 (n, 784), y) pairs.

        Full mode: the book's 50k/10k/10k (or the first ``n_train`` training images).
        Quick mode: the first QUICK_TRAIN training images (or fewer) and the first
        QUICK_EVAL validation and test images.
        """
        (Xtr, ytr), (Xva, yva), (Xte, yte) = mnist()
        if self.quick:
            n_train = min(n_train or QUICK_TRAIN, QUICK_TRAIN)
            Xva, yva, Xte, yte = Xva[:QUICK_EVAL], yva[:QUICK_EVAL], Xte[:QUICK_EVAL], yte[:QUICK_EVAL]
        if n_train is not None:
            Xtr, ytr = Xtr[:n_train], ytr[:n_train]
        return (Xtr, ytr), (Xva, yva), (Xte, yte)

    def path(self, suffix):
        return self.out / f"{self.name}{suffix}"

    def save_npz(self, suffix="", **arrays):
        """Arrays next to the JSON result, as a plain .npz (no pickled objects)."""
        import io
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        path = self.path(f"{suffix}.npz")
        atomic_write_bytes(path, buf.getvalue())
        return path.name

    def network(self, sizes, seed_offset=0, **kwargs):
        return Network(sizes, seed=self.seed + seed_offset, dtype=DTYPE, **kwargs)

    def train(self, net, training, epochs, mini_batch_size, eta, evaluation=None,
              eval_name="test", book_output=False, monitor=("evaluation_accuracy",),
              **sgd_kwargs):
        """Run ``net.SGD`` and return a JSON-ready summary of the run.

        ``book_output``: print network.py's ``Epoch j: correct / n`` (chapter 1);
        otherwise network2.py's monitoring lines.  ``monitor``: which of the four
        book quantities to record per epoch.  Accuracies are saved as fractions (0.9088, not
        90.88), as in every machine-readable file of the project.
        """
        kw = dict(sgd_kwargs)
        if book_output and evaluation is not None:
            kw["test_data"] = evaluation
        elif evaluation is not None:
            kw["evaluation_data"] = evaluation
            kw["monitor_evaluation_accuracy"] = "evaluation_accuracy" in monitor
            kw["monitor_evaluation_cost"] = "evaluation_cost" in monitor
        kw["monitor_training_accuracy"] = "training_accuracy" in monitor
        kw["monitor_training_cost"] = "training_cost" in monitor
        lmbda = kw.pop("lmbda", 0.0)
        first = len(net.history)
        extra = "".join(f", {k} {v:g}" for k, v in (("lambda", lmbda), *(
            (k, sgd_kwargs[k]) for k in ("momentum", "dropout") if sgd_kwargs.get(k))) if v)
        print(f"   {net.sizes} {net.cost.name}, eta {eta:g}, mini-batch {mini_batch_size}{extra}: "
              f"{plural(epochs, 'epoch')} on {len(training[1])} images", flush=True)
        start = time.perf_counter()
        diverged = None
        self.runs += 1
        try:   # on a terminal, a bar names the run and counts its epochs
            with bar(epochs, f"{self.chapter.name} {self.name}, run {self.runs}", unit="epoch",
                     quiet=self.quiet) as shown:
                kw["callbacks"] = [*kw.get("callbacks", ()), lambda net, record: shown.update(1)]
                net.SGD(training, epochs, mini_batch_size, eta, lmbda, **kw)
        except TrainingDiverged as exc:   # e.g. momentum mu > 1, on purpose (exercise 3.24)
            diverged = {"epoch": exc.epoch, "mini_batch": exc.batch, "cause": exc.cause}
            print(f"diverged in epoch {exc.epoch}" + (f" after mini-batch {exc.batch}"
                  if exc.batch is not None else "") + f": {exc.cause}", flush=True)
        seconds = time.perf_counter() - start
        records = net.history[first:]
        n_train, n_eval = len(training[1]), None if evaluation is None else len(evaluation[1])
        run = {"sizes": net.sizes, "cost": net.cost.name, "activation": net.activation.name,
               "output_activation": net.output_activation.name,
               "eta": eta, "mini_batch_size": mini_batch_size, "lmbda": lmbda,
               "epochs": epochs, "epochs_run": len(records), "n_train": n_train,
               "evaluation": eval_name, "n_eval": n_eval,
               "seconds": round(seconds, 2),
               "seconds_per_epoch": round(seconds / max(len(records), 1), 3),
               **{k: v for k, v in sgd_kwargs.items()
                  if k in ("regularization", "momentum", "dropout") and v}}
        if diverged:
            run["diverged"] = diverged
        if records and "evaluation_correct" in records[0]:
            acc = [r["evaluation_correct"] / n_eval for r in records]
            best = int(np.argmax(acc))
            run.update(accuracy=acc, best=acc[best], best_epoch=best, final=acc[-1])
        for key in ("evaluation_cost", "training_cost"):
            if records and key in records[0]:
                run[key] = [r[key] for r in records]
        if records and "training_correct" in records[0]:
            run["training_accuracy"] = [r["training_correct"] / n_train for r in records]
        if any("eta" in r for r in records):
            run["eta_per_epoch"] = [r["eta"] for r in records]
        return run


def accuracy(net, data):
    """Accuracy of ``net`` on (X, y) as a fraction (print it with ``:.2%``)."""
    return net.accuracy(data) / len(data[1])


def percents(values):
    """Fractions as percentages, for figures whose axis reads "accuracy (%)"."""
    return [None if v is None else 100.0 * v for v in values]

