"""One name, one rule and one help text for each idea, for every command and chapter script.

The learning rate is ``--eta`` everywhere, the mini-batch size ``--mini-batch-size``,
the number of training images ``--training-size``; a seed is a whole number >= 0
wherever one is taken; every default is shown by ``--help``.  Commands and chapter
scripts add these options through ``add`` (one idea -> one definition) and build their
parsers with ``Parser``, which prints a usage fault in one line and shows defaults.
Older spellings (``--lr``, ``--batch-size``, ``--train-size``) still work, hidden from
``--help``.  tests/test_cli_names.py holds every command and chapter script to this.

Left out on purpose: configuration files, abbreviations argparse would guess.
"""

import argparse

from ..base.checks import number
from ..errors import UsageError


class Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (status 2) and every default in ``--help``."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows "(default: X)" after every option that has a default worth showing."""

    def _get_help_string(self, action):
        text = action.help or ""
        hidden = action.default is None or action.default is False \
            or action.default == argparse.SUPPRESS
        if hidden or "%(default)" in text or "default" in text:
            return text
        return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"


# ---- numbers: the library's one rule (network/base/checks.py) for text from a command line ----

def _number_type(convert, low=None, strict=False, kind="number"):
    rule = (f"a positive {kind}" if strict and low == 0 else f"a {kind} >= {low}"
            if low is not None else f"a finite {kind}")

    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind}") from None
        try:
            return number("value", value, above=low if strict else None,
                          low=None if strict else low, whole=convert is int)
        except UsageError:
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text}") from None
    parse.__name__ = f"{'positive' if strict else 'non_negative' if low == 0 else ''}_{kind}"
    return parse


positive_float = _number_type(float, 0, True, "number")
non_negative_float = _number_type(float, 0, False, "number")
finite_float = _number_type(float, kind="number")
positive_int = _number_type(int, 1, False, "whole number")
non_negative_int = _number_type(int, 0, False, "whole number")


def fraction(text):
    """A probability p with 0 <= p < 1 (dropout)."""
    value = non_negative_float(text)
    if not value < 1:
        raise argparse.ArgumentTypeError(f"must be a number >= 0 and < 1, got {text}")
    return value


# ---- the ideas ---------------------------------------------------------------------------------

IDEAS = {
    # idea: (flag, hidden older spellings, type, metavar, help)
    "eta": ("--eta", ("--lr",), positive_float, "ETA",
            "learning rate (eta; the optimiser's step size, Adam's lr)"),
    "mini_batch_size": ("--mini-batch-size", ("--batch-size",), positive_int, "M",
                        "examples per gradient step"),
    "epochs": ("--epochs", (), non_negative_int, "N",
               "epochs in all (counted from 0 when printed, as the book prints them)"),
    "seed": ("--seed", (), non_negative_int, "S", "random seed"),
    "training_size": ("--training-size", ("--train-size",), positive_int, "N",
                      "use the first N training images only"),
    "lmbda": ("--lmbda", (), non_negative_float, "LAMBDA", "regularisation strength lambda"),
    "momentum": ("--momentum", (), finite_float, "MU", "momentum coefficient mu (0: plain SGD)"),
    "dropout": ("--dropout", (), fraction, "P", "probability of dropping each hidden unit"),
    "dtype": ("--dtype", (), None, None, "floating-point precision"),
    "dataset": ("--dataset", (), None, None, "which data set (mnist ships in data/mnist/)"),
    "data_path": ("--data-path", (), None, "DIR",
                  "folder holding the four IDX files (default: looked up)"),
    "quiet": ("--quiet", (), None, None, "print only the summary"),
    "threads": ("--threads", (), positive_int, "T",
                "cores (numba threads) to compute on; the numbers do not depend on it"),
}


def add(parser, idea, **options):
    """Add the option for ``idea`` to ``parser`` with its one flag, rule and help text
    (``options`` may set default, choices, nargs, action, help, ...), and its older
    spellings as hidden aliases."""
    flag, aliases, kind, metavar, text = IDEAS[idea]
    spec = {"dest": idea, "help": text}
    if idea == "quiet":
        spec["action"] = "store_true"
    else:
        spec.update({k: v for k, v in (("type", kind), ("metavar", metavar)) if v is not None})
    if "choices" in options:
        spec.pop("metavar", None)
    spec.update(options)
    action = parser.add_argument(flag, **spec)
    for alias in aliases:
        hidden = {k: v for k, v in spec.items() if k not in ("help", "default")}
        parser.add_argument(alias, **hidden, help=argparse.SUPPRESS, default=argparse.SUPPRESS)
    return action


def ideas_of(parser):
    """{idea: (flags shown, type)} of the options ``parser`` defines: for the tests."""
    found = {}
    for action in parser._actions:
        if action.dest in IDEAS and action.help != argparse.SUPPRESS:
            found[action.dest] = (tuple(action.option_strings), action.type)
    return found
