"""Stopping rules and the eta schedule (problems 3.20-3.21, exercise 3.22) as SGD epoch callbacks."""

import numpy as np
import pytest

from network import Network
from network.errors import UsageError
from network.base.optimizers import SGD
from network.base.schedules import HalveOnNoImprovement, ImprovementAtLeast, NoImprovementInN


class FakeNetwork:
    """Just what the callbacks touch: an optimiser with an eta, and weights."""

    def __init__(self, eta=0.5):
        self.optimizer = SGD(eta)
        self.weights = [np.zeros((2, 2))]
        self.biases = [np.zeros((2, 1))]


def feed(rule, accuracies, net=None):
    """Call ``rule`` once per epoch; return the epoch at which it asked to stop."""
    net = net or FakeNetwork()
    for epoch, acc in enumerate(accuracies):
        if rule(net, {"epoch": epoch, "evaluation_accuracy": acc}):
            return epoch
    return None


def test_no_improvement_in_n_stops_n_epochs_after_the_best():
    rule = NoImprovementInN(3)
    assert feed(rule, [0.5, 0.6, 0.55, 0.58, 0.59, 0.7]) == 4
    assert rule.best == 0.6 and rule.best_epoch == 1


def test_no_improvement_in_n_needs_a_strictly_better_value():
    assert feed(NoImprovementInN(2), [0.5, 0.6, 0.6, 0.6, 0.6]) == 3   # a plateau ends it


def test_no_improvement_in_n_keeps_going_while_it_improves():
    assert feed(NoImprovementInN(2), list(np.linspace(0.1, 0.9, 30))) is None


def test_observing_rules_note_the_epoch_but_never_stop():
    rule = NoImprovementInN(2, halt=False)
    assert feed(rule, [0.5, 0.4, 0.4, 0.4, 0.4]) is None
    assert rule.stop_epoch == 2


def test_improvement_at_least_ignores_improvements_smaller_than_epsilon():
    small = [0.90, 0.9005, 0.9008, 0.9009, 0.9010, 0.9011, 0.9012]
    assert feed(ImprovementAtLeast(0.001, 3), small) == 3
    assert feed(NoImprovementInN(3), small) is None        # every epoch is a tiny record
    steady = [0.90 + 0.002 * t for t in range(10)]
    assert feed(ImprovementAtLeast(0.001, 3), steady) is None


def test_halving_schedule_halves_every_n_flat_epochs_and_stops_at_eta0_over_128():
    net = FakeNetwork(0.5)
    rule = HalveOnNoImprovement(2, 128)
    assert feed(rule, [0.8] * 100, net) == 14               # seven halvings, two epochs each
    assert net.optimizer.eta == pytest.approx(0.5 / 128)
    assert rule.halvings == [2, 4, 6, 8, 10, 12, 14]


def test_halving_schedule_restarts_its_count_after_an_improvement():
    net = FakeNetwork(1.0)
    rule = HalveOnNoImprovement(2, 4)
    feed(rule, [0.5, 0.5, 0.5, 0.6, 0.6, 0.6], net)         # halve after epoch 2, not 3 or 4
    assert rule.halvings == [2, 5] and rule.stop_epoch == 5


def test_rules_ask_for_validation_accuracy_when_it_is_not_monitored():
    with pytest.raises(UsageError, match="monitor_evaluation_accuracy"):
        NoImprovementInN(3)(FakeNetwork(), {"epoch": 0})


def test_bad_settings_are_refused():
    with pytest.raises(UsageError):
        NoImprovementInN(0)
    with pytest.raises(UsageError):
        ImprovementAtLeast(-0.1, 3)
    with pytest.raises(UsageError):
        HalveOnNoImprovement(2, 1)


def frozen_run(callbacks, epochs=40):
    """Training with eta so small that the validation accuracy cannot change."""
    rng = np.random.default_rng(0)
    X, y = rng.random((60, 8)), rng.integers(0, 3, 60)
    net = Network([8, 5, 3], seed=1, backend="numpy")
    net.SGD((X, y), epochs, 10, 1e-12, evaluation_data=(X, y),
            monitor_evaluation_accuracy=True, callbacks=callbacks, verbose=False)
    return net


def test_sgd_stops_when_a_rule_fires():
    net = frozen_run([NoImprovementInN(3)])
    assert len(net.history) == 4                            # the best, then 3 flat epochs


def test_sgd_trains_with_the_schedules_eta():
    net = frozen_run([HalveOnNoImprovement(1, 8)])
    etas = [r["eta"] for r in net.history]
    assert etas == pytest.approx([1e-12, 1e-12, 5e-13, 2.5e-13])   # stops at the third halving


def test_keep_best_restores_the_weights_of_the_best_epoch():
    net = FakeNetwork()
    rule = NoImprovementInN(5, keep_best=True)
    for epoch, acc in enumerate([0.5, 0.9, 0.7]):
        net.weights = [np.full((2, 2), float(epoch))]
        rule(net, {"epoch": epoch, "evaluation_accuracy": acc})
    rule.restore(net)
    assert (net.weights[0] == 1.0).all()
    with pytest.raises(UsageError, match="keep_best"):
        NoImprovementInN(2).restore(net)
