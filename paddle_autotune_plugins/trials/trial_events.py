"""Reading a running trial's reports (the step of a trial owned here): the new lines of its metrics.jsonl
(reporting.read_reports), and then whether its process still runs, as typed events in the order they happened.
The coordinator decides on each (report to Optuna, prune, tell); this module only says what the trial did.

>>> [type(e).__name__ for e in as_events([{"progress": {"epoch": 1}}, {"used": {"lr": 0.1}},
...                                        {"step": 1, "metrics": {"acc": 0.5}}, reporting.BadLine("no")], 0)]
['Progress', 'KnobValues', 'Evaluation', 'BadReport', 'Exited']
"""
import dataclasses
from typing import Any, Optional, Union

from paddle_autotune_plugins.trials import reporting
from paddle_autotune_plugins.trials.trial_processes import RunningTrial


@dataclasses.dataclass(frozen=True)
class Progress:
    """How far the training is (reporting.report_progress), for the live ETA: never a metric."""
    line: dict[str, Any]  # the line as written: {"progress": {"epoch": 2, "epochs": 5}, "time": ...}


@dataclasses.dataclass(frozen=True)
class KnobValues:
    """The values the trainer really uses, {dotted config path: value} (reporting.report_used)."""
    used: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """One evaluation (reporting.report): every metric it measured, at a step, or the trial's declared result."""
    step: Optional[int]  # None only for a final result
    metrics: dict[str, float]
    final: bool = False  # the trial's own result (the Python API's return value), not a pruning step


@dataclasses.dataclass(frozen=True)
class Unusable:
    """The trial cannot give the study a result, and no trial of the study could (reporting.report_unusable)."""
    message: str


@dataclasses.dataclass(frozen=True)
class BadReport:
    """A line the coordinator cannot use (reporting.BadLine): the trial wrote it, so it fails that trial."""
    reason: str


@dataclasses.dataclass(frozen=True)
class Running:
    """After its lines: the trial's process still runs."""


@dataclasses.dataclass(frozen=True)
class Exited:
    """After its lines: the trial's process has exited with this code, and every line it wrote was read."""
    code: int


Event = Union[Progress, KnobValues, Evaluation, Unusable, BadReport, Running, Exited]


def read_events(rt: RunningTrial) -> list[Event]:
    """The trial's news since the last read: an event per new line of its metrics.jsonl, then Running or
    Exited. The process is polled before the file is read, so that once it has exited all it wrote is read;
    the trial's read offset moves on past the lines read."""
    code = rt.proc.poll()  # before reading: once the trial has exited, all it wrote is in the file
    lines, rt.offset = reporting.read_reports(rt.dir / "metrics.jsonl", rt.offset)
    return as_events(lines, code)


def as_events(lines: list[reporting.Report], code: Optional[int]) -> list[Event]:
    """The lines read_reports returned (reports and BadLines), as events, then Running (code None) or
    Exited(code)."""
    events: list[Event] = [as_event(line) for line in lines]
    events.append(Running() if code is None else Exited(code))
    return events


def as_event(line: reporting.Report) -> Event:
    """One line read_reports returned: a report (dict) or a BadLine."""
    if isinstance(line, reporting.BadLine):
        return BadReport(str(line))
    if "progress" in line:
        return Progress(line)
    if "used" in line:
        return KnobValues(line["used"])
    if "unusable" in line:
        return Unusable(line["unusable"])
    return Evaluation(line.get("step"), line["metrics"], bool(line.get("final")))
