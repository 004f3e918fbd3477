"""How far a network is overfitting, read from its per-epoch records (chapter 6, problem 6.10).

A trainer that monitored its training and evaluation accuracy and cost each epoch
(``ConvNetwork.SGD(..., monitor=...)``, ``Network.SGD(..., monitor_training_accuracy=True,
...)``) leaves records with the keys ``training_accuracy``, ``evaluation_accuracy``
(fractions) and ``training_cost``, ``evaluation_cost``.  ``overfitting_report`` turns
them into the signs of overfitting chapter 3 shows on its four plots:

- the **accuracy gap**, training minus evaluation accuracy, per epoch: how much better
  the network does on the images it learns from than on images it has not seen;
- the **cost gap**, evaluation minus training cost: the same in the cost;
- the epoch of the **lowest evaluation cost**: from there on the training cost keeps
  falling while the evaluation cost rises -- the network is learning peculiarities of
  its training images (the book's first sign, chapter 3);
- the epoch of the **best evaluation accuracy**, and what training accuracy gained
  after it (learning that no longer generalises);
- the first epoch at which the network classifies every training image correctly
  (memorised: nothing left to learn from the training accuracy's point of view).

Both costs must carry the same L2 term (or none) for the cost gap to be the data
term's gap; ``ConvNetwork`` and ``Network`` compute them so.

Left out on purpose: any decision (stopping is base/schedules.py's job) and drawing
(network/plots/curves.py: ``overfitting``).
"""

import numpy as np

from ..errors import UsageError

KEYS = ("training_accuracy", "evaluation_accuracy", "training_cost", "evaluation_cost")


def overfitting_report(records):
    """The overfitting diagnostics of ``records`` (a trainer's history, epochs from 0).

    Returns a dict of plain numbers and lists (JSON-ready): the four series (accuracies
    as fractions, costs in nats), ``accuracy_gap`` (a fraction: 0.07 is 7 percentage
    points) and ``cost_gap`` per epoch, ``best_epoch``,
    ``lowest_cost_epoch``, ``training_accuracy_gain_after_best``,
    ``cost_rise_after_lowest``, ``memorised_epoch`` (None if never) and ``summary``,
    one sentence.
    """
    records = list(records)
    missing = [k for k in KEYS if not records or k not in records[0]]
    if missing:
        raise UsageError(f"overfitting_report needs records with {', '.join(KEYS)}; missing "
                         f"{', '.join(missing)} (monitor them while training)")
    series = {k: np.array([r[k] for r in records], dtype=float) for k in KEYS}
    train_acc, eval_acc = series["training_accuracy"], series["evaluation_accuracy"]
    train_cost, eval_cost = series["training_cost"], series["evaluation_cost"]
    acc_gap = train_acc - eval_acc                       # a fraction: x 100 for points
    cost_gap = eval_cost - train_cost                    # nats
    best = int(np.argmax(eval_acc))
    lowest = int(np.argmin(eval_cost))
    full = np.flatnonzero(train_acc >= 1.0)
    memorised = int(full[0]) if len(full) else None
    last = len(records) - 1
    report = {
        "epochs": len(records),
        "training_accuracy": train_acc.tolist(), "evaluation_accuracy": eval_acc.tolist(),
        "training_cost": train_cost.tolist(), "evaluation_cost": eval_cost.tolist(),
        "accuracy_gap": acc_gap.tolist(), "cost_gap": cost_gap.tolist(),
        "best_epoch": best, "best_evaluation_accuracy": float(eval_acc[best]),
        "lowest_cost_epoch": lowest, "lowest_evaluation_cost": float(eval_cost[lowest]),
        "training_accuracy_gain_after_best": float(train_acc[last] - train_acc[best]),
        "cost_rise_after_lowest": float(eval_cost[last] - eval_cost[lowest]),
        "training_cost_fall_after_lowest": float(train_cost[lowest] - train_cost[last]),
        "memorised_epoch": memorised,
        "final_accuracy_gap": float(acc_gap[last]), "final_cost_gap": float(cost_gap[last]),
    }
    report["summary"] = _summary(report)
    return report


def _summary(r):
    last = r["epochs"] - 1
    parts = [f"after {r['epochs']} epochs the training accuracy is "
             f"{100 * r['final_accuracy_gap']:.2f} points above the evaluation accuracy"]
    if r["lowest_cost_epoch"] < last:
        parts.append(f"the evaluation cost was lowest at epoch {r['lowest_cost_epoch']} and has "
                     f"risen by {r['cost_rise_after_lowest']:.3f} since, while the training cost "
                     f"fell by {r['training_cost_fall_after_lowest']:.3f}")
    else:
        parts.append("the evaluation cost is still falling")
    parts.append(f"the evaluation accuracy peaked at epoch {r['best_epoch']} "
                 f"({r['best_evaluation_accuracy']:.2%})")
    if r["memorised_epoch"] is not None:
        parts.append(f"every training image is first classified correctly at epoch "
                     f"{r['memorised_epoch']}")
    return "; ".join(parts)
