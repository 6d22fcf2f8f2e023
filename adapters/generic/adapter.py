"""The generic adapter: tune any script that takes flags and prints its metric.

    python -m paddle_autotune_plugins train.py --lr 0.1 --epochs 5 --autotune --space s.yaml --metric val_acc

Space keys are the script's own flag names; each trial runs the script with the trial's flags. Every
line the script writes, to stdout or stderr, of the form ``val_acc: 0.93`` or ``val_acc=0.93`` (the
--metric name) is one report, numbered 1, 2, ... for the pruner; a training-step line (``step 5 ...``,
``batch: 3 ...``) is not.

An argparse script is asked for its ``--help`` once (scripts.py), which tells the adapter three things: a
flag it lists may be tuned though the command does not give it; a switch (``store_true``) is tuned as
present or absent; output folders (``--save_dir``, ``--output_dir``) point into each trial's folder, and
the best trial's weights go to ``out/best/``. A script that is not argparse is taken on its command alone.
"""
import os
import pathlib

from paddle_autotune_plugins.adapter import Adapter, Task, python
from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.flags import ScriptHelp, parse_flags, to_flags
from paddle_autotune_plugins.reporting import METRIC_ENV
from paddle_autotune_plugins.script_yaml import ScriptYamls

from . import scripts


class GenericAdapter(Adapter):
    name = "generic"
    config_filename = "config.yaml"
    runs_paddle = False  # any script: what it trains with and which GPUs that sees is its own business

    def __init__(self):
        self.script_yamls = ScriptYamls({})  # YAML files the script reads after its flags (script_yaml.py)
        self.task = None
        self.outputs = scripts.Outputs([], [])
        self.help_note = None  # why the script's --help could not be read

    def load(self, script, argv):
        if not script:
            raise UsageError("the generic suite needs a script: python -m paddle_autotune_plugins SCRIPT --flags "
                             "... --autotune ...")
        task = Task(self, {}, script=os.path.abspath(script), cwd=os.getcwd())
        task.script_help = self._help(task)
        task.switches = task.script_help.switches
        task.config = parse_flags(argv, task.switches)
        self.outputs = scripts.Outputs.of(task.script_help.names, task.config)
        self.script_yamls = ScriptYamls.find(task.config, task.cwd)
        task.set_by_files = self.script_yamls.set_by()
        self.task = task
        return task

    def _help(self, task):
        """What the script's --help lists; nothing known for a script that is not argparse, or whose --help
        fails (add_help=False, say): it is then tuned on its command alone, as before, with a note."""
        if not scripts.uses_argparse(task.script):
            return ScriptHelp(set(), set())
        try:
            return scripts.ask_help([python(), task.script], task.cwd, os.path.basename(task.script),
                                    scripts.script_stamp(task.script))
        except UsageError as e:
            self.help_note = f"{e}: switches, output folders and flags the command does not give are not known"
            return ScriptHelp(set(), set())

    def accepts(self, task, path):
        return path in task.script_help.names

    def metric_names(self, task):
        return None  # whatever the script prints

    def check_space(self, task, params):
        for p in params:
            if p.name not in task.config and not p.new and not self.accepts(task, p.name):
                listed = "its --help does not list it; " if task.script_help.names else ""
                raise UsageError(f"'{p.name}' is not a flag of the command ({', '.join(task.config) or 'none given'});"
                                 f" {listed}give --{p.name} VALUE before --autotune, or mark it 'new: true'")
        scripts.check_switches(params, task.switches)
        return [n for n in [self.help_note] if n] + self.script_yamls.notes(p.name for p in params) + \
            scripts.switch_notes(params, task.config, task.switches)

    def prepare_trial(self, cfg, trial_dir, seed):
        self.outputs.point_into(cfg, trial_dir)
        return self.script_yamls.write_copies(cfg, trial_dir)

    def write_best(self, cfg, out):
        cfg = self.script_yamls.keep_copies(cfg, out)
        super().write_best(cfg, out)
        scripts.write_command(self.task.script, cfg, self.task.switches, pathlib.Path(out) / "best_command.txt",
                              self.task.cwd)

    def trial_command(self, task, config_path):
        import yaml

        cfg = yaml.safe_load(pathlib.Path(config_path).read_text()) or {}
        return self.script_command(task.script) + \
            to_flags(cfg, task.switches)

    def best_checkpoint(self, cfg):
        return self.outputs.best_files(cfg)

    def trial_outputs(self, cfg):
        return self.outputs.folders(cfg)

    def export_config(self, cfg, task):
        return self.outputs.restore(dict(cfg), task.config)

    def install_hooks(self):
        from . import hooks

        hooks.install(os.environ.get(METRIC_ENV))
