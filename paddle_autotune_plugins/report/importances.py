"""Parameter importances (fANOVA) over the complete trials, and the note that says what they are computed over."""
import math

import optuna

from paddle_autotune_plugins.report.plot_base import PlotData, SkipPlot
from paddle_autotune_plugins.report.study_facts import fmt_value


EVALUATOR_NAME = "fANOVA (Optuna's FanovaImportanceEvaluator, seed 0)"  # param_importances; named in its note
FEW_TRIALS = 10  # importances from fewer complete trials than this carry a caveat in the report


def _why_baseline_lacks(d: PlotData, path: str) -> str:
    """Why the baseline (trial 0) has no sampled value for ``path``: it runs the config as given."""
    assert d.baseline is not None  # asked for the baseline trial only
    used = d.baseline.user_attrs.get("values", {})
    if used.get(path) is None:
        return f"the config's value of {d.short[path]} is not known"
    return f"the config's {d.short[path]} = {fmt_value(used[path], 24)} lies outside the search space"


def importance_inputs(d: PlotData) -> tuple[list[str], dict[str, str], list[optuna.trial.FrozenTrial],
                                           dict[int, str]]:
    """What the importances are computed over: (params kept, {param left out: why}, trials used,
    {trial number: why it is left out}).

    Optuna on its own uses only the parameters that every complete trial sampled, so a baseline whose
    learning rate lies outside the space would drop the learning rate. Here every tuned parameter is kept and
    the trials lacking one are left out instead; a parameter only a minority of the trials sampled
    (conditional, or added to the space on a resume) is left out rather than most of the trials.
    """
    left_params: dict[str, str] = {}
    for p in d.paths:
        if p not in d.dists:
            left_params[p] = "no trial sampled it (never in the search space of a trial)"
        elif not any(p in t.params for t in d.complete):
            left_params[p] = "no complete trial sampled it"
    kept = [p for p in d.paths if p not in left_params]
    cover = {p: sum(p in t.params for t in d.complete) for p in kept}

    def having(ps: list[str]) -> list[optuna.trial.FrozenTrial]:
        return [t for t in d.complete if all(p in t.params for p in ps)]

    need = max(2, math.ceil(len([t for t in d.complete if any(p in t.params for p in kept)]) / 2))
    while len(kept) > 1 and len(having(kept)) < need:
        p = min(reversed(kept), key=lambda p: cover[p])  # the least sampled; the later one on a tie
        kept.remove(p)
        left_params[p] = (f"only {cover[p]} of {len(d.complete)} complete trials sampled it (a conditional "
                          f"parameter, or one added to the space later); keeping it would leave too few trials")
    used = having(kept)
    left_trials: dict[int, str] = {}
    for t in d.complete:
        if t in used:
            continue
        lacks = [p for p in kept if p not in t.params]
        if t is d.baseline:
            left_trials[t.number] = "the baseline: " + "; ".join(_why_baseline_lacks(d, p) for p in lacks)
        else:
            left_trials[t.number] = "it has no value for " + ", ".join(d.short[p] for p in lacks)
    return kept, left_params, used, left_trials


def _importance_note(d: PlotData, kept: list[str], left_params: dict[str, str], used: list[optuna.trial.FrozenTrial],
                     left_trials: dict[int, str]) -> str:
    parts = [f"Computed over {len(used)} complete trial{'s' if len(used) != 1 else ''}"
             + (f" (of {len(d.complete)})" if len(used) != len(d.complete) else "") + "."]
    if used and len(used) < FEW_TRIALS:
        parts.append(f"Few trials: with fewer than {FEW_TRIALS} complete trials these importances are a rough "
                     "guide only; a parameter may look unimportant because it has not been explored yet.")
    parts.append(f"Evaluator: {EVALUATOR_NAME}. paddle-autotune dashboard computes its importances with PED-ANOVA, "
                 "so the two may rank the parameters differently, the more so the fewer the trials.")
    if left_trials:
        parts.append("Left out: " + "; ".join(f"trial {n} ({why})" for n, why in sorted(left_trials.items())) + ".")
    if left_params:
        parts.append("Parameters left out of the importances: " + "; ".join(
            f"{p}: {why}" for p, why in left_params.items()) + ".")
    return " ".join(parts)


def param_importances(d: PlotData) -> tuple[dict[str, dict[str, float]], int]:
    """({metric: {path: importance}}, number of trials): Optuna's fANOVA importances, most important first, over
    the complete trials that sampled every kept parameter (importance_inputs); the note under the figure says
    which trials and parameters were left out, and warns under FEW_TRIALS trials."""
    kept, left_params, used, left_trials = importance_inputs(d)
    note = _importance_note(d, kept, left_params, used, left_trials)
    if len(d.complete) < 2:
        raise SkipPlot(f"Parameter importances need at least 2 complete trials; this study has {len(d.complete)}.")
    if len(kept) < 2:
        raise SkipPlot(f"Parameter importances need at least 2 tuned parameters; this study tunes {len(kept)} that "
                    "complete trials sampled." + (" " + note if left_params else ""))
    if len(used) < 2:
        raise SkipPlot("Parameter importances need at least 2 complete trials that sampled every parameter. " + note)
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)  # seeded: the same study gives the same plot
    result: dict[str, dict[str, float]] = {}
    for i, metric in enumerate(d.metrics):
        try:  # params=kept: Optuna then uses the complete trials that have all of them (not their intersection)
            # (the ignore: mypy infers no type for a lambda with a default argument)
            result[metric] = optuna.importance.get_param_importances(
                d.study, evaluator=evaluator, params=kept,
                target=(lambda t, i=i: t.values[i]) if d.multi else None)  # type: ignore[misc]
        except (ValueError, RuntimeError) as e:  # e.g. a parameter's range changed between runs of the study
            raise SkipPlot(f"Optuna could not compute parameter importances: {e}") from None
    if not any(any(r.values()) for r in result.values()):
        raise SkipPlot("The complete trials do not tell the parameters apart (every importance is 0). " + note)
    d.notes["importances"] = note
    return result, len(used)
