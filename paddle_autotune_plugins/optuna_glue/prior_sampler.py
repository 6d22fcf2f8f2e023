"""A sampler that searches around the user's config first, then hands over to another sampler.

The prior is the config itself: each knob's value in it (``centres``) is the centre of a distribution, as
piBO (Hvarfner et al., "piBO: Augmenting Acquisition Functions with User Beliefs for Bayesian
Optimization", ICLR 2022) centres its user belief pi(x) on the expert's guess. piBO weights the acquisition
function by pi(x)^(beta/n), so the belief counts fully for the first trials and fades as 1/n. Here that
weight is the chance that a trial is drawn from the prior at all::

    w(n) = min(1, beta / n) * trust  n: the trial's number (the trials the study holds before it), at least 1
    P(prior)   = w(n) * (1 - uniform)    a draw around the centres
    P(uniform) = w(n) * uniform          exploration over the whole range, so a wrong centre is not a trap
    P(sampler) = 1 - w(n)                the base sampler (TPE by default), which by then has the results

trust is 1 while the best finished trial is the config itself (an enqueued trial) or a draw from the prior,
and ``distrust`` (a quarter) once a uniform or base-sampler draw beats them all: a config far from the best
region then stops costing most of the early trials (PriorBand, Mallik et al. 2023, weighs its prior by the
same kind of evidence). Each decision comes from (seed, trial number) and the finished trials in the storage
at the ask: no state lives in the sampler object, so a new object on the same storage goes on as the old
one would have (resume), and several workers on one storage each draw their own trials without repeating
one another. ``trial.user_attrs["drawn_from"]`` says which source
drew each trial ("prior", "uniform" or "sampler"); enqueued trials (the baseline) get none. Parameters
without a centre always go to the base sampler.

The widths were first 0.15 of every range: in a factor-10 range around the config's learning rate that is
a factor of 2, and the clas demo drew all 8 trials within it and found nothing above its baseline (top1
0.699); with log(3), which reaches the edge of such a range at 2 sigma, its first draw (2.2 times the
config's rate) reached 0.864.

The prior of one parameter:

- log float (and log int): a normal in log space, sigma = log(3) (a factor of 3 either way holds 68% of the
  draws: a config off by 10x, e.g. rescaled from 8 GPUs to 1 where the suite's rule does not fit, is 2 sigma
  away), at most ``width`` of the range's log length, so a narrow range is not a near-uniform prior;
- linear float and int: a normal truncated to the range, sigma = width * (high - low);
- categorical: the centre's choice with probability ``centre_prob``, else a uniform choice.

Example: a toy objective whose best learning rate is 0.01, with the config's 0.02 as the centre:

    >>> import math, optuna
    >>> from paddle_autotune_plugins.optuna_glue.prior_sampler import PriorSampler
    >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
    >>> sampler = PriorSampler({"lr": 0.02, "opt": "momentum"}, seed=1)
    >>> study = optuna.create_study(sampler=sampler, direction="maximize")
    >>> def objective(trial):
    ...     lr = trial.suggest_float("lr", 1e-5, 1.0, log=True)
    ...     opt = trial.suggest_categorical("opt", ["sgd", "momentum", "adam"])
    ...     return -abs(math.log10(lr / 0.01)) + (opt == "momentum")
    >>> study.optimize(objective, n_trials=24)
    >>> sorted({t.user_attrs["drawn_from"] for t in study.trials})
    ['prior', 'sampler', 'uniform']
    >>> study.best_value > 0.8
    True
"""
import math
import zlib
from collections.abc import Callable, Sequence
from typing import Any, Optional, Union

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

SOURCES = ("prior", "uniform", "sampler")
NumberDistribution = Union[FloatDistribution, IntDistribution]
Distribution = Union[CategoricalDistribution, FloatDistribution, IntDistribution]  # Optuna's kinds


def default_base(seed: int) -> optuna.samplers.BaseSampler:
    """TPE as ``--sampler tpe`` makes it (samplers.make_sampler), seeded."""
    from paddle_autotune_plugins.optuna_glue.samplers import make_sampler

    return make_sampler("tpe", [], seed=seed)


def trial_rng(seed: int, number: int, salt: str = "") -> np.random.RandomState:
    """A random generator that depends only on the seed, the trial's number and a salt (a parameter's name)."""
    return np.random.RandomState([seed % 2**32, number, zlib.crc32(salt.encode())])  # any int seed, negative too


def enqueued(trial: FrozenTrial) -> bool:
    """Whether the trial's values were given (study.enqueue_trial: the baseline, a rescaled config)."""
    return bool(trial.system_attrs.get("fixed_params"))


# a sampler object, or a function seed -> sampler called afresh for each trial
Base = Union[optuna.samplers.BaseSampler, Callable[[int], optuna.samplers.BaseSampler]]


class WrappingSampler(optuna.samplers.BaseSampler):
    """What the plugin's samplers share: they decide some trials' values themselves and hand the rest to a base
    sampler (an object used as it is, or a function seed -> sampler called afresh for each trial with a seed
    from (seed, trial number), so that its draws too are reproducible and resumable)."""

    def __init__(self, base: Base, seed: Optional[int]) -> None:
        # a fresh SeedSequence's entropy is one int (a sequence only where one was given)
        self.seed = (int(np.random.SeedSequence().entropy % 2**32)  # type: ignore[operator]
                     if seed is None else int(seed))
        self._base = base
        # trial number -> its base sampler (when base is a function); rebuilt on demand
        self._per_trial: dict[int, optuna.samplers.BaseSampler] = {}

    def base_for(self, trial: FrozenTrial) -> optuna.samplers.BaseSampler:
        if isinstance(self._base, optuna.samplers.BaseSampler):
            return self._base
        if trial.number not in self._per_trial:
            seed = int(trial_rng(self.seed, trial.number, "base").randint(2**31))
            self._per_trial[trial.number] = self._base(seed)
        return self._per_trial[trial.number]

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        if not search_space:
            return {}
        return self.base_for(trial).sample_relative(study, trial, search_space)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Optional[Sequence[float]]) -> None:
        self.base_for(trial).after_trial(study, trial, state, values)
        self._per_trial.pop(trial.number, None)

    def reseed_rng(self) -> None:
        # the draws follow (seed, trial number); only a shared base object has a generator of its own
        if isinstance(self._base, optuna.samplers.BaseSampler):
            self._base.reseed_rng()


class PriorSampler(WrappingSampler):
    """Draws around ``centres`` first, mixed with uniform draws, then lets ``base`` take over (module doc).

    centres: {param name: value inside its distribution, as Optuna stores it}. base: a sampler object, used
    as it is; or a function seed -> sampler (the default, TPE), called afresh for each trial with a seed
    from (seed, trial number), so that its draws too are reproducible and resumable. beta: the trials over
    which the prior counts fully (piBO's beta). uniform: the share of the prior's trials drawn uniformly.
    """

    def __init__(self, centres: dict[str, Any], base: Base = default_base, seed: Optional[int] = None,
                 beta: float = 8, uniform: float = 1 / 3, width: float = 0.25, log_sigma: float = math.log(3),
                 centre_prob: float = 0.6, distrust: float = 0.25) -> None:
        super().__init__(base, seed)
        self.centres = dict(centres)
        self.beta, self.uniform, self.width, self.centre_prob = beta, uniform, width, centre_prob
        self.log_sigma, self.distrust = log_sigma, distrust
        # trial number -> its source, decided at its ask (the storage's copy: drawn_from)
        self._sources: dict[int, str] = {}

    # --- which source draws a trial ------------------------------------------------------------------
    def prior_weight(self, number: int) -> float:
        """piBO's beta/n, capped at 1: the chance that trial ``number`` comes from the prior or uniform."""
        return min(1.0, self.beta / max(1, number))

    def trust(self, study: Optional[optuna.Study]) -> float:
        """1 while the config (an enqueued trial) or a prior draw holds the best finished value, else distrust."""
        if study is None or len(study.directions) > 1:
            return 1.0
        done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if not done:
            return 1.0
        pick = max if study.direction == optuna.study.StudyDirection.MAXIMIZE else min
        best = pick(done, key=lambda t: t.value)  # type: ignore[arg-type, return-value]  # complete: has a value
        return 1.0 if best.user_attrs.get("drawn_from", "prior") == "prior" else self.distrust

    def source(self, trial: FrozenTrial, study: Optional[optuna.Study] = None) -> str:
        """'prior', 'uniform' or 'sampler' for this trial, decided once, at its ask (before_trial)."""
        known = self._sources.get(trial.number) or trial.user_attrs.get("drawn_from")
        if known:
            return known
        u = trial_rng(self.seed, trial.number, "source").random_sample()
        w = self.prior_weight(trial.number) * self.trust(study)
        if u < w * (1 - self.uniform):
            return "prior"
        return "uniform" if u < w else "sampler"

    # --- the sampler interface ----------------------------------------------------------------------
    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if not enqueued(trial):
            # set here, at the ask, so the mark is there whether the trial runs under optimize() or ask/tell
            self._sources[trial.number] = self.source(trial, study)
            study._storage.set_trial_user_attr(trial._trial_id, "drawn_from", self._sources[trial.number])
        self.base_for(trial).before_trial(study, trial)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        if self.source(trial) != "sampler":
            return {}  # every parameter is drawn on its own (sample_independent)
        return self.base_for(trial).infer_relative_search_space(study, trial)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, name: str,
                           distribution: BaseDistribution) -> Any:
        source = self.source(trial)
        if source == "sampler" or name not in self.centres:
            return self.base_for(trial).sample_independent(study, trial, name, distribution)
        rng = trial_rng(self.seed, trial.number, name)
        assert isinstance(distribution, (CategoricalDistribution, FloatDistribution, IntDistribution))
        if source == "uniform":
            return uniform_draw(rng, distribution)
        return self.prior_draw(rng, distribution, self.centres[name])

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Optional[Sequence[float]]) -> None:
        super().after_trial(study, trial, state, values)
        self._sources.pop(trial.number, None)

    # --- the prior of one parameter -----------------------------------------------------------------
    def prior_draw(self, rng: np.random.RandomState, distribution: Distribution, centre: Any) -> Any:
        if isinstance(distribution, CategoricalDistribution):
            if centre in distribution.choices and rng.random_sample() < self.centre_prob:
                return centre
            return uniform_draw(rng, distribution)
        low, high, log = distribution.low, distribution.high, distribution.log
        to, back = (math.log, math.exp) if log else (float, float)
        a, b = to(low), to(high)
        mean = min(max(to(centre), a), b)  # a centre outside the range pulls towards the nearer end
        sigma = min(self.log_sigma, self.width * (b - a)) if log else self.width * (b - a)
        x = truncated_normal(rng, mean, sigma, a, b)
        return snap(back(x), distribution)


def truncated_normal(rng: np.random.RandomState, mean: float, sigma: float, low: float, high: float) -> float:
    """A normal draw kept inside [low, high] by rejection (the mean lies inside, so most draws are kept)."""
    if sigma <= 0:
        return mean
    for _ in range(100):
        x = rng.normal(mean, sigma)
        if low <= x <= high:
            return x
    return min(max(x, low), high)


def uniform_draw(rng: np.random.RandomState, distribution: Distribution) -> Any:
    if isinstance(distribution, CategoricalDistribution):
        return distribution.choices[rng.randint(len(distribution.choices))]
    low, high = distribution.low, distribution.high
    if distribution.log:
        return snap(math.exp(rng.uniform(math.log(low), math.log(high))), distribution)
    return snap(rng.uniform(low, high), distribution)


def snap(value: float, distribution: NumberDistribution) -> Union[int, float]:
    """The value on the distribution's grid (its step, integers) and inside its range."""
    low, high = distribution.low, distribution.high
    step = distribution.step
    if isinstance(distribution, IntDistribution):
        int_step = distribution.step if not distribution.log else 1
        value = low + round((value - low) / int_step) * int_step
        return int(min(max(value, low), high))
    if isinstance(distribution, FloatDistribution) and step is not None:
        value = low + round((value - low) / step) * step
    return float(min(max(value, low), high))
