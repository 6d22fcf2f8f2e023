"""The PaddleNLP adapter (coordinator side).

PaddleNLP's native configuration is its training arguments: a JSON (or YAML) file and/or flags
(``--learning_rate 3e-5``), parsed by ``PdArgumentParser``. Here the config is that mapping of argument
name to value; a trial passes it back to the script as flags. The argument names a script accepts are
read from its own ``--help``, so unknown names and prefix typos (``--learning_rat``, which argparse would
silently take) are refused before any trial runs.
"""
import copy
import difflib
import json
import os
import pathlib
import re
import subprocess

import yaml

from paddle_autotune_plugins.adapter import Adapter, Task, available_device, python
from paddle_autotune_plugins.flags import parse_flags, to_flags
from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.script_yaml import ScriptYamls

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
}
_OWN_METRICS = ["eval_accuracy", "eval_f1", "eval_loss"]
_KNOWN = {}  # --help answers: (command, script mtime) -> argument names


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


class NlpAdapter(Adapter):
    name = "nlp"
    default_metric = "eval_accuracy"
    direction = "maximize"
    train_entry = "paddle_autotune_plugins.adapters.paddlenlp.train_seq_cls"
    config_filename = "config.json"
    stops_cooperatively = True  # the reporting callback ends training when the trial is pruned

    def __init__(self):
        self.script_yamls = ScriptYamls({})  # YAML files the script reads after its flags (script_yaml.py)

    @classmethod
    def detects(cls, script):
        try:
            text = pathlib.Path(script).read_text(errors="ignore")
        except OSError:
            return False
        return "paddlenlp" in text and ("PdArgumentParser" in text or "TrainingArguments" in text)

    # --- the command --------------------------------------------------------------------------
    def load(self, script, argv):
        argv = list(argv)
        config_path = None
        if not script and argv[:1] in (["-c"], ["--config"]):  # paddle-autotune tune --suite nlp -c args.json
            # (a script's own --config is one of its flags: ERNIE 3.0's run_seq_cls.py takes a YAML there)
            if len(argv) < 2:
                raise UsageError("-c needs a JSON or YAML file of training arguments")
            config_path, argv = argv[1], argv[2:]
        elif argv and not argv[0].startswith("-") and argv[0].endswith((".json", ".yaml", ".yml")):
            config_path, argv = argv[0], argv[1:]  # the PaddleNLP way: a JSON file first, flags after it win
        cfg = load_args_file(config_path) if config_path else {}
        cfg.update(parse_flags(argv))
        task = Task(self, cfg, config_path=os.path.abspath(config_path) if config_path else None,
                    script=os.path.abspath(script) if script else None, cwd=os.getcwd())
        task.known_arguments = self.known_arguments(task)
        for name, value in cfg.items():
            self._check_name(task, name, "argument")
            check_value(name, value)
        self.script_yamls = ScriptYamls.find(cfg, task.cwd)
        task.set_by_files = self.script_yamls.set_by()
        return task

    def known_arguments(self, task):
        """Every --flag the script's own --help lists (asked once per script version in a process)."""
        stamp = os.stat(task.script).st_mtime_ns if task.script else None
        key = (tuple(self._command(task)), stamp)
        if key not in _KNOWN:
            _KNOWN[key] = self._ask_help(task)
        return _KNOWN[key]

    def _ask_help(self, task):
        cmd = self._command(task) + ["--help"]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=task.cwd)
        except subprocess.TimeoutExpired:
            raise UsageError(f"'{' '.join(cmd)}' did not answer within 300 s") from None
        names = set(re.findall(r"(?<![\w-])--([A-Za-z_][\w]*)", proc.stdout))
        if proc.returncode != 0 or not names:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise UsageError(f"cannot read the arguments of {task.script or self.train_entry} "
                             f"(its --help failed: {tail[:200]})")
        return names

    def _check_name(self, task, name, what):
        if name in task.known_arguments:
            return
        close = difflib.get_close_matches(name, sorted(task.known_arguments), n=2, cutoff=0.6)
        hint = f"; did you mean --{' or --'.join(close)}?" if close else "; see the script's --help"
        raise UsageError(f"unknown {what} '{name}' for {os.path.basename(task.script or self.train_entry)}{hint}")

    def check_space(self, task, params):
        for p in params:
            self._check_name(task, p.name, "tuned argument")
            for value in (p.choices or []) + [v for v in (p.low, p.high) if v is not None]:
                check_value(p.name, value)
        return self.script_yamls.notes(p.name for p in params)

    def metric_names(self, task):
        return None if task.script else _OWN_METRICS  # a user's script reports what its compute_metrics makes

    def max_steps(self, cfg):
        if str(cfg.get("evaluation_strategy", "epoch")) != "epoch":
            return None
        return int(float(cfg.get("num_train_epochs", 3)))

    # --- a trial --------------------------------------------------------------------------------
    def prepare_trial(self, cfg, trial_dir, seed):
        cfg["output_dir"] = str(pathlib.Path(trial_dir) / "output")
        cfg.setdefault("seed", seed)
        if str(cfg.get("device", "gpu")).startswith("gpu") and available_device() == "cpu":
            cfg["device"] = "cpu"  # PaddleNLP defaults to gpu and set_device('gpu') raises on the CPU build
        cfg.setdefault("disable_tqdm", True)  # the bar glues itself to the eval log line
        return self.script_yamls.write_copies(cfg, trial_dir)

    def write_config(self, cfg, path):
        pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(path).write_text(json.dumps(cfg, indent=1, ensure_ascii=False) + "\n")

    def write_best(self, cfg, out):
        """best_config.yaml per the contract, and best_config.json, which PaddleNLP scripts take as is.
        A script YAML the best trial rewrote is kept beside them as best_<name>.yml."""
        cfg = self.script_yamls.keep_copies(cfg, out)
        self.write_config(cfg, pathlib.Path(out) / "best_config.json")
        with open(pathlib.Path(out) / "best_config.yaml", "w") as f:
            yaml.safe_dump(cfg, f, sort_keys=False, allow_unicode=True)

    def _command(self, task):
        if task.script:
            return [python(), "-m", "paddle_autotune_plugins.run_trial", self.name, task.script]
        return [python(), "-m", self.train_entry]

    def trial_command(self, task, config_path):
        cfg = json.loads(pathlib.Path(config_path).read_text())
        return self._command(task) + to_flags(cfg)

    def best_checkpoint(self, cfg):
        out = pathlib.Path(cfg["output_dir"])
        files = sorted(str(p) for p in out.iterdir() if p.is_file()) if out.is_dir() else []
        return files or None

    def trial_outputs(self, cfg):
        return [cfg["output_dir"]]

    def export_config(self, cfg, task):
        cfg = copy.deepcopy(cfg)
        if "output_dir" in task.config:
            cfg["output_dir"] = task.config["output_dir"]
        else:
            cfg.pop("output_dir", None)
        return cfg

    def install_hooks(self):
        from . import hooks

        hooks.install()

    def doctor(self):
        try:
            from importlib.metadata import version

            return [f"paddlenlp {version('paddlenlp')}"]
        except Exception:
            return ["paddlenlp: not installed"]

    def demo(self, out):
        from .demo import demo_task

        return demo_task(self, out)
