"""The PaddleDetection adapter (coordinator side).

Configs are read with their `_BASE_` chains and `!Tag` objects by config_io (ppdet is not imported here),
changed at dotted paths and written back as one flattened per-trial YAML (not `-o`: ppdet's `-o` lets two
keys with a shared prefix clobber each other). Trials run ppdet's own Trainer: the user's checkout's
tools/train.py, or the plugin's train entry for the pip-only paddledet.
"""
from __future__ import annotations

import argparse
import functools
import os
import pathlib
import re
import subprocess
from typing import TYPE_CHECKING, Any, Optional, Sequence

import yaml

from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.search_space import data_paths, dotpath
from paddle_autotune_plugins.suites.adapter import Ability, Config, PathLike, Task, python
from paddle_autotune_plugins.suites.kit import config_files
from paddle_autotune_plugins.suites.kit.doctor_lines import fix_lines, version_line
from paddle_autotune_plugins.suites.suite_bases import YamlSuiteAdapter, checkout_root

from . import config_io
from .hooks import DROPOUT_HEAD

if TYPE_CHECKING:  # for annotations only
    from paddle_autotune_plugins.search_space.data_paths import DataPath
    from paddle_autotune_plugins.search_space.space import Param

_METRICS = {"COCO": ["bbox_ap", "bbox_ap50"], "VOC": ["bbox_map"]}


def load_config(path):
    path = pathlib.Path(path)
    if not path.is_file():
        raise config_files.not_found(path, "pass the path of a PaddleDetection YAML with -c")
    try:
        cfg = config_io.load(path)
    except FileNotFoundError as e:
        raise config_files.base_missing(path, "_BASE_", e) from None
    except yaml.YAMLError as e:
        raise config_files.not_valid_yaml(path, e) from None
    if "architecture" not in cfg:
        raise UsageError(f"config {path} is not a PaddleDetection config (no 'architecture' after _BASE_)")
    return cfg


def best_checkpoint_files(save_dir):
    """The best checkpoint's files wherever this ppdet wrote them: `save_dir/<config stem>/best_model.*`
    (2.6), `save_dir/best_model.*` (release/2.7, develop), `save_dir/best_model/best_model.*` (develop with
    uniform_output_enabled). Found from what the trainer wrote, never a fixed path: the folder holding the
    newest best_model.pdparams, and its other best_model.* files (.pdopt, .pdema, .pdstates). None when no
    weights were saved (no eval found a best)."""
    weights = [p for p in pathlib.Path(save_dir).rglob("best_model.pdparams") if p.is_file()]
    if not weights:
        return None
    folder = max(weights, key=lambda p: p.stat().st_mtime).parent
    return sorted(str(p) for p in folder.glob("best_model.*") if p.is_file())


# A module name to the pip distribution that provides it, where they differ (the rest: the checkout's
# requirements.txt line that names the module, else the module's own name)
_DISTRIBUTIONS = {"cv2": "opencv-python", "sklearn": "scikit-learn", "yaml": "PyYAML", "PIL": "Pillow",
                  "skimage": "scikit-image", "lap": "lapx"}

_IMPORT_PROBE = """
import sys
sys.path.insert(0, sys.argv[1])  # as the checkout's tools/train.py does
from paddle_autotune_plugins.adapters.paddledet import hooks
hooks.install()  # the trial's own fixes (pkg_resources stand-in ...) apply to the probe too
try:
    import ppdet
except ModuleNotFoundError as e:
    print("AUTOTUNE_MISSING", e.name)
    sys.exit(3)
"""


@functools.lru_cache(maxsize=None)
def check_checkout_imports(root):
    """A checkout's ppdet must import with this Python before a study runs its tools/train.py: release/2.7
    and develop import `imgaug` (their requirements.txt), and without it every trial dies in a traceback.
    Tried for real in a subprocess (a few seconds, once per checkout), because a static reading of
    requirements.txt is wrong both ways (it lists `sklearn==0.0` and `lapx`, which `import ppdet` never needs)."""
    root = pathlib.Path(root)
    try:
        proc = subprocess.run([python(), "-c", _IMPORT_PROBE, str(root)], capture_output=True, text=True,
                              cwd=root, timeout=300)
    except subprocess.TimeoutExpired:
        raise UsageError(f"importing the ppdet of {root} took over 5 minutes; check that "
                         f"'cd {root} && python -c \"import ppdet\"' works") from None
    missing = re.search(r"^AUTOTUNE_MISSING (\S+)", proc.stdout, re.MULTILINE)
    if missing:
        module = missing.group(1).split(".")[0]
        package = distribution_for(module, root)
        raise UsageError(f"the ppdet of {root} needs the package '{package}' (module {module}), which this Python "
                         f"({python()}) lacks: pip install {package}")
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise UsageError(f"the ppdet of {root} fails to import: {last}; fix that, then run the study again")


def distribution_for(module, root):
    """The pip name for a missing module: as the checkout's requirements.txt spells it, where it lists it."""
    wanted = _DISTRIBUTIONS.get(module, module)
    normal = lambda name: re.sub(r"[-_.]+", "-", name).lower()  # noqa: E731 - PEP 503 names
    try:
        lines = (pathlib.Path(root) / "requirements.txt").read_text().splitlines()
    except OSError:
        return wanted
    for line in lines:
        name = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line.split("#", 1)[0])
        if name and normal(name.group(1)) in (normal(module), normal(wanted)):
            return name.group(1)
    return wanted


def first_scheduler(cfg):
    """LearningRate's first scheduler, the decay ({} where there is none)."""
    schedulers = dotpath.get(cfg, "LearningRate.schedulers", None) or []
    return schedulers[0] if schedulers and isinstance(schedulers[0], dict) else {}


def decays_before_last_epoch(cfg):
    """Whether a PiecewiseDecay reaches a milestone before training ends (else its gamma does nothing).
    ppdet decays at `milestone x steps_per_epoch`, so a milestone counts when it is below `epoch`; `values`
    given in the config replace what gamma computes."""
    decay = first_scheduler(cfg)
    if getattr(decay, "tag", None) != "PiecewiseDecay" or decay.get("values") is not None:
        return False
    epochs = cfg.get("epoch")
    milestones = decay.get("milestones", [8, 11])
    return epochs is not None and any(m < epochs for m in milestones)


def gamma_is_one_number(cfg):
    """Whether PiecewiseDecay's gamma is one number, which ppdet spreads over the milestones as g, g/10, g/100...
    A list (SSD's [0.5, 0.5, 0.4, 0.1]) gives each stage's factor itself: one number cannot stand for it."""
    gamma = first_scheduler(cfg).get("gamma", 0.1)
    return isinstance(gamma, (int, float)) and not isinstance(gamma, bool)


def anchor_targets_are_gt2yolo(cfg):
    """Whether every train transform that builds targets from anchors is a Gt2YoloTarget, which keeps
    them as the head does (flat, in input pixels); JDE's Gt2JDETargetThres keeps them per level."""
    ops = [op for kind in ("sample_transforms", "batch_transforms")
           for op in (dotpath.get(cfg, f"TrainReader.{kind}", None) or []) if isinstance(op, dict)]
    holding = [name for op in ops for name, args in op.items() if isinstance(args, dict) and "anchors" in args]
    return all(name == "Gt2YoloTarget" for name in holding)


class DetAdapter(YamlSuiteAdapter):
    name = "det"
    demo_summary = ("PaddleDetection: a small random-init PicoDet on canvases of one pasted digit with its box "
                    "(one class, 64 px), learning rate 0.005..0.3, 8 epochs")
    default_metric = "bbox_ap"
    config_filename = "config.yml"
    checkout_folders = ("ppdet", "configs")
    train_entry = "paddle_autotune_plugins.adapters.paddledet.train"
    config_help = "a PaddleDetection YAML (its _BASE_ files are read)"
    override_example = "-o epoch=12"
    step_unit = "epoch"
    output_paths = {"save_dir": ("output", None), "output_eval": ("output/eval", None)}  # bbox.json stays in the trial
    device_path = ("use_gpu", True, False)
    abilities = frozenset({Ability.COMPRESS_SCHEDULE, Ability.DOCTOR_CONFIGS, Ability.DEMO})
    hooks_module = "hooks"
    doctor_module = "doctor"
    readback_module = "live"

    @classmethod
    def detects(cls, script: PathLike) -> bool:
        return (checkout_root(script) / "ppdet").is_dir()

    def command_parser(self, prog: str) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(prog=prog, allow_abbrev=False)
        parser.add_argument("-c", "--config", required=True)
        parser.add_argument("-o", "--opt", dest="overrides", nargs="*", action="extend", default=[])
        parser.add_argument("--eval", action="store_true")
        return parser

    def read_config_file(self, path: str) -> Config:
        return load_config(path)

    def override_value(self, text: str) -> Any:
        return yaml.safe_load(text)  # as ppdet reads -o values

    def architecture(self, cfg: Config) -> Optional[str]:
        """The architecture, named by its head where ppdet shares one (PP-YOLOE is YOLOv3 + PPYOLOEHead)."""
        arch = cfg.get("architecture")
        head = (cfg.get(arch) or {}).get("yolo_head") if isinstance(cfg.get(arch), dict) else None
        return head.replace("Head", "") if head and head != "YOLOv3Head" else arch

    def metric_names(self, task: Task) -> Optional[list[str]]:
        return _METRICS.get(str(task.config.get("metric", "COCO")).upper(), [str(task.config.get("metric"))])

    def default_metric_for(self, task: Task) -> Optional[str]:
        return self.metric_names(task)[0]

    def data_choices(self, path: str, cfg: Config) -> list[Any]:
        from .anchors import data_choices

        try:
            return data_choices(path, cfg)
        except (OSError, KeyError, ValueError) as e:
            raise UsageError(f"cannot seed '{path}' from the training data ({type(e).__name__}: {e}); "
                             f"check TrainDataset.dataset_dir and anno_path") from None

    def check_space(self, task: Task, params: Sequence[Param]) -> Optional[list[str]]:
        notes = super().check_space(task, params)
        if task.script:  # the checkout's own ppdet will train: it must import before any trial starts
            check_checkout_imports(checkout_root(task.script))
        return notes

    def trainer_fact(self, task: Task, name: str) -> Any:
        """Facts of this config's training that a preset's `when: {trainer.NAME: value}` asks for, where
        a plain value comparison cannot say it (presets.py): whether a knob would act."""
        facts = {"decays_before_last_epoch": decays_before_last_epoch, "gamma_is_one_number": gamma_is_one_number,
                 "anchor_targets_are_gt2yolo": anchor_targets_are_gt2yolo}
        if name in facts:
            return facts[name](task.config)
        return super().trainer_fact(task, name)

    def data_paths(self, task: Task) -> list[DataPath]:
        """ppdet opens dataset_dir from its working directory, image_dir, anno_path and a VOC set's label_list
        under dataset_dir (VOCDataSet raises on a missing label_list; None means VOC's own 20 classes).
        TestDataset is left out: training builds it only for PTQ slimming or uniform_output_enabled."""
        keys, under, inside = [], {}, ("image_dir", "anno_path", "label_list")
        for dataset in ("TrainDataset", "EvalDataset"):
            keys += [f"{dataset}.{key}" for key in ("dataset_dir",) + inside]
            under.update({f"{dataset}.{key}": f"{dataset}.dataset_dir" for key in inside})
        return data_paths.yaml_keys(task.config, task.cwd, keys, self.override_flag, under=under)

    def reference_devices(self, cfg: Config) -> Optional[int]:
        # the model zoo trains on 8 GPUs ("PP-YOLO used 8 GPUs ... if GPU number and mini-batch size is changed,
        # learning rate and iteration times should be adjusted")
        return 8

    def optimizer_name(self, cfg: Config) -> Optional[str]:
        return dotpath.get(cfg, "OptimizerBuilder.optimizer.type", None)

    def learning_rate_paths(self, cfg: Config) -> list[str]:
        return ["LearningRate.base_lr"]

    def max_steps(self, task: Optional[Task], cfg: Config) -> Optional[int]:
        return cfg.get("epoch")

    def compress_schedule(self, task: Task, cfg: Config, epochs: int) -> Config:
        from . import schedule

        return schedule.compress(cfg, epochs)

    def prepare_trial(self, task: Optional[Task], cfg: Config, trial_dir: PathLike, seed: int) -> Config:
        cfg = super().prepare_trial(task, cfg, trial_dir, seed)
        pathlib.Path(cfg["output_eval"]).mkdir(parents=True, exist_ok=True)  # VOCMetric writes there without creating it
        self._switch_dropout_head(cfg)
        return cfg

    @staticmethod
    def _switch_dropout_head(cfg):
        """A trial that tunes `TwoFCHead.dropout` trains the plugin's TwoFCHead variant with dropout; only
        where the RoI head is a TwoFCHead (GN configs keep a TwoFCHead section but train XConvNormHead)."""
        head = cfg.get("TwoFCHead")
        if isinstance(head, dict) and "dropout" in head and dotpath.get(cfg, "BBoxHead.head", None) == "TwoFCHead":
            # TwoFCHead stays as written (ppdet no longer builds it), so the trial's config keeps the
            # tuned path and the coordinator can check it against what the built head holds
            cfg[DROPOUT_HEAD] = dict(head)
            dotpath.set_(cfg, "BBoxHead.head", DROPOUT_HEAD)

    def write_config(self, cfg: Config, path: PathLike) -> None:
        pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
        config_io.dump(cfg, path)

    def read_config(self, path: PathLike) -> Config:
        return config_io.load_text(pathlib.Path(path).read_text())  # its !Tag objects kept

    def config_to_store(self, cfg: Config) -> Any:
        return super().config_to_store(config_io.to_json(cfg))  # the !Tag objects named, so they come back

    def config_from_store(self, stored: Any) -> Config:
        return config_io.from_json(stored)

    def trial_command(self, task: Task, config_path: PathLike, cfg: Optional[Config] = None) -> list[str]:
        if task.script:
            extra = task.script_args if "--eval" in task.script_args else task.script_args + ["--eval"]
            return self.script_command(task.script) + ["-c", str(config_path)] + extra
        return [python(), "-m", self.train_entry, "-c", config_path, "--eval"]

    def best_checkpoint(self, task: Optional[Task], cfg: Config, trial_dir: Optional[PathLike] = None
                        ) -> Optional[list[str]]:
        return best_checkpoint_files(cfg["save_dir"])

    def doctor(self) -> list[str]:
        from . import compat

        lines = [version_line("paddledet", missing_note=" (a source checkout's tools/train.py still works)")]
        return lines + fix_lines(compat.FIXES)

    def demo(self, out: pathlib.Path) -> Optional[tuple[Task, list[str]]]:
        """PicoDet on the one-class digits set (digits_det.DEMO), its learning rate tuned; one trial a core
        (trials train single-threaded), up to two: a later --workers on the command line wins."""
        from .digits_det import DEMO, DEMO_SPACE, write_demo_config

        workers = max(1, min(2, os.cpu_count() or 1))
        return self.load_command(None, ["-c", str(write_demo_config(out, **DEMO))]), [
            "--space", str(DEMO_SPACE), "--pruner", "asha", "--seed", "0", "--workers", str(workers), "--reference-devices", "1"]
