"""The closing summary of a study: baseline vs best, the ranges to widen, the knobs that did not act, and the
commands that look at the study next."""
from collections.abc import Sequence
import math
import os
import pathlib
import shlex
import time
from typing import Any, Optional, Union, cast

import optuna

from paddle_autotune_plugins.output.console import fmt_clock
from paddle_autotune_plugins.output.trials_csv import drawn_from
from paddle_autotune_plugins.study import trial_queries as queries
from paddle_autotune_plugins.trials.knobs import Verdict

Range = Union[optuna.distributions.FloatDistribution, optuna.distributions.IntDistribution]


def no_trial_completed(study: optuna.Study) -> Optional[str]:
    """None when some trial completed; else a line with the first failure's reason (the study exits 1)."""
    trials = queries.started(study)
    if queries.complete(trials):
        return None
    first = queries.first_failure(trials)
    if first is None:
        return "no trial completed" + (f" ({len(trials)} pruned)" if trials else "")
    log = pathlib.Path(first.user_attrs["dir"]) if "dir" in first.user_attrs else None
    where = f"; see {log / 'train.log'}" if log else "; see its trial_NNNN/train.log"
    return f"no trial completed; the first failure, trial {first.number}: {first.user_attrs.get('reason', 'failed')}{where}"


def summary(study: optuna.Study, metric: str, started: float, stop_reason: Optional[str],
            out: str | os.PathLike[str] | None = None, where: str = "") -> str:
    """The closing block: baseline vs best, improvement, pruned and failed counts, wall time, and the
    commands that look at the study next (with ``out``; ``where`` adds e.g. its --storage and --study).
    Numbers are rounded to 4 significant digits here; best_config.yaml keeps the exact values."""
    trials = queries.trials(study)  # interrupted rows ran again under a new number
    count = queries.by_state(trials)
    lines = [f"Study '{study.study_name}': {len(trials)} trials ({count[optuna.trial.TrialState.COMPLETE]} complete, "
             f"{count[optuna.trial.TrialState.PRUNED]} pruned, {count[optuna.trial.TrialState.FAIL]} failed) "
             f"in {_study_time(study, started)}; stopped by: {stop_reason or 'interrupt'}"]
    baseline = queries.baseline(trials)
    completed = queries.complete(trials)
    then = _next_commands(out, where)
    if not completed:  # nothing to report on or export: where to read why, instead of the next commands
        lines.append("No trial completed: see the reason column of trials.csv and the trial_*/train.log files.")
        return "\n".join(lines)
    if len(study.directions) > 1:
        names = study.user_attrs.get("objectives", [metric])
        lines.append(f"  Pareto front ({', '.join(names)}), configs in pareto/:")
        for t in sorted(study.best_trials, key=lambda t: t.number):
            feasible = all(c <= 0 for c in t.user_attrs.get("constraints", []))
            lines.append(f"    trial {t.number}: " + ", ".join(f"{n} = {_round(v)}" for n, v in zip(names, t.values))
                         + ("" if feasible else "  (violates a constraint)"))
        return "\n".join(lines + then)
    best = study.best_trial
    if baseline is not None:
        lines.append(f"  baseline (trial {baseline.number}): {metric} = {_round(baseline.value)}")
    lines.append(f"  best     (trial {best.number}): {metric} = {_round(best.value)}")
    if baseline is not None and baseline.value:
        assert best.value is not None, "the best trial is COMPLETE"
        diff = best.value - baseline.value
        lines.append(f"  improvement: {'+' if diff >= 0 else ''}{_round(diff)} ({diff / abs(baseline.value) * 100:+.1f}%)")
    for name, value in best.user_attrs.get("values", best.params).items():
        lines.append(f"    {name} = {_round(value)}")
    sources = [drawn_from(t) for t in completed]
    if "prior" in sources or "uniform" in sources:
        lines.append(f"  drawn around the config: {sources.count('prior')} complete trials (the prior), "
                     f"{sources.count('uniform')} uniform; best drawn from: {drawn_from(best)}")
    if "greedy" in sources:
        lines.append(f"  PULC's pass from the config: {sources.count('greedy')} complete trials; best drawn from: "
                     f"{drawn_from(best)}")
    direction = queries.directions(study)[0]
    return "\n".join(lines + edge_hints(completed, direction) + knob_warnings(trials) + then)


EDGE = 0.1  # a value in the outer tenth of its range (in log space for a log range) is at its edge


def edge_hints(completed: Sequence[optuna.trial.FrozenTrial], direction: str, top: int = 3) -> list[str]:
    """Lines for the ranges where the best trial sits at an end (its outer EDGE) and the next best (the top
    `top` complete ones, at least 2) on the same half: which way to widen it, as a --param to paste.

    >>> import optuna
    >>> d = optuna.distributions.FloatDistribution(1e-3, 1e-1, log=True)
    >>> ts = [optuna.trial.create_trial(params={"lr": v}, distributions={"lr": d}, value=v) for v in (0.09, 0.02, 0.05, 2e-3)]
    >>> edge_hints(ts, "maximize")
    ['  lr: the best trials sit at the high end of [0.001, 0.1]; widen it upwards, e.g. --param lr=log:0.001:1']
    """
    # the ignore: complete trials, so every value is a float (FrozenTrial.value says Optional)
    ranked = sorted(completed, key=lambda t: t.value,  # type: ignore[arg-type,return-value]
                    reverse=direction == "maximize")[:top]
    if len(ranked) < 2:
        return []
    lines = []
    for name, dist in ranked[0].distributions.items():
        if isinstance(dist, optuna.distributions.CategoricalDistribution):
            continue
        dist = cast(Range, dist)  # every other distribution is a numeric range
        if name not in ranked[0].params:
            continue
        end = _end(ranked[0].params[name], dist)
        halves = {_position(t.params[name], dist) >= 0.5 for t in ranked if name in t.params}
        if end is None or halves != {end == "high"}:
            continue
        lines.append(f"  {name}: the best trials sit at the {end} end of [{_round(dist.low)}, {_round(dist.high)}]; "
                     f"widen it {'upwards' if end == 'high' else 'downwards'}, e.g. --param {_widened(name, dist, end)}")
    return lines


def _position(value: float, dist: Range) -> float:
    """Where a value lies in its range, 0 (low) to 1 (high), in log space for a log range."""
    scale = math.log if dist.log else float
    span = scale(dist.high) - scale(dist.low)
    return (scale(value) - scale(dist.low)) / span if span else 0.5


def _end(value: float, dist: Range) -> Optional[str]:
    """'low' or 'high' where the value lies in the outer EDGE of the range, else None."""
    where = _position(value, dist)
    return "low" if where <= EDGE else "high" if where >= 1 - EDGE else None


def _widened(name: str, dist: Range, end: str) -> str:
    """The --param spelling of the range widened at one end (x10 for a log range, by its width else)."""
    low, high = dist.low, dist.high
    int_range = isinstance(dist, optuna.distributions.IntDistribution)
    if dist.log:
        low, high = (low / 10, high) if end == "low" else (low, high * 10)
    else:
        width = high - low
        low, high = (low - width, high) if end == "low" else (low, high + width)
        low = max(low, 0) if dist.low >= 0 else low  # a range of non-negative values stays so
    kind = "log:" if dist.log else ("int:" if int_range else "float:")
    if int_range:
        low, high = int(math.floor(low)), int(math.ceil(high))
    return f"{name}={kind}{_round(low)}:{_round(high)}"


def _study_time(study: optuna.Study, started: float) -> str:
    """The study's time: this run's, or for a resumed study the time of all its runs (Coordinator.record_run_time)."""
    this_run = time.time() - started
    runs, total = study.user_attrs.get("runs", 1), study.user_attrs.get("elapsed_s")
    if runs < 2 or total is None:
        return fmt_clock(this_run)
    return f"{fmt_clock(max(total, this_run))} over {runs} runs (this run {fmt_clock(this_run)})"


def _round(value: Any, digits: int = 4) -> str:
    """A number as the summary shows it: floats (and floats in lists) to 4 significant digits."""
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_round(v, digits) for v in value) + "]"
    return str(value)


def _next_commands(out: str | os.PathLike[str] | None, where: str) -> list[str]:
    if out is None:
        return []
    target = f"--out {shlex.quote(str(out))}" + (f" {where}" if where else "")
    commands = [(f"paddle-autotune report {target}", "HTML report with plots"),
                (f"paddle-autotune dashboard {target}", "the trials in a browser, live"),
                (f"paddle-autotune export {target}", "the best config (--trial N: any trial's)")]
    width = max(len(c) for c, _ in commands)
    return ["Next:"] + [f"  {c.ljust(width)}   # {what}" for c, what in commands]


def knob_warnings(trials: Sequence[optuna.trial.FrozenTrial]) -> list[str]:
    """Closing lines for trials whose trainer used other values than they were given."""
    bad = [(t, v) for t in trials if (v := Verdict.from_attr(t.user_attrs.get("knobs"))) and not v.acted()]
    if not bad:
        return []
    first, verdict = bad[0]
    return [f"WARNING: in {len(bad)} trial(s) a tuned knob did not act (the trainer used another value); see the "
            f"reason column of trials.csv. First: trial {first.number}: {'; '.join(verdict.mismatches)}"]
