"""PaddleClas PULC's one-key-at-a-time search as an Optuna sampler.

PULC (PaddleClas ``tools/search_strategy.py``) trains each value of one key's list with the keys searched
before fixed at their best and the rest at the base config, keeps the value with the best result (ties keep
the earlier one) and moves to the next key, in the order its search config lists them; one pass. Here:

- the start is the config itself (``centres``), one trial (or none, when the study already holds a trial
  with exactly those values, such as the coordinator's baseline);
- then each key in the order of ``centres``, its values tried at once with the other keys at the best
  trial's values so far: for a log range the centre times ``factors`` (1/10, 1/3, 3, 10), clipped to the
  range; for a categorical every other choice; for a linear range ``points`` values spread over it;
- a key starts only when the earlier keys' trials have finished (it needs their results); a trial asked
  meanwhile, by another worker, and every trial after the last key go to ``base`` (random by default).

The state is the study's trials: each greedy trial carries ``user_attrs["greedy"] = {"key": ..., "value":
...}`` (key None for the start), and the best so far is the best finished greedy trial, so a new sampler
object on the same storage goes on where the last one stopped. ``user_attrs["drawn_from"]`` is "greedy"
or "sampler". Several workers may draw the same slot when they ask at the same moment (a repeated training,
no error).

    >>> import math, optuna
    >>> from paddle_autotune_plugins.optuna_glue.greedy_sampler import GreedySampler
    >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
    >>> study = optuna.create_study(sampler=GreedySampler({"lr": 0.1, "opt": "sgd"}, seed=0), direction="maximize")
    >>> def objective(trial):
    ...     lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
    ...     opt = trial.suggest_categorical("opt", ["sgd", "momentum"])
    ...     return -abs(math.log10(lr / 0.01)) + (opt == "momentum")
    >>> study.optimize(objective, n_trials=6)
    >>> [(t.user_attrs["greedy"]["key"], round(t.params["lr"], 4), t.params["opt"]) for t in study.trials]
    ... # doctest: +NORMALIZE_WHITESPACE
    [(None, 0.1, 'sgd'), ('lr', 0.01, 'sgd'), ('lr', 0.0333, 'sgd'), ('lr', 0.3, 'sgd'), ('lr', 1.0, 'sgd'),
     ('opt', 0.01, 'momentum')]
"""
import math
from collections.abc import Sequence
from typing import Any, Optional, Union

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from paddle_autotune_plugins.optuna_glue.prior_sampler import Base, WrappingSampler, enqueued, snap

FACTORS = (1 / 10, 1 / 3, 3, 10)
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def random_base(seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.RandomSampler(seed=seed)


def candidates(centre: Any, distribution: BaseDistribution, factors: Sequence[float] = FACTORS,
               points: int = 5) -> list[Any]:
    """The values one key tries besides its centre, in order (PULC's list for that key)."""
    if isinstance(distribution, CategoricalDistribution):
        return [c for c in distribution.choices if c != centre]
    assert isinstance(distribution, (FloatDistribution, IntDistribution))  # Optuna's other kind is categorical
    centre = snap(centre, distribution)
    low, high = distribution.low, distribution.high
    if distribution.log:
        values = [centre * f for f in factors]
    else:
        values = [low + (high - low) * i / (points - 1) for i in range(points)]
    found: list[Union[int, float]] = []
    for v in (snap(v, distribution) for v in values):
        if not math.isclose(v, centre) and not any(math.isclose(v, f) for f in found):
            found.append(v)
    return found


class GreedySampler(WrappingSampler):
    """One key at a time from ``centres`` (module doc), then ``base``.

    centres: {param name: value, as Optuna stores it}, in the order the keys are searched. base: a sampler
    object, or a function seed -> sampler called afresh for each trial (default: random search).
    """

    def __init__(self, centres: dict[str, Any], base: Base = random_base, seed: Optional[int] = None,
                 factors: Sequence[float] = FACTORS, points: int = 5) -> None:
        super().__init__(base, seed)
        self.centres = dict(centres)
        self.factors, self.points = factors, points
        # trial number -> its values (also stored on the trial, see plan_of)
        self._plans: dict[int, Optional[dict[str, Any]]] = {}

    # --- the plan, from the study's trials -----------------------------------------------------------
    def next_step(self, study: optuna.Study,
                  trial: FrozenTrial) -> Optional[tuple[Optional[str], Any, dict[str, Any]]]:
        """(key, value, values) of the trial's greedy step, or None when it goes to the base sampler. key is
        None for the start; values is the full assignment of the centred keys."""
        others = [t for t in study.get_trials(deepcopy=False) if t.number != trial.number]
        greedy = [t for t in others if "greedy" in t.user_attrs]
        starts = [t for t in others if self.is_start(t)]
        asked = {(g["key"], g["value"]) for g in (t.user_attrs["greedy"] for t in greedy)}
        if not starts:
            return None, None, dict(self.centres)
        distributions: dict[str, BaseDistribution] = {}
        for t in others:
            distributions.update(t.distributions)
        for key in self.centres:
            if key not in distributions:
                continue  # no trial has drawn it yet: nothing to compare it with
            for value in candidates(self.centres[key], distributions[key], self.factors, self.points):
                if (key, value) in asked:
                    continue
                earlier = [t for t in greedy + starts if t.user_attrs.get("greedy", {}).get("key") != key]
                if any(t.state not in FINISHED for t in earlier):
                    return None  # the best of the earlier keys is not known yet
                return key, value, dict(self.best_values(study, greedy + starts), **{key: value})
        return None

    def is_start(self, trial: FrozenTrial) -> bool:
        """A trial that holds exactly the centres: the start (the greedy one, or e.g. the baseline)."""
        g = trial.user_attrs.get("greedy")
        if g is not None:
            return g["key"] is None
        return all(trial.params.get(k, object()) == v for k, v in self.centres.items())

    def best_values(self, study: optuna.Study, trials: Sequence[FrozenTrial]) -> dict[str, Any]:
        """The centred keys' values of the best finished trial (the earliest of equals), else the centres."""
        sign = 1 if study.direction == optuna.study.StudyDirection.MAXIMIZE else -1
        best: Optional[FrozenTrial] = None
        for t in sorted(trials, key=lambda t: t.number):
            # a complete trial (best too) has a value
            if t.state == TrialState.COMPLETE and (best is None or
                                                   sign * t.value > sign * best.value):  # type: ignore[operator]
                best = t
        if best is None:
            return dict(self.centres)
        return {k: best.params.get(k, v) for k, v in self.centres.items()}

    def plan_of(self, study: optuna.Study, trial: FrozenTrial) -> Optional[dict[str, Any]]:
        if trial.number not in self._plans:  # asked by another sampler object: read it back from the trial
            stored = study._storage.get_trial(trial._trial_id).system_attrs.get("greedy_values")
            self._plans[trial.number] = stored
        return self._plans[trial.number]

    # --- the sampler interface ----------------------------------------------------------------------
    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.base_for(trial).before_trial(study, trial)
        if enqueued(trial):
            return
        step = self.next_step(study, trial)
        storage = study._storage
        if step is None:
            self._plans[trial.number] = None
            storage.set_trial_user_attr(trial._trial_id, "drawn_from", "sampler")
            return
        key, value, values = step
        self._plans[trial.number] = values
        storage.set_trial_system_attr(trial._trial_id, "greedy_values", values)
        storage.set_trial_user_attr(trial._trial_id, "greedy", {"key": key, "value": value})
        storage.set_trial_user_attr(trial._trial_id, "drawn_from", "greedy")

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        if self.plan_of(study, trial) is not None:
            return {}
        return self.base_for(trial).infer_relative_search_space(study, trial)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, name: str,
                           distribution: BaseDistribution) -> Any:
        plan = self.plan_of(study, trial)
        if plan is not None and name in plan:
            value = plan[name]
            if isinstance(distribution, CategoricalDistribution):
                if value in distribution.choices:
                    return value
            else:
                assert isinstance(distribution, (FloatDistribution, IntDistribution))  # Optuna's other kind
                return snap(value, distribution)
        return self.base_for(trial).sample_independent(study, trial, name, distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Optional[Sequence[float]]) -> None:
        super().after_trial(study, trial, state, values)
        self._plans.pop(trial.number, None)
