"""What a study optimises: its metric(s) and directions, checked against the suite's config; the value a
finished trial gets; its soft constraints; and the files that follow the best trial (best/,
best_config.yaml, pareto/).

Step of a trial owned here: keeping the best files (keep_best; write_pareto for a multi-objective study)."""
import dataclasses
import math
import os
import pathlib
import re
from typing import TYPE_CHECKING, Any, Optional

import optuna

from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.study import trial_queries as queries
from paddle_autotune_plugins.suites.adapter import Adapter, Task, remove
from paddle_autotune_plugins.trials.reporting import PRINTED_NAME
from paddle_autotune_plugins.trials.trial_processes import RunningTrial

if TYPE_CHECKING:  # settings.options imports the study package: only the checker needs the name here
    from paddle_autotune_plugins.settings.options import Settings


@dataclasses.dataclass(frozen=True)
class Objectives:
    metric: str  # the first objective: pruning, the best trial, the progress lines
    direction: str  # "maximize" or "minimize", of the metric
    objectives: list[tuple[str, str]]  # [(metric, direction)], the metric first; more make a multi-objective study
    constraints: list[tuple[str, str, float]]  # [(metric, "<=" or ">=", bound)]

    @property
    def multi(self) -> bool:
        return len(self.objectives) > 1

    def names(self) -> list[str]:
        return [m for m, _ in self.objectives]

    def wanted(self) -> list[str]:
        """Every metric a trial must report: the objectives', then the constraints'."""
        return self.names() + [m for m, _, _ in self.constraints]

    @classmethod
    def of(cls, task: Task, settings: "Settings") -> "Objectives":
        """The study's objectives from --metric, --direction and --constraint, or a UsageError that says what
        this config cannot measure (the adapter's metric names, when it knows them)."""
        adapter = task.adapter
        metric = settings.metric or adapter.default_metric_for(task)
        if not metric:
            raise UsageError(f"the {adapter.name} suite has no default metric: give --metric NAME")
        direction = settings.direction or adapter.direction_for(metric)
        names = adapter.metric_names(task)
        if names is not None and metric not in names:
            raise UsageError(f"unknown metric '{metric}' for this config; choose one of {', '.join(names)}")
        pairs = [(metric, direction)] + [(m, d or adapter.direction_for(m)) for m, d in (settings.extra_metrics or [])]
        for m, d in pairs:
            if names is None:
                check_printed_name(m)
            if names is not None and m not in names:
                raise UsageError(f"unknown metric '{m}' for this config; choose one of {', '.join(names)}")
            if d not in ("maximize", "minimize"):
                raise UsageError(f"unknown direction '{d}'; use maximize or minimize")
        if len(pairs) > 1 and settings.pruner != "none":
            raise UsageError("several --metric: Optuna cannot prune multi-objective studies; add --pruner none")
        for m, _, _ in settings.constraints or []:
            if m not in [o for o, _ in pairs] and (names is None or m not in names):
                raise UsageError(f"--constraint on unknown metric '{m}'")
        return cls(metric, direction, pairs, list(settings.constraints or []))


def check_printed_name(metric: str) -> None:
    """A metric the script prints must be a name its output lines can carry, or no trial would report it."""
    if not re.fullmatch(PRINTED_NAME, metric):
        better = re.sub(r"[^\w@.-]+", "_", metric).strip("_") or "val_acc"
        raise UsageError(f"--metric '{metric}' cannot be read from the script's output (a printed name starts with "
                         f"a letter and holds no space, '=' or ':'); print it and pass it as e.g. --metric {better}")


def single_value(rt: RunningTrial, goal: Objectives) -> Optional[float]:
    """A completed single-objective trial's value: the result it declared, else its best evaluation."""
    if rt.final is not None:
        return rt.final
    return queries.best_of((v for _, v in rt.steps), goal.direction)


def best_evaluation(rt: RunningTrial, goal: Objectives) -> dict[str, float]:
    """The metrics of a completed trial's evaluation where its first objective was best (multi-objective:
    every objective is taken from that one evaluation). A declared result (rt.final_metrics) wins."""
    if rt.final_metrics:
        return rt.final_metrics
    step = queries.best_of(rt.steps, goal.direction, key=lambda sv: sv[1])[0]
    return rt.reports[step]


def record_constraints(trial: optuna.trial.Trial, metrics: dict[str, float], goal: Objectives) -> None:
    """Optuna's soft constraints: each value <= 0 when satisfied; samplers prefer feasible trials."""
    values = [metrics.get(m, math.inf) - bound if op == "<=" else bound - metrics.get(m, -math.inf)
              for m, op, bound in goal.constraints]
    for (m, op, bound), value in zip(goal.constraints, values):
        trial.set_constraint(f"{m}{op}{bound:g}", value)
    if values:
        trial.set_user_attr("constraints", values)  # for trials.csv readers and the Pareto export


def write_pareto(study: optuna.Study, out: pathlib.Path, adapter: Adapter) -> None:
    """out/pareto/: the exported config of every trial on the Pareto front (feasible ones)."""
    folder = out / "pareto"
    remove(folder)
    folder.mkdir(parents=True)
    for t in study.best_trials:
        if all(c <= 0 for c in t.user_attrs.get("constraints", [])) and "config" in t.user_attrs:
            adapter.write_config(adapter.config_from_store(t.user_attrs["config"]), folder / f"trial_{t.number:04d}_{adapter.config_filename}")


def store_config(rt: RunningTrial, task: Task) -> Any:
    """The trial's exported config, stored on it (any machine can export it from the storage): before its
    tell, while the trial is open."""
    exported = task.adapter.export_config(task, rt.cfg)
    rt.trial.set_user_attr("config", task.adapter.config_to_store(exported))
    return exported


def keep_best(rt: RunningTrial, out: pathlib.Path, task: Task, exported: Any) -> None:
    """Move the new best trial's weights to out/best/ and write best_config.yaml: after the trial's tell, so
    that they never name a trial whose result the study does not hold."""
    move_best_weights(task, rt.cfg, rt.dir, rt.trial.number, out)
    task.adapter.write_best(task, exported, out)


def move_best_weights(task: Task, cfg: Any, trial_dir: pathlib.Path, number: int, out: pathlib.Path) -> bool:
    """Move what trial `number` saved (its config `cfg`) to out/best/, named in best/trial.txt; False where
    its folder holds none."""
    checkpoint = task.adapter.best_checkpoint(task, cfg, trial_dir=trial_dir)
    if not checkpoint:
        return False
    best_dir = out / "best"
    remove(best_dir)
    best_dir.mkdir(parents=True)
    for path in checkpoint:
        os.replace(path, best_dir / pathlib.Path(path).name)
    (best_dir / "trial.txt").write_text(f"trial {number}\n")
    return True


def best_weights_trial(out: pathlib.Path) -> Optional[int]:
    """The trial whose weights out/best/ holds (best/trial.txt), or None."""
    try:
        return int((out / "best" / "trial.txt").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
