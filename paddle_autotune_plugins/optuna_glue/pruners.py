"""Pruner names of the CLI mapped to Optuna pruners. Steps are evaluation rounds (epochs)."""
import math
from typing import Optional, Union

import optuna
from optuna.trial import FrozenTrial

from paddle_autotune_plugins.errors import UsageError

NAMES = ("asha", "hyperband", "median", "none")


# from this many evaluations on, ASHA's first cut moves from half the training to a third (first_rung)
THIRD_FROM = 9


def first_rung(max_steps: Optional[int]) -> int:
    """ASHA's first decision point when the user gives none: a third of the training (rounded up) from
    THIRD_FROM evaluations on, half of a shorter one, step 1 if its length is unknown.

    The suites' learning-rate schedules (warm-up, then cosine or linear decay over the whole run) make early
    epochs rank configurations in an order that changes as the rate anneals. Over 24 random configs trained
    9 epochs each (benchmarks/fidelity_evidence.py), the Spearman rank correlation of the metric at epoch b
    with the final result was, at b = 1, 3 and 4 (E/9, E/3, E/2): 0.40, 0.85, 0.88 for a cosine schedule
    (digits classification) and -0.15, 0.86, 0.87 for linear decay with warm-up (tiny ERNIE): a cut at E/3
    ranks about as well as one at E/2, and a trial it stops has cost a third of a training, not half. In
    a shorter training a third is only an epoch or two, where the configs have barely left chance (0.23
    after 1 of 4 epochs, -0.19 after 1 of 6; 12 of 13 trials cut at epoch 2 of 6 in a benchmark smoke run,
    the eventual best among them), so it keeps half. A 300-epoch training is first cut at epoch 100.

    >>> first_rung(9), first_rung(12), first_rung(300), first_rung(8), first_rung(4), first_rung(None)
    (3, 4, 100, 4, 2, 1)
    """
    if not max_steps:
        return 1
    return max(1, math.ceil(max_steps / 3) if max_steps >= THIRD_FROM else max_steps // 2)


class Pruner(str):
    """A pruner as the user wrote it ('asha', 'asha:2'), read once by parse(): ``name`` and ``first_step``
    (None: the pruner's own). It is that text itself, so the study stores and shows what the user gave."""

    name: Optional[str] = None
    first_step: Optional[int] = None


def parse(text: Union[str, Pruner]) -> Pruner:
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


EVALUATIONS = "evaluations"  # the study's user attr: the evaluation steps of the baseline's own run


def unknown_length_note(pruner: Union[str, Pruner], max_steps: Optional[int]) -> Optional[str]:
    """The note a study starts with where the config does not tell the training's length (a script of the
    generic adapter, a Trainer script, PaddleNLP's max_steps): the baseline's run tells it, else None.

    >>> unknown_length_note("asha", 9) is None, unknown_length_note("asha:3", None) is None
    (True, True)
    """
    if not waits_for_length(parse(pruner), max_steps):
        return None
    return ("the config does not tell how many evaluations a training makes: no trial is pruned until the "
            "baseline (trial 0) has finished, whose evaluations set the pruner's rungs; --pruner asha:N cuts "
            "first after N, --pruner none never")


def waits_for_length(spec: Pruner, max_steps: Optional[int]) -> bool:
    """Whether the pruner's rungs wait for the baseline's run: the length is unknown and no first step given."""
    return spec.name in ("asha", "hyperband") and not spec.first_step and not max_steps


def may_cut(spec: Pruner, evaluations: int) -> bool:
    """Never at a trial's first evaluation, unless the user named a first step (asha:1, median:1): one
    evaluation ranks configs that start slower (a longer warm-up) below those that end worse."""
    return evaluations >= 2 or spec.first_step is not None


class LengthFromBaseline(optuna.pruners.BasePruner):
    """The pruner of a study whose config does not tell the training's length: it prunes nothing until the
    baseline's run has recorded its evaluation steps in the study (EVALUATIONS), then acts as make_pruner's
    pruner for that length. Plain Optuna: workers sharing the study read the same steps from it."""

    def __init__(self, spec: Pruner) -> None:
        self.spec = spec
        self._inner: Optional[tuple[list[int], optuna.pruners.BasePruner]] = None  # (steps, the pruner for them)

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        steps = study.user_attrs.get(EVALUATIONS)
        if not steps:
            return False
        if self._inner is None or self._inner[0] != steps:
            self._inner = (steps, make_pruner(self.spec, max_steps=steps[-1]))
        return self._inner[1].prune(study, trial)


def make_pruner(pruner: Union[str, Pruner], max_steps: Optional[int] = None) -> optuna.pruners.BasePruner:
    """The Optuna pruner for a Pruner (or its text, read here); max_steps is the training's last evaluation
    step, if known.

    >>> make_pruner("asha", max_steps=6)._min_resource
    3
    >>> make_pruner("asha:1", max_steps=6)._min_resource
    1
    """
    spec = parse(pruner)
    name, step = spec.name, spec.first_step
    if waits_for_length(spec, max_steps):
        return LengthFromBaseline(spec)
    if name == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=step or first_rung(max_steps), reduction_factor=2)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_steps or "auto",
                                              reduction_factor=2)
    if name == "median":
        # Optuna's median pruner decides from step n_warmup_steps on
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=step or 0)
    return optuna.pruners.NopPruner()
