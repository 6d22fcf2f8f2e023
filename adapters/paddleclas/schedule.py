"""Schedule compression for PaddleClas configs: the whole learning-rate schedule fitted into fewer epochs.

A low-fidelity evaluation of a config is a complete training whose schedule is the full one compressed to
``epochs``: every point of it (warm-up end, milestones, cosine horizon) sits at the same fraction of training
as in the full run, within whole-epoch rounding where ppcls needs whole epochs. ``compress`` is a pure
function on the native config dict (the one ``ppcls.utils.config.get_config`` reads); the input is left as it
is. It is meant for a trial's final config, after the sampled values are written into it: a knob may move a
schedule key (``warmup_epoch``) or be one that compression rewrites (Piecewise's ``learning_rate``).

What it rescales, by ``Optimizer.lr.name`` (ppcls 2.4 wheel and the 2.5.2 / develop checkouts; the same
keys in each ``Optimizer[i].<Name>.lr`` of a multi-optimizer config):

- every schedule: ``Global.epochs`` becomes ``epochs``;
- ``Cosine``, ``Linear``: nothing more, their horizon (``T_max``, ``decay_steps``) is built from epochs;
  ``warmup_epoch`` is scaled and rounded to whole epochs (ppcls builds ``(epochs - warmup_epoch) *
  step_each_epoch`` as ``T_max``, which Paddle refuses unless an int);
- ``Piecewise``: ``decay_epochs`` as milestones (below); ``values`` unchanged; ``warmup_epoch`` scaled exactly
  (ppcls rounds ``warmup_epoch * step_each_epoch`` to steps itself), to whole epochs when ``by_epoch``.
  Where the trainer rebuilds the schedule from ``learning_rate`` (ppcls 2.5.1 on, ``piecewise_reads=
  "learning_rate"``: one decay by 10 every 30 epochs), that rebuilt schedule is written out as explicit
  ``decay_epochs`` / ``values`` and ``learning_rate`` is removed, so every ppcls version trains the same curve;
- ``MultiStepDecay``: ``milestones`` as milestones; ``warmup_epoch`` scaled exactly (to whole epochs when
  ``by_epoch``);
- ``Step``: ``step_size`` scaled when that gives a whole number of epochs; otherwise the schedule becomes the
  ``Piecewise`` with the same decays (``decay_epochs`` at the compressed multiples of ``step_size`` inside the
  training, ``values`` ``learning_rate * gamma**k``): ppcls 2.4 takes only a whole ``step_size``;
  ``warmup_epoch`` scaled exactly;
- ``Constant``, ``ConstLR`` and an ``lr`` without ``name`` (a bare ``learning_rate``): ``warmup_epoch`` only.

Milestones (epoch numbers where the rate changes) are rounded to the nearest whole epoch and kept in order,
at least 1 epoch apart, inside the training (between epoch 1 and ``epochs - 1``) when they were inside the
full one, and past its end when they were past it; none is dropped: if they do not fit, ``ValueError``
says how many epochs they need. A warm-up is never dropped either: a non-zero one stays at least one epoch in the
whole-epoch schedules and must end before the training does; elsewhere it is the exact fraction (with
``steps_per_epoch`` given: whole steps, at least one).

Refused with ``ValueError`` rather than compressed wrongly: a schedule name not listed above (``Cyclic``,
``OneCycleLR``, ``ReduceOnPlateau``, ``CosineFixmatch``: their step counts, patience or phases are not
rescaled here), a ``Piecewise`` naming both ``learning_rate`` and ``decay_epochs``/``values`` when
``piecewise_reads`` is not given (the ppcls versions disagree about which one trains), and a config
without ``Global.epochs``.

Left as they are (how often, not the schedule): ``Global.eval_interval``, ``Global.save_interval``,
``Global.print_batch_step``.

>>> cfg = {"Global": {"epochs": 90}, "Optimizer": {"name": "Momentum", "lr": {"name": "MultiStepDecay",
...        "learning_rate": 0.1, "milestones": [30, 60, 80]}}}
>>> compress(cfg, 10)["Optimizer"]["lr"]["milestones"]
[3, 7, 9]
"""
import copy

from paddle_autotune_plugins.suites.kit.schedule import round_half_up, scale_milestones

KNOWN = ("Cosine", "Linear", "Piecewise", "MultiStepDecay", "Step", "Constant", "ConstLR")
_WHOLE_EPOCH_WARMUP = ("Cosine", "Linear")  # (epochs - warmup_epoch) * step_each_epoch must stay an int


def compress(cfg, epochs, piecewise_reads=None, steps_per_epoch=None):
    """A copy of the ppcls config ``cfg`` whose whole schedule runs in ``epochs`` epochs (see the module).

    ``piecewise_reads``: which key the installed ppcls's Piecewise trains with when both are given,
    ``"values"`` (2.4) or ``"learning_rate"`` (2.5.1 on), i.e. the clas adapter's trainer fact of that name.
    ``steps_per_epoch`` (optional): the training's iterations per epoch; with it a warm-up that is not in
    whole epochs is written as a whole number of steps (at least one), as ppcls rounds it, else it is the
    exact fraction and ppcls rounds it to steps (a warm-up shorter than half a step is then lost).
    """
    full = _full_epochs(cfg)
    epochs = _whole(epochs, "epochs")
    new = copy.deepcopy(cfg)
    new["Global"]["epochs"] = epochs
    for where, lr in _schedules(new):
        if isinstance(lr, dict):
            _compress_lr(lr, full, epochs, where, piecewise_reads, steps_per_epoch)
    return new


def _full_epochs(cfg):
    epochs = (cfg.get("Global") or {}).get("epochs") if isinstance(cfg, dict) else None
    if epochs is None:
        raise ValueError("the config has no Global.epochs: nothing to compress from")
    return _whole(epochs, "Global.epochs")


def _whole(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 1:
        raise ValueError(f"{what} must be a whole number of epochs >= 1, got {value!r}")
    return int(value)


def _schedules(cfg):
    """(where, lr dict) of each optimizer: ``Optimizer`` as one dict or as ppcls's list of {Name: {...}}."""
    opt = cfg.get("Optimizer")
    if isinstance(opt, dict):
        if "lr" in opt:
            yield "Optimizer.lr", opt["lr"]
    elif isinstance(opt, list):
        for i, item in enumerate(opt):
            for name, body in (item or {}).items():
                if isinstance(body, dict) and "lr" in body:
                    yield f"Optimizer.{i}.{name}.lr", body["lr"]


def _compress_lr(lr, full, new, where, piecewise_reads, spe):
    name = lr.get("name")
    if name is None:  # a bare learning_rate: constant
        _warmup(lr, full, new, where, False, spe)
        return
    if name not in KNOWN:
        raise ValueError(f"{where}.name {name!r}: schedule compression knows {', '.join(KNOWN)} only; "
                         f"{name} is refused rather than compressed wrongly")
    by_epoch = bool(lr.get("by_epoch", False))
    if name == "Piecewise":
        _piecewise(lr, full, new, where, piecewise_reads)
    elif name == "MultiStepDecay":
        if "milestones" not in lr:
            raise ValueError(f"{where}: MultiStepDecay without milestones")
        lr["milestones"] = scale_milestones(lr["milestones"], full, new, f"{where}.milestones")
    elif name == "Step":
        _step(lr, full, new, where)
    _warmup(lr, full, new, where, by_epoch or lr.get("name") in _WHOLE_EPOCH_WARMUP, spe)


def _piecewise(lr, full, new, where, reads):
    rebuilt = bool(lr.get("learning_rate"))
    explicit = "decay_epochs" in lr or "values" in lr
    if rebuilt and explicit:
        if reads not in ("values", "learning_rate"):
            raise ValueError(f"{where}: Piecewise names both learning_rate and decay_epochs/values; ppcls 2.4 "
                             f"trains with values, 2.5.1 on rebuilds them from learning_rate; pass "
                             f"piecewise_reads='values' or 'learning_rate' (the installed ppcls's)")
        rebuilt = reads == "learning_rate"
    if rebuilt:  # ppcls 2.5.1 on: a decay by 10 every 30 epochs of the full training, made explicit
        base = lr.pop("learning_rate")
        decay = list(range(0, full, 30))
        values = [base * 0.1 ** i for i in range(len(decay))]
        if len(decay) == 1:
            decay, values = [full], [values[0], values[0]]
        else:
            decay = decay[1:]
        lr["decay_epochs"], lr["values"] = decay, values
    if "decay_epochs" not in lr or "values" not in lr:
        raise ValueError(f"{where}: Piecewise needs decay_epochs and values (or learning_rate)")
    if len(lr["values"]) != len(lr["decay_epochs"]) + 1:
        raise ValueError(f"{where}: Piecewise has {len(lr['decay_epochs'])} decay_epochs and "
                         f"{len(lr['values'])} values; it needs one value more than decay_epochs")
    lr["decay_epochs"] = scale_milestones(lr["decay_epochs"], full, new, f"{where}.decay_epochs")


def _step(lr, full, new, where):
    size = lr.get("step_size")
    if isinstance(size, bool) or not isinstance(size, (int, float)) or size <= 0:
        raise ValueError(f"{where}: Step needs a step_size > 0 in epochs, got {size!r}")
    scaled = size * new / full
    if abs(scaled - round(scaled)) < 1e-9 and round(scaled) >= 1:
        lr["step_size"] = int(round(scaled))
        return
    # not a whole number of epochs: the same decays as explicit milestones (a Piecewise, in every ppcls)
    if "learning_rate" not in lr:
        raise ValueError(f"{where}: Step needs learning_rate")
    gamma = lr.get("gamma", 0.1)
    decays = []
    k = 1
    while k * size < full:
        decays.append(k * size)
        k += 1
    milestones = scale_milestones(decays, full, new, f"{where}.step_size (its decays at {decays})")
    base = lr["learning_rate"]
    keep = {k: lr[k] for k in ("warmup_epoch", "warmup_start_lr", "last_epoch", "by_epoch") if k in lr}
    lr.clear()
    lr.update({"name": "Piecewise", "decay_epochs": milestones or [new],
               "values": [base * gamma ** i for i in range(len(milestones) + 1)] if milestones else [base, base]},
              **keep)


def _warmup(lr, full, new, where, whole, spe=None):
    w = lr.get("warmup_epoch")
    if w is None or w == 0:
        return
    if isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0:
        raise ValueError(f"{where}.warmup_epoch must be a number of epochs >= 0, got {w!r}")
    if w >= full:  # ppcls clamps it to the whole training; so does the compressed one
        lr["warmup_epoch"] = new
        return
    scaled = w * new / full
    if whole:
        scaled = max(1, round_half_up(scaled))
        if scaled >= new:
            raise ValueError(f"{where}.warmup_epoch {w} of {full} epochs needs whole epochs here "
                             f"({lr.get('name') or 'this schedule'}: ppcls needs an int epochs - warmup_epoch), "
                             f"and {scaled} of {new} would leave no decay; use at least "
                             f"{_least_epochs(w, full)} epochs")
    elif spe:  # whole steps, at least one: ppcls builds round(warmup_epoch * step_each_epoch)
        scaled = max(1, round_half_up(scaled * spe)) / spe
    lr["warmup_epoch"] = scaled


def _least_epochs(w, full):
    n = 2
    while max(1, round_half_up(w * n / full)) >= n:
        n += 1
    return n
