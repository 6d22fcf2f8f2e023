"""The PaddleOCR adapter (coordinator side).

PaddleOCR trains from a source checkout: the ``paddleocr`` 2.10 wheel lacks ``ppocr/modeling``, ``losses``,
``metrics`` and ``optimizer``, and the 3.x wheels are inference only. So a study is always the checkout's
own ``tools/train.py -c CONFIG -o key=value ...``, run once per trial with the trial's config and the
plugin's hooks installed. The config is read as PaddleOCR's ``tools/program.py`` reads it: one YAML file
(no base files), then the ``-o`` items, each ``key=value`` with the value parsed as YAML. Each trial's
config points ``Global.save_model_dir`` and ``Global.save_res_path`` into the trial's folder.

Steps are the trainer's global iterations at which it evaluates (``Global.eval_batch_step: [start,
every]``), as PaddleOCR itself logs its evaluations.
"""
from __future__ import annotations

import argparse
import glob
import math
import pathlib
from typing import TYPE_CHECKING, Optional, Sequence

import yaml

from paddle_autotune_plugins.errors import ArgumentParser, UsageError
from paddle_autotune_plugins.search_space import data_paths, dotpath
from paddle_autotune_plugins.suites.adapter import Ability, Config, PathLike, Task, check_override
from paddle_autotune_plugins.suites.kit import config_files
from paddle_autotune_plugins.suites.kit.doctor_lines import fix_lines
from paddle_autotune_plugins.suites.suite_bases import YamlSuiteAdapter, checkout_root

if TYPE_CHECKING:  # for annotations only
    from paddle_autotune_plugins.search_space.data_paths import DataPath
    from paddle_autotune_plugins.search_space.space import Param

# the metric classes' result keys (ppocr/metrics); the trainer adds fps, which hooks.py leaves out
METRICS = {"RecMetric": ["acc", "norm_edit_dis"], "DetMetric": ["hmean", "precision", "recall"],
           "DetFCEMetric": ["hmean", "precision", "recall"], "ClsMetric": ["acc"]}
REFERENCE_DEVICES = 8  # the GPUs PaddleOCR's shipped configs are written for (docs/paddleocr.md says where)
REQUIRED = ("Global", "Architecture", "Optimizer", "Train", "PostProcess", "Metric")  # tools/train.py reads them


def load_config(path):
    """A PaddleOCR config as tools/program.py's load_config reads it, or a UsageError saying why not."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise config_files.not_found(path, "pass the path of a PaddleOCR YAML with -c")
    if path.suffix not in config_files.YAML_SUFFIXES:
        raise config_files.not_yaml_suffix(path, "PaddleOCR")
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise config_files.not_valid_yaml(path, e) from None
    except UnicodeDecodeError:
        raise config_files.not_utf8(path) from None
    if not isinstance(cfg, dict) or "Global" not in cfg or "Architecture" not in cfg:
        raise UsageError(f"config {path} is not a PaddleOCR config (no Global/Architecture section)")
    return cfg


def parse_override(item):
    """One ``-o`` item as PaddleOCR's ArgsParser reads it: ``key=value`` split at its only '=', the value
    parsed as YAML (``[a.txt]`` is a list, ``1e-3`` stays a string as in PaddleOCR)."""
    if item.count("=") != 1:
        raise UsageError(f"-o '{item}' must be one key=value (PaddleOCR splits each item at its only '='), "
                         f"e.g. -o Global.epoch_num=10")
    key, text = item.strip().split("=")
    try:
        return key.strip(), yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise UsageError(f"-o {key}: the value '{text}' is not YAML ({str(e).splitlines()[0]}); quote it") from None


def apply_overrides(cfg, items):
    """``-o`` items onto the config as PaddleOCR's merge_config applies them (a top-level mapping updates the
    config's, key by key); each path is checked first, so a typo is an error, not a key nothing reads."""
    for item in items:
        key, value = parse_override(item)
        if "." not in key and isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key].update(value)
            continue
        check_override(cfg, key, "-o")
        dotpath.set_(cfg, key, value)


def check_trainable(cfg, path):
    """What a study needs of the config after -o: an evaluation during training and the metric's name."""
    where = f"config {path}"
    missing = [key for key in REQUIRED if not isinstance(cfg.get(key), dict)]
    if missing:
        raise UsageError(f"{where} has no {', '.join(missing)} section: it is not a PaddleOCR training config")
    if not isinstance(cfg.get("Eval"), dict):
        raise UsageError(f"{where} has no Eval section: the study needs the trainer's evaluations; add one "
                         f"(PaddleOCR's configs/ show its form)")
    step = cfg["Global"].get("eval_batch_step")
    if not (isinstance(step, list) and len(step) >= 2 and all(isinstance(s, int) for s in step[:2]) and step[1] > 0):
        raise UsageError(f"{where}: Global.eval_batch_step is {step!r}; give [start, every] iterations, e.g. "
                         f"-o Global.eval_batch_step=[0,100]")
    if not cfg["Global"].get("save_model_dir"):
        raise UsageError(f"{where} has no Global.save_model_dir (tools/train.py needs it); set it with -o")


def command_parser(prog):
    """tools/train.py's own flags (tools/program.py ArgsParser): -c, -o items, -p profiler options."""
    parser = ArgumentParser(prog=prog, allow_abbrev=False)
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("-o", "--opt", dest="overrides", nargs="+", action="append", default=[])
    parser.add_argument("-p", "--profiler_options")
    return parser


def label_lines(dataset, cwd):
    """Samples one epoch of a SimpleDataSet draws (its label files' lines times their ratio_list), or None."""
    files = dataset.get("label_file_list")
    files = [files] if isinstance(files, str) else files
    if dataset.get("name") != "SimpleDataSet" or not isinstance(files, list):
        return None
    ratios = dataset.get("ratio_list", 1.0)
    ratios = ratios if isinstance(ratios, list) else [ratios] * len(files)
    total = 0
    for name, ratio in zip(files, ratios):
        path = pathlib.Path(cwd or ".") / name
        if not path.is_file():
            return None
        with open(path, "rb") as f:
            total += round(sum(1 for _ in f) * float(ratio))
    return total


def last_eval_step(cfg, cwd):
    """The last global iteration at which the trainer evaluates, from its data and eval_batch_step; None
    where that cannot be read from the files (other data sets, missing lists)."""
    loader = dotpath.get(cfg, "Train.loader", None) or {}
    batch = loader.get("batch_size_per_card")
    samples = label_lines(dotpath.get(cfg, "Train.dataset", None) or {}, cwd)
    epochs = dotpath.get(cfg, "Global.epoch_num", None)
    step = dotpath.get(cfg, "Global.eval_batch_step", None)
    if not samples or not isinstance(batch, int) or batch < 1 or not isinstance(epochs, int) or \
            dotpath.get(cfg, "Global.eval_batch_epoch", None) or not isinstance(step, list):
        return None
    per_epoch = samples // batch if loader.get("drop_last", True) else math.ceil(samples / batch)
    start, every = step[0], step[1]
    total = per_epoch * epochs
    return start + every * ((total - start) // every) if total > start + every - 1 else None


def _number(value):
    """A config number as ppocr's schedules read it (float(...): YAML reads 1e-5 as a string), or None."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class OcrAdapter(YamlSuiteAdapter):
    name = "ocr"
    demo_summary = ("PaddleOCR: its text-direction classifier (0 or 180 degrees) on rendered digit strings, presets "
                    "ocr-lr and ocr-regularization (needs a checkout: $PADDLE_AUTOTUNE_PADDLEOCR)")
    default_metric = "acc"
    config_filename = "config.yml"
    checkout_folders = ("ppocr", "tools", "configs")
    config_help = "a PaddleOCR YAML (configs/rec, configs/det ...) of a PaddleOCR checkout"
    override_example = "-o Global.epoch_num=10"
    output_paths = {"Global.save_model_dir": ("output", None),
                    "Global.save_res_path": ("output/predicts.txt", None)}
    device_path = ("Global.use_gpu", True, False)
    seed_path = "Global.seed"
    abilities = frozenset({Ability.DOCTOR_CONFIGS, Ability.DEMO})
    hooks_module = "hooks"
    doctor_module = "doctor"
    readback_module = "readback"

    @classmethod
    def detects(cls, script: PathLike) -> bool:
        root = checkout_root(script)
        return (root / "ppocr").is_dir() and (root / "tools" / "train.py").is_file()

    def command_parser(self, prog: str) -> argparse.ArgumentParser:
        return command_parser(prog)

    def load(self, script: Optional[str], argv: Sequence[str]) -> Task:
        if not script:
            raise UsageError("PaddleOCR trains from a source checkout (the paddleocr wheel has no trainer): run "
                             "python -m paddle_autotune_plugins PADDLEOCR/tools/train.py -c CONFIG --autotune ...")
        return super().load(script, argv)

    def read_config_file(self, path: str) -> Config:
        return load_config(path)

    def passed_on(self, script: Optional[str], args: argparse.Namespace, rest: list[str]) -> list[str]:
        if rest:  # tools/train.py's parser would refuse them in every trial
            raise UsageError(f"unrecognized arguments for PaddleOCR's tools/train.py: {' '.join(rest)} (it takes "
                             f"-c, -o and -p)")
        return ["-p", args.profiler_options] if args.profiler_options else []

    def apply_command(self, cfg: Config, args: argparse.Namespace) -> None:
        if len(args.overrides) > 1:  # argparse's nargs="+": tools/train.py would keep only the last -o
            raise UsageError("-o is given more than once, and PaddleOCR's tools/train.py keeps only the last; "
                             "give every item after one -o")
        apply_overrides(cfg, args.overrides[0] if args.overrides else [])
        check_trainable(cfg, args.config)

    def architecture(self, cfg: Config) -> Optional[str]:
        return dotpath.get(cfg, "Architecture.algorithm", None)

    def default_metric_for(self, task: Task) -> Optional[str]:
        """The config's Metric.main_indicator, else the metric class's own default (its first name)."""
        named = dotpath.get(task.config, "Metric.main_indicator", None)
        return named or (METRICS.get(dotpath.get(task.config, "Metric.name", None)) or [self.default_metric])[0]

    def metric_names(self, task: Task) -> Optional[list[str]]:
        names = METRICS.get(dotpath.get(task.config, "Metric.name", None))
        return list(names) if names else None  # another metric class: its names are known once it reports

    def check_space(self, task: Task, params: Sequence[Param]) -> Optional[list[str]]:
        notes = list(super().check_space(task, params) or [])
        lr_cfg = dotpath.get(task.config, "Optimizer.lr", None) or {}
        start = _number(lr_cfg.get("start_lr", 1e-5)) if lr_cfg.get("name") == "LinearWarmupCosine" else None
        rate = next((p for p in params if p.name == "Optimizer.lr.learning_rate" and p.kind == "float"), None)
        if rate is not None and start is not None and rate.low <= start:
            # its warm-up climbs from start_lr to learning_rate, and Paddle's LinearWarmup asserts end_lr > start_lr
            low = start * 1.01
            if low >= rate.high:
                raise UsageError(f"Optimizer.lr.learning_rate: the range [{rate.low:g}, {rate.high:g}] lies at or "
                                 f"below the warm-up's start_lr {start:g}; LinearWarmupCosine needs a higher rate")
            notes.append(f"Optimizer.lr.learning_rate starts above start_lr {start:g} (LinearWarmup asserts end_lr > "
                         f"start_lr): range [{low:g}, {rate.high:g}] instead of [{rate.low:g}, {rate.high:g}]")
            rate.low = low
        return notes

    def data_paths(self, task: Task) -> list[DataPath]:
        """ppocr opens data_dir, each label file and the character dictionary from its working directory."""
        cfg, paths = task.config, []
        for mode in ("Train", "Eval"):
            paths += data_paths.yaml_keys(cfg, task.cwd, [f"{mode}.dataset.data_dir"], self.override_flag)
            files = dotpath.get(cfg, f"{mode}.dataset.label_file_list", None)
            for i, name in enumerate([files] if isinstance(files, str) else files or []):
                key = f"{mode}.dataset.label_file_list"
                paths.append(data_paths.DataPath(f"{key}.{i}", str(name), data_paths.resolve(task.cwd, str(name)),
                                                 f"{self.override_flag} {key}=[PATH]"))
        return paths + data_paths.yaml_keys(cfg, task.cwd, ["Global.character_dict_path"], self.override_flag)

    def reference_devices(self, cfg: Config) -> Optional[int]:
        # PaddleOCR's fine-tuning docs: "The configuration file provided by PaddleOCR is for 8-gpu training"
        # (batch_size_per_card is per card), with the learning rate to be moved with the total batch
        return REFERENCE_DEVICES

    def optimizer_name(self, cfg: Config) -> Optional[str]:
        return dotpath.get(cfg, "Optimizer.name", None)

    def learning_rate_paths(self, cfg: Config) -> list[str]:
        # ocr-lr's places: Piecewise trains with values, OneCycle peaks at max_lr, the others learning_rate
        return ["Optimizer.lr.learning_rate", "Optimizer.lr.values", "Optimizer.lr.max_lr"]

    def max_steps(self, task: Optional[Task], cfg: Config) -> Optional[int]:
        return last_eval_step(cfg, task.cwd if task else None)

    def trial_command(self, task: Task, config_path: PathLike, cfg: Optional[Config] = None) -> list[str]:
        return self.script_command(task.script) + ["-c", config_path] + list(task.script_args)

    def best_checkpoint(self, task: Optional[Task], cfg: Config, trial_dir: Optional[PathLike] = None
                        ) -> Optional[list[str]]:
        """``save_model_dir/best_accuracy.*`` (what the trainer saves at a new best of its main indicator;
        inside a ``best_accuracy/`` folder when ``uniform_output_enabled``), or None before any."""
        save_dir = pathlib.Path(dotpath.get(cfg, "Global.save_model_dir"))
        files = sorted(glob.glob(str(save_dir / "best_accuracy.*")))
        if not files and (save_dir / "best_accuracy").is_dir():
            files = sorted(str(p) for p in (save_dir / "best_accuracy").glob("best_accuracy.*"))
        return files or None

    def doctor(self) -> list[str]:
        from . import hooks

        return ["paddleocr: trains from a source checkout's tools/train.py (doctor --configs CHECKOUT checks its "
                "configs)"] + fix_lines(hooks.FIXES)

    def demo(self, out: pathlib.Path) -> Optional[tuple[Task, list[str]]]:
        from .demo import demo_task

        return demo_task(self, out)
