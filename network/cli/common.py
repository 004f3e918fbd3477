"""Argument types, data loading and the --resume/interrupt handling shared by the commands.

``python -m network train`` and ``python -m network vae train`` both take a
settings snapshot from a checkpoint on ``--resume`` (``Given``,
``damaged_settings``, ``adopt_settings``) and both report an interrupted run
in one line with the command that resumes it (``interrupted``).
"""

import argparse
import sys
from pathlib import Path

import numpy as np

from ..errors import NNDLError, UsageError
from . import options
from ..storage.atomic import atomic_write_json, check_writable
from ..storage.signals import exit_status
from ..storage.strict_json import json_safe

EVALUATION_SETS = ("validation", "test")


def plural(n, word):
    """"1 epoch", "2 epochs": the counts the commands print."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def output_file(text):
    """An argparse type for a file a command will write.  Done when the command line is
    read, so a long run never ends with nowhere to put its result: the folder is made if
    missing; a folder, a device, a FIFO or a socket is refused (a write would replace it),
    and so is a place where no file can be created.  A symlink is written through."""
    path = Path(text)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot create the folder {path.parent}: "
                                         f"{exc.strerror or exc}") from None
    try:
        check_writable(path)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_data_arguments(parser, evaluation=True):
    options.add(parser, "dataset", choices=("mnist", "fashion-mnist"), default="mnist")
    options.add(parser, "data_path", default=None)
    if evaluation:
        parser.add_argument("--evaluation-set", choices=EVALUATION_SETS, default="validation",
                            help="score on the 10,000 validation images or the 10,000 test images")


def add_checkpoint_arguments(parser, resume_extra=""):
    """--checkpoint and --resume, the same for every command that trains."""
    parser.add_argument("--checkpoint", metavar="PATH", type=output_file,
                        help="save the full training state here after every epoch (.npz), so "
                             "the run can be resumed after Ctrl-C, SIGTERM or a crash")
    parser.add_argument("--resume", metavar="PATH",
                        help="continue the run saved in this checkpoint (its settings are "
                             f"used{resume_extra}; checkpoints keep going to PATH unless "
                             "--checkpoint says otherwise)")


def load_splits(args):
    """((X, y) training, (X, y) evaluation) as compact uint8 pixels and int labels."""
    from ..data.mnist import load_arrays

    train, validation, test = load_arrays(args.dataset, path=args.data_path, dtype=np.uint8)
    evaluation = test if args.evaluation_set == "test" else validation
    return train, evaluation


def check_sizes_fit(sizes, X, n_classes=10):
    if sizes[0] != X.shape[1] or sizes[-1] != n_classes:
        raise UsageError(f"--sizes {' '.join(map(str, sizes))} does not fit the data: images "
                         f"have {X.shape[1]} pixels and there are {n_classes} classes; use "
                         f"--sizes {X.shape[1]} ... {n_classes}")


# ---- the metrics file ------------------------------------------------------------------------

class MetricsFile:
    """The one layout of every trainer's ``--metrics`` file, rewritten atomically after every
    epoch so an interrupted run keeps what it measured::

        {"config": {...}, "epochs": [{"epoch": 0, ...}, ...], "summary": {...}}

    ``epochs`` are the trainer's per-epoch records (counted from 0, accuracies as
    fractions, NaN as null); a trainer with per-step series puts them under their own
    key (the VAE's ``"steps"``).  ``path`` None keeps everything in memory.
    """

    def __init__(self, path, config, epochs=()):
        self.path = path
        self.data = {"config": config, "epochs": list(epochs)}

    def epoch(self, row, **extra):
        self.data["epochs"].append(row)
        self.data.update(extra)
        self.write()

    def finish(self, summary, **extra):
        self.data["summary"] = summary
        self.data.update(extra)
        self.write()

    def write(self):
        if self.path:
            atomic_write_json(self.path, json_safe(self.data))


# ---- --resume: the checkpoint's settings, and options that contradict them ----------------

class Given(argparse.Action):
    """Store the value and remember that the option was given, so --resume can spot conflicts."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.__dict__.setdefault("given_options", set()).add(self.dest)


def track_given(parser, dests):
    """Make the (plain store) options ``dests`` of ``parser`` remember being given."""
    for action in parser._actions:
        if action.dest in dests:
            action.__class__ = Given


def _valid_setting(action, config, key):
    """Whether ``config[key]`` is a value the option itself would accept."""
    if key not in config:
        return False
    value = config[key]
    if value is None:
        return action.default is None
    values = value if action.nargs == "+" else [value]
    if not isinstance(values, list) or not values:
        return False
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            return False
        try:
            if (action.type(str(v)) if action.type else str(v)) != v:
                return False
        except (argparse.ArgumentTypeError, ValueError, TypeError):
            return False
        if action.choices is not None and v not in action.choices:
            return False
    return True


def damaged_settings(config, keys, actions):
    """The ``keys`` whose value in a checkpoint's ``config`` its option (``actions[key]``, an
    argparse action) would refuse, or which are missing."""
    return [k for k in keys if not _valid_setting(actions[k], config, k)]


def refuse_damaged(path, bad, command, resume_api):
    """Refuse a checkpoint whose settings snapshot is missing, invalid or contradicts its
    contents (``bad``: what is wrong), naming the command and the library call to use."""
    if bad:
        raise UsageError(f"{path}: this checkpoint was not written by '{command}' or its "
                         f"settings are damaged ({', '.join(bad)[:100]}); resume it with "
                         f"{resume_api}")


def adopt_settings(args, config, keys, path, planned, done):
    """Put the checkpoint's settings ``keys`` into ``args``; refuse an explicit option that
    contradicts one.  --epochs may differ (it is the planned total) but not fall below the
    ``done`` epochs; left out, it is the ``planned`` total."""
    given = getattr(args, "given_options", set())
    for key in keys:
        if key in given and getattr(args, key) != config[key]:
            option = "--" + key.replace("_", "-")
            value = getattr(args, key)
            value = " ".join(map(str, value)) if isinstance(value, list) else value
            raise UsageError(f"{option} {value} conflicts with the checkpoint {path}, "
                             f"which was trained with {key} {config[key]}; leave the option out "
                             f"to resume, or start a new run without --resume")
        setattr(args, key, config[key])
    if "epochs" not in given:  # the planned total, which an earlier --epochs may have raised
        args.epochs = max(planned, done)
    elif args.epochs < done:
        raise UsageError(f"--epochs {args.epochs}: the checkpoint {path} already holds "
                         f"{done} epochs; give at least that many")
    for key in OUTPUTS:   # the interrupted command's --save and --metrics, unless given anew
        if getattr(args, key, None) is None and isinstance(config.get(key), str):
            try:
                setattr(args, key, output_file(config[key]))
            except argparse.ArgumentTypeError as exc:
                raise UsageError(f"--{key} {config[key]} (from the checkpoint {path}): "
                                 f"{exc}") from None


OUTPUTS = ("save", "metrics")   # kept in a checkpoint's settings, so --resume writes them too


# ---- Ctrl-C and SIGTERM -----------------------------------------------------------------------

def interrupted(exc, progress, command, epochs_on_disk, first_epoch=0):
    """Print where training stopped and how to go on, in one line; return 130 or 143.

    ``progress``: "epochs" (None before training started, else a function giving
    the epochs run), "saved_epochs" (what the checkpoint holds; None if this run
    wrote none yet), "path" (the checkpoint, or None).  ``command`` resumes a
    checkpoint with ``--resume PATH``; ``epochs_on_disk(path)`` reads how many
    epochs the file holds; ``first_epoch``: the number of a run's first epoch.
    """
    saved, path = progress["saved_epochs"], progress["path"]
    what = "terminated (SIGTERM)" if exit_status(exc) == 143 else "interrupted"
    if progress["epochs"] is None:
        print(f"{what} before training started", file=sys.stderr)
    elif saved is None:
        at = progress["epochs"]() + first_epoch
        if path is None:
            print(f"{what} at epoch {at}; no checkpoint to resume from (train with "
                  f"--checkpoint PATH to make a run resumable)", file=sys.stderr)
        else:
            print(f"{what} at epoch {at}, before the first checkpoint was written to {path}; "
                  f"start the run again", file=sys.stderr)
    else:
        try:  # the file is the truth (the signal may have landed between its rename and on_save)
            saved = epochs_on_disk(path)
        except NNDLError:
            pass
        print(f"{what} at epoch {saved + first_epoch}; {path} holds {plural(saved, 'complete epoch')}; "
              f"resume with: {command} --resume {path}", file=sys.stderr)
    return exit_status(exc)
