"""Schedule compression for PaddleDetection configs: the whole training schedule fitted into fewer epochs.

A low-fidelity evaluation of a config is a complete training whose schedule is the full one compressed to
``epochs``: warm-up, milestones, cosine horizon and the epoch-counted switches of heads and readers sit at
the same fractions of training as in the full run. ``compress`` is a pure function on the adapter's native
config (``config_io.load``: ``_BASE_`` merged, ``!Tag`` objects kept as ``config_io.Tagged``); the input is
left as it is. Meant for a trial's final config, after the sampled values are written into it.

What it rescales (ppdet 2.6.0 wheel, release/2.7.1 and develop build these the same way):

- ``epoch`` becomes ``epochs``;
- ``LearningRate.schedulers``, by tag (``!Name`` or ``name: Name``):
  ``PiecewiseDecay``: ``milestones`` (epochs) as milestones (below), ``gamma`` / ``values`` unchanged;
  ``CosineDecay``: ``max_epochs`` (its horizon, which may lie past the last epoch) and
  ``last_plateau_epochs``, scaled and rounded to whole epochs (ppdet multiplies them by an int);
  ``LinearWarmup`` / ``ExpWarmup``: ``steps`` (iterations) scaled and rounded, at least 1; ``epochs`` (a
  warm-up in epochs, which wins over ``steps`` where set) scaled: kept when whole, else written as
  ``steps`` (``epochs`` removed) when ``steps_per_epoch`` is given, else rounded to whole epochs (at least
  1, and it must end before the training does);
- epoch counts of the training's phases, wherever they are in the config: ``static_assigner_epoch``
  (PicoDet / PP-YOLOE heads: ATSS before the task-aligned assigner), ``mixup_epoch``, ``mosaic_epoch``
  (readers); positive ones are scaled and rounded to whole epochs, at least 1; negative ones (``-1``,
  "never" / "always") stay.

Milestones follow ``suites/kit/schedule.scale_milestones`` (as PaddleClas's do): nearest whole epoch, in
order, at least one epoch apart, inside the training when they were inside it, past its end when they were
past it, none dropped (``ValueError`` says how many epochs they need).

Refused with ``ValueError`` rather than compressed wrongly: a scheduler tag not listed above, a config with
``transform_schedulers`` or ``cycle_epoch`` (reader schedules not rescaled here), one without ``epoch``.

Left as it is (how often, not the schedule): ``snapshot_epoch``, ``log_iter``.

>>> from paddle_autotune_plugins.adapters.paddledet.config_io import load_text
>>> cfg = load_text("epoch: 12\\nLearningRate:\\n  base_lr: 0.01\\n  schedulers:\\n"
...                 "  - !PiecewiseDecay {gamma: 0.1, milestones: [8, 11]}\\n  - !LinearWarmup {steps: 300}\\n")
>>> short = compress(cfg, 4)
>>> short["epoch"], short["LearningRate"]["schedulers"][0]["milestones"], short["LearningRate"]["schedulers"][1]["steps"]
(4, [2, 3], 100)
"""
import copy

from paddle_autotune_plugins.suites.kit.schedule import round_half_up, scale_milestones

SCHEDULERS = ("PiecewiseDecay", "CosineDecay", "LinearWarmup", "ExpWarmup")
PHASE_KEYS = ("static_assigner_epoch", "mixup_epoch", "mosaic_epoch")
REFUSED_KEYS = ("transform_schedulers", "cycle_epoch")


def compress(cfg, epochs, steps_per_epoch=None):
    """A copy of the ppdet config ``cfg`` whose whole schedule runs in ``epochs`` epochs (see the module)."""
    full = cfg.get("epoch") if isinstance(cfg, dict) else None
    if full is None:
        raise ValueError("the config has no epoch: nothing to compress from")
    full, new_epochs = _whole(full, "epoch"), _whole(epochs, "epochs")
    for key in REFUSED_KEYS:
        where = _find(cfg, key)
        if where:
            raise ValueError(f"{where}: {key} is a schedule that compression does not rescale; refused rather "
                             f"than compressed wrongly")
    new = copy.deepcopy(cfg)
    new["epoch"] = new_epochs
    ratio = new_epochs / full
    schedulers = (new.get("LearningRate") or {}).get("schedulers") or []
    for i, sched in enumerate(schedulers):
        where = f"LearningRate.schedulers.{i}"
        name = getattr(sched, "tag", None) or (sched.get("name") if isinstance(sched, dict) else None)
        if name not in SCHEDULERS:
            raise ValueError(f"{where}: scheduler {name!r}: compression knows {', '.join(SCHEDULERS)} only; "
                             f"refused rather than compressed wrongly")
        if name == "PiecewiseDecay":
            sched["milestones"] = scale_milestones(sched.get("milestones", [8, 11]), full, new_epochs,
                                                   f"{where}.milestones")
        elif name == "CosineDecay":
            sched["max_epochs"] = max(1, round_half_up(sched.get("max_epochs", 1000) * ratio))
            if sched.get("last_plateau_epochs"):
                sched["last_plateau_epochs"] = max(1, round_half_up(sched["last_plateau_epochs"] * ratio))
        else:
            _warmup(sched, full, new_epochs, ratio, where, steps_per_epoch)
    _phases(new, ratio)
    return new


def _warmup(sched, full, new, ratio, where, spe):
    if "steps" in sched and sched["steps"] is not None:
        sched["steps"] = max(1, round_half_up(sched["steps"] * ratio))
    w = sched.get("epochs")
    if w is None:
        return
    scaled = w * ratio
    if abs(scaled - round(scaled)) < 1e-9 and round(scaled) >= (1 if w > 0 else 0):
        sched["epochs"] = int(round(scaled))
    elif spe:
        sched["steps"] = max(1, round_half_up(scaled * spe))
        sched["epochs"] = None  # ppdet: epochs None -> the warm-up is `steps` long
    else:
        whole = max(1, round_half_up(scaled))
        if whole >= new:
            raise ValueError(f"{where}.epochs: a warm-up of {w} of {full} epochs would fill the whole {new}-epoch "
                             f"training in whole epochs; give steps_per_epoch to write it in steps")
        sched["epochs"] = whole


def _phases(node, ratio):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in PHASE_KEYS and isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                node[key] = max(1, round_half_up(value * ratio))
            else:
                _phases(value, ratio)
    elif isinstance(node, list):
        for item in node:
            _phases(item, ratio)


def _find(node, key, path=""):
    if isinstance(node, dict):
        for k, v in node.items():
            here = f"{path}.{k}" if path else str(k)
            if k == key:
                return here
            found = _find(v, key, here)
            if found:
                return found
    elif isinstance(node, list):
        for i, item in enumerate(node):
            found = _find(item, key, f"{path}.{i}")
            if found:
                return found
    return None


def _whole(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 1:
        raise ValueError(f"{what} must be a whole number of epochs >= 1, got {value!r}")
    return int(value)
