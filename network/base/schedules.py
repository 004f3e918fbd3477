"""Early stopping and learning-rate schedules as epoch callbacks (chapter 3, 3.20-3.22).

Each object here is called by ``Network.SGD`` after every epoch as
``cb(network, record)`` and returns True to stop training.  They watch the
validation accuracy in the epoch's record (``record["evaluation_accuracy"]``,
so train with ``monitor_evaluation_accuracy=True`` and validation data as
``evaluation_data``).

- ``NoImprovementInN``: stop when n epochs in a row bring no strictly better
  accuracy (problem 3.20, the book's no-improvement-in-10).
- ``ImprovementAtLeast``: stop when the best accuracy of the last k epochs is not
  at least epsilon above the best before them (problem 3.21, the second rule).
- ``HalveOnNoImprovement``: halve eta whenever no-improvement-in-n fires and stop
  once eta has fallen to eta0 / 128 (exercise 3.22); it changes
  ``network.optimizer.eta``, which every optimiser exposes.

``halt=False`` makes a stopping rule only note the epoch where it would have
stopped, so several rules can be scored on one training run (the fair
comparison of notes/chap3.md, problem 3.21).  ``keep_best=True`` keeps a copy
of the weights of the best epoch; ``restore(network)`` puts them back.

Deliberately left out: rules on the training cost, warm restarts, cyclic and
per-step schedules.
"""

from ..errors import UsageError

KEY = "evaluation_accuracy"


def stop_requested(callbacks, network, record):
    """Call every epoch callback (all of them, even after one asks to stop); True if any did.
    Every trainer ends its epoch with this."""
    return any([bool(cb(network, record)) for cb in callbacks])


def _accuracy(record):
    if KEY not in record:
        raise UsageError("early stopping and eta schedules watch the validation accuracy: "
                         "call SGD with evaluation_data=... and monitor_evaluation_accuracy=True")
    return record[KEY]


class _BestTracker:
    """The best accuracy so far, its epoch, and optionally a copy of its weights."""

    def __init__(self, keep_best):
        self.keep_best = keep_best
        self.accuracies = []
        self.best = None
        self.best_epoch = None
        self.stop_epoch = None     # the epoch after which the rule fired (None: never)
        self._weights = None

    def _observe(self, network, record):
        acc = _accuracy(record)
        self.accuracies.append(acc)
        improved = self.best is None or acc > self.best  # strictly better, or a plateau never ends
        if improved:
            self.best, self.best_epoch = acc, len(self.accuracies) - 1
            if self.keep_best:
                self._weights = ([w.copy() for w in network.weights],
                                 [b.copy() for b in network.biases])
        return improved

    def restore(self, network):
        """Put the weights of the best epoch back (needs ``keep_best=True``)."""
        if self._weights is None:
            raise UsageError("nothing to restore: create the rule with keep_best=True and train first")
        network.weights = [w.copy() for w in self._weights[0]]
        network.biases = [b.copy() for b in self._weights[1]]


class NoImprovementInN(_BestTracker):
    """Stop when ``n`` consecutive epochs bring no strictly better validation accuracy."""

    def __init__(self, n=10, halt=True, keep_best=False):
        if n < 1:
            raise UsageError(f"no-improvement-in-n needs n >= 1, got {n}")
        super().__init__(keep_best)
        self.n, self.halt = n, halt
        self.since_best = 0

    def __call__(self, network, record):
        self.since_best = 0 if self._observe(network, record) else self.since_best + 1
        if self.since_best >= self.n and self.stop_epoch is None:
            self.stop_epoch = len(self.accuracies) - 1
        return self.halt and self.stop_epoch is not None

    def __repr__(self):
        return f"no-improvement-in-{self.n}"


class ImprovementAtLeast(_BestTracker):
    """Stop when the best accuracy of the last ``k`` epochs is not at least ``epsilon``
    (a fraction: 0.001 = 0.1 percentage points) above the best accuracy before them."""

    def __init__(self, epsilon=0.001, k=5, halt=True, keep_best=False):
        if k < 1 or epsilon < 0:
            raise UsageError(f"improvement-of-at-least-epsilon-in-k needs k >= 1 and "
                             f"epsilon >= 0, got k={k}, epsilon={epsilon}")
        super().__init__(keep_best)
        self.epsilon, self.k, self.halt = epsilon, k, halt

    def __call__(self, network, record):
        self._observe(network, record)
        accs = self.accuracies
        if len(accs) > self.k and self.stop_epoch is None:
            before, window = max(accs[:-self.k]), max(accs[-self.k:])
            if window < before + self.epsilon:
                self.stop_epoch = len(accs) - 1
        return self.halt and self.stop_epoch is not None

    def __repr__(self):
        return f"improvement-of-at-least-{100 * self.epsilon:g}pp-in-{self.k}"


class HalveOnNoImprovement(_BestTracker):
    """Halve eta when ``n`` epochs pass without a better validation accuracy (the count
    restarts after each halving; the best so far is kept); stop when eta reaches
    eta0 / ``min_fraction_inverse`` (128: the seventh halving)."""

    def __init__(self, n=10, min_fraction_inverse=128, keep_best=False):
        if n < 1 or min_fraction_inverse < 2:
            raise UsageError(f"the schedule needs n >= 1 and a final fraction of at least 1/2, "
                             f"got n={n}, 1/{min_fraction_inverse}")
        super().__init__(keep_best)
        self.n, self.min_fraction_inverse = n, min_fraction_inverse
        self.eta0 = None
        self.since_change = 0
        self.halvings = []          # epochs after which eta was halved

    def __call__(self, network, record):
        if self.eta0 is None:
            self.eta0 = network.optimizer.eta
        improved = self._observe(network, record)
        self.since_change = 0 if improved else self.since_change + 1
        if self.since_change >= self.n:
            network.optimizer.eta /= 2          # the next epoch trains with half the step
            self.halvings.append(len(self.accuracies) - 1)
            self.since_change = 0
            if network.optimizer.eta <= self.eta0 / self.min_fraction_inverse * (1 + 1e-9):
                self.stop_epoch = len(self.accuracies) - 1
                return True
        return False

    def __repr__(self):
        return f"halve-on-no-improvement-in-{self.n}-until-eta0/{self.min_fraction_inverse}"
