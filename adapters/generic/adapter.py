"""The generic adapter: tune any script that takes flags and prints its metric.

    python -m paddle_autotune_plugins train.py --lr 0.1 --epochs 5 --autotune --space s.yaml --metric val_acc

Space keys are the script's own flag names; each trial runs the script with the trial's flags. Every
line the script writes, to stdout or stderr, of the form ``val_acc: 0.93`` or ``val_acc=0.93`` (the
--metric name) is one report, numbered 1, 2, ... for the pruner; a training-step line (``step 5 ...``,
``batch: 3 ...``) is not.

An argparse script is asked for its ``--help`` once (flag_scripts.py), which tells the adapter three things: a
flag it lists may be tuned though the command does not give it; a switch (``store_true``) is tuned as
present or absent; output folders (``--save_dir``, ``--output_dir``) point into each trial's folder, and
the best trial's weights go to ``out/best/``. A script that is not argparse is taken on its command alone.
"""
from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Optional, Sequence

from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.suites.adapter import Task, python
from paddle_autotune_plugins.suites.flag_scripts import ask_help, script_stamp, uses_argparse
from paddle_autotune_plugins.suites.flags import ScriptHelp, parse_flags
from paddle_autotune_plugins.trials.reporting import METRIC_ENV

from paddle_autotune_plugins.suites.suite_bases import FlagScriptAdapter, FlagScriptState

if TYPE_CHECKING:  # for annotations only
    from paddle_autotune_plugins.search_space.space import Param

HELP_TIMEOUT = 60  # seconds for a plain script's --help; then it is tuned on its command alone


@dataclasses.dataclass
class GenericState(FlagScriptState):
    help_note: Optional[str] = None  # why the script's --help could not be read, or None


class GenericAdapter(FlagScriptAdapter):
    """task.state (GenericState) adds ``help_note``: why the script's --help could not be read, or None."""

    name = "generic"
    state_class = GenericState
    hooks_module = "hooks"  # its install() takes the metric's name (install_hooks)
    config_filename = "config.yaml"
    runs_paddle = False  # any script: what it trains with and which GPUs that sees is its own business

    def load(self, script: Optional[str], argv: Sequence[str]) -> Task:
        if not script:
            raise UsageError("the generic suite needs a script: python -m paddle_autotune_plugins SCRIPT --flags "
                             "... --autotune ...")
        task = Task(self, {}, script=os.path.abspath(script), cwd=os.getcwd())
        script_help = self._help(task)
        return self.take_flags(task, script_help, parse_flags(argv, script_help.switches))

    def _help(self, task):
        """What the script's --help lists; nothing known for a script that is not argparse, or whose --help
        fails (add_help=False, say): it is then tuned on its command alone, as before, with a note."""
        task.state.help_note = None
        if not uses_argparse(task.script):
            return ScriptHelp(set(), set())
        try:
            return ask_help([python(), task.script], task.cwd, os.path.basename(task.script), script_stamp(task.script),
                            timeout=HELP_TIMEOUT, otherwise="it is tuned on its command alone")
        except UsageError as e:
            task.state.help_note = f"{e}: switches, output folders and flags the command does not give are not known"
            return ScriptHelp(set(), set())

    def metric_names(self, task: Task) -> Optional[list[str]]:
        return None  # whatever the script prints

    def check_space(self, task: Task, params: Sequence[Param]) -> Optional[list[str]]:
        for p in params:
            if p.name not in task.config and not p.new and not self.accepts(task, p.name):
                listed = "its --help does not list it; " if task.state.help.names else ""
                raise UsageError(f"'{p.name}' is not a flag of the command ({', '.join(task.config) or 'none given'});"
                                 f" {listed}give --{p.name} VALUE before --autotune, or mark it 'new: true'")
        return [n for n in [task.state.help_note] if n] + self.script_notes(task, params)

    def install_hooks(self) -> None:
        from . import hooks

        hooks.install(os.environ.get(METRIC_ENV))
