"""The PaddleDetection adapter (coordinator side).

Configs are read with their `_BASE_` chains and `!Tag` objects by config_io (ppdet is not imported here),
changed at dotted paths and written back as one flattened per-trial YAML (not `-o`: ppdet's `-o` lets two
keys with a shared prefix clobber each other). Trials run ppdet's own Trainer: the user's checkout's
tools/train.py, or the plugin's train entry for the pip-only paddledet.
"""
import argparse
import copy
import glob
import os
import pathlib

import yaml

from paddle_autotune_plugins import dotpath
from paddle_autotune_plugins.adapter import Adapter, Task, available_device, python, weight_files
from paddle_autotune_plugins.errors import UsageError

from . import config_io
from .hooks import DROPOUT_HEAD

_METRICS = {"COCO": ["bbox_ap", "bbox_ap50"], "VOC": ["bbox_map"]}


def load_config(path):
    path = pathlib.Path(path)
    if not path.is_file():
        raise UsageError(f"config file not found: {path}; pass the path of a PaddleDetection YAML with -c")
    try:
        cfg = config_io.load(path)
    except FileNotFoundError as e:
        raise UsageError(f"config {path}: a _BASE_ file is missing: {e.filename}") from None
    except yaml.YAMLError as e:
        raise UsageError(f"config {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if "architecture" not in cfg:
        raise UsageError(f"config {path} is not a PaddleDetection config (no 'architecture' after _BASE_)")
    return cfg


def apply_opts(cfg, items):
    """`-o key=value` items (values as YAML, as ppdet reads them) on the resolved config."""
    for item in items:
        if "=" not in item:
            raise UsageError(f"-o '{item}' must be key=value, e.g. -o epoch=12")
        key, value = item.split("=", 1)
        key = key.strip()
        if not dotpath.has(cfg, dotpath.parent_path(key)):
            hint = dotpath.nearest(cfg, key)
            raise UsageError(f"-o {key}: no such path in the config" + (f"; did you mean {' or '.join(hint)}?" if hint else ""))
        dotpath.set_(cfg, key, yaml.safe_load(value))


class DetAdapter(Adapter):
    name = "det"
    default_metric = "bbox_ap"
    direction = "maximize"
    config_filename = "config.yml"
    train_entry = "paddle_autotune_plugins.adapters.paddledet.train"

    @classmethod
    def detects(cls, script):
        return (pathlib.Path(script).resolve().parent.parent / "ppdet").is_dir()

    def load(self, script, argv):
        parser = argparse.ArgumentParser(prog=script or "paddle-autotune tune --suite det", allow_abbrev=False)
        parser.add_argument("-c", "--config", required=True)
        parser.add_argument("-o", "--opt", nargs="*", action="extend", default=[])
        parser.add_argument("--eval", action="store_true")
        args, rest = parser.parse_known_args(argv)
        if rest and not script:
            raise UsageError(f"unrecognized arguments: {' '.join(rest)}")
        cfg = load_config(args.config)
        apply_opts(cfg, args.opt)
        return Task(self, cfg, config_path=os.path.abspath(args.config),
                    script=os.path.abspath(script) if script else None, script_args=rest,
                    cwd=str(pathlib.Path(script).resolve().parent.parent) if script else os.getcwd())

    def architecture(self, cfg):
        """The architecture, named by its head where ppdet shares one (PP-YOLOE is YOLOv3 + PPYOLOEHead)."""
        arch = cfg.get("architecture")
        head = (cfg.get(arch) or {}).get("yolo_head") if isinstance(cfg.get(arch), dict) else None
        return head.replace("Head", "") if head and head != "YOLOv3Head" else arch

    def metric_names(self, task):
        return _METRICS.get(str(task.config.get("metric", "COCO")).upper(), [str(task.config.get("metric"))])

    def default_metric_for(self, task):
        return self.metric_names(task)[0]

    def data_choices(self, path, cfg):
        from .anchors import data_choices

        try:
            return data_choices(path, cfg)
        except (OSError, KeyError, ValueError) as e:
            raise UsageError(f"cannot seed '{path}' from the training data ({type(e).__name__}: {e}); "
                             f"check TrainDataset.dataset_dir and anno_path") from None

    def max_steps(self, cfg):
        return cfg.get("epoch")

    def prepare_trial(self, cfg, trial_dir, seed):
        out = pathlib.Path(trial_dir) / "output"
        cfg["save_dir"] = str(out)
        cfg["output_eval"] = str(out / "eval")  # bbox.json stays in the trial folder
        (out / "eval").mkdir(parents=True, exist_ok=True)  # VOCMetric writes there without creating it
        if cfg.get("use_gpu", True) and available_device() == "cpu":
            cfg["use_gpu"] = False
        self._switch_dropout_head(cfg)
        return cfg

    @staticmethod
    def _switch_dropout_head(cfg):
        """A trial that tunes `TwoFCHead.dropout` trains the plugin's TwoFCHead variant with dropout."""
        head = cfg.get("TwoFCHead")
        if isinstance(head, dict) and "dropout" in head:
            cfg[DROPOUT_HEAD] = dict(cfg.pop("TwoFCHead"))
            dotpath.set_(cfg, "BBoxHead.head", DROPOUT_HEAD)

    def write_config(self, cfg, path):
        pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
        config_io.dump(cfg, path)

    def trial_command(self, task, config_path):
        if task.script:
            extra = task.script_args if "--eval" in task.script_args else task.script_args + ["--eval"]
            return [python(), "-m", "paddle_autotune_plugins.run_trial", self.name, task.script,
                    "-c", config_path] + extra
        return [python(), "-m", self.train_entry, "-c", config_path, "--eval"]

    def best_checkpoint(self, cfg):
        stem = pathlib.Path(self.config_filename).stem  # ppdet saves under save_dir/<config file stem>/
        files = sorted(glob.glob(os.path.join(cfg["save_dir"], stem, "best_model.*")))
        return files or None

    def trial_outputs(self, cfg):
        return weight_files(cfg["save_dir"])

    def export_config(self, cfg, task):
        cfg = copy.deepcopy(cfg)
        for key in ("save_dir", "output_eval"):
            if key in task.config:
                cfg[key] = task.config[key]
            else:
                cfg.pop(key, None)
        return cfg

    def install_hooks(self):
        from . import hooks

        hooks.install()

    def owns_checkout(self, root):
        return (pathlib.Path(root) / "ppdet").is_dir() and (pathlib.Path(root) / "configs").is_dir()

    def doctor_configs(self, root):
        from . import doctor

        return doctor.walk_configs(self, root)

    def doctor(self):
        from . import compat

        lines = []
        try:
            from importlib.metadata import version

            lines.append(f"paddledet {version('paddledet')}")
        except Exception:
            lines.append("paddledet: not installed (a source checkout's tools/train.py still works)")
        for name, text, applies in compat.FIXES:
            try:
                state = "applied" if applies() else "not needed"
            except Exception as e:  # noqa: BLE001 - doctor reports, never fails
                state = f"unknown ({type(e).__name__})"
            lines.append(f"  fix {name}: {state} - {text}")
        return lines

    def demo(self, out):
        from .digits_det import write_demo_config

        return self.load(None, ["-c", str(write_demo_config(out, epochs=3))]), [
            "--preset", "det-nms-anchor", "--pruner", "asha", "--seed", "0"]
