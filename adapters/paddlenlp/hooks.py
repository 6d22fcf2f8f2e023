"""Code that runs inside a PaddleNLP (or PaddleFormers) trial process started on a user's own script.

- Every ``Trainer`` the script builds gets the reporting callback, attached right after PaddleNLP's (or
  PaddleFormers') trainer module is imported; no file of the script or of the suite is edited.
- A script with a loop of its own (``applications/text_classification/multi_class/train.py``) logs its
  evaluations through ``paddlenlp.utils.log.logger``, on stderr: each ``eval loss: ..., acc: ...`` line is one
  report (``eval_loss``, ``eval_accuracy``), read by the flag scripts' output reader
  (suites/kit/script_output.py). Once a Trainer is built the callback reports instead, so no evaluation is
  reported twice.
- Knob proof: the parsed arguments (argparse, and ``PdArgumentParser``'s dataclasses for Trainer scripts)
  are sent with ``report_used``; the callback adds the learning rate of the built scheduler.
"""
import dataclasses
import os

from paddle_autotune_plugins.suites.kit import script_output as script_hooks
from paddle_autotune_plugins.suites.kit.patching import is_patched, mark_patched
from paddle_autotune_plugins.trials.import_hooks import when_imported
from paddle_autotune_plugins.trials.reporting import METRIC_ENV

_EVAL_LINES = script_hooks.EvalLines()
TRAINER_ARGUMENTS = {"per_device_train_batch_size", "evaluation_strategy"}  # what tells TrainingArguments
PACKAGES = ("paddlenlp", "paddleformers")  # PaddleFormers' trainer is PaddleNLP's, under its own name


def _hook_trainer(module):
    trainer_cls = getattr(module, "Trainer", None)
    if trainer_cls is None or is_patched(trainer_cls.__init__):
        return
    original = trainer_cls.__init__
    package = module.__name__.split(".")[0]

    def __init__(self, *args, **kwargs):
        _EVAL_LINES.active = False  # the callback has the exact numbers (and __init__ logs eval_batch_size ...)
        original(self, *args, **kwargs)
        from .callback import install

        install(self, package)

    mark_patched(__init__)
    trainer_cls.__init__ = __init__


class _NoGPTModel:
    """What nothing is an instance of: paddlefleet's GPTModel where paddlefleet is not installed."""


def fix_missing_gpt_model(module):
    """PaddleFormers 1.2.0's ``Trainer.evaluation_loop`` tests ``isinstance(self.model.model, GPTModel)`` for a
    LoRA model, but imports GPTModel only with paddlefleet (GPU builds): without it every evaluation of a
    LoRA run (paddleformers-cli's fine_tuning: LoRA) raises NameError. A class nothing is an instance of
    stands in, which is what the test means there."""
    if not hasattr(module, "GPTModel"):
        module.GPTModel = _NoGPTModel


def parsed_values(outputs):
    """{argument: value} of what PdArgumentParser returned (dataclasses, and a Namespace of the rest)."""
    values = {}
    for item in outputs if isinstance(outputs, tuple) else (outputs,):
        if dataclasses.is_dataclass(item) and not isinstance(item, type):
            values.update({f.name: getattr(item, f.name) for f in dataclasses.fields(item)})
        elif hasattr(item, "__dict__") and type(item).__name__ == "Namespace":
            values.update(vars(item))
    return values


def _hook_argparser(module):
    """Report the dataclass fields after __post_init__ (what the Trainer reads), not argparse's raw values."""
    parser_cls = getattr(module, "PdArgumentParser", None)
    if parser_cls is None:
        return
    # common_parse serves the flag and JSON paths in PaddleNLP 3; older ones have only the public methods
    for name in ("common_parse", "parse_args_into_dataclasses", "parse_json_file", "parse_dict"):
        original = parser_cls.__dict__.get(name)
        if original is None or is_patched(original):
            continue
        setattr(parser_cls, name, _reporting(original))


def _reporting(original):
    def parse(self, *args, **kwargs):
        with script_hooks.parsing() as outermost:
            outputs = original(self, *args, **kwargs)
        if outermost:
            values = parsed_values(outputs)
            if TRAINER_ARGUMENTS & set(values):  # a Trainer script: its callback reports; the log also holds
                _EVAL_LINES.active = False  # config dumps (print_config's "eval_batch_size : 8")
            script_hooks.send_used(values)
        return outputs

    mark_patched(parse)
    return parse


def install():
    _EVAL_LINES.metric = os.environ.get(METRIC_ENV)
    script_hooks.read_output(_EVAL_LINES)
    script_hooks.hook_parse_args()
    for package in PACKAGES:
        when_imported(f"{package}.trainer.argparser", _hook_argparser)
        when_imported(f"{package}.trainer.trainer", _hook_trainer)
    when_imported("paddleformers.trainer.trainer", fix_missing_gpt_model)
