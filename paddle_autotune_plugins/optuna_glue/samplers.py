"""Sampler names of the CLI mapped to Optuna samplers."""
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Optional

import optuna
from optuna.trial import FrozenTrial, TrialState

from paddle_autotune_plugins.errors import UsageError

if TYPE_CHECKING:
    from paddle_autotune_plugins.search_space.space import Param


class GridSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler, leaving the stop to the coordinator: its own study.stop() works only inside
    study.optimize(), and the coordinator drives the study with ask/tell."""

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Optional[Sequence[float]]) -> None:
        pass


NAMES = ("tpe", "gp", "random", "grid", "cmaes", "nsga2", "greedy")
ALIASES = {"bayes": "tpe", "evolution": "cmaes"}  # other names of samplers (the Python API's tuner_type too)


def make_sampler(name: str, params: Sequence["Param"], seed: Optional[int] = None,
                 centres: Optional[dict[str, Any]] = None, prior: str = "none") -> optuna.samplers.BaseSampler:
    """The sampler named on the command line. ``centres`` ({path: the rescaled config's value}) with
    prior="config" (--prior, the default): it draws first around them and hands over to the named sampler as
    results arrive (prior_sampler.PriorSampler, piBO's decaying prior); prior="greedy": PULC's one key at a
    time from them, then the named sampler (greedy_sampler.GreedySampler); the sampler "greedy" is that pass
    followed by random search. Grid search takes no prior."""
    name = ALIASES.get(name, name)
    first = drawn_first(name, centres, prior)
    if first == "greedy":
        from paddle_autotune_plugins.optuna_glue.greedy_sampler import GreedySampler

        after = after_pass(name)
        return GreedySampler(dict(centres or {}), base=lambda base_seed: _plain_sampler(after, params, base_seed),
                             seed=seed)
    if first == "prior":
        from paddle_autotune_plugins.optuna_glue.prior_sampler import PriorSampler

        return PriorSampler(dict(centres or {}), base=lambda base_seed: make_sampler(name, params, seed=base_seed),
                            seed=seed)
    return _plain_sampler(name, params, seed)


def drawn_first(name: str, centres: Optional[dict[str, Any]], prior: str) -> Optional[str]:
    """What make_sampler puts before the named sampler: "greedy" (PULC's pass from the centres), "prior" (the
    prior around them) or None. Grid search takes neither; without centres there is nothing to start from."""
    name = ALIASES.get(name, name)
    if name == "greedy" or (prior == "greedy" and centres and name != "grid"):
        return "greedy"
    if prior == "config" and centres and name != "grid":
        return "prior"
    return None


def after_pass(name: str) -> str:
    """The sampler that follows PULC's pass: the one named, random search for the sampler "greedy" itself."""
    return "random" if name == "greedy" else name


def describe(name: str, centres: Optional[dict[str, Any]], prior: str) -> str:
    """How the study draws, for its first line: e.g. "the prior around the config, then tpe"."""
    name = ALIASES.get(name, name)
    first = drawn_first(name, centres, prior)
    if first == "greedy":
        return f"PULC's pass from the config, then {after_pass(name)}"
    if first == "prior":
        return f"the prior around the config, then {name}"
    return f"sampler {name}"


def _plain_sampler(name: str, params: Sequence["Param"], seed: Optional[int]) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        # constant_liar keeps parallel workers from sampling the same point while others still run
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True, multivariate=True, n_startup_trials=4)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        check_grid(params)
        return GridSampler({p.name: p.grid_values() for p in params}, seed=seed)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=4)
    raise UsageError(f"unknown sampler '{name}'; choose one of {', '.join(NAMES)} (or 'bayes' for tpe)")


GRID_LIMIT = 100_000  # points: Optuna's grid sampler holds every one of them in memory


def check_grid(params: Sequence["Param"]) -> None:
    """A grid Optuna can hold: a float step of 1e-9 over [0, 1] is a billion points (MemoryError)."""
    counts = {p.name: p.grid_count() for p in params}
    total = math.prod(counts.values())
    if total > GRID_LIMIT:
        widest = max(counts, key=lambda name: counts[name])
        raise UsageError(f"--sampler grid: the grid has {total:,} points ({widest}: {counts[widest]:,} values), more "
                         f"than {GRID_LIMIT:,}; give {widest} a larger step, or use --sampler tpe or random")


def check_name(name: str) -> str:
    """The name, if it names a sampler (or an alias of one)."""
    if ALIASES.get(name, name) not in NAMES:
        raise UsageError(f"unknown sampler '{name}'; choose one of {', '.join(NAMES)} (or 'bayes' for tpe)")
    return name
