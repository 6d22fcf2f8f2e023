"""Whole studies replayed on trainings that were really run: the sampler and the pruner act, nothing trains.

    .venv/bin/python benchmarks/prior_replay.py                         # replays benchmarks/runs/*_trainings.json
    .venv/bin/python benchmarks/prior_replay.py --extract clas DIR ...  # rebuild a table from kept studies

sample_efficiency.py trains every trial, so a change to the sampler costs hours a scenario and 5 seeds give
intervals from 0.6 to 3 times random search. Here each suite's table holds every full-length training that
sample_efficiency.py's kept studies (--keep DIR) ran: its parameters and its metric at each of the 9 epochs.
A replayed study is a real Optuna study with the sampler and pruner under test; each trial it asks for gets
the learning curve of the nearest training in the table (parameters scaled to [0, 1]: log ranges in log
space, a categorical by its index), reports it epoch by epoch and stops where the pruner says. As in
sample_efficiency.py: trial 0 is the scenario's config as given, trial 1 the config rescaled to one device
(clas: written for 4 GPUs, Momentum, linear rule; nlp: no rescaling), neither pruned; a training costs its
epochs plus START_UP; a study holds T once a finished trial's best epoch reaches it; budget B.

The nearest training stands in for a config that was not trained, so the table's landscape is coarser than the
real one; what it keeps is what the guard candidate showed matters: which trials finish, at what value, and
what TPE learns from them. The start-noise guard (prune_replay.py), which sample_efficiency.py found worse
with TPE drawing (5 of 6 seeds), comes out worse here too, and PULC's pass keeps its real pattern (cheapest
on clas realistic, behind random search where the config is off); but beta 4, which the replay put a little below
beta 8, cost more in 8 of 10 real clas seeds (RESULTS.md, sections prior_replay and
sample_efficiency_beta4_candidate). Screen a change here; decide with sample_efficiency.py.

Also printed, what bounds any method on these tasks: the share of trainings that hold T inside the region
random search's best trials lie in, and the compute of an oracle that draws only from that region.
"""
import argparse
import functools
import json
import math
import pathlib
import random
import statistics
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, json_to_distribution

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _common as C  # noqa: E402
from prune_replay import StartNoiseGuard  # noqa: E402
from sample_efficiency import LR, SCENARIOS, holds  # noqa: E402

from paddle_autotune_plugins.optuna_glue import pruners  # noqa: E402
from paddle_autotune_plugins.optuna_glue.greedy_sampler import GreedySampler  # noqa: E402
from paddle_autotune_plugins.optuna_glue.prior_sampler import PriorSampler  # noqa: E402
from paddle_autotune_plugins.optuna_glue.samplers import make_sampler  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
EPOCHS, BUDGET, START_UP = 9, 216, 0.05
TARGET = {"clas": 0.9042, "nlp": 0.7100}  # sample_efficiency.py's T for these tables' tasks (realistic runs)
RESCALE = {"clas": 0.25, "nlp": None}  # trial 1 of the kept studies: clas 4 GPUs -> 1, linear; nlp none
FORCED = {"clas": 2, "nlp": 1}  # trials every method starts with (config, rescaled config)
RANDOM_REAL = {"clas": 97.0, "nlp": 108.6}  # sample_efficiency.py's realistic runs: random search's epochs to T
DEMO_VALUES = {"clas": {"Optimizer.regularizer.coeff": 3e-5}, "nlp": {}}  # tuned knobs the scenarios leave as is


def table_path(suite):
    return HERE / "runs" / f"{suite}_trainings.json"


def extract(folders):
    """{distributions, rows: [{params, curve}]} of every full-length training in kept study folders, each
    config once."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows, seen, distributions = [], set(), {}
    for db in sorted(p for folder in folders for p in pathlib.Path(folder).glob("*_seed*/study.db")):
        url = f"sqlite:///{db}"
        study = optuna.load_study(study_name=optuna.get_all_study_names(url)[0], storage=url)
        for trial in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
            steps = trial.intermediate_values
            key = json.dumps(trial.params, sort_keys=True)
            if sorted(steps) != list(range(1, EPOCHS + 1)) or key in seen:
                continue
            seen.add(key)
            distributions = {k: optuna.distributions.distribution_to_json(d) for k, d in trial.distributions.items()}
            rows.append({"params": trial.params, "curve": [round(steps[s], 5) for s in sorted(steps)]})
    return {"distributions": distributions, "rows": rows}


class Surrogate:
    """The learning curve of the nearest kept training to any parameters."""

    def __init__(self, table):
        self.distributions = {k: json_to_distribution(v) for k, v in table["distributions"].items()}
        self.rows = table["rows"]
        self.points = [self.scaled(r["params"]) for r in self.rows]

    def scaled(self, params):
        out = []
        for name, d in self.distributions.items():
            v = params[name]
            if isinstance(d, CategoricalDistribution):
                out.append(d.choices.index(v) / max(1, len(d.choices) - 1))
            elif d.log:
                out.append(math.log(v / d.low) / math.log(d.high / d.low))
            else:
                out.append((v - d.low) / (d.high - d.low))
        return out

    def curve(self, params):
        x = self.scaled(params)
        nearest = min(range(len(self.points)), key=lambda i: sum((a - b) ** 2 for a, b in zip(self.points[i], x)))
        return self.rows[nearest]["curve"]


class EvidenceTrust(PriorSampler):
    """A candidate, measured here and not adopted: trust from where the best quarter of the finished trials
    lie (the chance that they came from the prior rather than a uniform draw, from their densities under the
    two, as PriorBand weighs its prior) instead of which source drew the best one."""

    def trust(self, study):  # both suites' metrics are maximised
        done = sorted(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)),
                      key=lambda t: -t.value)
        if not done:
            return 1.0
        evidence = sum(self.log_ratio(t) for t in done[:max(1, math.ceil(len(done) / 4))])
        return 1 / (1 + math.exp(-min(max(evidence, -50.0), 50.0)))

    def log_ratio(self, trial):
        total = 0.0
        for name, centre in self.centres.items():
            d, x = trial.distributions[name], trial.params[name]
            if isinstance(d, CategoricalDistribution):
                k = len(d.choices)
                total += math.log(k * ((1 - self.centre_prob) / k + self.centre_prob * (x == centre)))
                continue
            to = math.log if d.log else float
            a, b = to(d.low), to(d.high)
            mean = min(max(to(centre), a), b)
            sigma = min(self.log_sigma, self.width * (b - a)) if d.log else self.width * (b - a)
            mass = normal_cdf((b - mean) / sigma) - normal_cdf((a - mean) / sigma)
            z = (to(x) - mean) / sigma
            total += -0.5 * z * z - math.log(sigma * math.sqrt(2 * math.pi) * mass / (b - a))
        return total


ASHA_SPEC = pruners.parse("asha")


def normal_cdf(z):
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def asha():
    return pruners.make_pruner("asha", max_steps=EPOCHS)


# method -> (sampler from (centres, seed), pruner maker)
METHODS = {
    "random search": (lambda c, s: optuna.samplers.RandomSampler(seed=s), None),
    "TPE, no pruning": (lambda c, s: make_sampler("tpe", [], seed=s), None),
    "TPE + ASHA": (lambda c, s: make_sampler("tpe", [], seed=s), asha),
    "PULC greedy, one key at a time": (lambda c, s: GreedySampler(c, seed=s), None),
    "the prior with beta 8, ASHA (the default)": (lambda c, s: PriorSampler(c, seed=s), asha),
    "the prior with beta 4, ASHA (candidate)": (lambda c, s: PriorSampler(c, seed=s, beta=4), asha),
    "the prior with beta 4 and the evidence rule, ASHA (candidate)": (
        lambda c, s: EvidenceTrust(c, seed=s, beta=4), asha),
    "PULC's pass, then TPE, ASHA throughout (candidate)": (
        lambda c, s: GreedySampler(c, base=lambda seed: make_sampler("tpe", [], seed=seed), seed=s), asha),
    "the prior with beta 8, ASHA and the start-noise guard (dropped)": (
        lambda c, s: PriorSampler(c, seed=s),
        lambda: StartNoiseGuard(optuna.pruners.SuccessiveHalvingPruner(
            min_resource=pruners.first_rung(EPOCHS), reduction_factor=2))),
}


@functools.cache
def enqueued_trials(suite, scenario):
    """The trials every method starts with, in the table's parameters: the config as given, then (clas) the
    config rescaled to one device. Scenario "good": the config whose rescaled values sit at the centre of the
    region random search's best trainings lie in."""
    surrogate = SURROGATES[suite]
    if scenario == "good":
        centre, cats = best_region(suite, surrogate)[:2]
        given = {**DEMO_VALUES[suite], **SCENARIOS[suite]["realistic"], **cats,
                 LR[suite]: centre / (RESCALE[suite] or 1)}
    else:
        given = {**DEMO_VALUES[suite], **SCENARIOS[suite][scenario]}
    given = {k: given[k] for k in surrogate.distributions}
    if not RESCALE[suite]:
        return (given,)
    return given, {**given, LR[suite]: given[LR[suite]] * RESCALE[suite]}


def replay(job):
    """(compute to hold T or B, held) of one replayed study."""
    suite, scenario, method, seed = job
    surrogate = SURROGATES[suite]
    sampler_for, make_pruner = METHODS[method]
    enqueued = enqueued_trials(suite, scenario)
    study = optuna.create_study(direction="maximize", sampler=sampler_for(dict(enqueued[-1]), seed),
                                pruner=make_pruner() if make_pruner else optuna.pruners.NopPruner())
    for params in enqueued:
        study.enqueue_trial(params)
    spent = 0.0
    while spent < BUDGET:
        trial = study.ask()
        params = {k: trial.suggest_float(k, d.low, d.high, log=d.log) if isinstance(d, FloatDistribution)
                  else trial.suggest_categorical(k, d.choices) for k, d in surrogate.distributions.items()}
        curve = surrogate.curve(params)
        spent += START_UP
        pruned = False
        for step, value in enumerate(curve, 1):
            spent += 1
            trial.report(value, step)
            asked = trial.should_prune()  # asked first: ASHA records the trial's rung value
            # the coordinator's rules: never the enqueued trials, the first evaluation or the last
            if asked and trial.number >= len(enqueued) and step < EPOCHS and pruners.may_cut(ASHA_SPEC, step):
                pruned = True
                break
        if pruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            continue
        study.tell(trial, max(curve))
        if holds(max(curve), TARGET[suite]):
            return min(spent, BUDGET), True
    return BUDGET, False


def load_surrogates():
    return {suite: Surrogate(json.loads(table_path(suite).read_text())) for suite in TARGET
            if table_path(suite).exists()}


SURROGATES = load_surrogates()


def geo(values):
    return math.exp(statistics.mean(math.log(v) for v in values))


def ratio_interval(values, reference, rounds=1000):
    rng = random.Random(0)
    draws = sorted(geo(rng.choices(values, k=len(values))) / geo(rng.choices(reference, k=len(reference)))
                   for _ in range(rounds))
    return draws[int(0.025 * rounds)], draws[int(0.975 * rounds)]


def best_region(suite, surrogate):
    """(learning rate, {categorical: value}, its trainings) of the region random search's best trainings lie
    in: the learning rate within a factor 2.5 of the geometric mean of the trainings that hold T, every
    categorical at their commonest value."""
    t, lr = TARGET[suite], LR[suite]
    holders = [r for r in surrogate.rows if holds(max(r["curve"]), t)]
    centre = geo([r["params"][lr] for r in holders])
    cats = {k: statistics.mode(r["params"][k] for r in holders) for k, d in surrogate.distributions.items()
            if isinstance(d, CategoricalDistribution)}
    return centre, cats, [r for r in surrogate.rows if inside(r, lr, centre, cats)]


def inside(row, lr, centre, cats):
    return (centre / 2.5 <= row["params"][lr] <= centre * 2.5
            and all(row["params"][k] == v for k, v in cats.items()))


def bound_lines(suite, surrogate, random_replayed):
    """What bounds any method: how many trainings hold T inside the best region, and an oracle's compute."""
    t, lr = TARGET[suite], LR[suite]
    centre, cats, region = best_region(suite, surrogate)
    held = [holds(max(r["curve"]), t) for r in region]
    lines = [f"- {suite}: {sum(holds(max(r['curve']), t) for r in surrogate.rows)} of {len(surrogate.rows)} "
             f"kept trainings hold T = {t}; their learning rates' geometric mean is {centre:.2g}; in the region "
             f"lr {centre / 2.5:.2g} .. {centre * 2.5:.2g}"
             + "".join(f", {k.split('.')[-1]} {v}" for k, v in cats.items())
             + f", {sum(held)} of {len(region)} trainings ({sum(held) / len(region):.0%}) hold T"]
    for k, v in cats.items():
        config_value = SCENARIOS[suite]["realistic"].get(k)
        if config_value is not None and config_value != v:
            other = [r for r in surrogate.rows if inside(r, lr, centre, {**cats, k: config_value})]
            lines.append(f"  - at the realistic config's {k.split('.')[-1]} {config_value} instead: "
                         f"{sum(holds(max(r['curve']), t) for r in other)} of {len(other)} hold T")
    rng, costs = random.Random(1), []
    for _ in range(2000):  # the forced trials, then region trainings until one holds T
        spent = FORCED[suite] * (EPOCHS + START_UP)
        while spent < BUDGET:
            spent += EPOCHS + START_UP
            if rng.choice(held):
                break
        costs.append(min(spent, BUDGET))
    oracle = geo(costs)
    lines.append(f"  - an oracle that draws only from that region after the {FORCED[suite]} forced trial(s): "
                 f"{oracle:.1f} epochs to hold T (geometric mean), {oracle / random_replayed:.2f} of random "
                 f"search's replayed compute and {oracle / RANDOM_REAL[suite]:.2f} of its {RANDOM_REAL[suite]} "
                 f"epochs in sample_efficiency.py's realistic run")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--extract", nargs="+", metavar=("SUITE", "DIR"), help="rebuild SUITE's table from kept folders")
    ap.add_argument("--seeds", type=int, default=200, help="replayed studies per method and scenario (default 200)")
    ap.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--no-results", action="store_true")
    args = ap.parse_args()
    if args.extract:
        suite, folders = args.extract[0], args.extract[1:]
        table = extract(folders)
        table_path(suite).write_text(json.dumps(table, separators=(",", ":")) + "\n")
        return print(f"{len(table['rows'])} trainings -> {table_path(suite)}")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", message="Fixed parameter")  # nlp misleading's 3e-7 lies outside the range
    methods = ["random search"] + [m for m in args.methods if m != "random search"]
    scenarios = [(s, sc) for s in SURROGATES for sc in ("realistic", "misleading", "good")]
    tables = [f"{s} {len(SURROGATES[s].rows)} trainings ({table_path(s).relative_to(HERE.parent)})" for s in SURROGATES]
    lines = ["- tables: " + "; ".join(tables)
             + f"; T: {TARGET}; budget B = {BUDGET} epochs, start-up {START_UP} epoch a training; "
             f"{args.seeds} replayed studies per method and scenario (seeds 0..{args.seeds - 1})",
             ("- scenarios: the configs of sample_efficiency.py (clas realistic lr 0.1 at batch 64 for 4 GPUs, "
              "misleading 0.001; nlp realistic 3e-5, misleading 3e-7, outside the table's 1e-5 .. 1e-2); good: a "
              "config whose rescaled values sit at the centre of the best region (below), the case the prior is "
              "built for: a config written for the task at hand"), "",
             "| method | " + " | ".join(f"{s} {sc}" for s, sc in scenarios) + " | geometric mean |",
             "|---" * (len(scenarios) + 2) + "|"]
    results = {}
    with ProcessPoolExecutor(args.jobs) as pool:
        for method in methods:
            for s, sc in scenarios:
                results[method, s, sc] = list(pool.map(replay, [(s, sc, method, seed) for seed in range(args.seeds)],
                                                       chunksize=8))
            cells, ratios = [], []
            for s, sc in scenarios:
                mine, ref = [v for v, _ in results[method, s, sc]], [v for v, _ in results["random search", s, sc]]
                ratio = geo(mine) / geo(ref)
                low, high = ratio_interval(mine, ref)
                held = sum(h for _, h in results[method, s, sc]) / args.seeds
                ratios.append(ratio)
                cells.append(f"{ratio:.3f} ({low:.2f} .. {high:.2f}; {held:.0%} held T)" if method != "random search"
                             else f"1 ({geo(mine):.1f} epochs; {held:.0%} held T)")
            lines.append(f"| {method} | " + " | ".join(cells) + f" | {geo(ratios):.3f} |")
            print(lines[-1], flush=True)
    lines += ["", ("each cell: the method's geometric mean compute to hold T over random search's, its 95% bootstrap "
                   "interval (seeds resampled), and the share of studies that held T within B"), "",
              "What bounds any method here (from the tables):"]
    for suite, surrogate in SURROGATES.items():
        lines += bound_lines(suite, surrogate, geo([v for v, _ in results["random search", suite, "realistic"]]))
    C.publish("prior_replay", lines, C.machine(), None, None, section=None if args.no_results else "prior_replay",
              title="prior_replay.py: whole studies replayed on kept trainings (sampler and pruner act, "
                    "nothing trains)")


if __name__ == "__main__":
    main()
