"""Pruning rules replayed on learning curves that were really trained, no training: how often each rule stops
a config that would have ended among the best, and the compute a study needs to hold the target.

    .venv/bin/python benchmarks/prune_replay.py              # replays benchmarks/runs/clas_learning_curves.json
    .venv/bin/python benchmarks/prune_replay.py --extract DIR [DIR ...]   # rebuild that file from kept studies

The curves are the top1 per epoch of every full 9-epoch training that sample_efficiency.py's clas studies kept
(--keep DIR of its realistic and misleading scenarios): random search's (which never prunes) are the pool, and
the trainings with a learning rate below 0.004 are the slow configs that the prior around a too-low config draws
first. A replayed study takes curves one after another, as a one-worker study runs its trials, through a real
Optuna study and the pruner under test; each curve reports its epochs until the pruner stops it. It costs the
epochs it reported plus its start-up (START_UP epochs), and the study ends once a finished curve holds T (the
common target of those runs) or its budget B is spent.

Two orders: random search's curves shuffled; and the same after 7 slow curves (the misleading scenario's
default study drew 5 to 13 such trials first). What the replay leaves out: the sampler (what TPE draws next
depends on which trials were pruned and which finished) and new draws (the pool is finite). The start-noise
guard below is a candidate rule that the replay favoured and sample_efficiency.py, with TPE drawing, did not.
"""
import argparse
import json
import math
import pathlib
import random
import statistics
import sys

import optuna

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _common as C  # noqa: E402

from paddle_autotune_plugins.optuna_glue import pruners  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
CURVES = HERE / "runs" / "clas_learning_curves.json"
EPOCHS, TARGET, BUDGET, START_UP = 9, 0.9042, 216, 0.3  # T: sample_efficiency's clas realistic and misleading
GOOD = 0.85  # a curve ending at least this high is "among the best" (random search's best trials: 0.89-0.91)
SLOW_LR, SLOW_FIRST = 0.004, 7
LR = "Optimizer.lr.learning_rate"


def extract(folders):
    """[{scenario, method, lr, curve}] of every full-length training in sample_efficiency.py's kept folders,
    each config once (the trainings are deterministic: both scenarios' random searches draw the same configs
    after trial 1 and train them to the same curves)."""
    rows, seen = [], set()
    for folder in map(pathlib.Path, folders):
        scenario = "misleading" if "misleading" in folder.name else "realistic"
        for study in sorted(p for p in folder.glob("*_seed*") if p.is_dir() and not p.name.endswith("_cfg")):
            method = study.name.rsplit("_seed", 1)[0]
            for trial in sorted(study.glob("trial_*")):
                curve = {}
                for line in (trial / "metrics.jsonl").read_text().splitlines():
                    try:
                        item = json.loads(line)
                    except ValueError:  # a half line of a trial stopped mid-write
                        continue
                    if "metrics" in item and not item.get("final"):
                        curve[item["step"]] = item["metrics"]["top1"]
                params = (trial / "params.json").read_text()
                if len(curve) == EPOCHS and params not in seen:
                    seen.add(params)
                    lr = json.loads(params)[LR]
                    rows.append({"scenario": scenario, "method": method, "lr": lr,
                                 "curve": [round(curve[s], 5) for s in sorted(curve)]})
    return rows


class StartNoiseGuard(optuna.pruners.BasePruner):
    """A candidate rule (issue 28), measured here and in sample_efficiency.py and not adopted: a trial the
    wrapped pruner would stop is kept unless it trails the median of the other trials at the same evaluation
    by more than the start noise, three standard deviations of the difference of two values at the starting
    level, estimated from the median absolute deviation of the trials' first evaluations (from 4 of them)."""

    def __init__(self, inner):
        self.inner = inner

    def prune(self, study, trial):
        if not self.inner.prune(study, trial):  # asked first: ASHA records the trial's rung value
            return False
        trials = study.get_trials(deepcopy=False)
        firsts = [t.intermediate_values[min(t.intermediate_values)] for t in trials if t.intermediate_values]
        step = trial.last_step
        others = [t.intermediate_values[step] for t in trials
                  if t.number != trial.number and step in t.intermediate_values]
        if len(firsts) < 4 or not others:
            return True
        centre = statistics.median(firsts)
        noise = 3 * math.sqrt(2) * 1.4826 * statistics.median(abs(v - centre) for v in firsts)
        assert study.direction == optuna.study.StudyDirection.MAXIMIZE  # top1
        return statistics.median(others) - trial.intermediate_values[step] > noise


def replay(order, pruner):
    """(compute to hold TARGET or BUDGET, curves pruned, curves ending >= GOOD pruned) of one study."""
    asha = pruners.parse("asha")
    study = optuna.create_study(direction="maximize", pruner=pruner)
    spent, pruned, good_pruned = 0.0, 0, 0
    for number, curve in enumerate(order):
        trial = study.ask()
        stopped = False
        for step, value in enumerate(curve, 1):
            trial.report(value, step)
            # the coordinator's rules: never the baseline (trial 0), the last evaluation or the first
            asked = trial.should_prune()
            if asked and number > 0 and step < EPOCHS and pruners.may_cut(asha, step):
                stopped = True
                break
        spent += step + START_UP
        if stopped:
            pruned += 1
            good_pruned += max(curve) >= GOOD
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, max(curve))
            if max(curve) >= TARGET:
                return spent, pruned, good_pruned
        if spent >= BUDGET:
            break
    return BUDGET, pruned, good_pruned


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--extract", nargs="+", metavar="DIR", help="rebuild the curves file from kept studies")
    ap.add_argument("--studies", type=int, default=300, help="replayed studies per order and rule (default 300)")
    ap.add_argument("--no-results", action="store_true")
    args = ap.parse_args()
    if args.extract:
        rows = extract(args.extract)
        CURVES.write_text(json.dumps(rows, separators=(",", ":")) + "\n")
        return print(f"{len(rows)} curves -> {CURVES}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = json.loads(CURVES.read_text())
    pool = [r["curve"] for r in rows if r["method"] == "random"]
    slow = [r["curve"] for r in rows if r["lr"] < SLOW_LR]
    rules = {
        "no pruning": lambda: optuna.pruners.NopPruner(),
        f"the default: ASHA, first cut at epoch {pruners.first_rung(EPOCHS)}":
            lambda: pruners.make_pruner("asha", EPOCHS),
        "ASHA with the start-noise guard (a candidate, not adopted)": lambda: StartNoiseGuard(
            optuna.pruners.SuccessiveHalvingPruner(min_resource=pruners.first_rung(EPOCHS), reduction_factor=2)),
    }
    lines = [f"- curves: {len(pool)} configs of random search's full trainings (pool), {len(slow)} with lr < {SLOW_LR} "
             f"(slow) from {CURVES.relative_to(HERE.parent)}; T = {TARGET}, budget B = {BUDGET} epochs, start-up "
             f"{START_UP} epoch a training; {args.studies} replayed studies per order and rule, the same orders "
             f"for every rule", "",
             "| order | rule | compute to hold T (geometric mean) | studies missing T | pruned a study | "
             f"pruned a study that would end >= {GOOD} |", "|---|---|---|---|---|---|"]
    for order_name in ("random search's order", f"{SLOW_FIRST} slow configs first"):
        rng = random.Random(0)
        orders = []
        for _ in range(args.studies):
            order = rng.sample(pool, len(pool))
            orders.append(rng.sample(slow, SLOW_FIRST) + order if "slow" in order_name else order)
        for rule, make in rules.items():
            results = [replay(order, make()) for order in orders]
            geo = math.exp(statistics.mean(math.log(r[0]) for r in results))
            missed = sum(r[0] >= BUDGET for r in results) / len(results)
            pruned, good = (statistics.mean(r[i] for r in results) for i in (1, 2))
            lines.append(f"| {order_name} | {rule} | {geo:.1f} | {missed:.2f} | {pruned:.1f} | {good:.2f} |")
            print(lines[-1], flush=True)
    lines.append("- what the replay leaves out: the sampler. A pruned trial is, for TPE, worse than any finished one, "
                 "and a finished one at chance can rank among its best; only sample_efficiency.py shows what "
                 "either does to the draws")
    C.publish("prune_replay", lines, C.machine(), None, None,
              section=None if args.no_results else "prune_replay",
              title="prune_replay.py: pruning rules on kept clas learning curves")


if __name__ == "__main__":
    main()
