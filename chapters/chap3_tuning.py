"""Chapter 3, tuning: stopping rules, the eta schedule, momentum, the broad strategy.

Problems 3.20-3.21 and exercise 3.22 (``network/base/schedules.py`` callbacks), 3.24-3.26 (momentum
with mu in [0, 1), mu > 1 and mu < 0), and the chapter's broad strategy for
choosing eta, lambda and the mini-batch size (``network/grid/strategy.py``).
``chap3.py`` adds these experiments to its list with ``register``.

Deliberately left out: exercise 3.23 (learning eta and lambda by gradient descent),
which the notes discuss without an experiment.
"""

import numpy as np

import common
from chap3_runs import plot_accuracy, train
from network import plots
from network.base.schedules import HalveOnNoImprovement, ImprovementAtLeast, NoImprovementInN

CHAPTER = common.Chapter("chap3", "chapter 3 tuning experiments")   # see register()


# ---- stopping rules, the eta schedule, momentum ------------------------------------------

@CHAPTER.experiment("early-stopping", "problems 3.20/3.21: no-improvement-in-10 vs improvement-of-at-least-0.1pp-in-5, up to 100 epochs, 3 seeds (val)")
def early_stopping(ctx):
    n, k = ctx.pick((10, 5), (2, 2))
    seeds = ctx.pick(3, 1)
    runs = {}
    for s in range(seeds):
        rules = [NoImprovementInN(n, halt=False), ImprovementAtLeast(0.001, k, halt=False)]

        def both_fired(net, record, rules=rules):
            return all(r.stop_epoch is not None for r in rules)   # the rest of the curve is unused

        _, run = train(ctx, [784, 30, 10], 0.5, 100, 6, lmbda=5.0, init="default",
                        evaluation="validation", seed_offset=s, callbacks=rules + [both_fired])
        run["rules"] = {}
        for rule in rules:
            stop = rule.stop_epoch
            reached = max(run["accuracy"][:stop + 1]) if stop is not None else run["best"]
            run["rules"][repr(rule)] = {"stop_epoch": stop, "best_by_then": reached}
            print(f"seed {ctx.seed + s}: {rule!r} stops after epoch {stop}, best validation "
                  f"{reached:.2%}")
        runs[f"seed {ctx.seed + s}"] = run
    return {"runs": runs}


@CHAPTER.plotter("early-stopping")
def plot_early_stopping(result, out):
    return plot_accuracy(result, out)


@CHAPTER.experiment("schedule", "exercise 3.22: halve eta on no-improvement-in-10 until eta0/128, vs fixed eta 0.5 (val, then test)")
def schedule(ctx):
    n = ctx.pick(10, 1)
    _, _, test = ctx.data()
    rule = HalveOnNoImprovement(n, 128)
    net, run = train(ctx, [784, 30, 10], 0.5, ctx.pick(400, 12), ctx.pick(400, 12), lmbda=5.0,
                      init="default", evaluation="validation", callbacks=[rule])
    run.update(test_final=common.accuracy(net, test), halvings=rule.halvings,
               stop_epoch=rule.stop_epoch)
    epochs = run["epochs_run"]
    net2, fixed = train(ctx, [784, 30, 10], 0.5, epochs, epochs, lmbda=5.0, init="default",
                         evaluation="validation")
    fixed["test_final"] = common.accuracy(net2, test)
    for label, r in (("schedule", run), ("fixed eta 0.5", fixed)):
        print(f"{label}: {r['epochs_run']} epochs, best validation {r['best']:.2%}, "
              f"test after the last epoch {r['test_final']:.2%}")
    return {"runs": {"schedule": run, "fixed eta 0.5": fixed}}


@CHAPTER.plotter("schedule")
def plot_schedule(result, out):
    run = result["runs"]["schedule"]
    return plot_accuracy(result, out) + [plots.line_plot(
        out / "schedule-eta.png", {"eta": run["eta_per_epoch"]}, "the learning-rate schedule",
        ylabel="eta", logy=True)]


MUS = [0.0, 0.5, 0.9, 1.1, -0.5]


@CHAPTER.experiment("momentum", "exercises 3.24-3.25, problem 3.26: momentum mu 0, 0.5, 0.9 and mu > 1, mu < 0; eta 0.1, lambda 5, 20 epochs (val)")
def momentum(ctx):
    runs = {}
    for mu in MUS:
        with np.errstate(over="ignore", invalid="ignore"):   # mu > 1 diverges, on purpose
            _, run = train(ctx, [784, 30, 10], 0.1, 20, 2, lmbda=5.0, init="default",
                            evaluation="validation", momentum=mu,
                            monitor=("training_cost", "evaluation_accuracy"))
        run["mu"] = mu
        runs[f"mu {mu:g}"] = run
    return {"runs": runs}


@CHAPTER.plotter("momentum")
def plot_momentum(result, out):
    return plot_accuracy(result, out) + [plots.line_plot(
        out / "momentum-cost.png", {k: r["training_cost"] for k, r in result["runs"].items()},
        "momentum: cost on the training data", ylabel="cost", logy=True)]


# ---- the broad strategy for hyperparameters ---------------------------------------------------

@CHAPTER.experiment("broad-strategy", "the broad strategy: eta threshold, then lambda, then mini-batch size ([784,30,10], cross-entropy, val)")
def broad(ctx):
    from network.grid.strategy import broad_strategy
    data = ctx.data(ctx.pick(None, 2000))
    small = dict(etas=(0.1, 1.0, 10.0), lmbdas=(0.0, 1.0), mini_batch_sizes=(10, 50), epochs=1,
                 threshold_epochs=1, refine=False)
    res = broad_strategy(data=data, out=ctx.out / "broad-strategy", workers=0,
                         cost="cross-entropy", seed=ctx.seed, **ctx.pick({}, small))
    print(res.summary())
    stages = {name: [{"config": {k: row["config"][k] for k in ("eta", "lmbda", "mini_batch_size")},
                      "best_validation_accuracy": row.get("best_validation_accuracy")}
                     for row in stage.rows]
              for name, stage in res.stages.items()}
    return {"eta_threshold": res.eta_threshold, "eta": res.eta, "lmbda": res.lmbda,
            "mini_batch_size": res.mini_batch_size,
            "validation": res.chosen.get("best_validation_accuracy"), "test": res.test,
            "stages": stages, "summary": res.summary()}


def register(chapter):
    """Append this module's experiments to ``chapter``'s list."""
    chapter.experiments.update(CHAPTER.experiments)
