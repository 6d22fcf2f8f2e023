"""The command a study was started with, kept in the study itself (its ``command`` attribute), so that a
worker on another machine (``paddle-autotune worker``) runs the same trials: the suite, the script and its
arguments, the folder it ran in, the launcher, the tuning options a worker takes from the study, and the
space."""
import argparse
import dataclasses
import os
from typing import Any, Sequence

from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.search_space import space
from paddle_autotune_plugins.settings.options import STUDY_OPTIONS
from paddle_autotune_plugins.suites.adapter import Task, get_adapter


def record(task: Task, opts: argparse.Namespace, params: Sequence[space.Param]) -> dict[str, Any]:
    """What the study keeps of its command (JSON-able)."""
    return {"suite": task.adapter.name, "script": task.script, "argv": task.argv, "cwd": task.cwd,
            "launcher": task.launcher,
            "options": {k: getattr(opts, k) for k in STUDY_OPTIONS},
            "space": [dataclasses.asdict(p) for p in params]}


def load_task(command: dict[str, Any]) -> Task:
    """The recorded command's task, loaded in the current folder (relative paths: the command's cwd)."""
    if command.get("argv") is None:  # demos of earlier versions recorded none
        raise UsageError("the study recorded no command arguments: run its command again")
    task = get_adapter(command["suite"]).load_command(command["script"], command["argv"])
    task.launcher = command.get("launcher")
    return task


def replay(command: Any, study_name: str, opts: argparse.Namespace) -> tuple[Task, list[space.Param]]:
    """The task and space of a study's recorded command, loaded here as on the first machine; the study's
    tuning options are set on opts. Changes the working folder to the command's (relative config and data
    paths)."""
    if not command:
        raise UsageError(f"study '{study_name}' was not started by paddle-autotune (no command recorded)")
    if command["cwd"] and os.path.isdir(command["cwd"]):
        os.chdir(command["cwd"])  # relative config and data paths, as on the first machine
    task = load_task(command)
    params = [space.Param(**p) for p in command["space"]]
    for key, value in command["options"].items():
        setattr(opts, key, value)
    return task, params
