"""Code that runs inside a PaddleDetection trial: Paddle 3 fixes, the per-eval mAP report, the knob
values the built Trainer really uses, and the dropout variant of the R-CNN two-FC RoI head. All attached
at import time, no file edited, so they reach whichever ppdet the trial imports (the 2.6.0 wheel or a
source checkout)."""
import math
import os
import sys

from paddle_autotune_plugins.search_space import dotpath
from paddle_autotune_plugins.suites.kit.patching import is_patched, mark_patched
from paddle_autotune_plugins.trials.import_hooks import when_imported
from paddle_autotune_plugins.trials.reporting import (ENV_VAR, report, report_progress, report_used, study_seed,
                                                      tuned_paths)

from . import compat

DROPOUT_HEAD = "TwoFCHeadDropout"


def eval_metrics(trainer):
    """{bbox_ap, bbox_ap50} (COCO) or {bbox_map} (VOC) of the eval that just ran (before ppdet resets it)."""
    results = trainer._metrics[0].get_results() or {}
    bbox = [float(v) for v in results.get("bbox", [])]
    if not bbox:  # COCOMetric has no 'bbox' entry when nothing was detected: that is AP 0
        bbox = [0.0, 0.0]
    if str(trainer.cfg.get("metric", "COCO")).upper() == "VOC":
        value = bbox[0]
        return {"bbox_map": value / 100.0 if value > 1.0 else value}  # VOC logs a percentage
    return {"bbox_ap": bbox[0], "bbox_ap50": bbox[1] if len(bbox) > 1 else bbox[0]}


# Read even when the study does not tune them, so every trial's metrics.jsonl shows what it trained with
KNOWN_PATHS = ["LearningRate.base_lr", "LearningRate.schedulers.0.gamma", "LearningRate.schedulers.0.milestones",
               "LearningRate.schedulers.1.steps", "LearningRate.schedulers.1.epochs", "TrainReader.batch_size",
               f"{DROPOUT_HEAD}.dropout"]


def trial_config(argv=None):
    """The config this process trains (its -c file, as config_io reads it), or None."""
    from .config_io import load

    argv = sys.argv if argv is None else argv
    path = next((argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg in ("-c", "--config")), None)
    path = path or next((arg.split("=", 1)[1] for arg in argv if arg.startswith("--config=")), None)
    if not path:
        return None
    try:
        return load(path)
    except Exception as e:  # noqa: BLE001 - a broken file: ppdet itself will say it better
        print(f"[autotune] cannot read {path} for the knob check: {e}", file=sys.stderr)
        return None


def candidate_paths(cfg):
    """The paths to read: the study's tuned ones, and every place a det preset may tune that the config has."""
    from paddle_autotune_plugins.search_space import presets

    paths = list(tuned_paths())
    for preset in presets.available().values():
        if preset.get("suite") != "det":
            continue
        for body in (preset.get("knobs") or {}).values():
            for place in body.get("paths", []):
                for pattern in [place["path"]] + list(place.get("also") or []):
                    paths += presets.expand(cfg, pattern)
    paths += [p for p in KNOWN_PATHS if dotpath.has(cfg, p)]
    return list(dict.fromkeys(paths))


def report_knobs(trainer, steps_per_epoch=None):
    """The knob values of the built Trainer (model, optimizer's scheduler, train loader), to the coordinator.
    Never stops the training: a failure to read is said on stderr, and the knobs go unchecked."""
    from . import live

    if not os.environ.get(ENV_VAR):  # not under a study: the trainer runs exactly as the suite's own
        return
    cfg = trial_config()
    if cfg is None:
        return
    try:
        loader = getattr(trainer, "loader", None)
        scheduler = getattr(getattr(trainer, "optimizer", None), "_learning_rate", None) or getattr(trainer, "lr", None)
        used = live.used_values(candidate_paths(cfg), cfg, model=trainer.model, scheduler=scheduler,
                                steps_per_epoch=steps_per_epoch or (len(loader) if loader is not None else None),
                                train_reader=loader,
                                batch_size=getattr(getattr(loader, "_batch_sampler", None), "batch_size", None))
    except Exception as e:  # noqa: BLE001 - the knob check must not cost the user the training
        print(f"[autotune] could not read the knobs from the trainer: {type(e).__name__}: {e}", file=sys.stderr)
        return
    if used:
        report_used(used)


def seed_from_study():
    """Seed the trial as ppdet's own ``--enable_ce`` does (paddle, random, numpy), with the study's --seed,
    before the Trainer builds its model and loaders: a ppdet config has no seed key, and unseeded trials of
    one config end about 0.1 bbox AP apart."""
    seed = study_seed()
    if seed is None:
        return
    import random

    import numpy as np
    import paddle

    paddle.seed(seed)
    random.seed(seed)
    np.random.seed(seed)


def _hook_trainer(module):
    trainer_cls = getattr(module, "Trainer", None)
    if trainer_cls is None or is_patched(trainer_cls.__init__):
        return
    from ppdet.engine.callbacks import Callback

    class ReportCallback(Callback):
        def on_train_begin(self, status):  # self.model is the Trainer (ppdet's name): all built by now
            report_knobs(self.model, status.get("steps_per_epoch"))

        # progress lines (epoch k/N, iter i/n) for the coordinator's ETA; ppdet's eval calls on_epoch_begin
        # too, still in mode 'train', with the epoch that just ended
        def on_epoch_begin(self, status):
            if status.get("mode") == "train" and status["epoch_id"] != getattr(self, "_ended", None):
                report_progress(status["epoch_id"] + 1, self.model.cfg.get("epoch"))

        def on_step_end(self, status):
            if status.get("mode") == "train":
                report_progress(status["epoch_id"] + 1, self.model.cfg.get("epoch"), iter=status["step_id"] + 1,
                                iters=status.get("steps_per_epoch"))

        def on_epoch_end(self, status):
            if status.get("mode") == "train":
                self._ended = status["epoch_id"]
                report_progress(status["epoch_id"] + 1, self.model.cfg.get("epoch"), end=True)
            if status.get("mode") == "eval":
                report(status["epoch_id"] + 1, eval_metrics(self.model))

    original = trainer_cls.__init__

    def __init__(self, cfg, mode="train"):
        if mode == "train":
            seed_from_study()
        original(self, cfg, mode)
        if mode == "train":
            self.register_callbacks([ReportCallback(self)])

    mark_patched(__init__)
    trainer_cls.__init__ = __init__


def _register_dropout_head(module):
    """TwoFCHead with dropout after each FC: no shipped R-CNN RoI head has one (docs/suites.md)."""
    import paddle.nn as nn
    from ppdet.core.workspace import register

    base = module.TwoFCHead
    if getattr(module, DROPOUT_HEAD, None) is not None:
        return

    class TwoFCHeadDropout(base):
        def __init__(self, in_channel=256, out_channel=1024, resolution=7, dropout=0.0):
            super().__init__(in_channel=in_channel, out_channel=out_channel, resolution=resolution)
            self.dropout = nn.Dropout(p=float(dropout)) if dropout and not math.isclose(dropout, 0.0) else None

        def forward(self, rois_feat):
            if self.dropout is None:
                return super().forward(rois_feat)
            import paddle
            import paddle.nn.functional as F

            x = paddle.flatten(rois_feat, start_axis=1, stop_axis=-1)
            x = self.dropout(F.relu(self.fc6(x)))
            return self.dropout(F.relu(self.fc7(x)))

    # ppdet's create() imports the class from the module its schema names: make that bbox_head
    TwoFCHeadDropout.__module__ = module.__name__
    setattr(module, DROPOUT_HEAD, register(TwoFCHeadDropout))


def install():
    compat.install()
    when_imported("ppdet.engine.trainer", _hook_trainer)
    when_imported("ppdet.modeling.heads.bbox_head", _register_dropout_head)
