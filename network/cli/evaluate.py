"""``python -m network evaluate MODEL.json``: score a saved network."""

from ..mlp.network import load
from .common import add_data_arguments, check_sizes_fit, load_splits


def add_parser(subparsers):
    p = subparsers.add_parser("evaluate", help="score a saved model",
                              description="Accuracy and mean cost of a saved model.")
    p.add_argument("model", metavar="MODEL.json")
    add_data_arguments(p)
    p.set_defaults(run=run)
    return p


def run(args):
    net = load(args.model)
    _, (X, y) = load_splits(args)
    check_sizes_fit(net.sizes, X)
    cost, correct = net.cost_and_accuracy((X, y))  # one forward pass for both
    print(f"{args.model}: {correct} / {len(y)} correct ({100 * correct / len(y):.2f}%) on the "
          f"{args.evaluation_set} set; mean cost {cost:.4f}")
    return 0
