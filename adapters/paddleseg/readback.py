"""What a PaddleSeg trainer really uses for the tuned knobs, read from its live objects.

The trial hook (hooks.py) reads the objects tools/train.py hands to ``paddleseg.core.train``: the
optimizer with its learning-rate scheduler, the built losses with their coefficients, the train loader's
batch sampler. ``doctor --configs`` builds the scheduler, the optimizer (over a one-layer stand-in model)
and the losses of a config with the checkout's own ``SegBuilder`` and reads them the same way. Values are
keyed by the config paths they answer for, so the coordinator compares them with the trial's config
(paddle_autotune_plugins/trials/knobs.py); what cannot be read is left out rather than guessed.
"""
from paddle_autotune_plugins.suites.kit.readback import split_warmup


def scheduler_values(scheduler):
    """{path: value} of a built scheduler: the rate PaddleSeg's decay starts from (``learning_rate``),
    LinearWarmup's length and start, and the decay's own settings."""
    import paddle

    lr = paddle.optimizer.lr
    used = {}
    warmup, steps, inner = split_warmup(scheduler)
    if warmup is not None:
        used["lr_scheduler.warmup_iters"] = steps
        used["lr_scheduler.warmup_start_lr"] = float(warmup.start_lr)
    if isinstance(inner, (int, float)):
        used["lr_scheduler.learning_rate"] = float(inner)
        return used
    if not isinstance(inner, lr.LRScheduler):
        return used
    used["lr_scheduler.learning_rate"] = float(inner.base_lr)
    if isinstance(inner, lr.PolynomialDecay):
        used.update({"lr_scheduler.power": float(inner.power), "lr_scheduler.end_lr": float(inner.end_lr),
                     "lr_scheduler.decay_steps": int(inner.decay_steps)})
    elif isinstance(inner, (lr.StepDecay, lr.MultiStepDecay)):
        used["lr_scheduler.gamma"] = float(inner.gamma)
        if isinstance(inner, lr.StepDecay):
            used["lr_scheduler.step_size"] = int(inner.step_size)
        else:
            used["lr_scheduler.milestones"] = [int(m) for m in inner.milestones]
    return used


def optimizer_values(optimizer):
    """{path: value} of a built Paddle optimizer: weight decay (the L2 coefficient, or AdamW's decoupled
    decay) and momentum. A Fleet wrapper (multi-GPU) is read through."""
    import paddle

    optimizer = getattr(optimizer, "user_defined_optimizer", optimizer)
    used = {}
    if getattr(optimizer, "_momentum", None) is not None:
        used["optimizer.momentum"] = float(optimizer._momentum)
    regularization = getattr(optimizer, "regularization", None)
    decay = getattr(optimizer, "_weight_decay", None)
    if isinstance(regularization, paddle.regularizer.L2Decay):
        used["optimizer.weight_decay"] = float(regularization._coeff)
    elif getattr(optimizer, "_regularization_method", None) == "l2_decay":  # Momentum folds L2 into its kernel
        used["optimizer.weight_decay"] = float(optimizer._regularization_coeff)
    elif isinstance(decay, (int, float)) and not isinstance(decay, bool):
        used["optimizer.weight_decay"] = float(decay)
    return used


def loss_values(losses):
    """{path: value} of the built losses (``{'types': [loss objects], 'coef': [...]}``): each output's
    coefficient, MixedLoss's own coefficients, OHEM's threshold and kept-pixel count."""
    used = {}
    if not isinstance(losses, dict):
        return used
    for i, coef in enumerate(losses.get("coef") or []):
        used[f"loss.coef.{i}"] = float(coef)
    for i, loss in enumerate(losses.get("types") or []):
        kind = type(loss).__name__
        if kind == "MixedLoss":
            for j, coef in enumerate(getattr(loss, "coef", None) or []):
                used[f"loss.types.{i}.coef.{j}"] = float(coef)
        if kind in ("OhemCrossEntropyLoss", "OhemEdgeAttentionLoss"):
            if getattr(loss, "thresh", None) is not None:
                used[f"loss.types.{i}.thresh"] = float(loss.thresh)
            if getattr(loss, "min_kept", None) is not None:
                used[f"loss.types.{i}.min_kept"] = int(loss.min_kept)
    return used


def train_values(optimizer, losses, iters=None):
    """Everything readable from the objects ``paddleseg.core.train`` is called with."""
    used = scheduler_values(getattr(getattr(optimizer, "user_defined_optimizer", optimizer), "_learning_rate", None))
    used.update(optimizer_values(optimizer))
    used.update(loss_values(losses))
    if iters is not None:
        used["iters"] = int(iters)
    return used


def stand_in(custom_cfg):
    """A small network for building an optimizer without the real one: one linear layer per parameter group
    of ``optimizer.custom_cfg`` (named so that the group's name matches it, as PaddleSeg groups by name),
    and one for the rest. Paddle's AdamW refuses an empty group."""
    import paddle

    model = paddle.nn.Layer()
    for i, item in enumerate(custom_cfg or []):
        model.add_sublayer(f"{item.get('name', 'group')}_{i}", paddle.nn.Linear(2, 2))
    model.add_sublayer("autotune_rest", paddle.nn.Linear(2, 2))
    return model


def built_values(config_path):
    """Build a config's scheduler, optimizer (over a stand-in for the network, see stand_in) and losses with the
    importable paddleseg's own Config and SegBuilder, and read them: what a trial of it would train with.
    Returns (the config dict as paddleseg's Config holds it, the values)."""
    from paddleseg.cvlibs import Config, SegBuilder

    cfg = Config(str(config_path))
    builder = SegBuilder(cfg)
    opt_cfg = dict(cfg.optimizer_cfg)
    opt_cfg["type"] = {"adam": "Adam", "sgd": "SGD"}.get(opt_cfg["type"], opt_cfg["type"])
    if opt_cfg["type"] == "SGD" and "momentum" in opt_cfg:
        opt_cfg["type"] = "Momentum"  # as SegBuilder.optimizer does
    optimizer = builder.build_component(opt_cfg)(stand_in(opt_cfg.get("custom_cfg")), builder.lr_scheduler)
    return cfg.dic, train_values(optimizer, builder.loss, cfg.iters)
