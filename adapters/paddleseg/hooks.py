"""Code that runs inside a PaddleSeg trial process: the mIoU of every evaluation, the knob values the
trainer really uses, and a Paddle 3 fix for the 2.8 wheel. Attached with ``when_imported`` to
``paddleseg.core.train`` (the module whose ``train`` tools/train.py calls), so they reach whichever
paddleseg the trial imports (a checkout's or the wheel's) without a file being edited:

- ``train`` is wrapped: before the loop starts, the optimizer, its scheduler and the built losses it was
  handed are read (readback.py) and sent with ``report_used``;
- the module's ``evaluate`` (what the loop calls every ``save_interval`` iterations and at the last one)
  is wrapped: its result is reported as ``{mIoU, Acc, Kappa, Dice}`` at the loop's iteration, and at the
  first evaluation the live train loader's batch size is read from the loop and sent too. The EMA model's
  second evaluation (``--use_ema``) is not reported: the trainer keeps its best model by the first.
"""
import os
import sys

from paddle_autotune_plugins.suites.kit.patching import is_patched, mark_patched
from paddle_autotune_plugins.suites.kit.zero_d import PaddleWith1DConcat, as_1d
from paddle_autotune_plugins.trials.import_hooks import when_imported
from paddle_autotune_plugins.trials.reporting import ENV_VAR, report, report_used


def _paddle_3():
    import paddle

    major, minor = (int(x) for x in paddle.__version__.split(".")[:2])
    return (major, minor) >= (2, 5) or paddle.__version__.startswith("0.0")


def _indexes_loss_arrays(module):
    """paddleseg 2.8's loop averages the losses as ``loss.numpy()`` and then indexes them ``[0]``, which a
    0-D tensor (Paddle >= 2.5) cannot take; 2.9 uses float()."""
    import inspect

    try:
        source = inspect.getsource(module.train)
    except (OSError, TypeError):
        return False
    return "l[0] / log_iters" in source


def _writes_labels(cls):
    """DiceLoss sets the ignored pixels of the labels to 0 in place; the same labels tensor has already gone
    into the graph through the other outputs' losses (or MixedLoss's cross-entropy), and Paddle 3's
    backward refuses a tensor changed in place after use ("modified by an inplace operation")."""
    import inspect

    try:
        return "labels[labels == self.ignore_index] = 0" in inspect.getsource(cls.forward)
    except (OSError, TypeError):
        return False


def _fix_dice_loss(module):
    cls = getattr(module, "DiceLoss", None)
    if cls is None or is_patched(cls.forward, "_autotune_fixed") or not _writes_labels(cls):
        return
    original = cls.forward

    def forward(self, logits, labels, *args, **kwargs):
        return original(self, logits, labels.clone(), *args, **kwargs)

    mark_patched(forward, "_autotune_fixed")
    cls.forward = forward


class _FloatOnes:
    """Stands in for ``paddle`` inside paddleseg 2.8's cross_entropy_loss module: ``ones_like`` of the
    (int64) labels is float32, the dtype of the mask it multiplies (Paddle 3 refuses float32 x int64:
    "Type promotion only support calculations between floating-point numbers")."""

    def __init__(self, paddle):
        self._paddle = paddle

    def __getattr__(self, name):
        return getattr(self._paddle, name)

    def ones_like(self, x, dtype=None, name=None):
        if dtype is None and not self._paddle.is_floating_point(x):  # only the int labels' ones change
            dtype = "float32"
        return self._paddle.ones_like(x, dtype=dtype, name=name)


def _multiplies_int_ones(module):
    import inspect

    try:
        source = inspect.getsource(module.CrossEntropyLoss._post_process_loss)
    except (OSError, TypeError, AttributeError):
        return False
    return "coef = paddle.ones_like(label)" in source and "mask * coef)" in source


def _concats_areas(module):
    import inspect

    try:
        return "paddle.concat(pred_area)" in inspect.getsource(module.calculate_area)
    except (OSError, TypeError, AttributeError):
        return False


class _PaddleSwap:
    """A fix that gives one paddleseg module a stand-in for the name ``paddle`` (``wrapper(paddle)``), where
    ``needs(module)`` finds its 2.8 code that fails on Paddle 3."""

    def __init__(self, module_name, needs, wrapper):
        self.module_name, self.needs, self.wrapper = module_name, needs, wrapper

    def fix(self, module):
        import paddle

        if _paddle_3() and self.needs(module) and not isinstance(module.paddle, self.wrapper):
            module.paddle = self.wrapper(paddle)

    def applies(self):
        import importlib
        import importlib.util

        if importlib.util.find_spec("paddleseg") is None:
            return False
        module = importlib.import_module(self.module_name)
        return _paddle_3() and (self.needs(module) or isinstance(module.paddle, self.wrapper))


# paddleseg 2.8's calculate_area concatenates 0-D sums: every evaluation fails on Paddle 3 with "The axis is
# expected to be in range of [0, 0)"; 2.9 stacks them
_METRICS = _PaddleSwap("paddleseg.utils.metrics", _concats_areas, PaddleWith1DConcat)
_CROSS_ENTROPY = _PaddleSwap("paddleseg.models.losses.cross_entropy_loss", _multiplies_int_ones, _FloatOnes)


def _dice_applies():
    import importlib.util

    spec = importlib.util.find_spec("paddleseg")
    if spec is None:
        return False
    from paddleseg.models.losses import dice_loss

    return _writes_labels(dice_loss.DiceLoss)


def _losses_apply():
    import importlib
    import importlib.util

    if importlib.util.find_spec("paddleseg") is None:
        return False
    return _paddle_3() and _indexes_loss_arrays(importlib.import_module("paddleseg.core.train"))


FIXES = [  # (name, what it does, whether it applies to the importable paddleseg)
    ("seg-0d-losses", "each output's loss made 1-D where paddleseg 2.8's train loop indexes loss.numpy()[0] "
                      "(Paddle >= 2.5 returns 0-D); only for a train loop that indexes them", _losses_apply),
    ("seg-0d-areas", "paddleseg 2.8's calculate_area concatenates 0-D per-class sums (every evaluation fails on "
                     "Paddle >= 2.5): concat in that module takes them as shape [1]", _METRICS.applies),
    ("seg-ce-int-ones", "paddleseg 2.8's CrossEntropyLoss multiplies its float mask by int64 ones (Paddle 3 "
                        "refuses the mix): those ones are float32; a CrossEntropyLoss with class weights still fails "
                        "there (label * mask)", _CROSS_ENTROPY.applies),
    ("seg-dice-labels", "DiceLoss gets its own copy of the labels, which it changes in place (the ignored "
                        "pixels set to 0) after the other losses used them: Paddle 3's backward refuses that",
     _dice_applies),
]


def dice_of(class_iou):
    """Mean Dice from per-class IoU (Dice = 2 IoU / (1 + IoU) for each class, as the trainer's Dice)."""
    values = [2.0 * float(iou) / (1.0 + float(iou)) for iou in class_iou]
    return sum(values) / len(values) if values else 0.0


def eval_metrics(result):
    """``evaluate``'s (mIoU, Acc, class IoU, class precision, Kappa) as the study's metrics."""
    miou, acc, class_iou, _, kappa = result[:5]
    return {"mIoU": float(miou), "Acc": float(acc), "Kappa": float(kappa), "Dice": dice_of(class_iou)}


def _say(text):
    print(f"[autotune] {text}", file=sys.stderr, flush=True)


def _hook_train_module(module):
    if is_patched(module):
        return
    mark_patched(module)
    original_train, original_evaluate = module.train, module.evaluate
    state = {"evals": 0, "save_interval": None, "batch_read": False}

    if _paddle_3() and _indexes_loss_arrays(module) and hasattr(module, "loss_computation"):
        original_losses = module.loss_computation

        def loss_computation(*args, **kwargs):
            return [as_1d(x) for x in original_losses(*args, **kwargs)]

        module.loss_computation = loss_computation

    def train(model, train_dataset, *args, **kwargs):
        import inspect

        bound = inspect.signature(original_train).bind(model, train_dataset, *args, **kwargs)
        bound.apply_defaults()
        state.update(evals=0, save_interval=bound.arguments.get("save_interval"), batch_read=False)
        if bound.arguments.get("val_dataset") is None and os.environ.get(ENV_VAR):
            _say("no evaluation during training (tools/train.py without --do_eval): nothing to report")
        if os.environ.get(ENV_VAR):
            try:
                from .readback import train_values

                report_used(train_values(bound.arguments.get("optimizer"), bound.arguments.get("losses"),
                                         bound.arguments.get("iters")))
            except Exception as e:  # noqa: BLE001 - the knob check must not cost the user the training
                _say(f"could not read the knobs from the trainer: {type(e).__name__}: {e}")
        return original_train(*bound.args, **bound.kwargs)

    def evaluate(model, *args, **kwargs):
        result = original_evaluate(model, *args, **kwargs)
        loop = sys._getframe(1).f_locals  # the train loop's frame: its iteration and its loader
        if loop.get("ema_model") is not None and loop.get("ema_model") is model:
            return result
        state["evals"] += 1
        step = loop.get("iter")
        if not isinstance(step, int):  # a loop that names it otherwise: evaluations come every save_interval
            step = state["evals"] * (state["save_interval"] or 1)
        if not state["batch_read"] and os.environ.get(ENV_VAR):
            state["batch_read"] = True
            sampler = loop.get("batch_sampler")
            if getattr(sampler, "batch_size", None) is not None:
                report_used({"batch_size": int(sampler.batch_size)})
        report(step, eval_metrics(result))
        return result

    module.train, module.evaluate = train, evaluate


def install():
    when_imported("paddleseg.models.losses.dice_loss", _fix_dice_loss)
    when_imported(_METRICS.module_name, _METRICS.fix)
    when_imported(_CROSS_ENTROPY.module_name, _CROSS_ENTROPY.fix)
    when_imported("paddleseg.core.train", _hook_train_module)
