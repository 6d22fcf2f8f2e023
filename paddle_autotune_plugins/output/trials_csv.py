"""trials.csv: one row per trial, and the columns the report shows too (where a trial's values came from,
its duration, the metrics the trials returned)."""
import csv
from collections.abc import Iterable, Sequence
import os
import pathlib
import time
from typing import Any, Optional

import optuna

from paddle_autotune_plugins.study import trial_queries as queries
from paddle_autotune_plugins.trials.knobs import Verdict


CSV_HEAD = ["number", "state", "value", "best_value", "duration_s", "reason", "drawn_from"]


def write_trials_csv(study: optuna.Study, param_names: Sequence[str], path: pathlib.Path) -> None:
    """One row per trial, trial order; best_value is the best finished value up to that trial."""
    trials = queries.started(study)  # queued (WAITING) rows are not trials yet
    if len(study.directions) > 1:  # every objective, ';'-separated; no single best
        rows = [_row(t, ";".join(_num(v) for v in t.values) if t.values else "", "", param_names) for t in trials]
    else:
        bests = queries.best_so_far(trials, queries.directions(study)[0])
        rows = [_row(t, _num(queries.value(t)), _num(best), param_names) for t, best in zip(trials, bests)]
    metrics = returned_metrics(trials)
    rows = [row + [_cell(t.user_attrs.get("metrics", {}).get(m)) for m in metrics] for t, row in zip(trials, rows)]
    taken = set(CSV_HEAD) | set(param_names)
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(CSV_HEAD + list(param_names) + [f"metric.{m}" if m in taken else m for m in metrics])
            writer.writerows(rows)
        os.replace(tmp, path)  # readers never see a half-written table
    except OSError:  # e.g. the disk is full: no half-written temp file stays behind
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def returned_metrics(trials: Iterable[optuna.trial.FrozenTrial]) -> list[str]:
    """Every metric name the trials' results hold (the Python API's returned dicts), first seen first."""
    return list(dict.fromkeys(m for t in trials for m in t.user_attrs.get("metrics", {})))


def _row(t: optuna.trial.FrozenTrial, value: str, best: str, param_names: Sequence[str]) -> list[Any]:
    values = t.user_attrs.get("values", t.params)
    reason = t.user_attrs.get("reason", "baseline (config as given)" if t.user_attrs.get("baseline") else "")
    if t.state == optuna.trial.TrialState.RUNNING and not reason:  # e.g. another worker's, when this one ended
        reason = "still running when this table was written" + (
            f" (heartbeat {time.strftime('%H:%M:%S', time.localtime(t.user_attrs['heartbeat']))})"
            if "heartbeat" in t.user_attrs else "")
    if t.user_attrs.get("baseline") and "baseline" not in reason:
        reason = f"baseline; {reason}"
    verdict = Verdict.from_attr(t.user_attrs.get("knobs"))
    if verdict and not verdict.acted() and "knob does not act" not in reason:  # the trainer used other values
        reason = "; ".join(r for r in (reason, "knob does not act: " + "; ".join(verdict.mismatches)) if r)
    duration = duration_s(t)
    return [t.number, t.state.name, value, best, "" if duration is None else f"{duration:.2f}", reason,
            drawn_from(t)] + [_cell(values.get(name)) for name in param_names]


def drawn_from(t: optuna.trial.FrozenTrial) -> str:
    """Where a trial's values came from: the config as given (trial 0), the config rescaled to the user's
    devices (trial 1), a queued config, or a draw: around the config (prior), uniform exploration (uniform) or
    the sampler itself (sampler); the prior sampler records the draw's kind as the drawn_from user attr."""
    attrs = t.user_attrs
    if attrs.get("baseline"):
        return "config"
    if attrs.get("rescaled"):
        return "rescaled config"
    if attrs.get("enqueued") or attrs.get("retry_of") is not None:
        return "enqueued"
    return attrs.get("drawn_from", "sampler")


def duration_s(t: optuna.trial.FrozenTrial) -> Optional[float]:
    """Seconds from the trial's start to its end (older studies stored it as a user attr)."""
    if "duration_s" in t.user_attrs:
        return t.user_attrs["duration_s"]
    if t.datetime_start and t.datetime_complete:
        return (t.datetime_complete - t.datetime_start).total_seconds()
    return None


def _num(x: Optional[float]) -> str:
    return "" if x is None else f"{x:.6g}"


def _cell(v: Any) -> str:
    if v is None:
        return ""
    return f"{v:.6g}" if isinstance(v, float) else str(v)
