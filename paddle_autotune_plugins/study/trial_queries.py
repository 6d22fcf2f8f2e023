"""Questions asked of a study's trials (Optuna FrozenTrials), answered in one place for the coordinator,
trials.csv and the closing summary (output/) and the report (report/): which rows are trials,
a trial's value, which of two values is better, the best so far, counts by state, its folder."""
import os
import pathlib
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

import optuna
from optuna.trial import FrozenTrial

S = optuna.trial.TrialState
FINISHED = (S.COMPLETE, S.PRUNED, S.FAIL)


def excluded(t: FrozenTrial) -> bool:
    """Storage rows that are not trials of the study: queued ones, interrupted ones (re-run under a new
    number) and surplus asks of a worker that came too late."""
    return bool(t.state == S.WAITING or t.user_attrs.get("interrupted") or t.user_attrs.get("surplus"))


def folder(t: FrozenTrial, out: "os.PathLike[str] | str") -> pathlib.Path:
    """Where the trial ran: the folder it recorded (a worker's, on its machine), else OUT/trial_NNNN."""
    return pathlib.Path(t.user_attrs.get("dir") or pathlib.Path(out) / f"trial_{t.number:04d}")


def trials(study: optuna.Study) -> list[FrozenTrial]:
    """The study's trials, in order, without the rows that are not trials (excluded)."""
    return [t for t in study.get_trials(deepcopy=False) if not excluded(t)]


def started(study: optuna.Study) -> list[FrozenTrial]:
    """Every row but the queued (WAITING) ones: what trials.csv lists, interrupted and surplus rows too."""
    return [t for t in study.get_trials(deepcopy=False) if t.state != S.WAITING]


def directions(study: optuna.Study) -> list[str]:
    """The study's directions as the settings spell them: ["maximize"], ["maximize", "minimize"], ..."""
    return [d.name.lower() for d in study.directions]


def last_value(t: FrozenTrial) -> Optional[float]:
    """The value at the trial's last evaluation (what a pruned trial reached), None without one."""
    return t.intermediate_values[max(t.intermediate_values)] if t.intermediate_values else None


def value(t: FrozenTrial) -> Optional[float]:
    """A single-objective trial's value: its result when COMPLETE, its last evaluation when PRUNED, else None."""
    if t.state == S.COMPLETE:
        return t.value
    if t.state == S.PRUNED:
        return last_value(t)
    return None


def better(v: float, than: Optional[float], direction: str) -> bool:
    """Whether v beats the value `than` in this direction ("maximize" or "minimize"); anything beats None."""
    return than is None or (v > than if direction == "maximize" else v < than)


def best_of(values: Iterable[Any], direction: str, key: Optional[Callable[[Any], Any]] = None) -> Any:
    """The best of some values (the first of equals; None when there are none); key: as for max()."""
    values = list(values)
    if not values:
        return None
    return max(values, key=key) if direction == "maximize" else min(values, key=key)


def rank(v: Optional[float], direction: str) -> tuple[bool, float]:
    """A sort key: better values first, None last."""
    return (v is None, 0 if v is None else (-v if direction == "maximize" else v))


def best_so_far(ts: Iterable[FrozenTrial], direction: str) -> Iterator[Optional[float]]:
    """For each trial in order, the best COMPLETE value up to and including it (None before the first)."""
    best = None
    for t in ts:
        if t.state == S.COMPLETE and t.value is not None and better(t.value, best, direction):
            best = t.value
        yield best


def counts(ts: Sequence[FrozenTrial], direction: Optional[str] = None) -> dict[str, Any]:
    """{"trials", "done", "pruned", "failed", "best"} of some trials; best (of the COMPLETE values) only when
    a direction is given (a single-objective study)."""
    states = [t.state for t in ts]
    best = None if direction is None else best_of((t.value for t in ts if t.state == S.COMPLETE), direction)
    return {"trials": len(ts), "done": sum(s in FINISHED for s in states), "pruned": states.count(S.PRUNED),
            "failed": states.count(S.FAIL), "best": best}


def by_state(ts: Sequence[FrozenTrial]) -> dict[optuna.trial.TrialState, int]:
    """How many of the trials are in each state: {TrialState: count}, every state present."""
    return {s: sum(t.state == s for t in ts) for s in S}


def complete(ts: Iterable[FrozenTrial]) -> list[FrozenTrial]:
    return [t for t in ts if t.state == S.COMPLETE]


def baseline(ts: Iterable[FrozenTrial]) -> Optional[FrozenTrial]:
    """The baseline trial (trial 0, the config as given) when it completed, else None."""
    return next((t for t in ts if t.user_attrs.get("baseline") and t.state == S.COMPLETE), None)


def first_failure(ts: Iterable[FrozenTrial]) -> Optional[FrozenTrial]:
    """The failure to show when no trial completed: the first failed trial that was not interrupted (else
    the first interrupted one); surplus asks are not failures. None when nothing failed."""
    failed = [t for t in ts if t.state == S.FAIL and not t.user_attrs.get("surplus")]
    return next((t for t in failed if not t.user_attrs.get("interrupted")), failed[0] if failed else None)


def rounds_without_improvement(finished: Iterable[FrozenTrial], direction: str) -> int:
    """Finished trials since the best value last improved, in order of completion."""
    count, best = 0, None
    # a finished trial has a start time: the key is never None (mypy sees Optional[datetime])
    for t in sorted(finished,
                    key=lambda t: t.datetime_complete or t.datetime_start):  # type: ignore[arg-type,return-value]
        v = t.value if t.state == S.COMPLETE else None
        if v is not None and better(v, best, direction):
            best, count = v, 0
        else:
            count += 1
    return count


def same_first_failures(finished: Iterable[FrozenTrial], count: int) -> Optional[str]:
    """The reason shared by the first `count` finished trials when none completed and all of them failed
    with that one reason (a study that cannot work: a missing file, a wrong script); else None."""
    first = sorted(finished, key=lambda t: t.number)[:count]
    if len(first) < count or any(t.state != S.FAIL for t in first):
        return None
    reasons = {t.user_attrs.get("reason", "") for t in first}
    return reasons.pop() if len(reasons) == 1 else None
