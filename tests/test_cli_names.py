"""One command line to learn: every command and chapter script spells the same idea the same
way, validates it by the same rule, and shows its defaults in ``--help``.

The ideas and their one definition live in network/cli/options.py; these tests walk every
parser the commands build (and run every chapter script) and hold them to it.
"""

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from network.cli import build_parser, options

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(p.name for p in (REPO / "chapters").glob("*.py")
                  if p.name not in ("common.py", "chap3_runs.py", "chap3_tuning.py"))
BAD = {"eta": ["0", "-1", "nan"], "mini_batch_size": ["0", "2.5"], "epochs": ["-1", "1.5"],
       "seed": ["-1", "x"], "training_size": ["0"], "lmbda": ["-1", "inf"],
       "momentum": ["nan"], "dropout": ["1", "-0.1"]}
OLD_SPELLINGS = {alias for _, aliases, *_ in options.IDEAS.values() for alias in aliases}


def parsers(parser=None, path=()):
    """(command path, parser) for the whole command line, sub-commands included."""
    parser = parser or build_parser()
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from parsers(sub, path + (name,))


def test_every_command_uses_the_one_flag_and_rule_of_each_idea():
    seen = {}
    for path, parser in parsers():
        for idea, (flags, kind) in options.ideas_of(parser).items():
            flag, _, rule, *_ = options.IDEAS[idea]
            assert flags == (flag,), f"{' '.join(path)}: {idea} spelled {flags}, not {flag}"
            assert kind is rule, f"{' '.join(path)}: {flag} checked by {kind}, not {rule}"
            seen.setdefault(idea, []).append(" ".join(path))
        shown = [s for a in parser._actions if a.help != argparse.SUPPRESS
                 for s in a.option_strings]
        assert not OLD_SPELLINGS & set(shown), f"{' '.join(path)} shows an old spelling"
    assert {"eta", "mini_batch_size", "epochs", "seed", "training_size"} <= set(seen)
    assert len(seen["eta"]) >= 3 and len(seen["seed"]) >= 3   # train, vae train, grid, play ...


@pytest.mark.parametrize("idea", sorted(BAD))
def test_a_bad_value_is_refused_by_every_command_that_takes_the_idea(idea):
    flag = options.IDEAS[idea][0]
    tried = 0
    for path, parser in parsers():
        if idea not in options.ideas_of(parser):
            continue
        required = ["--out", "x"] if path == ("grid",) else []
        for value in BAD[idea]:
            with pytest.raises(SystemExit) as exit_:
                build_parser().parse_args([*path, *required, flag, value])
            assert exit_.value.code == 2, (path, flag, value)
            tried += 1
    assert tried >= len(BAD[idea]), f"no command takes {flag}"


def test_old_spellings_still_work_hidden_from_help(capsys):
    args = build_parser().parse_args(["vae", "train", "--lr", "0.01", "--batch-size", "64"])
    assert args.eta == 0.01 and args.mini_batch_size == 64
    args = build_parser().parse_args(["bench", "--train-size", "1000"])
    assert args.training_size == 1000
    with pytest.raises(SystemExit):
        build_parser().parse_args(["vae", "train", "--help"])
    shown = capsys.readouterr().out
    assert "--eta" in shown and "--mini-batch-size" in shown
    assert "--lr" not in shown and "--batch-size" not in shown


def test_help_shows_every_default(capsys):
    for path, parser in parsers():
        for action in parser._actions:
            quiet = action.default is None or action.default is False \
                or action.default == argparse.SUPPRESS or action.help == argparse.SUPPRESS
            if action.option_strings and not quiet and action.dest != "help":
                text = parser.formatter_class(parser.prog)._get_help_string(action)
                assert "default" in text, f"{' '.join(path)} {action.option_strings} hides its default"


@pytest.mark.parametrize("script", CHAPTERS)
def test_every_chapter_script_takes_the_same_seed_rule_and_shows_its_defaults(script):
    run = subprocess.run([sys.executable, f"chapters/{script}", "--seed", "-1"], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "argument --seed: must be a whole number >= 0" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    shown = subprocess.run([sys.executable, f"chapters/{script}", "--help"], cwd=REPO,
                           capture_output=True, text=True, timeout=60).stdout
    assert "--seed S" in shown and "(default: " in shown
