"""Pruner names of the CLI mapped to Optuna pruners. Steps are evaluation rounds (epochs)."""
import optuna

from .errors import UsageError

NAMES = ("asha", "hyperband", "median", "none")


def make_pruner(name, max_steps=None):
    if name == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_steps or "auto",
                                              reduction_factor=2)
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise UsageError(f"unknown pruner '{name}'; choose one of {', '.join(NAMES)}")
