"""Watching a training run for the two ways it fails silently: divergence and chance level.

``DivergenceGuard`` is an epoch callback (``cb(network, record)``).  After
every epoch it checks the recorded costs and every weight and bias; anything
NaN or infinite raises ``TrainingDiverged``, which stops ``Network.SGD`` at
once.  Put it *before* a checkpointer in the callback list so the bad state is
never saved (the checkpointer refuses non-finite parameters anyway), and the
last good checkpoint stays on disk.  The message names the epoch, the
mini-batch after which a parameter first became non-finite (from the record's
``first_nonfinite_batch`` when the training loop provides it) and the likely
cause, read off the optimiser: momentum mu >= 1, else a learning rate too large.

It also notes every epoch whose accuracy is at *chance level*: no better than
always answering the most common class of the evaluation set (plus three
standard errors).  That is what saturated neurons look like from outside --
chapter 3's slow start with the quadratic cost, or chapter 1 with eta far too
large -- and ``saturation()`` says so in the run's summary, with, if the guard
was given a few probe inputs, how many neurons give the same output for all of
them (saturated sigmoids, dead ReLUs).

Left out on purpose: repairing the run (lowering eta and retrying is the
user's call), gradient-norm monitoring, checks inside an epoch.
"""

import math

import numpy as np

from ..errors import NNDLError

COST_KEYS = ("training_cost", "evaluation_cost")


class TrainingDiverged(NNDLError):
    """A cost or a parameter became NaN or infinite; ``epoch``, ``batch`` and ``cause`` say where and why."""

    def __init__(self, message, epoch, batch, cause):
        super().__init__(message)
        self.epoch, self.batch, self.cause = epoch, batch, cause


def likely_cause(network):
    """One sentence on why a run of ``network`` blew up, read off its optimiser."""
    optimizer = network.optimizer
    eta = getattr(optimizer, "eta", None)
    mu = getattr(optimizer, "mu", None)
    if mu is not None and abs(mu) >= 1:
        return (f"momentum mu = {mu} has |mu| >= 1, so the velocity grows without bound "
                f"(MOMENTUM); use 0 <= mu < 1")
    cause = (f"the learning rate eta = {eta} is probably too large for this network and cost: "
             f"each step overshoots and the weights grow until they overflow")
    if network.activation.name in ("relu", "identity"):
        cause += f" ({network.activation.name} units are unbounded)"
    if eta:
        cause += f"; try eta = {eta / 10:g}"
    return cause


def chance_level(labels, n_classes):
    """The accuracy of always answering the most common class (1/k for balanced data)."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return 1.0 / n_classes
    return float(np.bincount(labels, minlength=n_classes).max() / labels.size)


def stuck_neurons(network, X):
    """Per layer, how many neurons give the same output (to 1e-6) for every row of X."""
    X = np.asarray(X)
    a = X / network.dtype.type(255) if X.dtype == np.uint8 else X.astype(network.dtype)  # raw pixels to [0, 1], as data_format does
    counts = []
    for l, (w, b) in enumerate(zip(network.weights, network.biases)):
        z = a @ w.T + b.T                                 # (FF) (rows, n_in) @ (n_in, n_out)
        last = l == len(network.weights) - 1
        a = (network.output_activation if last else network.activation).fn(z)
        counts.append(int(np.sum(np.ptp(a, axis=0) < 1e-6)))
    return counts


class DivergenceGuard:
    """Epoch callback: raise TrainingDiverged on non-finite costs or parameters; note chance level.

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

    def margin(self, p):
        if not self.evaluation_size:
            return 0.01
        return max(0.01, 3 * math.sqrt(p * (1 - p) / self.evaluation_size))

    def __call__(self, network, record):
        epoch = record.get("epoch")
        bad_costs = [k for k in COST_KEYS if k in record
                     and not (record[k] is not None and math.isfinite(record[k]))]
        bad_params = [name for name, p in _named_parameters(network) if not np.all(np.isfinite(p))]
        if bad_costs or bad_params:
            batch = record.get("first_nonfinite_batch")
            batch = batch if isinstance(batch, (int, np.integer)) and batch >= 0 else None
            where = f"in epoch {epoch}" + (f", after mini-batch {batch}" if batch is not None
                                           else "" if not bad_params
                                           else " (mini-batch not recorded)")
            what = (f"{', '.join(bad_params[:4])} became NaN or infinite" if bad_params
                    else f"the {' and '.join(k.replace('_', ' ') for k in bad_costs)} "
                         f"became NaN or infinite with finite weights")
            cause = likely_cause(network)
            raise TrainingDiverged(f"training diverged {where}: {what}; likely cause: {cause}",
                                   epoch, batch, cause)
        if "evaluation_accuracy" in record:
            k = network.sizes[-1]
            chance = self.chance if self.chance is not None else 1.0 / k
            self.last_epoch, self.last_accuracy = epoch, record["evaluation_accuracy"]
            if record["evaluation_accuracy"] <= chance + self.margin(chance):
                self.chance_epochs.append(epoch)
            self.network = network
        return False

    def saturation(self):
        """None, or a dict describing a run whose last epoch ended at chance level."""
        if self.last_epoch is None or self.last_epoch not in self.chance_epochs:
            return None
        k = self.network.sizes[-1]
        chance = self.chance if self.chance is not None else 1.0 / k
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
            message += f"; likely cause: {likely_cause(self.network)}"
        else:
            message += ("; likely cause: saturated neurons (eta too large, 'large' initial "
                        "weights, or the quadratic cost's slow start); try a smaller eta, the "
                        "default init or the cross-entropy cost")
        info["message"] = message
        return info


def _named_parameters(network):
    for l, w in enumerate(network.weights):
        yield f"weights[{l}]", w
    for l, b in enumerate(network.biases):
        yield f"biases[{l}]", b
