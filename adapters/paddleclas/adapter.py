"""The PaddleClas adapter (coordinator side)."""
from __future__ import annotations

import glob
import json
import pathlib
import subprocess
from typing import TYPE_CHECKING, Any, Optional, Sequence

import yaml

from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.search_space import data_paths, dotpath
from paddle_autotune_plugins.suites.adapter import Ability, Config, PathLike, Task, python
from paddle_autotune_plugins.suites.kit import config_files
from paddle_autotune_plugins.suites.kit.doctor_lines import version_line
from paddle_autotune_plugins.suites.suite_bases import YamlSuiteAdapter, checkout_root

if TYPE_CHECKING:  # for annotations only
    from paddle_autotune_plugins.search_space.data_paths import DataPath
    from paddle_autotune_plugins.search_space.space import Param

_FACTS = {}  # (ppcls root, fact) -> answer: asked once per process

# Metric classes in Metric.Eval -> the names their summary line uses
_METRIC_NAMES = {
    "TopkAcc": lambda args: [f"top{k}" for k in ((args or {}).get("topk") or [1, 5])],
    "Recallk": lambda args: [f"recall{k}" for k in ((args or {}).get("topk") or [1, 5])],
}


def load_yaml(path):
    path = pathlib.Path(path)
    if not path.is_file():
        raise config_files.not_found(path, "pass the path of a PaddleClas YAML with -c")
    try:
        with open(path, encoding="utf-8") as f:
            cfg = yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise config_files.not_valid_yaml(path, e) from None
    except UnicodeDecodeError:
        raise config_files.not_utf8(path) from None
    except OSError as e:
        raise config_files.unreadable(path, e) from None
    if not isinstance(cfg, dict) or "Global" not in cfg or "Arch" not in cfg:
        raise UsageError(f"config {path} is not a PaddleClas config (no Global/Arch section)")
    return cfg


class ClasAdapter(YamlSuiteAdapter):
    name = "clas"
    demo_summary = ("PaddleClas: a MobileNetV1 x0.25 classifier on scikit-learn's digits (real 8x8 scans), presets "
                    "clas-lr and clas-weight-decay")
    default_metric = "top1"
    checkout_folders = ("ppcls/configs",)
    train_entry = "paddle_autotune_plugins.adapters.paddleclas.train"
    config_help = "a PaddleClas YAML"
    override_example = "-o Global.epochs=10"
    step_unit = "epoch"
    override_form = "KEY=VALUE"
    output_paths = {"Global.output_dir": ("output", "./output/")}
    trial_values = {"Global.eval_during_train": True}  # the study needs an eval metric every epoch
    device_path = ("Global.device", "gpu", "cpu")
    seed_path = "Global.seed"
    abilities = frozenset({Ability.COMPRESS_SCHEDULE, Ability.DOCTOR_CONFIGS, Ability.DEMO, Ability.WARM_START})
    hooks_module = "hooks"
    doctor_module = "doctor"
    readback_module = "readback"

    @classmethod
    def detects(cls, script: PathLike) -> bool:
        return (checkout_root(script) / "ppcls").is_dir()

    def read_config_file(self, path: str) -> Config:
        return load_yaml(path)

    def architecture(self, cfg: Config) -> Optional[str]:
        return dotpath.get(cfg, "Arch.name", None)

    def ppcls_root(self, task):
        """The folder whose ppcls the trials import: the user's checkout, or the wheel's."""
        from .hooks import wheel_ppcls_root

        return str(checkout_root(task.script)) if task.script else wheel_ppcls_root()

    def trainer_fact(self, task: Task, name: str) -> Any:
        """Asked of the ppcls the trials import, in a process of its own (it imports Paddle), once per
        checkout: e.g. whether Piecewise trains with learning_rate or values (readback.FACTS)."""
        from .readback import FACTS

        if name == "schedule_takes_warmup":  # per config: is its schedule one of those that take warmup_epoch?
            return dotpath.get(task.config, "Optimizer.lr.name", None) in self.trainer_fact(task, "warmup_schedules")
        if name not in FACTS:
            return super().trainer_fact(task, name)
        key = (str(self.ppcls_root(task)), name)
        if key not in _FACTS:
            proc = subprocess.run([python(), "-m", "paddle_autotune_plugins.adapters.paddleclas.readback", key[0], name],
                                  capture_output=True, text=True, cwd=key[0])
            lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
            if proc.returncode != 0 or not lines:
                tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                raise UsageError(f"cannot ask the ppcls in {key[0]} how it builds its schedule ({tail}); "
                                 f"check that its tools/train.py runs")
            _FACTS[key] = json.loads(lines[-1])[name]
        return _FACTS[key]

    def remember_fact(self, root, name, value):
        """A fact found in this process (doctor --configs imports the checkout's ppcls itself)."""
        _FACTS[(str(root), name)] = value

    def metric_names(self, task: Task) -> Optional[list[str]]:
        names = []
        for item in dotpath.get(task.config, "Metric.Eval", None) or []:
            for cls_name, args in (item or {}).items():
                names += _METRIC_NAMES.get(cls_name, lambda a, n=cls_name: [n])(args)
        return (names or [self.default_metric]) + ["params_m", "latency_ms"]  # measured by the trial's hook

    def data_paths(self, task: Task) -> list[DataPath]:
        """ppcls opens image_root and cls_label_path from its working directory; Eval's only when it evaluates."""
        modes = ["Train"] + (["Eval"] if dotpath.get(task.config, "Global.eval_during_train", True) else [])
        keys = [f"DataLoader.{mode}.dataset.{key}" for mode in modes for key in ("image_root", "cls_label_path")]
        return data_paths.yaml_keys(task.config, task.cwd, keys, self.override_flag)

    def check_space(self, task: Task, params: Sequence[Param]) -> Optional[list[str]]:
        # here: trial processes import this module and need no Optuna
        from paddle_autotune_plugins.search_space import space

        notes = list(super().check_space(task, params) or [])
        # ppcls's warm-up (LinearWarmup) ends at the tuned rate and asserts it lies above warmup_start_lr
        lr = next((p for p in params if p.name in self.learning_rate_paths(task.config)), None)
        note = space.start_above_warmup(lr, dotpath.get(task.config, "Optimizer.lr.warmup_start_lr", None))
        return notes + ([note] if note else [])

    def reference_devices(self, cfg: Config) -> Optional[int]:
        # ppcls's Engine warns when the world size is not this: "The training strategy provided by PaddleClas
        # is based on 4 gpus" (8 for AdamW)
        return 8 if self.optimizer_name(cfg) == "AdamW" else 4

    def optimizer_name(self, cfg: Config) -> Optional[str]:
        return dotpath.get(cfg, "Optimizer.name", None)

    def learning_rate_paths(self, cfg: Config) -> list[str]:
        return ["Optimizer.lr.learning_rate", "Optimizer.lr.values"]

    def max_steps(self, task: Optional[Task], cfg: Config) -> Optional[int]:
        return dotpath.get(cfg, "Global.epochs", None)

    def compress_schedule(self, task: Task, cfg: Config, epochs: int) -> Config:
        from . import schedule

        # Piecewise with both learning_rate and values: which one trains depends on the installed ppcls
        piecewise = dotpath.get(cfg, "Optimizer.lr.name", None) == "Piecewise"
        return schedule.compress(cfg, epochs, piecewise_reads=self.trainer_fact(task, "piecewise_reads")
                                 if piecewise else None)

    def trial_command(self, task: Task, config_path: PathLike, cfg: Optional[Config] = None) -> list[str]:
        if task.script:  # the user's checkout: its own tools/train.py, with our hooks installed first
            return self.script_command(task.script) + ["-c", config_path] + task.script_args
        return [python(), "-m", self.train_entry, "-c", config_path]

    def warm_preload(self, task: Task) -> Optional[str]:
        return None if task.script else f"{self.train_entry}:preload"  # a user's checkout starts cold

    def _output_dirs(self, cfg):
        out = pathlib.Path(cfg["Global"]["output_dir"])
        return [out / str(dotpath.get(cfg, "Arch.name", "")), out]  # 2.4 nests by Arch.name, develop does not

    def best_checkpoint(self, task: Optional[Task], cfg: Config, trial_dir: Optional[PathLike] = None
                        ) -> Optional[list[str]]:
        for folder in self._output_dirs(cfg):
            files = sorted(glob.glob(str(folder / "best_model.*")))
            if files:
                return files
        return None

    def demo(self, out: pathlib.Path) -> Optional[tuple[Task, list[str]]]:
        from .digits import write_demo_config

        config = write_demo_config(out)
        return self.load_command(None, ["-c", str(config)]), [
            "--preset", "clas-lr", "--preset", "clas-weight-decay", "--pruner", "asha", "--seed", "0", "--reference-devices", "1"]

    def doctor(self) -> list[str]:
        from . import hooks

        root = hooks.wheel_ppcls_root()
        lines = [version_line("paddleclas", f" (trainer from {root or 'not found'})",
                              " (a source checkout's tools/train.py still works)")]
        applies = hooks.fixes_apply()
        for name, text in hooks.FIXES:
            lines.append(f"  fix {name}: {'applied' if applies else 'not needed'} - {text}")
        return lines
