"""Schedule compression for PaddleNLP training arguments: the whole schedule fitted into fewer epochs.

A low-fidelity evaluation of a config is a complete training whose schedule is the full one compressed to
``epochs``: the warm-up ends and the decay reaches its end at the same fractions of training as in the full
run. ``compress`` is a pure function on the adapter's native config, the mapping of argument name to value
(a JSON/YAML arguments file plus flags); the input is left as it is. Meant for a trial's final config, after
the sampled values are written into it.

What it rescales, by the kind of script (told apart by the length key the config names):

- Trainer scripts (``TrainingArguments``: the plugin's own ``train_seq_cls``, PaddleNLP's Trainer examples):
  ``num_train_epochs`` becomes ``epochs``; or, where ``max_steps`` > 0 sets the length (it overrides
  ``num_train_epochs``), ``max_steps`` becomes ``epochs * steps_per_epoch`` (``steps_per_epoch`` must then
  be given); ``warmup_steps`` (> 0 overrides ``warmup_ratio``) and ``decay_steps`` (> 0, the decay horizon
  where the installed PaddleNLP has it) are scaled by the same factor, rounded to whole steps, at least 1;
  ``warmup_ratio`` is a fraction of the total and stays. The decay horizon of ``lr_scheduler_type``
  ``linear``, ``cosine``, ``polynomial``, ``constant_with_warmup``, ``constant`` is built from the total
  steps (``Trainer.create_scheduler``), so their own keys (``num_cycles``, ``lr_end``, ``power``) stay;
- scripts with a loop of their own (``applications/text_classification/multi_class/train.py``): ``epochs``
  becomes ``epochs``; ``warmup_proportion`` is a fraction of ``len(loader) * epochs`` (its
  ``LinearDecayWithWarmup``) and stays; ``early_stop_nums`` (a patience in epochs) is scaled, at least 1.

Refused with ``ValueError`` rather than compressed wrongly: an ``lr_scheduler_type`` not listed above, a
config that names no length (``num_train_epochs``, ``max_steps`` or ``epochs``: the defaults differ by
script) or both kinds of length key, ``max_steps`` without ``steps_per_epoch``, fractional epochs.

Left as they are (how often, not the schedule): ``eval_steps``, ``save_steps``, ``logging_steps``; with
``evaluation_strategy: epoch`` (the plugin's default) a compressed run evaluates once an epoch.

>>> compress({"num_train_epochs": 9, "warmup_steps": 90, "learning_rate": 1e-3}, 3)
{'num_train_epochs': 3, 'warmup_steps': 30, 'learning_rate': 0.001}
"""
import copy
import math

SCHEDULERS = ("linear", "cosine", "polynomial", "constant_with_warmup", "constant")


def compress(cfg, epochs, steps_per_epoch=None):
    """A copy of ``cfg`` (argument name -> value) whose whole schedule runs in ``epochs`` epochs."""
    if isinstance(epochs, bool) or not isinstance(epochs, (int, float)) or epochs != int(epochs) or epochs < 1:
        raise ValueError(f"epochs must be a whole number >= 1, got {epochs!r}")
    epochs = int(epochs)
    trainer = "num_train_epochs" in cfg or length_in_steps(cfg)
    script = "epochs" in cfg
    if trainer and script:
        raise ValueError("the config names both num_train_epochs/max_steps (TrainingArguments) and epochs (a "
                         "script's own flag): cannot tell which one sets the length")
    if not trainer and not script:
        raise ValueError("the config names no training length (num_train_epochs, max_steps or epochs); give it "
                         "explicitly: the defaults differ by script")
    new = copy.deepcopy(cfg)
    if script:
        full = _whole(cfg["epochs"], "epochs")
        new["epochs"] = epochs
        if "early_stop_nums" in new:
            new["early_stop_nums"] = max(1, _half_up(_number(new["early_stop_nums"], "early_stop_nums")
                                                     * epochs / full))
        return new
    kind = str(getattr(cfg.get("lr_scheduler_type", "linear"), "value", cfg.get("lr_scheduler_type", "linear")))
    if kind not in SCHEDULERS:
        raise ValueError(f"lr_scheduler_type {kind!r}: schedule compression knows {', '.join(SCHEDULERS)} only; "
                         f"refused rather than compressed wrongly")
    if length_in_steps(cfg):
        if not steps_per_epoch:
            raise ValueError("max_steps sets this training's length in steps: give steps_per_epoch to compress "
                             "it to a number of epochs")
        full_steps = _number(cfg["max_steps"], "max_steps")
        new["max_steps"] = int(epochs * steps_per_epoch)
        ratio = new["max_steps"] / full_steps
    else:
        full = _whole(cfg["num_train_epochs"], "num_train_epochs")
        new["num_train_epochs"] = epochs
        ratio = epochs / full
    for key in ("warmup_steps", "decay_steps"):
        if _positive(cfg.get(key)):
            new[key] = max(1, _half_up(_number(cfg[key], key) * ratio))
    return new


def length_in_steps(cfg):
    """Whether max_steps (> 0) sets this Trainer run's length: it overrides num_train_epochs, and the epochs
    it makes then depend on the data's size."""
    return _positive(cfg.get("max_steps"))


def _half_up(x):
    return int(math.floor(x + 0.5))


def _positive(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _number(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what} must be a number, got {value!r}")
    return value


def _whole(value, what):
    value = _number(value, what)
    if value != int(value) or value < 1:
        raise ValueError(f"{what} = {value!r}: compression needs a whole number of epochs >= 1")
    return int(value)
