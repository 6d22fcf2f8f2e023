"""Code that runs inside a PaddleOCR trial process: one report per evaluation, and the knobs' readback.

The checkout's tools/train.py builds everything, then calls ``tools.program.train``, whose loop calls the
module's ``eval`` at each evaluation step and logs "cur metric" (then "best metric", which is no new
evaluation). Both functions are wrapped when ``tools.program`` is imported (``when_imported``), so no file
is edited: ``train`` hands the built optimizer, scheduler, loader and post-process to readback.py, and each
``eval`` called from the training loop is reported at that loop's global step, with the metric class's own
values (``fps``, the speed of that evaluation, is left out: it measures the machine, not the model).
"""
import inspect
import os
import sys

from paddle_autotune_plugins.suites.kit.patching import is_patched, mark_patched
from paddle_autotune_plugins.trials.import_hooks import when_imported
from paddle_autotune_plugins.trials.reporting import ENV_VAR, report, report_progress, report_used

PROGRAM = "tools.program"  # the checkout's module: tools/train.py puts the checkout first on sys.path
NOT_METRICS = ("fps",)

FIXES = []  # (name, what it does, whether it applies): PaddleOCR 2.10 and main train on Paddle 3 unchanged


def eval_metrics(result):
    """The metric class's numbers from what ``program.eval`` returns (``fps`` and flags left out)."""
    metrics = {}
    for name, value in (result or {}).items():
        if name in NOT_METRICS or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        metrics[name] = float(value)
    return metrics


def _say(text):
    print(f"[autotune] {text}", file=sys.stderr, flush=True)


class _ProgressLoader:
    """The train loader, saying when each epoch starts and ends and how far into it the loop is (the
    coordinator's epoch k/N and ETA); anything else (its dataset, its length) goes to the loader itself. A
    data set that is rebuilt each epoch (``dataset.need_reset``) replaces it, and its lines stop there."""

    def __init__(self, loader, epochs, first_epoch=1):
        self._loader, self._epochs, self._epoch = loader, epochs, first_epoch - 1

    def __iter__(self):
        self._epoch += 1
        report_progress(self._epoch, self._epochs)
        total = len(self._loader)
        for i, batch in enumerate(self._loader):
            yield batch
            report_progress(self._epoch, self._epochs, iter=i + 1, iters=total)  # asked for the next: trained
        report_progress(self._epoch, self._epochs, end=True)

    def __len__(self):
        return len(self._loader)

    def __getattr__(self, name):
        return getattr(self._loader, name)


def _report_knobs(train, args, kwargs):
    """The knobs as the objects ``train`` was handed hold them (readback.py), sent to the coordinator."""
    try:
        from .readback import train_values

        a = inspect.signature(train).bind(*args, **kwargs).arguments
        report_used(train_values(a["config"], a["optimizer"], a["lr_scheduler"], a["train_dataloader"],
                                 a["post_process_class"], a["step_pre_epoch"]))
    except Exception as e:  # noqa: BLE001 - the knob check must not cost the user the training
        _say(f"could not read the knobs from the trainer: {type(e).__name__}: {e}")


def _hook_program(module):
    if is_patched(module):
        return
    mark_patched(module)
    original_train, original_eval = module.train, module.eval

    def train(*args, **kwargs):
        if not os.environ.get(ENV_VAR):
            return original_train(*args, **kwargs)
        _report_knobs(original_train, args, kwargs)
        try:
            bound = inspect.signature(original_train).bind(*args, **kwargs)
            a = bound.arguments
            first = int((a.get("pre_best_model_dict") or {}).get("start_epoch", 1))
            a["train_dataloader"] = _ProgressLoader(a["train_dataloader"], a["config"]["Global"]["epoch_num"], first)
            args, kwargs = bound.args, bound.kwargs
        except Exception as e:  # noqa: BLE001 - progress lines are a nicety: train without them
            _say(f"no progress lines for this trainer: {type(e).__name__}: {e}")
        return original_train(*args, **kwargs)

    def eval(*args, **kwargs):
        result = original_eval(*args, **kwargs)
        loop = sys._getframe(1).f_locals  # the training loop's frame: its global step
        step = loop.get("global_step")
        if isinstance(step, int) and "train_dataloader" in loop:  # not tools/eval.py's single evaluation
            report(step, eval_metrics(result))
        return result

    module.train, module.eval = train, eval


def install():
    when_imported(PROGRAM, _hook_program)
