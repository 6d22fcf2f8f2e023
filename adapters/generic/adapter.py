"""The generic adapter: tune any script that takes flags and prints its metric.

    python -m paddle_autotune_plugins train.py --lr 0.1 --epochs 5 --autotune --space s.yaml --metric val_acc

Space keys are the script's own flag names; each trial runs the script with the trial's flags. Every
line the script prints of the form ``val_acc: 0.93`` or ``val_acc=0.93`` (the --metric name) is one
report, numbered 1, 2, ... for the pruner.
"""
import os
import pathlib

from paddle_autotune_plugins.adapter import Adapter, Task, python
from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.flags import parse_flags, to_flags
from paddle_autotune_plugins.reporting import METRIC_ENV
from paddle_autotune_plugins.script_yaml import ScriptYamls


class GenericAdapter(Adapter):
    name = "generic"
    config_filename = "config.yaml"

    def __init__(self):
        self.script_yamls = ScriptYamls({})  # YAML files the script reads after its flags (script_yaml.py)

    def load(self, script, argv):
        if not script:
            raise UsageError("the generic suite needs a script: python -m paddle_autotune_plugins SCRIPT --flags "
                             "... --autotune ...")
        task = Task(self, parse_flags(argv), script=os.path.abspath(script), cwd=os.getcwd())
        self.script_yamls = ScriptYamls.find(task.config, task.cwd)
        task.set_by_files = self.script_yamls.set_by()
        return task

    def metric_names(self, task):
        return None  # whatever the script prints

    def check_space(self, task, params):
        for p in params:
            if p.name not in task.config and not p.new:
                raise UsageError(f"'{p.name}' is not a flag of the command ({', '.join(task.config) or 'none given'});"
                                 f" give --{p.name} VALUE before --autotune, or mark it 'new: true'")
        return self.script_yamls.notes(p.name for p in params)

    def prepare_trial(self, cfg, trial_dir, seed):
        return self.script_yamls.write_copies(cfg, trial_dir)

    def write_best(self, cfg, out):
        super().write_best(self.script_yamls.keep_copies(cfg, out), out)

    def trial_command(self, task, config_path):
        import yaml

        cfg = yaml.safe_load(pathlib.Path(config_path).read_text()) or {}
        return [python(), "-m", "paddle_autotune_plugins.run_trial", self.name, task.script] + to_flags(cfg)

    def install_hooks(self):
        from . import hooks

        hooks.install(os.environ.get(METRIC_ENV))
