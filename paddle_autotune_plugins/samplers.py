"""Sampler names of the CLI mapped to Optuna samplers."""
import optuna

from .errors import UsageError

class GridSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler, leaving the stop to the coordinator: its own study.stop() works only inside
    study.optimize(), and the coordinator drives the study with ask/tell."""

    def after_trial(self, study, trial, state, values):
        pass


NAMES = ("tpe", "gp", "random", "grid", "cmaes", "nsga2")
ALIASES = {"bayes": "tpe", "evolution": "cmaes"}  # other names of samplers (the Python API's tuner_type too)


def make_sampler(name, params, seed=None):
    name = ALIASES.get(name, name)
    if name == "tpe":
        # constant_liar keeps parallel workers from sampling the same point while others still run
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True, multivariate=True, n_startup_trials=4)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return GridSampler({p.name: p.grid_values() for p in params}, seed=seed)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=4)
    raise UsageError(f"unknown sampler '{name}'; choose one of {', '.join(NAMES)} (or 'bayes' for tpe)")


def check_name(name):
    """The name, if it names a sampler (or an alias of one)."""
    if ALIASES.get(name, name) not in NAMES:
        raise UsageError(f"unknown sampler '{name}'; choose one of {', '.join(NAMES)} (or 'bayes' for tpe)")
    return name
