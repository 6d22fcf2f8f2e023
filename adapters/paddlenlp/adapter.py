"""The PaddleNLP adapter (coordinator side).

PaddleNLP's native configuration is its training arguments: a JSON (or YAML) file and/or flags
(``--learning_rate 3e-5``), parsed by ``PdArgumentParser``. Here the config is that mapping of argument
name to value; a trial passes it back to the script as flags. The argument names a script accepts are
read from its own ``--help``, so unknown names and prefix typos (``--learning_rat``, which argparse would
silently take) are refused before any trial runs.

PaddleFormers (PaddleNLP's successor) is tuned here too: its Trainer scripts run in their own environment
(``paddleformers_env.py``), and ``paddleformers-cli train CONFIG.yaml`` takes the YAML as the config
(``paddleformers_cli.py``).

Two kinds of script are tuned, told apart by that ``--help``:

- Trainer scripts (``PdArgumentParser`` + ``TrainingArguments``, like the plugin's own entry): the reporting
  callback gives each evaluation's metrics; a pruned trial ends its own training loop;
- scripts with a loop of their own (``applications/text_classification/multi_class/train.py``: argparse
  flags, ``eval loss: ..., acc: ...`` log lines on stderr): each evaluation line is a report
  (``eval_loss``, ``eval_accuracy``); a pruned trial is stopped with SIGTERM.

For both, the presets' knobs land on the script's own flag names (the first name of a knob's ``paths`` the
script takes), switches (``--warmup``) are passed bare or left out, and output folders (``--save_dir``,
``--output_dir``) point into each trial's folder (``paddle_autotune_plugins/suites/flag_scripts.py``).
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import os
import pathlib
import re
from typing import TYPE_CHECKING, Optional, Sequence

import yaml

from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.search_space import data_paths
from paddle_autotune_plugins.suites.adapter import Ability, Config, PathLike, Task, available_device
from paddle_autotune_plugins.suites.flag_scripts import ask_help, script_stamp
from paddle_autotune_plugins.suites.flags import parse_flags
from paddle_autotune_plugins.suites.kit.doctor_lines import version_line
from paddle_autotune_plugins.suites.suite_bases import FlagScriptAdapter, FlagScriptState

from . import paddleformers_cli
from .hooks import TRAINER_ARGUMENTS  # the --help of a Trainer script lists them
from .paddleformers_env import SETUP, imports_paddleformers, paddleformers_python, python_for

if TYPE_CHECKING:  # for annotations only
    from paddle_autotune_plugins.search_space.data_paths import DataPath
    from paddle_autotune_plugins.search_space.space import Param

# What TrainingArguments (and the train entry) accept, for the arguments people tune.
# name: (lowest, highest, lowest included, highest included)
LIMITS = {
    "learning_rate": (0.0, None, False, True),
    "warmup_ratio": (0.0, 1.0, True, True),
    "warmup_steps": (0, None, True, True),
    "weight_decay": (0.0, None, True, True),
    "per_device_train_batch_size": (1, None, True, True),
    "per_device_eval_batch_size": (1, None, True, True),
    "gradient_accumulation_steps": (1, None, True, True),
    "num_train_epochs": (0.0, None, False, True),
    "max_grad_norm": (0.0, None, False, True),
    "adam_beta1": (0.0, 1.0, True, False),
    "adam_beta2": (0.0, 1.0, True, False),
    "adam_epsilon": (0.0, None, False, True),
    "max_seq_length": (1, None, True, True),
    # the same knobs under the flag names of argparse scripts (multi_class/train.py)
    "warmup_proportion": (0.0, 1.0, True, True),
    "batch_size": (1, None, True, True),
    "epochs": (0, None, False, True),
}
_OWN_METRICS = ["eval_accuracy", "eval_f1", "eval_loss"]
_IMPORTS_PADDLENLP = re.compile(r"^\s*(?:from|import)\s+paddlenlp\b", re.MULTILINE)


def load_args_file(path):
    path = pathlib.Path(path)
    if not path.is_file():
        raise UsageError(f"config file not found: {path}; pass a JSON or YAML file of training arguments")
    try:
        data = json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())
    except (ValueError, yaml.YAMLError) as e:
        raise UsageError(f"config {path} cannot be read: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise UsageError(f"config {path} must map argument names to values")
    return {k: v for k, v in data.items() if v is not None}


def check_value(name, value):
    """Refuse a value the argument does not accept (e.g. a negative learning rate)."""
    if name not in LIMITS or isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    low, high, low_ok, high_ok = LIMITS[name]
    bad = (low is not None and (value < low or (value == low and not low_ok))) or \
          (high is not None and (value > high or (value == high and not high_ok)))
    if bad:
        span = f"{'[' if low_ok else '('}{low}, {'inf' if high is None else high}{']' if high_ok else ')'}"
        raise UsageError(f"{name} = {value} is outside what the argument accepts {span}; narrow the range")


@dataclasses.dataclass
class NlpState(FlagScriptState):
    trainer_style: bool = True  # False for a script with a training loop of its own (load finds out)
    cli_launcher: Optional[str] = None  # paddleformers-cli's launcher.py, for a paddleformers-cli command
    # (not Task.launcher, the user's own paddle.distributed.launch)


class NlpAdapter(FlagScriptAdapter):
    """task.state (NlpState) adds ``trainer_style``: False for a script with a training loop of its own; and
    ``cli_launcher`` for a paddleformers-cli command."""

    name = "nlp"
    demo_summary = ("PaddleNLP: a tiny random-init ERNIE fine-tuned on bundled review sentences (positive or negative), "
                    "preset ernie-finetune with its demo ranges")
    default_metric = "eval_accuracy"
    train_entry = "paddle_autotune_plugins.adapters.paddlenlp.train_seq_cls"
    config_filename = "config.json"
    config_help = "a JSON or YAML of training arguments"
    override_example = "--name value flags after -c FILE"
    abilities = frozenset({Ability.COMPRESS_SCHEDULE, Ability.DEMO, Ability.WARM_START})
    state_class = NlpState
    hooks_module = "hooks"

    @classmethod
    def quiet_imports(cls) -> None:
        from paddle_autotune_plugins.trials.import_hooks import when_imported

        # PaddleNLP logs DEBUG and INFO to stderr from its import on; its warnings and errors stay
        for package in ("paddlenlp", "paddleformers"):
            when_imported(f"{package}.utils.log", lambda module: module.logger.set_level("WARNING"))

    @classmethod
    def detects(cls, script: PathLike) -> bool:
        """A script that imports PaddleNLP: Trainer scripts and scripts with a loop of their own alike; and a
        Trainer script of PaddleFormers, PaddleNLP's successor."""
        try:
            text = pathlib.Path(script).read_text(errors="ignore")
        except OSError:
            return False
        return bool(_IMPORTS_PADDLENLP.search(text)) or imports_paddleformers(script) or \
            ("paddlenlp" in text and ("PdArgumentParser" in text or "TrainingArguments" in text))

    @classmethod
    def runs_program(cls, name: Optional[str]) -> bool:
        return paddleformers_cli.is_program(name)

    def script_command(self, script: str) -> list[str]:
        """A PaddleFormers script runs in its own environment (paddleformers_env.py)."""
        return [python_for(script)] + super().script_command(script)[1:]

    def command(self, task: Task) -> list[str]:
        """paddleformers-cli: its launcher.py train, in-process with the hooks (paddleformers_cli.py)."""
        if self.cli_task(task):
            return self.script_command(task.state.cli_launcher) + ["train"]
        return super().command(task)

    # --- the command --------------------------------------------------------------------------
    def warm_preload(self, task: Task) -> Optional[str]:
        return None if task.script else f"{self.train_entry}:preload"  # a user's own script starts cold

    def load(self, script: Optional[str], argv: Sequence[str]) -> Task:
        if paddleformers_cli.is_program(script):
            return self.load_cli(script, argv)
        argv = list(argv)
        config_path = None
        if not script and argv[:1] in (["-c"], ["--config"]):  # paddle-autotune tune --suite nlp -c args.json
            # (a script's own --config is one of its flags: ERNIE 3.0's run_seq_cls.py takes a YAML there)
            if len(argv) < 2:
                raise UsageError("-c needs a JSON or YAML file of training arguments")
            config_path, argv = argv[1], argv[2:]
        elif argv and not argv[0].startswith("-") and argv[0].endswith((".json", ".yaml", ".yml")):
            config_path, argv = argv[0], argv[1:]  # the PaddleNLP way: a JSON file first, flags after it win
        task = Task(self, {}, config_path=os.path.abspath(config_path) if config_path else None,
                    script=os.path.abspath(script) if script else None, cwd=os.getcwd())
        script_help = ask_help(self.command(task), task.cwd, task.script or self.train_entry,
                               script_stamp(task.script))
        cfg = load_args_file(config_path) if config_path else {}
        cfg.update(parse_flags(argv, script_help.switches))
        for name, value in cfg.items():
            self._check_name(script_help.names, task, name, "argument")
            check_value(name, value)
        task.state.trainer_style = task.script is None or bool(TRAINER_ARGUMENTS & script_help.names)
        return self.take_flags(task, script_help, cfg)

    def load_cli(self, program, argv):
        """``paddleformers-cli train CONFIG.yaml key=value ...``: the YAML (and the items after it) is the config."""
        config_path, overrides = paddleformers_cli.parse_command(list(argv))
        task = Task(self, {}, config_path=os.path.abspath(config_path), script=program, cwd=os.getcwd())
        cfg = load_args_file(config_path)
        cfg.update(overrides)
        task.state.cli_launcher = paddleformers_cli.launcher(paddleformers_python())
        script_help = ask_help(self.command(task), task.cwd, f"{paddleformers_cli.PROGRAM} train",
                               script_stamp(task.state.cli_launcher))
        for name, value in cfg.items():
            self._check_name(script_help.names, task, name, "argument")
            check_value(name, value)
        task.state.trainer_style = True
        return self.take_flags(task, script_help, cfg)

    @staticmethod
    def cli_task(task):
        return task is not None and bool(task.state.cli_launcher)

    @staticmethod
    def trainer_style(task):
        """Whether the task's script is a Trainer script (as the plugin's entry is), not a loop of its own."""
        return task is None or task.state.trainer_style

    def stops_cooperatively_for(self, task: Task) -> bool:
        return self.trainer_style(task)  # a loop of the script's own never sees the stop file

    def _check_name(self, known, task, name, what):
        if name in known:
            return
        close = difflib.get_close_matches(name, sorted(known), n=2, cutoff=0.6)
        hint = f"; did you mean --{' or --'.join(close)}?" if close else "; see the script's --help"
        raise UsageError(f"unknown {what} '{name}' for {os.path.basename(task.script or self.train_entry)}{hint}")

    def check_space(self, task: Task, params: Sequence[Param]) -> Optional[list[str]]:
        known = task.state.help.names
        for p in params:
            self._check_name(known, task, p.name, "tuned argument")
            for value in (p.choices or []) + [v for v in (p.low, p.high) if v is not None]:
                check_value(p.name, value)
            missing = [f for f in p.scale_with or [] if f not in known]
            if missing:  # an absent factor counts as 1: the rate would be scaled for a batch of 1
                raise UsageError(f"'{p.name}' scales with {', '.join(missing)}, which "
                                 f"{os.path.basename(task.script or self.train_entry)} does not take; "
                                 f"use a preset without scale_with (e.g. ernie-finetune)")
        return self.script_notes(task, params)

    def data_paths(self, task: Task) -> list[DataPath]:
        """--train_file, --dev_file, --label_file from the working directory, else train.txt, dev.txt, label.txt
        in --dataset_dir (the plugin's entry and applications/text_classification read them so)."""
        if self.cli_task(task):
            return paddleformers_cli.data_paths(task.config, task.cwd)
        cfg, paths = task.config, []
        for name in ("train", "dev", "label"):
            file, folder = cfg.get(f"{name}_file"), cfg.get("dataset_dir")
            if file:
                paths.append(data_paths.DataPath(f"--{name}_file", file, data_paths.resolve(task.cwd, file),
                                                 f"--{name}_file PATH"))
            elif folder:
                resolved = data_paths.resolve(task.cwd, folder, f"{name}.txt")
                paths.append(data_paths.DataPath("--dataset_dir", folder, resolved, "--dataset_dir DIR"))
        return paths

    def default_metric_for(self, task: Task) -> Optional[str]:
        """paddleformers-cli's SFT and DPO evaluations report losses (eval_loss, eval_ppl), not an accuracy."""
        return "eval_loss" if self.cli_task(task) else self.default_metric

    def metric_names(self, task: Task) -> Optional[list[str]]:
        return None if task.script else _OWN_METRICS  # a user's script reports what its compute_metrics makes

    def step_unit_for(self, task: Task) -> str:
        """A loop of its own and the Trainer's epoch strategy evaluate each epoch; else at global steps."""
        if self.cli_task(task):
            return "step"  # paddleformers-cli turns the epoch strategies into steps (its sft workflow)
        epochs = not self.trainer_style(task) or str(task.config.get("evaluation_strategy", "epoch")) == "epoch"
        return "epoch" if epochs else "step"

    def max_steps(self, task: Optional[Task], cfg: Config) -> Optional[int]:
        """The evaluation count of a full run: its epochs (a script of its own evaluates once an epoch)."""
        if self.cli_task(task):
            return None  # it evaluates at global steps it computes from the data: the baseline's run tells
        if not self.trainer_style(task):
            epochs = cfg.get("epochs", cfg.get("num_train_epochs"))
            return int(float(epochs)) if isinstance(epochs, (int, float)) else None
        if str(cfg.get("evaluation_strategy", "epoch")) != "epoch":
            return None
        from . import schedule

        if schedule.length_in_steps(cfg):
            return None  # its epochs depend on the data's size
        return int(float(cfg.get("num_train_epochs", 3)))

    def compress_schedule(self, task: Task, cfg: Config, epochs: int) -> Config:
        from . import schedule

        return schedule.compress(cfg, epochs)

    # --- a trial --------------------------------------------------------------------------------
    def trial_flags(self, task: Task, cfg: Config, seed: int) -> Config:
        known = task.state.help.names
        if "seed" in known:  # paddleformers-cli's workflow refuses a seed of 0: its trials count from 1
            cfg.setdefault("seed", seed + 1 if self.cli_task(task) else seed)
        if "device" in known and str(cfg.get("device", "gpu")).startswith("gpu") and available_device() == "cpu":
            cfg["device"] = "cpu"  # PaddleNLP defaults to gpu and set_device('gpu') raises on the CPU build
        if "disable_tqdm" in known:
            cfg.setdefault("disable_tqdm", True)  # the bar glues itself to the eval log line
        return cfg

    def trial_command(self, task: Task, config_path: PathLike, cfg: Optional[Config] = None) -> list[str]:
        if self.cli_task(task):  # paddleformers-cli reads the trial's config file (JSON or YAML) whole
            return self.command(task) + [str(config_path)]
        return super().trial_command(task, config_path, cfg)

    def write_config(self, cfg: Config, path: PathLike) -> None:
        pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(path).write_text(json.dumps(cfg, indent=1, ensure_ascii=False) + "\n")

    def writes_best_command(self, task: Task) -> bool:
        """best_config.json is what a Trainer script takes as is; a script that reads only flags gets
        best_command.txt too."""
        return not self.trainer_style(task)

    def doctor(self) -> list[str]:
        lines = [version_line("paddlenlp")]
        try:
            lines.append(f"paddleformers scripts run with {paddleformers_python()}")
        except UsageError:
            lines.append(f"paddleformers: no environment ('{SETUP}' makes one)")
        return lines

    def demo(self, out: pathlib.Path) -> Optional[tuple[Task, list[str]]]:
        from .demo import demo_task

        return demo_task(self, out)
