"""What a built PaddleDetection training really uses, read from its live objects, keyed by the dotted
paths of the trial config (for ``knobs.check``: a key being accepted is not proof that it acts).

Shared by the trial hooks (the Trainer's own model, optimizer and loader, hooks.py) and by ``doctor
--configs`` (the same objects built with ppdet's ``create()`` from a written trial config, no training).
Every value comes from an object ppdet built; the config is read only for how it spells a value (a
scalar or a list ``gamma``, the anchor masks that group ``YOLOv3Head.anchors``), never as the answer.
Paths that cannot be read are left out, so the coordinator can say which knobs went unchecked.

>>> used_values(["X.a"], {"X": {"a": 1}})  # nothing built: nothing read
{}
"""
import re

from paddle_autotune_plugins.search_space import dotpath

LR = "LearningRate"
BASE_LR = "LearningRate.base_lr"
GAMMA = "LearningRate.schedulers.0.gamma"
MILESTONES = "LearningRate.schedulers.0.milestones"
WARMUP_STEPS = "LearningRate.schedulers.1.steps"
WARMUP_EPOCHS = "LearningRate.schedulers.1.epochs"
BATCH_SIZE = "TrainReader.batch_size"
# TrainReader.batch_transforms.6.Gt2YoloTarget.anchors: an op of the train loader, by its index in the config
READER_OP = re.compile(r"^TrainReader\.(sample|batch)_transforms\.(\d+)\.(\w+)\.(.+)$")
DEFAULT_MILESTONES = [8, 11]  # ppdet's PiecewiseDecay defaults, when a config leaves them out
DEFAULT_GAMMA = [0.1, 0.01]
DEFAULT_MASKS = [[6, 7, 8], [3, 4, 5], [0, 1, 2]]  # YOLOv3Head's default anchor_masks
_MISSING = object()
_OWN_MODULES = ("ppdet", "paddle_autotune_plugins")  # plain objects worth walking into: ppdet's own


def used_values(paths, cfg, model=None, scheduler=None, steps_per_epoch=None, train_reader=None, batch_size=None):
    """{path: live value} for those of ``paths`` the given objects hold.

    cfg: the written trial config (config_io's dict). model: the built architecture; scheduler: the LR
    scheduler the optimizer steps (paddle's); train_reader: ppdet's TrainReader (its transform ops);
    batch_size: the train loader's batch sampler's."""
    paths = list(dict.fromkeys(paths))
    used = {}
    if scheduler is not None and steps_per_epoch:
        used.update(lr_values(scheduler, cfg, steps_per_epoch))
    objects = model_objects(model) if model is not None else {}
    for path in paths:
        if path in used or path.startswith(LR + "."):
            continue
        if path == BATCH_SIZE:
            value = batch_size if batch_size is not None else _MISSING
        elif READER_OP.match(path):
            value = _reader_op_value(path, train_reader)
        else:
            value = _model_value(path, cfg, objects)
        if value is not _MISSING:
            used[path] = value
    return {p: v for p, v in used.items() if p in paths}


# ---- the learning rate schedule ----

def _schedulers(cfg):
    """(decay, warmup) sections of the config as ppdet reads them (its defaults where none are given)."""
    section = cfg.get(LR) or {}
    schedulers = list(section.get("schedulers") or [])
    if not schedulers:  # ppdet's default: PiecewiseDecay() + LinearWarmup()
        return {"__tag__": "PiecewiseDecay"}, {"__tag__": "LinearWarmup"}
    return schedulers[0], (schedulers[1] if len(schedulers) > 1 else None)


def _kind(section):
    """The scheduler class a config section builds: its !Tag, or its `name` (ppdet's dict form)."""
    if section is None:
        return None
    return getattr(section, "tag", None) or section.get("__tag__") or section.get("name")


def _leading_run(boundaries):
    """Warm-up length: LinearWarmup's boundaries are 1, 2, ..., W, ahead of the decay's own."""
    n = 0
    while n < len(boundaries) and int(boundaries[n]) == n + 1:
        n += 1
    return n


def lr_values(scheduler, cfg, steps_per_epoch):
    """base_lr (the rate right after warm-up), warm-up length, PiecewiseDecay milestones and gamma, as the
    built scheduler holds them. ppdet builds a paddle PiecewiseDecay whose boundaries are the warm-up steps
    (1..W) and then the milestones in steps, and whose values are the warm-up ramp ending at base_lr, then
    base_lr times each gamma. gamma is read only from decays the training reaches (a milestone before the
    last epoch): past the end it does nothing."""
    import paddle

    decay, warmup = _schedulers(cfg)
    spe = int(steps_per_epoch)
    if not isinstance(scheduler, paddle.optimizer.lr.PiecewiseDecay):
        base = getattr(scheduler, "base_lr", None)  # e.g. CosineAnnealingDecay: cosine without warm-up
        return {BASE_LR: float(base)} if base is not None else {}
    bounds, values = [int(b) for b in scheduler.boundaries], [float(v) for v in scheduler.values]
    piecewise = _kind(decay) == "PiecewiseDecay"
    if piecewise:
        warm = len(bounds) - len(decay.get("milestones", DEFAULT_MILESTONES))
    else:
        warm = _leading_run(bounds)
    if warm < 0 or warm >= len(values):
        return {}
    used = {BASE_LR: values[warm]}
    if warmup is not None and decay.get("use_warmup", True) and warm > 0:
        used[WARMUP_STEPS] = warm
        used[WARMUP_EPOCHS] = warm / spe if warm % spe else warm // spe
    if piecewise:
        steps = bounds[warm:]
        used[MILESTONES] = [b // spe if b % spe == 0 else b / spe for b in steps]
        reached = [b for b in steps if b < int(cfg.get("epoch") or 0) * spe]
        factors = [values[warm + 1 + i] / values[warm] for i in range(len(reached)) if values[warm]]
        if isinstance(decay.get("gamma", DEFAULT_GAMMA), (list, tuple)):
            used[GAMMA] = factors
        elif factors:  # a scalar gamma: ppdet decays by gamma, then gamma / 10, ...; the first says it
            used[GAMMA] = factors[0]
    return used


# ---- the model's layers and the ppdet objects they hold ----

def _walkable(obj):
    import paddle

    if isinstance(obj, paddle.nn.Layer):
        return True
    module = type(obj).__module__ or ""
    return hasattr(obj, "__dict__") and not isinstance(obj, type) and module.startswith(_OWN_MODULES)


def _children(obj):
    import paddle

    if isinstance(obj, paddle.nn.Layer):
        values = list(obj._sub_layers.values()) + [v for k, v in vars(obj).items() if not k.startswith("_")]
    else:
        values = list(vars(obj).values())
    for value in values:
        items = value if isinstance(value, (list, tuple)) else value.values() if isinstance(value, dict) else [value]
        for item in items:
            if _walkable(item):
                yield item


def model_objects(model):
    """{class name: [objects]} over the model: its layers and the plain ppdet objects they hold (a
    BBoxPostProcess and its MultiClassNMS, an RPN head's ProposalGenerators). A subclass is listed under
    its bases' names too (the plugin's TwoFCHeadDropout is a TwoFCHead)."""
    model = getattr(model, "_layers", model)  # paddle.DataParallel keeps the model there
    found, seen, stack = {}, set(), [model]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        for cls in type(obj).__mro__:
            if (cls.__module__ or "").startswith(_OWN_MODULES):
                found.setdefault(cls.__name__, []).append(obj)
        stack.extend(reversed(list(_children(obj))))
    return found


def _attr_chain(obj, parts):
    for part in parts:
        if isinstance(obj, dict):
            obj = obj.get(part, _MISSING)
        elif isinstance(obj, (list, tuple)) and part.isdigit():
            obj = obj[int(part)] if int(part) < len(obj) else _MISSING
        else:
            obj = getattr(obj, part, _MISSING)
        if obj is _MISSING:
            return _MISSING
    return obj


def _plain(value):
    """A live attribute as config-like data: numbers and lists; a Dropout layer is its rate; other objects
    (layers, tensors) are no answer."""
    import paddle

    if isinstance(value, paddle.nn.Dropout):
        return float(value.p)
    if hasattr(value, "tolist") and not isinstance(value, paddle.Tensor):  # numpy arrays and scalars
        return value.tolist()
    if isinstance(value, (list, tuple)):
        items = [_plain(v) for v in value]
        return _MISSING if any(v is _MISSING for v in items) else items
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return _MISSING


def _yolo_anchors(head, cfg):
    """YOLOv3Head keeps its anchors grouped by mask ([[anchors[i] for i in mask] ...]): back to the flat
    list the config spells, through the config's masks. None where a mask leaves an anchor out."""
    grouped = getattr(head, "anchors", None)
    masks = dotpath.get(cfg, "YOLOv3Head.anchor_masks", None) or DEFAULT_MASKS
    if not grouped or len(grouped) != len(masks):
        return _MISSING
    flat = {}
    for level, mask in zip(grouped, masks):
        for anchor, index in zip(level, mask):
            flat[index] = _plain(anchor)
    if sorted(flat) != list(range(len(flat))):
        return _MISSING
    return [flat[i] for i in range(len(flat))]


def _dropout_rate(head):
    """The plugin's TwoFCHeadDropout: a Dropout layer, or None for rate 0 (then forward skips it)."""
    from .hooks import DROPOUT_HEAD

    if type(head).__name__ != DROPOUT_HEAD:
        return _MISSING  # a plain TwoFCHead (or XConvNormHead...) has no dropout at all
    return 0.0 if head.dropout is None else float(head.dropout.p)


def _model_value(path, cfg, objects):
    """The value at `Class.attr...` in the model's objects of that class. When instances disagree, the one
    that differs from the config is reported (a knob that acts on only some of them does not act)."""
    section, _, rest = path.partition(".")
    values = []
    for obj in objects.get(section, []):
        if path in ("YOLOv3Head.anchors",):
            value = _yolo_anchors(obj, cfg)
        elif rest == "dropout" and section in ("TwoFCHead", "TwoFCHeadDropout"):
            value = _dropout_rate(obj)
        else:
            value = _attr_chain(obj, rest.split("."))
            value = _MISSING if value is _MISSING else _plain(value)
        if value is not _MISSING:
            values.append(value)
    if not values:
        return _MISSING
    given = dotpath.get(cfg, path, None)
    return next((v for v in values if v != given), values[0])


def _reader_op_value(path, reader):
    """An attribute of one transform op of the train loader, found at the config's index (ppdet builds
    the ops in the config's order) and checked to be of the class the config names there."""
    if reader is None:
        return _MISSING
    kind, index, op_name, rest = READER_OP.match(path).groups()
    compose = getattr(reader, f"_{kind}_transforms", None)
    ops = list(getattr(compose, "transforms_cls", None) or [])
    index = int(index)
    if index >= len(ops) or type(ops[index]).__name__ != op_name:
        return _MISSING
    value = _attr_chain(ops[index], rest.split("."))
    return _MISSING if value is _MISSING else _plain(value)
