"""Hands every PaddleNLP or PaddleFormers evaluation of a training to the tuning coordinator.

A ``TrainerCallback`` whose ``on_evaluate`` passes the eval metrics (``eval_loss``, ``eval_accuracy``, ...)
to ``paddle_autotune_plugins.trials.reporting.report``: exact numbers, in-process, instead of parsing the coloured
stderr log. Outside a study (``PADDLE_AUTOTUNE_REPORT`` unset) it does nothing.

When training begins it also sends the knob proof (``report_used``): the tuned ``TrainingArguments`` the
Trainer holds, and the learning rate its built scheduler starts from (``base_lr``, the peak of a warm-up
schedule), which is what the optimizer really reaches whatever the flags said.

Only the evaluations of ``train()`` are reports: the ``trainer.evaluate()`` a script runs after training (as
PaddleFormers' examples do) evaluates the same model again, and is reported only when training evaluated
nothing (a script that evaluates only at its end).

The callback is built on the ``TrainerCallback`` of the package the Trainer comes from (PaddleFormers copies
PaddleNLP's Trainer). In any PaddleNLP script::

    trainer = Trainer(...)
    install(trainer)          # or Trainer(..., callbacks=[AutotuneReportCallback()])

and in a PaddleFormers one ``install(trainer, "paddleformers")``.
"""
import importlib
import math
import numbers

from paddle_autotune_plugins.trials.reporting import report, report_progress, report_used, stop_requested, tuned_paths


def _numeric(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    try:  # numpy scalars and 0-D arrays / tensors (Paddle >= 2.5 returns 0-D from reductions)
        if getattr(value, "size", None) == 1 or getattr(value, "shape", None) in ((), []):
            return float(value.item() if hasattr(value, "item") else value)
    except (TypeError, ValueError):
        pass
    return None


def eval_step(args, state):
    """The step a report is filed under: the epoch number when evaluating per epoch, else the global step.

    Per-epoch numbers line up with the suite's notion of progress (PaddleClas and PaddleDetection report
    per epoch too), so pruners compare like with like.
    """
    strategy = getattr(args, "evaluation_strategy", None)
    if str(getattr(strategy, "value", strategy)) == "epoch" and state.epoch:
        return int(round(state.epoch))
    return int(state.global_step)


class ReportingCallback:
    """Reports each evaluation's numeric metrics. NaN and inf are reported as such: the coordinator decides.
    The methods of AutotuneReportCallback, whose TrainerCallback base is PaddleNLP's or PaddleFormers'."""

    _training = False  # inside train(): its evaluations are the reports
    _reported = False  # training evaluated at least once

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if not metrics or (self._reported and not self._training):
            return control  # the final evaluate() of a script: the last evaluation again, not one more
        clean = {}
        for name, value in metrics.items():
            number = _numeric(value)
            if number is not None:  # NaN included: float('nan') is a Real
                clean[name] = number
        if clean:
            report(eval_step(args, state), clean)
            self._reported = True
        return control

    def on_train_end(self, args, state, control, **kwargs):
        self._training = False
        return control

    def on_train_begin(self, args, state, control, lr_scheduler=None, **kwargs):
        self._training = True
        used = {path: getattr(args, path) for path in tuned_paths() if hasattr(args, path)}
        peak = getattr(lr_scheduler, "base_lr", None)
        if "learning_rate" in used and isinstance(peak, (int, float)):
            used["learning_rate"] = float(peak)
        if used:
            report_used(used)
        return control

    # progress lines (epoch k/N, iter i/n) for the coordinator's ETA
    def on_epoch_begin(self, args, state, control, **kwargs):
        self._epoch, self._first_step = int(math.floor((state.epoch or 0) + 1e-6)) + 1, state.global_step
        report_progress(self._epoch, _epochs(state))
        return control

    def on_epoch_end(self, args, state, control, **kwargs):
        if getattr(self, "_epoch", None):
            report_progress(self._epoch, _epochs(state), end=True)
        return control

    def on_step_end(self, args, state, control, **kwargs):
        if getattr(self, "_epoch", None):
            epochs = _epochs(state)
            report_progress(self._epoch, epochs, iter=state.global_step - self._first_step,
                            iters=math.ceil(state.max_steps / epochs) if epochs and state.max_steps else None)
        if stop_requested():  # pruned: end the training loop cleanly instead of being killed
            control.should_training_stop = True
        return control


def _epochs(state):
    """The number of epochs the Trainer runs, None when it goes by max_steps over an endless iterator."""
    epochs = getattr(state, "num_train_epochs", None)
    return epochs if isinstance(epochs, int) and 0 < epochs < 1 << 30 else None


_CLASSES = {}


def callback_class(package="paddlenlp"):
    """AutotuneReportCallback on the TrainerCallback of ``package`` (paddlenlp or paddleformers)."""
    if package not in _CLASSES:
        base = importlib.import_module(f"{package}.trainer").TrainerCallback
        _CLASSES[package] = type("AutotuneReportCallback", (ReportingCallback, base), {"__module__": __name__})
    return _CLASSES[package]


def __getattr__(name):
    if name == "AutotuneReportCallback":  # PaddleNLP's, as this module has always offered it
        return callback_class("paddlenlp")
    raise AttributeError(name)


def install(trainer, package="paddlenlp"):
    """Add the reporting callback to a PaddleNLP (or PaddleFormers) Trainer once; return the trainer."""
    handler = getattr(trainer, "callback_handler", None)
    callbacks = getattr(handler, "callbacks", [])
    if not any(isinstance(cb, ReportingCallback) for cb in callbacks):
        trainer.add_callback(callback_class(package)())
    return trainer
