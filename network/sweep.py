"""``python -m network.sweep``: hyper-parameter sweeps the way Hydra users run them.

    python -m network.sweep --multirun eta=0.1,0.5,3.0 mini_batch_size=10,50 epochs=10 out=runs/sweep
    python -m network.sweep --cfg job                       # the config: every train option
    python -m network.sweep setup=chap1 out=runs/chap1      # the book's chapter 1 set-up
    python -m network.sweep --multirun hydra/launcher=joblib hydra.launcher.n_jobs=2 ...
    python -m network grid --report runs/sweep              # table, test score, heatmap

The config holds every option of ``python -m network train`` with that
command's default (read from its parser, so the two cannot drift apart) and
``out``, the folder of the results.  Each job checks its settings by the train
command's own rules, trains one network exactly as a grid run does
(network/grid/executor.py) and appends its row, in the grid's format, to
``out/results.jsonl`` under the file's lock, so jobs running in parallel
processes are safe (network/grid/results.py).  A job whose row is already there
(same settings, a seed given) is not trained again.  The row also goes to
``row.json`` in the job's own Hydra folder, and the job returns the best
validation accuracy (an objective for Hydra's optimising sweepers).

Config groups: ``setup=chap1`` (chapter 1: quadratic cost, N(0, 1) weights, eta
3.0) and ``setup=chap3`` (chapter 3: cross-entropy, N(0, 1/n_in) weights, eta
0.5, lambda 5.0).  Launchers: Hydra's basic launcher runs the jobs one after
another here; ``hydra/launcher=joblib`` (the hydra extra) runs them in parallel
processes; ``hydra/launcher=submitit_slurm`` (hydra-submitit-launcher, not
installed here) sends them to a Slurm cluster, with ``out`` on a file system
every node shares.

While a multirun goes, a Hydra callback here prints a line per finished job
and, on a terminal, a bar of jobs done of the total with the time left
(network/base/progress.py); ``quiet=true`` silences both.

Left out on purpose: ``checkpoint`` and ``resume`` within a sweep (a job is
short; rerun the sweep with a seed and the finished jobs are skipped), test
scores per job (the report scores the chosen one, once), and any search
strategy of our own (Hydra's sweepers are the strategies).
"""

import argparse
import contextlib
import math
import re
import secrets
import sys
import threading
import time
from pathlib import Path

try:
    from hydra.experimental.callback import Callback
except ImportError:       # the hydra extra is missing: main() says so in one line
    Callback = object

APP = "python -m network.sweep"
SETUPS = {   # the book's set-ups, as config groups (setup=chap1, setup=chap3)
    "chap1": {"sizes": [784, 30, 10], "cost": "quadratic", "init": "large", "eta": 3.0,
              "mini_batch_size": 10, "epochs": 30, "lmbda": 0.0},
    "chap3": {"sizes": [784, 30, 10], "cost": "cross-entropy", "init": "default", "eta": 0.5,
              "mini_batch_size": 10, "epochs": 30, "lmbda": 5.0},
}
NOT_IN_A_SWEEP = {
    "evaluation_set": ("validation", "a sweep selects on the validation set; `python -m network "
                                     "grid --report OUT` scores the test set, once"),
    "checkpoint": (None, "a sweep job is not checkpointed; rerun the sweep with a seed given "
                         "and the finished jobs are skipped"),
    "resume": (None, "resume single runs with `python -m network train --resume`"),
}


class _Strict(argparse.ArgumentParser):
    """argparse that raises instead of exiting, in the sweep's words (eta, not --eta)."""

    def error(self, message):
        from .errors import UsageError
        raise UsageError(re.sub(r"--([a-z-]+)", lambda m: m.group(1).replace("-", "_"),
                                message.replace("argument ", "")))


def train_parser():
    """The parser of ``python -m network train``: its options are the sweep's."""
    from .cli import train
    return train.add_parser(_Strict(prog=APP).add_subparsers(parser_class=_Strict))


def _train_actions():
    """The options of ``train`` as its --help shows them (not --help itself, nor the older
    spellings kept as hidden aliases)."""
    return [a for a in train_parser()._actions
            if a.dest != "help" and a.help != argparse.SUPPRESS]


def train_options():
    """{option: the train command's default} for every option of ``train``."""
    return {a.dest: a.default for a in _train_actions()}


def _argv(settings):
    """The train command line that ``settings`` (a dict of options) stands for."""
    argv = ["train"]
    for action in _train_actions():
        value = settings.get(action.dest)
        if value is None or value is False:
            continue
        argv.append(action.option_strings[-1])
        if value is not True:
            argv += [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]
    return argv


def check_settings(settings, folder="."):
    """The job's settings as the train command would take them (an argparse Namespace),
    refusing what a sweep cannot do; relative save/metrics paths land in ``folder``."""
    from .errors import UsageError
    for key, (allowed, why) in NOT_IN_A_SWEEP.items():
        if settings.get(key) != allowed:
            raise UsageError(f"{key}={settings.get(key)}: {why}")
    settings = dict(settings)
    for key in ("save", "metrics"):
        if settings.get(key) is not None:
            settings[key] = str(Path(folder) / settings[key])   # an absolute path stays
    return train_parser().parse_args(_argv(settings)[1:])


def job(cfg):
    """One Hydra job: train the configuration ``cfg`` and append its row to out/results.jsonl.
    Returns the best validation accuracy.  A fault is one line on stderr, exit status 2."""
    from omegaconf import OmegaConf
    from .errors import NNDLError
    try:
        settings = OmegaConf.to_container(cfg, resolve=True)
        return _job(settings, _job_folder(), _hydra_job())
    except NNDLError as exc:
        print(f"{APP}: error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


def _hydra_job():
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import OmegaConf
    hc = HydraConfig.get()
    num = None if OmegaConf.is_missing(hc.job, "num") else hc.job.num   # a single run has none
    return {"num": num, "overrides": list(hc.overrides.task),
            "multirun": hc.mode == RunMode.MULTIRUN}


def _job_folder():
    from hydra.core.hydra_config import HydraConfig
    return Path(HydraConfig.get().runtime.output_dir)


def _job(settings, folder, hydra_job):
    from .errors import UsageError
    from .grid import DatasetRef, RESULTS_NAME, data_fingerprint, grid_spec, run_configs, run_key
    from .grid.executor import examples, results_row, train_config
    from .grid.search import check_runs
    from .grid.results import ResultsFile
    from .storage.atomic import atomic_write_json

    out = settings.pop("out", None)
    if not isinstance(out, str) or not out or out == "???":
        raise UsageError("out: give the folder for the results, e.g. out=runs/sweep")
    args = check_settings(settings, folder)
    source = DatasetRef(args.dataset, training_size=args.training_size, path=args.data_path)
    train, validation, _ = source.load()
    config = {k: getattr(args, k) for k in ("sizes", "cost", "activation", "init", "eta",
                                            "mini_batch_size", "lmbda", "regularization",
                                            "momentum", "dropout", "epochs", "dtype")}
    config["seed"] = args.seed if args.seed is not None else secrets.randbelow(2**31)
    [config] = run_configs(grid_spec(config))   # the grid's checks and its names for things
    check_runs([config], train, int(max(train[1].max(), validation[1].max())) + 1)
    spec = {"sweep": APP, "data": data_fingerprint(train, validation, args.dataset)}
    Path(out).mkdir(parents=True, exist_ok=True)
    with ResultsFile(Path(out) / RESULTS_NAME, spec) as results:
        done = [r for r in results.open() if r["key"] == run_key(config)]
        if done:   # only ever with a seed given: a drawn one makes a new key
            row, trained = done[0], False
        else:
            start = time.perf_counter()
            net, epochs, _ = train_config(config, *examples((train, validation), config))
            row = dict(results_row(config, epochs, time.perf_counter() - start),
                       sweep={"job": hydra_job["num"], "overrides": hydra_job["overrides"],
                              "output_dir": str(folder)})
            results.append(row)
            trained = True
    atomic_write_json(folder / "row.json", row)
    if trained and args.save:
        net.save(args.save)
    if trained and args.metrics:
        _write_metrics(args.metrics, config, args, row)
    if not hydra_job["multirun"] and not args.quiet:
        print(("" if trained else "already in the results, not trained again: ") +
              describe(row, ["eta", "mini_batch_size", "lmbda"]) + f"; in {out}/{RESULTS_NAME}")
    return float(row["best_validation_accuracy"])


def _write_metrics(path, config, args, row):
    """The train command's metrics layout, for a job given ``metrics=FILE``."""
    from .cli.common import MetricsFile
    records = [{"epoch": e["epoch"], "evaluation_accuracy": e["validation_accuracy"],
                "evaluation_correct": e["validation_correct"],
                "evaluation_cost": e["validation_cost"], "seconds": e["seconds"]}
               for e in row["epochs"]]
    metrics = MetricsFile(path, {**config, "dataset": args.dataset,
                                 "evaluation_set": "validation",
                                 "training_size": args.training_size}, records)
    metrics.finish({"best_epoch": row["best_epoch"],
                    "best_accuracy": row["best_validation_accuracy"],
                    "final_accuracy": row["final_validation_accuracy"],
                    "seconds": row["seconds"]})


def describe(row, names):
    """One line for a finished job: its swept settings and its best validation accuracy."""
    c = row["config"]
    setting = ", ".join(f"{n} {c[n]}" for n in names if n in c)
    return (f"{setting}: best validation {100 * row['best_validation_accuracy']:.2f}% (epoch "
            f"{row['best_epoch']}), {row['seconds']:.1f} s")


# ---- progress of a multirun ----------------------------------------------------------------

_WATCH = {}   # the running watcher: module state, since Hydra pickles callbacks to workers


class SweepProgress(Callback):
    """A Hydra callback: while a multirun goes, a line per finished job and, on a terminal,
    a bar of jobs done of the total with the time left.  It watches the sweep folder for
    the jobs' row.json files, so it counts jobs run by any launcher, here or elsewhere."""

    def on_multirun_start(self, config, **kwargs):
        if config.get("quiet"):
            return
        swept, total = sweep_size(config)
        folder = Path(str(config.hydra.sweep.dir))
        stack = contextlib.ExitStack()
        from .base.progress import bar
        shown = stack.enter_context(bar(total, "jobs", unit="job", delay=0.5))
        stop = threading.Event()
        thread = threading.Thread(target=_watch, args=(folder, time.time(), swept, shown, stop),
                                  daemon=True)
        _WATCH.update(stack=stack, stop=stop, thread=thread)
        thread.start()

    def on_multirun_end(self, config, **kwargs):
        if _WATCH:
            _WATCH["stop"].set()
            _WATCH["thread"].join(10)
            _WATCH.pop("stack").close()
            _WATCH.clear()


def _watch(folder, since, swept, shown, stop, every=0.5):
    """Print each new row.json under ``folder`` as it appears, until ``stop`` (then once
    more, for the last jobs)."""
    import json
    seen = set()
    while True:
        finished = stop.is_set()
        for path in sorted(folder.rglob("row.json"), key=lambda p: p.stat().st_mtime):
            if path in seen or path.stat().st_mtime < since - 1:
                continue
            seen.add(path)
            try:
                row = json.loads(path.read_text())
            except (OSError, ValueError):
                seen.discard(path)   # being written: read it next time
                continue
            shown.update(1)
            shown.refresh()   # jobs are coarse: show each one, whatever tqdm's redraw interval
            total = "?" if shown.total is None else shown.total
            print(f"[{len(seen)}/{total}] {describe(row, swept)}", flush=True)
        if finished:
            return
        stop.wait(every)


def sweep_size(config):
    """(the swept option names, the number of jobs or None) of a multirun, from its
    overrides as Hydra's basic sweeper reads them (None when they cannot be counted:
    another sweeper, a glob over config groups, ...)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf
    texts = list(config.hydra.overrides.task)
    params = OmegaConf.to_container(config.hydra.sweeper).get("params") or {}
    texts += [f"{k}={v}" for k, v in params.items()]
    swept, sizes = [], []
    try:
        for override in OverridesParser.create().parse_overrides(texts):
            if override.is_sweep_override():
                swept.append(override.key_or_group)
                sizes.append(len(list(override.sweep_string_iterator())))
    except Exception:   # noqa: BLE001 - Hydra raises its own kinds; the count is only shown
        return swept, None
    return swept, math.prod(sizes)


# ---- the application -------------------------------------------------------------------------

def register_configs():
    """The primary config "sweep" and the group "setup" in Hydra's ConfigStore (called by
    main, not at import: importing a module changes no global state)."""
    from hydra.core.config_store import ConfigStore
    store = ConfigStore.instance()
    store.store(name="sweep", node={
        "defaults": ["_self_", {"setup": None}],
        **train_options(), "out": "???",
        "hydra": {"callbacks": {"progress": {"_target_": f"{__name__}.SweepProgress"}}}})
    for name, values in SETUPS.items():
        store.store(group="setup", name=name, node=values, package="_global_")


def main():
    try:
        import hydra
    except ImportError:
        print(f"{APP}: error: Hydra is not installed; install it with pip install -e "
              f"\".[hydra]\" (or pip install hydra-core hydra-joblib-launcher)", file=sys.stderr)
        return 2
    from .storage.signals import exit_status, interruptible
    register_configs()
    with interruptible():
        try:
            hydra.main(version_base="1.3", config_path=None, config_name="sweep")(job)()
        except KeyboardInterrupt as exc:
            print(f"{APP}: interrupted; the finished jobs' rows are in their out/results.jsonl",
                  file=sys.stderr)
            return exit_status(exc)
    return 0


if __name__ == "__main__":
    from network.sweep import main as _main   # the module by its name, so jobs pickle by name
    sys.exit(_main())
