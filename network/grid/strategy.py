"""Chapter 3's broad strategy for hyper-parameters, as a few small grids in a row.

The book ("How to choose a neural network's hyper-parameters?") suggests:

1. eta: find the *threshold*, the largest learning rate at which the training
   cost decreases from the first epoch on instead of oscillating or rising.
   Try a ladder of factors of ten, then refine between the last good value and
   the first bad one (x2, x5); use half the threshold.
2. lambda: with that eta, start at 0 and move by factors of ten, choosing on
   validation accuracy; refine around the best (x0.5, x2).
3. mini-batch size: with eta and lambda fixed, choose the size whose
   validation accuracy rises fastest in *elapsed time* (not per epoch): the
   best accuracy reached within a time budget, by default the time the
   quickest run took (so every run had that long).

Each step is a ``run_grid`` with its own results folder under ``out``, so an
interrupted strategy resumes where it stopped.  Only the final choice is scored
on the test set.  Left out on purpose: the book's "then go back and
re-optimise eta", early stopping and learning-rate schedules (the chapter's
other tools), and any step that is not in the book.
"""

from dataclasses import dataclass, field
from pathlib import Path

from . import search
from ..errors import UsageError
from ..storage.atomic import atomic_write_json

ETAS = (0.001, 0.01, 0.1, 1.0, 10.0, 100.0)
LMBDAS = (0.0, 0.1, 1.0, 10.0, 100.0)
MINI_BATCH_SIZES = (1, 5, 10, 20, 50, 100)


@dataclass
class StrategyResult:
    """The choices of each step, the grids behind them, and the test score of the last."""

    eta_threshold: float
    eta: float
    lmbda: float
    mini_batch_size: int
    stages: dict = field(default_factory=dict)  # step name -> GridResult
    chosen: dict = None                          # the row of the final configuration
    test: dict = None

    def summary(self):
        lines = [f"eta threshold {self.eta_threshold:g} (going up, the last eta whose training "
                 f"cost fell at every epoch) -> eta {self.eta:g}",
                 f"lambda {self.lmbda:g} (best validation accuracy at eta {self.eta:g})",
                 f"mini-batch size {self.mini_batch_size} (fastest validation accuracy per "
                 f"second of training)"]
        if self.chosen is not None:
            best = self.chosen["best_validation_accuracy"]
            lines.append(f"validation accuracy {100 * best:.2f}% at epoch "
                         f"{self.chosen['best_epoch']}")
        if self.test is not None:
            lines.append(f"test accuracy {100 * self.test['test_accuracy']:.2f}% "
                         f"({self.test['test_correct']} / {self.test['test_size']}), scored once")
        return "\n".join(lines)


def cost_decreases(row):
    """True if the training cost falls at every epoch, starting from the untrained network."""
    costs = [row["initial_training_cost"]] + [e["training_cost"] for e in row["epochs"]]
    return all(c is not None for c in costs) and all(b < a for a, b in zip(costs, costs[1:]))


def eta_threshold(rows):
    """Walking up the etas of ``rows``: the last one before the first whose training cost
    fails to decrease (None if the smallest already fails)."""
    threshold = None
    for r in sorted(rows, key=lambda r: r["config"]["eta"]):
        if not cost_decreases(r):
            break
        threshold = r["config"]["eta"]
    return threshold


def accuracy_by_time(row, seconds):
    """The best validation accuracy reached within ``seconds`` of training (0 if no epoch)."""
    elapsed, best = 0.0, 0.0
    for e in row["epochs"]:
        elapsed += e["seconds"]
        if elapsed > seconds:
            break
        best = max(best, e["validation_accuracy"])
    return best


def fastest_learner(rows, seconds=None):
    """The row whose validation accuracy rises fastest in elapsed training time: the
    best accuracy within ``seconds`` of training, by default the time the quickest
    run took for all its epochs (a budget every run had)."""
    budget = seconds or min(sum(e["seconds"] for e in r["epochs"]) for r in rows)
    return max(rows, key=lambda r: (accuracy_by_time(r, budget), r["best_validation_accuracy"],
                                    -r["config"]["mini_batch_size"]))


def _eta_step(stage, etas, mini_batch_size, epochs, refine):
    """Step 1: the eta threshold, from the training cost of the first few epochs, refined
    between the last good and the first bad value (x2, x5)."""
    rows = stage("1-eta", eta=list(etas), lmbda=0.0, mini_batch_size=mini_batch_size,
                 epochs=epochs, training_cost=True)
    threshold = eta_threshold(rows)
    if threshold is None:
        raise UsageError(f"no eta in {list(etas)} lowered the training cost from the first "
                         f"epoch on; try smaller values")
    larger = [e for e in etas if e > threshold]
    finer = [f * threshold for f in (2, 5) if larger and f * threshold < min(larger)]
    if refine and finer:
        rows = rows + stage("1-eta-refined", eta=finer, lmbda=0.0,
                            mini_batch_size=mini_batch_size, epochs=epochs, training_cost=True)
        threshold = eta_threshold(rows)
    return threshold


def _lambda_step(stage, eta, lmbdas, mini_batch_size, epochs, refine):
    """Step 2: lambda on validation accuracy, then refined around the best (x0.5, x2)."""
    rows = stage("2-lambda", eta=eta, lmbda=list(lmbdas), mini_batch_size=mini_batch_size,
                 epochs=epochs)
    lmbda = rows[0]["config"]["lmbda"]  # rows are sorted best first
    if refine and lmbda > 0:
        rows = search.sort_rows(rows + stage("2-lambda-refined", eta=eta,
                                             lmbda=[lmbda / 2, lmbda * 2],
                                             mini_batch_size=mini_batch_size, epochs=epochs))
        lmbda = rows[0]["config"]["lmbda"]
    return lmbda


def broad_strategy(data=None, out=None, sizes=(784, 30, 10), epochs=10, threshold_epochs=3,
                   etas=ETAS, lmbdas=LMBDAS, mini_batch_sizes=MINI_BATCH_SIZES,
                   mini_batch_size=10, time_budget=None, refine=True, executor=None,
                   workers=1, threads=None, progress=None, score_test=True, **options):
    """Run the three steps and return a StrategyResult (see the module docstring).

    ``data`` as for ``run_grid`` (default MNIST); ``out`` a folder (one
    subfolder per step, plus strategy.json) or None for memory only;
    ``epochs`` per run for the lambda and mini-batch steps, ``threshold_epochs``
    for the eta step; ``mini_batch_size`` is used until step 3 chooses one, by
    the accuracy reached within ``time_budget`` seconds of training (default:
    the quickest run's total time).
    Other Network options (``cost``, ``init``, ``activation``, ``seed``,
    ``backend``, ...) go in ``options`` and are held fixed.
    """
    out = None if out is None else Path(out)
    base = dict(options, sizes=list(sizes))
    stages = {}
    if data is None:
        import numpy as np

        from ..data.mnist import load_arrays
        data = load_arrays("mnist", dtype=np.uint8)
    own = executor is None and workers > 0
    if own:
        executor = search.local_executor(workers, threads, data=(data[0], data[1]))
    try:
        def stage(name, **spec):
            result = search.run_grid(dict(base, **spec), data=data, executor=executor,
                                     workers=workers, out=None if out is None else out / name,
                                     progress=progress, score_test=False)
            stages[name] = result
            return result.rows

        threshold = _eta_step(stage, etas, mini_batch_size, threshold_epochs, refine)
        eta = threshold / 2  # the book: a factor of two below the threshold
        lmbda = _lambda_step(stage, eta, lmbdas, mini_batch_size, epochs, refine)
        rows = stage("3-mini-batch", eta=eta, lmbda=lmbda,
                     mini_batch_size=list(mini_batch_sizes), epochs=epochs)
        chosen = fastest_learner(rows, time_budget)   # step 3: accuracy per second
    finally:
        if own:
            executor.shutdown(wait=True, cancel_futures=True)

    result = StrategyResult(eta_threshold=threshold, eta=eta, lmbda=lmbda,
                            mini_batch_size=chosen["config"]["mini_batch_size"], stages=stages,
                            chosen=chosen)
    if score_test and len(data) == 3:
        result.test = search.score_test_set(chosen, data[0], data[1], data[2],
                                            None if out is None else out / "3-mini-batch",
                                            stages["3-mini-batch"].spec)
    if out is not None:
        atomic_write_json(out / "strategy.json",
                          {"eta_threshold": threshold, "eta": eta, "lmbda": lmbda,
                           "mini_batch_size": result.mini_batch_size, "chosen": chosen,
                           "test": result.test}, indent=1)
    return result
