"""A trial's config as ``paddle-autotune export`` writes it (as best_config.yaml is written)."""
import os
import pathlib
from typing import Optional

import optuna

from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.study import command_record
from paddle_autotune_plugins.suites.adapter import Task, get_adapter


class Exporter:
    """A trial's config as best_config.yaml gets it: its folder's config (kept as the suite writes it) with
    the adapter's export_config applied against the study's own command (its output_dir and the like), or
    the config stored on the trial in the study (the best ones; from any machine)."""

    def __init__(self, study: optuna.Study) -> None:
        self.command = study.user_attrs.get("command") or {}  # none for a study of the Python API
        self.adapter = get_adapter(self.command["suite"]) if self.command.get("suite") else None
        self._task: Optional[Task] = None

    def filename(self) -> str:
        return self.adapter.config_filename if self.adapter else "config.yaml"

    def task(self) -> Task:
        assert self.adapter is not None  # write() asks for the task only when the study names its suite
        if self._task is None:
            cwd = os.getcwd()
            try:
                if self.command.get("cwd") and os.path.isdir(self.command["cwd"]):
                    os.chdir(self.command["cwd"])  # relative config paths, as when the study ran
                self._task = command_record.load_task(self.command)
            finally:
                os.chdir(cwd)
        return self._task

    def stored(self, trial: optuna.trial.FrozenTrial, target: pathlib.Path) -> None:
        if self.adapter:
            self.adapter.write_config(self.adapter.config_from_store(trial.user_attrs["config"]), target)
        else:
            import yaml

            target.write_text(yaml.safe_dump(trial.user_attrs["config"], sort_keys=False, allow_unicode=True))

    def write(self, trial: optuna.trial.FrozenTrial, path: Optional[pathlib.Path], target: pathlib.Path) -> None:
        if path is None:
            return self.stored(trial, target)
        if self.adapter is None:  # no suite config to restore output paths in
            target.write_text(path.read_text())
            return None
        try:
            task = self.task()
        except UsageError as e:
            if "config" not in trial.user_attrs:
                raise UsageError(f"cannot export trial {trial.number} with your output paths: the study's command "
                                 f"no longer loads ({e}); copy {path} instead") from None
            return self.stored(trial, target)
        self.adapter.write_config(self.adapter.export_config(task, self.adapter.read_config(path)), target)
        return None
