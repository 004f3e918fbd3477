"""A run that learns nothing: accuracy at chance level, and the neurons that cause it.

``SaturationWatch`` is an epoch callback (``cb(network, record)``).  It notes
every epoch whose accuracy is at *chance level*: no better than always answering
the most common class of the evaluation set (plus three standard errors).  That
is what saturated neurons look like from outside -- chapter 3's slow start with
the quadratic cost, or chapter 1 with eta far too large -- and ``saturation()``
says so in the run's summary, with, if the watch was given a few probe inputs,
how many neurons give the same output for all of them (saturated sigmoids, dead
ReLUs).

A run that blows up instead (NaN or infinite weights or costs) is stopped by
``Network.SGD`` itself with ``TrainingDiverged`` (network/base/divergence.py).

Left out on purpose: repairing the run, gradient-norm monitoring.
"""

import math

import numpy as np

from ..base.divergence import likely_cause
from . import backprop


def chance_level(labels, n_classes):
    """The accuracy of always answering the most common class (1/k for balanced data)."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return 1.0 / n_classes
    return float(np.bincount(labels, minlength=n_classes).max() / labels.size)


def stuck_neurons(network, X):
    """Per layer, how many neurons give the same output (to 1e-6) for every row of X."""
    X = np.asarray(X)
    # raw pixels to [0, 1], as data_format does
    a = X / network.dtype.type(255) if X.dtype == np.uint8 else X.astype(network.dtype)
    _, activations = backprop.feedforward(network.weights, network.biases, a, network.activation,
                                          network.output_activation)
    return [int(np.sum(np.ptp(out, axis=0) < 1e-6)) for out in activations[1:]]


class SaturationWatch:
    """Epoch callback: note the epochs whose accuracy is at chance level.

    ``chance``: the chance-level accuracy (see ``chance_level``; default 1/k);
    ``evaluation_size``: n, for the three-standard-error margin (default 1%);
    ``probe``: a few input rows for ``stuck_neurons`` in the summary.
    """

    def __init__(self, chance=None, evaluation_size=None, probe=None):
        self.chance = chance
        self.evaluation_size = evaluation_size
        self.probe = probe
        self.chance_epochs = []   # epochs whose accuracy was at chance level
        self.last_epoch = None
        self.last_accuracy = None
        self.network = None

    def margin(self, p):
        if not self.evaluation_size:
            return 0.01
        return max(0.01, 3 * math.sqrt(p * (1 - p) / self.evaluation_size))

    def __call__(self, network, record):
        if "evaluation_accuracy" in record:
            chance = self.chance if self.chance is not None else 1.0 / network.sizes[-1]
            self.last_epoch, self.last_accuracy = record["epoch"], record["evaluation_accuracy"]
            if record["evaluation_accuracy"] <= chance + self.margin(chance):
                self.chance_epochs.append(record["epoch"])
            self.network = network
        return False

    def saturation(self):
        """None, or a dict describing a run whose last epoch ended at chance level."""
        if self.last_epoch is None or self.last_epoch not in self.chance_epochs:
            return None
        chance = self.chance if self.chance is not None else 1.0 / self.network.sizes[-1]
        info = {"final_accuracy": self.last_accuracy, "chance_level": chance,
                "epochs_at_chance": list(self.chance_epochs)}
        message = (f"Saturated at chance level: accuracy {100 * self.last_accuracy:.2f}% is no "
                   f"better than always answering the most common class "
                   f"({100 * chance:.2f}%) in {len(self.chance_epochs)} epoch(s), including "
                   f"the last; the network is not learning")
        if self.probe is not None:
            stuck = stuck_neurons(self.network, self.probe)
            info["stuck_neurons"] = stuck
            message += (f"; neurons giving the same output for every probe input, per layer: "
                        f"{stuck} of {self.network.sizes[1:]}")
        mu = getattr(self.network.optimizer, "mu", None)
        if mu is not None and abs(mu) >= 1:
            message += f"; likely cause: {likely_cause(self.network.optimizer)}"
        else:
            message += ("; likely cause: saturated neurons (eta too large, 'large' initial "
                        "weights, or the quadratic cost's slow start); try a smaller eta, the "
                        "default init or the cross-entropy cost")
        info["message"] = message
        return info
