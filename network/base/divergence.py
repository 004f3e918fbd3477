"""A run that blew up: the one check every trainer makes after every epoch.

A NaN or an infinity in a loss or a parameter never goes away again (every step
made from it is NaN too), so each trainer -- the ``Network``, the ``ConvNetwork``
and the VAE -- calls ``check_epoch`` when an epoch ends and stops with
``TrainingDiverged``: the epoch, the mini-batch after which a parameter first
became non-finite (when the trainer knows it), what went wrong, and the likely
cause read off the optimiser (momentum mu >= 1, else a learning rate too large).

Left out on purpose: repairing the run (lowering eta and retrying is the user's
call), checks inside an epoch, gradient-norm monitoring.
"""

import math

import numpy as np

from ..errors import TrainingDiverged


def likely_cause(optimizer, unbounded=None):
    """One sentence on why a run with ``optimizer`` blew up; ``unbounded`` names the
    hidden units' activation when it has no upper bound (relu, identity)."""
    eta = getattr(optimizer, "eta", None)
    mu = getattr(optimizer, "mu", None)
    if mu is not None and abs(mu) >= 1:
        return (f"momentum mu = {mu} has |mu| >= 1, so the velocity grows without bound "
                f"(MOMENTUM); use 0 <= mu < 1")
    cause = (f"the learning rate eta = {eta} is probably too large for this network and cost: "
             f"each step overshoots and the weights grow until they overflow")
    if unbounded:
        cause += f" ({unbounded} units are unbounded)"
    if eta:
        cause += f"; try eta = {eta / 10:g}"
    return cause


def check_epoch(epoch, parameters, losses, optimizer, batch=None, unbounded=None):
    """Raise TrainingDiverged if a loss or a parameter of this epoch is NaN or infinite.

    ``parameters``: (name, array) pairs; ``losses``: {name: value} (None counts as
    non-finite: a cost that could not be written as a number); ``batch``: the first
    mini-batch after which a parameter was not finite, if the trainer recorded it.
    """
    bad_losses = [k for k, v in losses.items() if v is None or not math.isfinite(v)]
    bad_params = [name for name, p in parameters if not np.all(np.isfinite(p))]
    if not (bad_losses or bad_params):
        return
    batch = int(batch) if batch is not None and batch >= 0 else None
    where = f"in epoch {epoch}" + (f", after mini-batch {batch}" if batch is not None
                                   else "" if not bad_params else " (mini-batch not recorded)")
    what = (f"{', '.join(bad_params[:4])} became NaN or infinite" if bad_params
            else f"the {' and '.join(k.replace('_', ' ') for k in bad_losses)} became NaN or "
                 f"infinite with finite weights")
    cause = likely_cause(optimizer, unbounded)
    raise TrainingDiverged(f"training diverged {where}: {what}; likely cause: {cause}",
                           epoch, batch, cause)
