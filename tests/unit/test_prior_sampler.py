"""PriorSampler and GreedySampler on toy objectives, with in-memory and SQLite Optuna studies."""
import doctest
import math
import statistics

import optuna
import pytest

from paddle_autotune_plugins.optuna_glue import greedy_sampler, prior_sampler
from paddle_autotune_plugins.optuna_glue.greedy_sampler import GreedySampler
from paddle_autotune_plugins.optuna_glue.prior_sampler import PriorSampler
from paddle_autotune_plugins.optuna_glue.samplers import make_sampler

optuna.logging.set_verbosity(optuna.logging.WARNING)
BEST_LR = 1e-2


def lr_objective(trial):
    """Best at lr = 1e-2 (log distance), a categorical that adds 1 for "momentum"."""
    lr = trial.suggest_float("lr", 1e-6, 10.0, log=True)
    opt = trial.suggest_categorical("opt", ["sgd", "momentum", "adam"])
    return -abs(math.log10(lr / BEST_LR)) + (opt == "momentum")


class RecordingRandom(optuna.samplers.RandomSampler):
    """Random search that remembers which (trial, parameter) it drew a value for."""

    def __init__(self, seed):
        super().__init__(seed=seed)
        self.drew = set()

    def sample_independent(self, study, trial, name, distribution):
        self.drew.add((trial.number, name))
        return super().sample_independent(study, trial, name, distribution)


def run(sampler, trials, storage=None, name="s"):
    study = optuna.create_study(sampler=sampler, direction="maximize", storage=storage, study_name=name,
                                load_if_exists=True)
    study.optimize(lr_objective, n_trials=trials)
    return study


def run_ask_tell(study, trials):
    """The coordinator's way: ask, suggest, tell."""
    for _ in range(trials):
        trial = study.ask()
        study.tell(trial, lr_objective(trial))


def test_docstring_examples():
    for module in (prior_sampler, greedy_sampler):
        failed, tried = doctest.testmod(module)
        assert tried > 0 and failed == 0


def test_prior_draws_concentrate_around_the_centre_early_and_the_base_takes_over_later():
    base = RecordingRandom(seed=0)
    study = run(PriorSampler({"lr": 1e-4}, base=base, seed=0), 60)
    trials = study.trials
    early = [t for t in trials[:8] if t.user_attrs["drawn_from"] == "prior"]
    near = [t for t in early if abs(math.log10(t.params["lr"] / 1e-4)) <= 1]  # within a decade: 2 of 7 uniformly
    assert len(early) >= 5 and len(near) >= 0.7 * len(early)
    late = trials[40:]
    from_base = [t for t in late if t.user_attrs["drawn_from"] == "sampler"]
    assert len(from_base) >= 0.7 * len(late)
    assert {(t.number, "lr") for t in from_base} <= base.drew  # those trials' values came from the base sampler
    prior = {t.number for t in trials if t.user_attrs["drawn_from"] != "sampler"}
    assert not {(n, "lr") for n in prior} & base.drew
    assert {(n, "opt") for n in prior} <= base.drew  # "opt" has no centre: the base draws it


def trials_to_region(study):
    """The number of trials until the best lr is within a factor 2 of the optimum (None: never)."""
    for i, t in enumerate(study.trials, 1):
        if abs(math.log10(t.params["lr"] / BEST_LR)) < math.log10(2):
            return i
    return None


def test_a_misleading_centre_still_finds_the_optimum_region():
    budget, seeds = 40, range(16)
    prior = [trials_to_region(run(PriorSampler({"lr": 1.0, "opt": "sgd"}, seed=s), budget)) for s in seeds]
    random = [trials_to_region(run(optuna.samplers.RandomSampler(seed=s), budget)) for s in seeds]
    assert None not in prior, prior  # every seed gets there within the budget, 100x from the centre
    assert statistics.median(prior) <= 1.5 * statistics.median(x or budget for x in random), (prior, random)


def prior_share(distrust, centre, seeds=range(8), trials=16):
    """The share of trials 2..15 drawn from the prior, over seeds, with the config enqueued as trial 0."""
    drawn = []
    for seed in seeds:
        study = optuna.create_study(sampler=PriorSampler({"lr": centre}, seed=seed, distrust=distrust),
                                    direction="maximize")
        study.enqueue_trial({"lr": centre, "opt": "sgd"})
        study.optimize(lr_objective, n_trials=trials)
        drawn += [t.user_attrs["drawn_from"] for t in study.trials[2:]]
    return drawn.count("prior") / len(drawn)


def test_the_prior_gives_way_once_a_draw_away_from_it_wins():
    # centre 1000 times below the optimum: uniform draws soon beat every prior draw, and the prior's share drops
    assert prior_share(distrust=0.25, centre=1e-5) < 0.6 * prior_share(distrust=1.0, centre=1e-5)
    # centre at the optimum: the config and the prior's draws mostly keep the best value, the share stays
    assert prior_share(distrust=0.25, centre=BEST_LR) >= 0.9 * prior_share(distrust=1.0, centre=BEST_LR)


def test_the_same_seed_draws_the_same_trials():
    def drawn(seed):
        study = run(PriorSampler({"lr": 1e-3, "opt": "adam"}, seed=seed), 16)
        return [(t.params, t.user_attrs["drawn_from"]) for t in study.trials]

    assert drawn(3) == drawn(3)
    assert drawn(3) != drawn(4)


@pytest.mark.parametrize("make", [lambda: PriorSampler({"lr": 1e-3, "opt": "adam"}, seed=5),
                                  lambda: GreedySampler({"lr": 1e-3, "opt": "adam"}, seed=5)],
                         ids=["prior", "greedy"])
def test_a_new_sampler_on_the_same_storage_goes_on_as_the_first_would(tmp_path, make):
    whole = optuna.create_study(sampler=make(), direction="maximize", storage=f"sqlite:///{tmp_path}/a.db")
    run_ask_tell(whole, 16)
    storage = f"sqlite:///{tmp_path}/b.db"
    run_ask_tell(optuna.create_study(sampler=make(), direction="maximize", storage=storage, study_name="b"), 7)
    resumed = optuna.load_study(sampler=make(), storage=storage, study_name="b")
    run_ask_tell(resumed, 9)
    assert [t.params for t in resumed.trials] == [t.params for t in whole.trials]
    assert [t.user_attrs["drawn_from"] for t in resumed.trials] == [t.user_attrs["drawn_from"] for t in whole.trials]


def test_two_workers_on_one_storage_do_not_repeat_each_other(tmp_path):
    storage = f"sqlite:///{tmp_path}/s.db"
    first = optuna.create_study(sampler=PriorSampler({"lr": 1e-3}, seed=1), storage=storage, study_name="s",
                                direction="maximize")
    second = optuna.load_study(sampler=PriorSampler({"lr": 1e-3}, seed=1), storage=storage, study_name="s")
    asked = [study.ask() for study in (first, second) * 5]  # both running at once, as two workers' trials
    for trial in asked:
        trial.study.tell(trial, lr_objective(trial))
    values = [t.params["lr"] for t in first.trials]
    assert len(set(values)) == len(values) == 10


def test_greedy_visits_one_key_at_a_time_from_the_centres():
    centres = {"lr": 1.0, "opt": "sgd"}
    study = run(GreedySampler(centres, seed=0), 12)
    steps = [t.user_attrs.get("greedy", {}).get("key", "base") for t in study.trials]
    # the start, then lr's four values (1/10, 1/3, 3, 10 times 1.0), then opt's two other choices, then the base
    assert steps == [None, "lr", "lr", "lr", "lr", "opt", "opt"] + ["base"] * 5
    lrs = [t.params["lr"] for t in study.trials[1:5]]
    assert [round(x, 4) for x in lrs] == [0.1, 0.3333, 3.0, 10.0]
    assert all(t.params["opt"] == "sgd" for t in study.trials[:5])  # opt stays at its centre while lr is searched
    best_lr = max(study.trials[:5], key=lambda t: t.value).params["lr"]
    assert best_lr == pytest.approx(0.1)
    assert all(t.params["lr"] == best_lr for t in study.trials[5:7])  # then lr stays at its best
    assert {t.params["opt"] for t in study.trials[5:7]} == {"momentum", "adam"}
    assert [t.user_attrs["drawn_from"] for t in study.trials] == ["greedy"] * 7 + ["sampler"] * 5


def test_greedy_waits_for_the_earlier_keys_results():
    study = optuna.create_study(sampler=GreedySampler({"lr": 1.0, "opt": "sgd"}, seed=0), direction="maximize")
    run_ask_tell(study, 1)  # the start
    lr_trials = [study.ask() for _ in range(4)]  # lr's values, all at once (four workers)
    for t in lr_trials:
        lr_objective(t)
    early = study.ask()  # opt may not start before lr's results are in
    lr_objective(early)
    assert study.trials[early.number].user_attrs["drawn_from"] == "sampler"  # the storage's, as set at the ask
    for t in lr_trials:
        study.tell(t, lr_objective(t))
    study.tell(early, lr_objective(early))
    run_ask_tell(study, 1)
    assert study.trials[-1].user_attrs["greedy"]["key"] == "opt"


def test_greedy_counts_an_enqueued_baseline_with_the_centres_as_its_start():
    study = optuna.create_study(sampler=GreedySampler({"lr": 1.0, "opt": "sgd"}, seed=0), direction="maximize")
    study.enqueue_trial({"lr": 1.0, "opt": "sgd"})
    run_ask_tell(study, 2)
    assert "drawn_from" not in study.trials[0].user_attrs
    assert study.trials[1].user_attrs["greedy"]["key"] == "lr"


@pytest.mark.parametrize("seed", [-1, 2**40])
def test_any_integer_seed_is_taken(seed):
    study = run(PriorSampler({"lr": 1e-3}, seed=seed), 3)
    assert [t.user_attrs["drawn_from"] for t in study.trials] == [t.user_attrs["drawn_from"] for t in run(
        PriorSampler({"lr": 1e-3}, seed=seed), 3).trials]


@pytest.mark.parametrize("name, prior, base", [("tpe", "greedy", optuna.samplers.TPESampler),
                                               ("random", "greedy", optuna.samplers.RandomSampler),
                                               ("greedy", "config", optuna.samplers.RandomSampler)])
def test_the_cli_names_the_pass_and_what_follows_it(name, prior, base):
    """--prior greedy: PULC's pass, then --sampler (TPE by default); --sampler greedy: the pass, then random."""
    sampler = make_sampler(name, [], seed=0, centres={"lr": 1.0, "opt": "sgd"}, prior=prior)
    assert isinstance(sampler, GreedySampler)
    study = run(sampler, 9)
    assert [t.user_attrs["drawn_from"] for t in study.trials] == ["greedy"] * 7 + ["sampler"] * 2
    assert type(sampler.base_for(study.trials[-1])) is base


def test_the_first_line_says_what_draws_first_as_make_sampler_builds_it():
    from paddle_autotune_plugins.optuna_glue.samplers import describe

    centres = {"lr": 0.01}
    assert describe("tpe", centres, "config") == "the prior around the config, then tpe"
    assert describe("bayes", centres, "greedy") == "PULC's pass from the config, then tpe"
    assert describe("greedy", centres, "config") == "PULC's pass from the config, then random"
    # nothing to start from, grid search, or --prior none: the sampler alone
    assert describe("tpe", {}, "config") == describe("tpe", centres, "none") == "sampler tpe"
    assert describe("grid", centres, "config") == "sampler grid"
