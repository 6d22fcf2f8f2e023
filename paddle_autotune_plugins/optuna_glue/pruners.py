"""Pruner names of the CLI mapped to Optuna pruners. Steps are evaluation rounds (epochs)."""
import math
import statistics
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


MIN_FIRSTS = 4  # first evaluations start_noise needs; before, the wrapped pruner decides alone


def start_noise(study: optuna.Study) -> Optional[float]:
    """How far apart two configs can lie at their starting level (chance, a constant prediction): three
    standard deviations of the difference of two such values, the deviation estimated from the spread of the
    study's first evaluations (each trial's earliest) by their median absolute deviation, which a few configs
    that learn or fail at once do not move. None before MIN_FIRSTS trials have a first evaluation.

    >>> study = optuna.create_study(direction="maximize")
    >>> for first in (0.07, 0.10, 0.11, 0.12, 0.14, 0.85):
    ...     study.add_trial(optuna.trial.create_trial(value=first, intermediate_values={1: first}))
    >>> round(start_noise(study), 3)  # the median absolute deviation, 0.02, times 1.4826 * 3 * sqrt(2)
    0.126
    """
    firsts = [t.intermediate_values[min(t.intermediate_values)]
              for t in study.get_trials(deepcopy=False) if t.intermediate_values]
    if len(firsts) < MIN_FIRSTS:
        return None
    centre = statistics.median(firsts)
    sigma = 1.4826 * statistics.median(abs(value - centre) for value in firsts)  # a normal's sd from its MAD
    return 3 * math.sqrt(2) * sigma


class ClearMargin(optuna.pruners.BasePruner):
    """Wraps a pruner: a trial it would stop is kept unless it trails the median of the other trials at the
    same evaluation by more than the start noise (start_noise).

    Early in a training the configs that will end best can still sit at their starting level, while others
    (a low learning rate, a smaller batch) have crept a little above it. A rung then ranks noise, and a cut
    there stops good configs; the sampler, which takes a pruned trial as worse than any finished one, then
    moves away from them. Measured (benchmarks/RESULTS.md, issue 28): in a study started from a config with a
    learning rate 56 times too low, 6 of the 7 trials drawn in the best region were cut at epoch 3 of 9 at
    top1 0.03-0.10, below a rung at 0.10-0.15 that slow configs had filled; none of them is cut here.

    Four configs evaluated at epochs 1 and 3, then a fifth that ASHA ranks below them at epoch 3:

    >>> def fifth_pruned(pruner, epoch_3):
    ...     study = optuna.create_study(direction="maximize", pruner=pruner)
    ...     for curve in ([0.14, epoch_3[0]], [0.07, epoch_3[1]], [0.12, epoch_3[2]], [0.10, epoch_3[3]], [0.09, 0.09]):
    ...         trial = study.ask()
    ...         for step, value in zip((1, 3), curve):
    ...             trial.report(value, step)
    ...         pruned = trial.should_prune()
    ...         study.tell(trial, None if pruned else value, state=optuna.trial.TrialState.PRUNED if pruned else None)
    ...     return pruned
    >>> asha = lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=3, reduction_factor=2)
    >>> still_at_start, learning = [0.12, 0.13, 0.14, 0.15], [0.12, 0.55, 0.60, 0.70]
    >>> fifth_pruned(asha(), still_at_start), fifth_pruned(ClearMargin(asha()), still_at_start)
    (True, False)
    >>> fifth_pruned(ClearMargin(asha()), learning)
    True
    """

    def __init__(self, inner: optuna.pruners.BasePruner) -> None:
        self.inner = inner

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        # always asked first: ASHA records the trial's rung value
        return self.inner.prune(study, trial) and trails_clearly(study, trial)


class ClearMarginHyperband(optuna.pruners.HyperbandPruner):
    """Optuna's Hyperband with ClearMargin's rule. A subclass, not a wrapper: Optuna's samplers see each
    Hyperband bracket as a study of its own only where the study's pruner is a HyperbandPruner."""

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        return super().prune(study, trial) and trails_clearly(study, trial)


def trails_clearly(study: optuna.Study, trial: FrozenTrial) -> bool:
    """Whether the trial trails the median of the other trials at its last evaluation by more than the start
    noise (start_noise); True where that cannot be told yet."""
    step = trial.last_step
    noise = start_noise(study)
    if step is None or noise is None:
        return True
    others = [t.intermediate_values[step] for t in study.get_trials(deepcopy=False)
              if t.number != trial.number and step in t.intermediate_values]
    if not others:
        return True
    sign = 1 if study.direction == optuna.study.StudyDirection.MAXIMIZE else -1
    return sign * (statistics.median(others) - trial.intermediate_values[step]) > noise


def make_pruner(pruner: Union[str, Pruner], max_steps: Optional[int] = None) -> optuna.pruners.BasePruner:
    """The Optuna pruner for a Pruner (or its text, read here); max_steps is the training's last evaluation
    step, if known.

    >>> make_pruner("asha", max_steps=6).inner._min_resource
    3
    >>> make_pruner("asha:1", max_steps=6).inner._min_resource
    1
    """
    spec = parse(pruner)
    name, step = spec.name, spec.first_step
    if waits_for_length(spec, max_steps):
        return LengthFromBaseline(spec)
    if name == "asha":
        return ClearMargin(optuna.pruners.SuccessiveHalvingPruner(min_resource=step or first_rung(max_steps),
                                                                  reduction_factor=2))
    if name == "hyperband":
        return ClearMarginHyperband(min_resource=1, max_resource=max_steps or "auto", reduction_factor=2)
    if name == "median":
        # Optuna's median pruner decides from step n_warmup_steps on
        return ClearMargin(optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=step or 0))
    return optuna.pruners.NopPruner()
