"""The trials table (``paddle-autotune show``, the report's table): the trials best first, one line each."""
from collections.abc import Sequence
from typing import Optional

import optuna

from paddle_autotune_plugins.output.trials_csv import drawn_from, duration_s, returned_metrics
from paddle_autotune_plugins.report.study_facts import fmt_value, maximizes, metric_names, short_names, tuned_params
from paddle_autotune_plugins.study import trial_queries as queries
from paddle_autotune_plugins.trials.knobs import Verdict

S = optuna.trial.TrialState


def _pareto_numbers(study: optuna.Study) -> set[int]:
    try:
        return {t.number for t in study.best_trials}
    except ValueError:
        return set()


def ordered_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Best first: COMPLETE by value in the study's direction (Pareto front first when multi-objective),
    then PRUNED by their last value, then FAIL, then RUNNING; queued (WAITING) trials are not trials yet."""
    direction = queries.directions(study)[0]
    pareto = _pareto_numbers(study) if len(study.directions) > 1 else set()
    trials = study.get_trials(deepcopy=False)
    complete = sorted((t for t in trials if t.state == S.COMPLETE),
                      key=lambda t: (t.number not in pareto, *queries.rank(t.values[0], direction), t.number))
    pruned = sorted((t for t in trials if t.state == S.PRUNED),
                    key=lambda t: (*queries.rank(queries.last_value(t), direction), t.number))
    rest = [t for state in (S.FAIL, S.RUNNING) for t in trials if t.state == state]
    return complete + pruned + rest


def _fmt_duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    seconds = int(round(seconds))
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m"


def trials_table(study: optuna.Study, reason_width: int = 56) -> list[str]:
    """A fixed-width table of the trials, best first, one line per trial; ``*`` marks the baseline.

    Example (``paddle-autotune show`` prints this)::

        print("\\n".join(trials_table(load_study("tune_resnet18"))))
    """
    metrics = metric_names(study)
    dirs = ", ".join(f"{'maximize' if m else 'minimize'} {name}" for m, name in zip(maximizes(study), metrics))
    trials = ordered_trials(study)
    has_baseline = any(t.user_attrs.get("baseline") for t in trials)  # a Python API study may have none
    lines = [f"Study '{study.study_name}': {dirs}; {len(trials)} trials, best first."
             + (" * = baseline (your config as given)" if has_baseline else "")]
    paths = tuned_params(study)
    short = short_names(paths)
    legend = [f"  {short[p]} = {p}" for p in paths if short[p] != p]
    if legend:
        lines += ["Parameters:"] + legend
    if not trials:
        return lines + ["(no trial has started yet)"]

    # the other numbers the trials returned (Python API dicts), beside the objective in the value column
    others = [m for m in returned_metrics(trials) if m not in metrics]
    head = ["#", "state", "value", "duration", "drawn from", "reason", "knobs"] + [short[p] for p in paths] + others
    rows = []
    for t in trials:
        if t.state == S.COMPLETE:
            value = ", ".join(f"{v:.6g}" for v in t.values)
        elif t.state == S.PRUNED and queries.last_value(t) is not None:
            value = f"{queries.last_value(t):.6g}"
        else:
            value = "-"
        reason = t.user_attrs.get("reason", "")
        if len(reason) > reason_width:
            reason = reason[:reason_width - 3] + "..."
        used = t.user_attrs.get("values", t.params)
        number = f"{t.number}*" if t.user_attrs.get("baseline") else f"{t.number} "
        rows.append([number, t.state.name, value, _fmt_duration(duration_s(t)), drawn_from(t), reason, _knob_cell(t)]
                    + [fmt_value(used.get(p)) for p in paths]
                    + [fmt_value(t.user_attrs.get("metrics", {}).get(m)) for m in others])
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    right = {0, 2, 3}  # numbers line up on the right

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    lines.append(line(head))
    lines.append(line(["-" * w for w in widths]))
    return lines + [line(r) for r in rows] + knob_mismatch_lines(trials)


def _knob_cell(t: optuna.trial.FrozenTrial) -> str:
    """ok / MISMATCH / - (not read): whether the trainer used the values the trial was given (knobs.py)."""
    verdict = Verdict.from_attr(t.user_attrs.get("knobs"))
    if verdict is None or not verdict.reported:
        return "-"
    return "ok" if verdict.acted() else "MISMATCH"


def knob_mismatch_lines(trials: Sequence[optuna.trial.FrozenTrial]) -> list[str]:
    bad = [(t, v) for t in trials if (v := Verdict.from_attr(t.user_attrs.get("knobs"))) and not v.acted()]
    if not bad:
        return []
    return [f"WARNING: {len(bad)} trial(s) trained with other values than they were given (a tuned key that the "
            f"trainer does not read):"] + [f"  trial {t.number}: {'; '.join(v.mismatches)}"
                                           for t, v in sorted(bad, key=lambda tv: tv[0].number)[:5]]
