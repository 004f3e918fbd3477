"""Argument types and data loading shared by the commands."""

import argparse
import math

import numpy as np

from ..errors import UsageError

EVALUATION_SETS = ("validation", "test")


def _number_type(convert, low, strict, kind):
    """An argparse type: ``convert`` the text, then require it finite and above ``low``
    (``strict``) or at least ``low``; the message names the rule and the bad text."""
    rule = f"a positive {kind}" if strict and low == 0 else f"a {kind} >= {low}"

    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind}") from None
        if not math.isfinite(value) or (value <= low if strict else value < low):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text}")
        return value
    return parse


positive_float = _number_type(float, 0, True, "number")
non_negative_float = _number_type(float, 0, False, "number")
positive_int = _number_type(int, 1, False, "whole number")
non_negative_int = _number_type(int, 0, False, "whole number")


def add_data_arguments(parser):
    parser.add_argument("--dataset", choices=("mnist", "fashion-mnist"), default="mnist",
                        help="which data set (default mnist, shipped in data/mnist/)")
    parser.add_argument("--data-path", metavar="DIR", default=None,
                        help="folder holding the four IDX files (default: looked up)")
    parser.add_argument("--evaluation-set", choices=EVALUATION_SETS, default="validation",
                        help="score on the 10,000 validation images (default) or the test set")


def load_splits(args):
    """((X, y) training, (X, y) evaluation) as compact uint8 pixels and int labels."""
    from ..mnist_loader import load_arrays

    train, validation, test = load_arrays(args.dataset, path=args.data_path, dtype=np.uint8)
    evaluation = test if args.evaluation_set == "test" else validation
    return train, evaluation


def check_sizes_fit(sizes, X, n_classes=10):
    if sizes[0] != X.shape[1] or sizes[-1] != n_classes:
        raise UsageError(f"--sizes {' '.join(map(str, sizes))} does not fit the data: images "
                         f"have {X.shape[1]} pixels and there are {n_classes} classes; use "
                         f"--sizes {X.shape[1]} ... {n_classes}")
