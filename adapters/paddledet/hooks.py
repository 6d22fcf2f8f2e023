"""Code that runs inside a PaddleDetection trial: Paddle 3 fixes, the per-eval mAP report, and the
dropout variant of the R-CNN two-FC RoI head. All attached at import time, no file edited, so they
reach whichever ppdet the trial imports (the 2.6.0 wheel or a source checkout)."""
import math

from paddle_autotune_plugins.import_hooks import when_imported
from paddle_autotune_plugins.reporting import report

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


def _hook_trainer(module):
    trainer_cls = getattr(module, "Trainer", None)
    if trainer_cls is None or getattr(trainer_cls.__init__, "_autotune_hooked", False):
        return
    from ppdet.engine.callbacks import Callback

    class ReportCallback(Callback):
        def on_epoch_end(self, status):
            if status.get("mode") == "eval":
                report(status["epoch_id"] + 1, eval_metrics(self.model))

    original = trainer_cls.__init__

    def __init__(self, cfg, mode="train"):
        original(self, cfg, mode)
        if mode == "train":
            self.register_callbacks([ReportCallback(self)])

    __init__._autotune_hooked = True
    trainer_cls.__init__ = __init__


def _register_dropout_head(module):
    """TwoFCHead with dropout after each FC: no shipped R-CNN RoI head has one (SUITES.md)."""
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
