"""The PaddleSeg adapter (coordinator side).

A PaddleSeg config is read with its ``_base_`` chain merged as PaddleSeg's own ``Config`` merges it (the
file's keys win over its bases, an earlier base over a later one, mappings merge key by key, and a mapping
with ``_inherited_: False`` replaces the base's), then the command's ``--learning_rate``/``--batch_size``/
``--iters`` flags and ``--opts key=value`` items are applied, in that order, as ``Config`` applies them. Each
trial's complete config is written as one flattened file (no ``_base_``), and the trial runs the checkout's
own ``tools/train.py --config <trial config> --do_eval --save_dir <trial dir>/output`` with the checkout's
``paddleseg`` on the path (or, pip-only, the plugin's train entry over the installed wheel). PaddleSeg
trains by iterations: a trial's steps are the iterations at which it evaluates (every ``--save_interval``
iterations, and at the last one).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import pathlib
from typing import TYPE_CHECKING, Optional, Sequence

import yaml

from paddle_autotune_plugins.errors import ArgumentParser, UsageError
from paddle_autotune_plugins.search_space import data_paths, dotpath
from paddle_autotune_plugins.suites.adapter import (Ability, Config, PathLike, Task, TaskState, check_override, python,
                                                    weight_files)
from paddle_autotune_plugins.suites.kit import config_files
from paddle_autotune_plugins.suites.kit.doctor_lines import fix_lines, version_line
from paddle_autotune_plugins.suites.suite_bases import YamlSuiteAdapter, checkout_root

if TYPE_CHECKING:  # for annotations only
    from paddle_autotune_plugins.search_space.data_paths import DataPath
    from paddle_autotune_plugins.search_space.space import Param

BASE_KEY = "_base_"
INHERIT_KEY = "_inherited_"
METRICS = ["mIoU", "Acc", "Kappa", "Dice"]  # as the trainer's [EVAL] line names them
# tools/train.py flags that Config folds into the config (before --opts): the plugin folds them itself,
# so a tuned knob is never overwritten by a flag the trial passes on
FLAG_KEYS = {"learning_rate": "lr_scheduler.learning_rate", "batch_size": "batch_size", "iters": "iters"}
REQUIRED = ("batch_size", "iters", "train_dataset", "optimizer", "lr_scheduler", "loss", "model")  # Config asserts them


def merge(dic, base):
    """PaddleSeg's merge of a file's mapping onto its base: the file wins; mappings present in both merge
    key by key unless the file's says ``_inherited_: False`` (then it replaces the base's)."""
    if not dic.get(INHERIT_KEY, True):
        dic = dict(dic)
        dic.pop(INHERIT_KEY)
        return dic
    out = dict(base)
    for key, value in dic.items():
        if isinstance(value, dict) and key in out:
            out[key] = merge(value, out[key])
        else:
            out[key] = value
    return out


def read_chain(path):
    """One file with its ``_base_`` chain resolved (each base relative to the file that names it)."""
    path = pathlib.Path(path)
    with open(path, encoding="utf-8") as f:
        dic = yaml.safe_load(f)
    if not isinstance(dic, dict):
        raise UsageError(f"config {path} is not a mapping of keys to values")
    bases = dic.pop(BASE_KEY, None)
    for base in ([bases] if isinstance(bases, str) else bases or []):
        dic = merge(dic, read_chain(path.parent / base))
    return dic


def load_config(path):
    """A PaddleSeg config as its own Config reads it (``_base_`` merged), or a UsageError saying why not."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise config_files.not_found(path, "pass the path of a PaddleSeg YAML with --config")
    if path.suffix not in config_files.YAML_SUFFIXES:
        raise config_files.not_yaml_suffix(path, "PaddleSeg")
    try:
        cfg = read_chain(path)
    except FileNotFoundError as e:
        raise config_files.base_missing(path, BASE_KEY, e) from None
    except yaml.YAMLError as e:
        raise config_files.not_valid_yaml(path, e) from None
    except UnicodeDecodeError:
        raise config_files.not_utf8(path) from None
    missing = [key for key in REQUIRED if key not in cfg]
    if missing:
        raise UsageError(f"config {path} is not a complete PaddleSeg training config after _base_: no "
                         f"{', '.join(missing)}")
    return cfg


def command_parser(prog):
    """The flags of tools/train.py the plugin reads or replaces; every other flag is passed on as given."""
    parser = ArgumentParser(prog=prog, allow_abbrev=False)
    parser.add_argument("--config", required=True)
    parser.add_argument("--opts", "-o", dest="overrides", nargs="+", action="extend", default=[])
    parser.add_argument("--learning_rate", type=float)
    parser.add_argument("--batch_size", type=int)
    parser.add_argument("--iters", type=int)
    parser.add_argument("--save_dir")  # each trial saves into its own folder
    parser.add_argument("--do_eval", action="store_true")  # always on: the study needs the evaluations
    parser.add_argument("--seed", type=int)
    return parser


@dataclasses.dataclass
class SegState(TaskState):
    seed: Optional[int] = None  # the study's --seed, once a trial is prepared: tools/train.py's --seed flag


class SegAdapter(YamlSuiteAdapter):
    """The trial's save_dir and the study's seed are tools/train.py flags, not config keys: the seed is
    kept in ``task.state.seed``, and a trial saves into ``<trial folder>/output``."""

    name = "seg"
    demo_summary = ("PaddleSeg: a shrunk PP-LiteSeg (STDC1) on 64 px masks of pasted digits, presets seg-lr and "
                    "seg-loss, 40 iterations")
    default_metric = "mIoU"
    config_filename = "config.yml"
    checkout_folders = ("paddleseg", "configs")
    train_entry = "paddle_autotune_plugins.adapters.paddleseg.train"
    config_help = "a PaddleSeg YAML (its _base_ files are read)"
    override_example = "--opts batch_size=4"
    step_unit = "iteration"  # its evaluations come every eval interval of iterations
    override_flag = "--opts"
    abilities = frozenset({Ability.DOCTOR_CONFIGS, Ability.DEMO})
    state_class = SegState
    hooks_module = "hooks"
    doctor_module = "doctor"
    readback_module = "readback"

    @classmethod
    def detects(cls, script: PathLike) -> bool:
        root = checkout_root(script)
        return (root / "paddleseg").is_dir() and (root / "tools").is_dir()

    def command_parser(self, prog: str) -> argparse.ArgumentParser:
        return command_parser(prog)

    def read_config_file(self, path: str) -> Config:
        return load_config(path)

    def passed_on(self, script: Optional[str], args: argparse.Namespace, rest: list[str]) -> list[str]:
        if not script:
            from .train import build_parser

            # pip-only: the plugin's train entry must take every flag passed on (a bad one: UsageError)
            _, unknown = build_parser(ArgumentParser).parse_known_args(["--config", args.config] + rest)
            if unknown:
                raise UsageError(f"unrecognized arguments for the PaddleSeg train entry: {' '.join(unknown)}")
        return rest + (["--seed", str(args.seed)] if args.seed is not None else [])

    def apply_command(self, cfg: Config, args: argparse.Namespace) -> None:
        for flag, key in FLAG_KEYS.items():  # before --opts, as Config applies them
            if getattr(args, flag) is not None:
                check_override(cfg, key, f"--{flag}")
                dotpath.set_(cfg, key, getattr(args, flag))
        self.apply_overrides(cfg, args.overrides)

    def architecture(self, cfg: Config) -> Optional[str]:
        model = cfg.get("model")
        return model.get("type") if isinstance(model, dict) else None

    def metric_names(self, task: Task) -> Optional[list[str]]:
        return list(METRICS)

    def data_paths(self, task: Task) -> list[DataPath]:
        """paddleseg's Dataset opens dataset_root and the train/val list files from its working directory."""
        keys = ["train_dataset.dataset_root", "train_dataset.train_path", "val_dataset.dataset_root",
                "val_dataset.val_path"]
        return data_paths.yaml_keys(task.config, task.cwd, keys, self.override_flag)

    def reference_devices(self, cfg: Config) -> Optional[int]:
        # the model READMEs train on 4 GPUs (export CUDA_VISIBLE_DEVICES=0,1,2,3); batch_size is per card
        return 4

    def optimizer_name(self, cfg: Config) -> Optional[str]:
        return dotpath.get(cfg, "optimizer.type", None)

    def learning_rate_paths(self, cfg: Config) -> list[str]:
        return ["lr_scheduler.learning_rate"]

    def max_steps(self, task: Optional[Task], cfg: Config) -> Optional[int]:
        return cfg.get("iters")  # the trainer always evaluates at its last iteration

    def check_space(self, task: Task, params: Sequence[Param]) -> Optional[list[str]]:
        notes = list(super().check_space(task, params) or [])
        for p in params:
            if p.name == "optimizer.weight_decay" and p.kind == "int":
                raise UsageError("optimizer.weight_decay: PaddleSeg's optimizers take only a float; give float bounds")
        # here: trial processes import this module and need no Optuna
        from paddle_autotune_plugins.search_space import space

        lr = next((p for p in params if p.name == "lr_scheduler.learning_rate"), None)
        if "warmup_iters" in task.config["lr_scheduler"]:  # the warm-up ends at learning_rate
            note = space.start_above_warmup(lr, dotpath.get(task.config, "lr_scheduler.warmup_start_lr", None))
            notes += [note] if note else []
        return notes

    def prepare_trial(self, task: Optional[Task], cfg: Config, trial_dir: PathLike, seed: int) -> Config:
        task.state.seed = seed  # the study's --seed: trial_command passes it as tools/train.py's flag
        return cfg

    def _run_args(self, task, config_path):
        save_dir = pathlib.Path(config_path).parent / "output"
        args = ["--config", config_path, "--do_eval", "--save_dir", str(save_dir)] + list(task.script_args)
        seed = task.state.seed
        return args if "--seed" in task.script_args or seed is None else args + ["--seed", str(seed)]

    def script_import_paths(self, script: str) -> list[str]:
        """A checkout's tools/train.py imports ``paddleseg`` without putting its checkout on the path
        (PaddleSeg's install guide has users run ``pip install -e .``): the trial puts the checkout right after
        the script's folder, as the editable install would, so it trains with the checkout's paddleseg even
        where another one (the PyPI wheel) is installed."""
        root = os.path.dirname(os.path.dirname(os.path.abspath(script)))
        return [root] if os.path.isdir(os.path.join(root, "paddleseg")) else []

    def trial_command(self, task: Task, config_path: PathLike, cfg: Optional[Config] = None) -> list[str]:
        if task.script:  # the checkout's own tools/train.py, its paddleseg first on the path, our hooks installed
            return self.script_command(task.script) + self._run_args(task, config_path)
        return [python(), "-m", self.train_entry] + self._run_args(task, config_path)

    def _save_dir(self, trial_dir):
        """The trial's --save_dir: <trial folder>/output (trial_command's)."""
        return pathlib.Path(trial_dir) / "output"

    def best_checkpoint(self, task: Optional[Task], cfg: Config, trial_dir: Optional[PathLike] = None
                        ) -> Optional[list[str]]:
        """The trial's ``save_dir/best_model/`` files (model.pdparams: what the trainer saves at a new best
        mIoU), or None when no evaluation saved one."""
        save_dir = self._save_dir(trial_dir)
        if not (save_dir / "best_model" / "model.pdparams").is_file():
            return None
        return sorted(str(p) for p in (save_dir / "best_model").iterdir() if p.is_file())

    def trial_outputs(self, task: Optional[Task], cfg: Config, trial_dir: Optional[PathLike] = None
                      ) -> list[pathlib.Path]:
        return weight_files(self._save_dir(trial_dir))

    def doctor(self) -> list[str]:
        import importlib.util

        from . import hooks

        spec = importlib.util.find_spec("paddleseg")
        where = f" (imported from {pathlib.Path(spec.origin).parent.parent})" if spec and spec.origin else ""
        lines = [version_line("paddleseg", where, f"{where} (a source checkout's tools/train.py still works)")]
        return lines + fix_lines(hooks.FIXES)

    def demo(self, out: pathlib.Path) -> Optional[tuple[Task, list[str]]]:
        from .digits_seg import write_demo_config

        config = write_demo_config(out)
        return self.load_command(None, ["--config", str(config), "--save_interval", "10"]), [
            "--preset", "seg-lr", "--preset", "seg-loss", "--pruner", "asha", "--seed", "0", "--reference-devices", "1"]
