"""What a PaddleOCR trainer really uses for the tuned knobs, read from its live objects.

The trial hook (hooks.py) reads what tools/train.py hands to ``tools.program.train``: the optimizer and its
learning-rate scheduler, the train loader's batch sampler, the post-process. ``doctor --configs`` builds the
scheduler and optimizer of a config (over a one-layer stand-in model) and the post-process with the
checkout's own ``build_optimizer`` and ``build_post_process`` and reads them the same way. Values are keyed
by the config paths they answer for, so the coordinator compares them with the trial's config
(paddle_autotune_plugins/trials/knobs.py); what cannot be read is left out rather than guessed.
"""
import copy

from paddle_autotune_plugins.suites.kit.readback import split_warmup

POST_KNOBS = ("thresh", "box_thresh", "unclip_ratio")
DB_POST = ("DBPostProcess", "DistillationDBPostProcess")  # the post-processes the DB knobs are read from


def _warmup_epochs(given, warmup_steps, step_each_epoch):
    """The warm-up in epochs: PaddleOCR's schedules take ``round(warmup_epoch * step_each_epoch)`` steps, so
    the config's value is what was used when it rounds to the scheduler's steps."""
    if isinstance(given, (int, float)) and round(given * step_each_epoch) == warmup_steps:
        return given
    return warmup_steps / max(1, step_each_epoch)


def scheduler_values(lr_config, scheduler, step_each_epoch):
    """{path: value} of a built scheduler: the rate it reaches after its warm-up (learning_rate, or the
    first of Piecewise's values), Piecewise's values, the warm-up's length."""
    import paddle

    lr = paddle.optimizer.lr
    used = {}
    if isinstance(scheduler, (int, float)):  # Const without warm-up hands the optimizer a plain rate
        used["Optimizer.lr.learning_rate"] = float(scheduler)
        if "warmup_epoch" in lr_config:
            used["Optimizer.lr.warmup_epoch"] = _warmup_epochs(lr_config["warmup_epoch"], 0, step_each_epoch)
        return used
    if not isinstance(scheduler, lr.LRScheduler):
        return used
    _, steps, inner = split_warmup(scheduler)
    if isinstance(inner, lr.PiecewiseDecay):
        used["Optimizer.lr.values"] = [float(v) for v in inner.values]
    elif type(inner).__name__ == "OneCycleDecay":  # ppocr's own: its peak (base_lr is the peak / div_factor)
        used["Optimizer.lr.max_lr"] = float(inner.max_lr)
    elif isinstance(inner, lr.LRScheduler):
        used["Optimizer.lr.learning_rate"] = float(inner.base_lr)
    elif isinstance(inner, (int, float)):
        used["Optimizer.lr.learning_rate"] = float(inner)
    else:  # a schedule of its own kind: the rate once the warm-up is over, from a copy stepped that far
        probe = copy.deepcopy(scheduler)
        for _ in range(steps):
            probe.step()
        used["Optimizer.lr.learning_rate"] = float(probe.last_lr)
    if "warmup_epoch" in lr_config or steps:
        used["Optimizer.lr.warmup_epoch"] = _warmup_epochs(lr_config.get("warmup_epoch"), steps, step_each_epoch)
    return used


def optimizer_values(opt_config, optimizer):
    """{path: value} of a built Paddle optimizer: the L2 factor (PaddleOCR hands it over as the optimizer's
    weight_decay) at the path the config sets it, and momentum."""
    import paddle

    used = {}
    if getattr(optimizer, "_momentum", None) is not None and "momentum" in opt_config:
        used["Optimizer.momentum"] = float(optimizer._momentum)
    decay = None
    regularization = getattr(optimizer, "regularization", None)
    if isinstance(regularization, (paddle.regularizer.L2Decay, paddle.regularizer.L1Decay)):
        decay = float(regularization._coeff)
    elif getattr(optimizer, "_regularization_method", None) == "l2_decay":  # Momentum folds L2 into its kernel
        decay = float(optimizer._regularization_coeff)
    elif isinstance(getattr(optimizer, "_weight_decay", None), (int, float)):  # AdamW's decoupled decay
        decay = float(optimizer._weight_decay)
    elif regularization is None and getattr(optimizer, "_weight_decay", 0) is None:
        decay = 0.0
    if decay is not None:
        if isinstance(opt_config.get("regularizer"), dict):
            used["Optimizer.regularizer.factor"] = decay
        elif "weight_decay" in opt_config:
            used["Optimizer.weight_decay"] = decay
    return used


def post_process_values(post_process):
    """{path: value} of a built DB post-process (a distillation one holds a DBPostProcess)."""
    inner = getattr(post_process, "post_process", post_process)
    return {f"PostProcess.{name}": float(getattr(inner, name)) for name in POST_KNOBS
            if isinstance(getattr(inner, name, None), (int, float))}


def train_values(config, optimizer, lr_scheduler, train_loader, post_process, step_each_epoch):
    """Everything readable from the objects ``tools.program.train`` is called with."""
    opt_config = config.get("Optimizer") or {}
    used = scheduler_values(opt_config.get("lr") or {}, lr_scheduler, step_each_epoch)
    used.update(optimizer_values(opt_config, optimizer))
    sampler = getattr(train_loader, "batch_sampler", None)
    if getattr(sampler, "batch_size", None) is not None:
        used["Train.loader.batch_size_per_card"] = int(sampler.batch_size)
    if (config.get("PostProcess") or {}).get("name") in DB_POST:
        used.update(post_process_values(post_process))
    return used


def built_values(config, step_each_epoch=1000):
    """Build a config's scheduler and optimizer (over a one-layer stand-in for the network) and its
    post-process with the importable ppocr's own builders, and read them: what a trial of it would train
    with, less the loader (built in each trial from the data)."""
    import paddle
    from ppocr.optimizer import build_optimizer
    from ppocr.postprocess import build_post_process

    config = copy.deepcopy(config)
    optimizer, scheduler = build_optimizer(config["Optimizer"], epochs=config["Global"]["epoch_num"],
                                           step_each_epoch=step_each_epoch, model=paddle.nn.Linear(2, 2))
    opt_config = config["Optimizer"]
    used = scheduler_values(opt_config.get("lr") or {}, scheduler, step_each_epoch)
    used.update(optimizer_values(opt_config, optimizer))
    if (config.get("PostProcess") or {}).get("name") in DB_POST:  # (others may compile code into the checkout)
        used.update(post_process_values(build_post_process(config["PostProcess"], config["Global"])))
    return used
