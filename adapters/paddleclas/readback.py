"""What a PaddleClas trainer really uses for the tuned knobs, read from its live objects.

The trial hook reads a built ``Engine`` (hooks.py); ``doctor --configs`` and the preset's trainer facts
build the optimizer from a config with the checkout's own ``build_optimizer`` (no data, no training) and
read the same way. Values are keyed by the config paths they answer for, so the coordinator compares
them with the trial's config (paddle_autotune_plugins/trials/knobs.py). Only what is read from live objects is
returned; anything else is left out rather than guessed.
"""
import copy
import json
import sys

from paddle_autotune_plugins.suites.kit.readback import split_warmup


def _first(items):
    return items[0] if isinstance(items, (list, tuple)) and items else items


def lr_values(lr_sch, step_each_epoch):
    """{path: value} of a built ppcls learning-rate scheduler: the peak rate it reaches (after warm-up),
    Piecewise's values and the warm-up length in epochs."""
    import paddle

    lr_sch = _first(lr_sch)
    used = {}
    if not isinstance(lr_sch, paddle.optimizer.lr.LRScheduler):
        if isinstance(lr_sch, (int, float)):
            used["Optimizer.lr.learning_rate"] = float(lr_sch)
        return used
    _, steps, inner = split_warmup(lr_sch)
    probe = copy.deepcopy(lr_sch)  # stepping the copy leaves the trainer's schedule where it is
    peak = probe.last_lr
    if not isinstance(probe, paddle.optimizer.lr.ReduceOnPlateau):  # that one only moves with a metric
        for _ in range(steps + 1):
            probe.step()
            peak = max(peak, probe.last_lr)
    used["Optimizer.lr.learning_rate"] = float(peak)
    if isinstance(inner, paddle.optimizer.lr.PiecewiseDecay):
        used["Optimizer.lr.values"] = [float(v) for v in inner.values]
    by_epoch = getattr(lr_sch, "by_epoch", False)
    used["Optimizer.lr.warmup_epoch"] = steps if by_epoch else steps / max(1, step_each_epoch)
    return used


def optimizer_values(optimizer):
    """{path: value} of a built Paddle optimizer: momentum, the L2 regularizer's coeff, AdamW's decay."""
    import paddle

    optimizer = _first(optimizer)
    used = {}
    if getattr(optimizer, "_momentum", None) is not None:
        used["Optimizer.momentum"] = float(optimizer._momentum)
    regularization = getattr(optimizer, "regularization", None)
    if isinstance(regularization, paddle.regularizer.L2Decay):
        used["Optimizer.regularizer.coeff"] = float(regularization._coeff)
    elif getattr(optimizer, "_regularization_method", None) == "l2_decay":  # Momentum folds L2 into its kernel
        used["Optimizer.regularizer.coeff"] = float(optimizer._regularization_coeff)
    decay = getattr(optimizer, "_weight_decay", None)
    if isinstance(decay, (int, float)) and not isinstance(decay, bool):
        used["Optimizer.weight_decay"] = float(decay)
    elif isinstance(decay, paddle.regularizer.L2Decay) and "Optimizer.regularizer.coeff" not in used:
        used["Optimizer.regularizer.coeff"] = float(decay._coeff)
    return used


def engine_values(engine):
    """Everything readable from a built train-mode Engine."""
    loader = getattr(engine, "train_dataloader", None)
    steps = len(loader) if loader is not None else 1
    used = lr_values(getattr(engine, "lr_sch", None), steps)
    used.update(optimizer_values(getattr(engine, "optimizer", None)))
    sampler = getattr(loader, "batch_sampler", None)
    if getattr(sampler, "batch_size", None) is not None:
        used["DataLoader.Train.sampler.batch_size"] = int(sampler.batch_size)
    losses = getattr(getattr(engine, "train_loss_func", None), "loss_func", None) or []
    for i, loss in enumerate(losses):
        if type(loss).__name__ == "CELoss":
            used[f"Loss.Train.{i}.CELoss.epsilon"] = getattr(loss, "epsilon", None)
    return {k: v for k, v in used.items() if v is not None}


def built_values(config, step_each_epoch=10):
    """Build the optimizer of a ppcls config with the importable ppcls's own builder (a one-layer model
    stands in for the network) and read it: what a trial of this config would train with."""
    import paddle
    from ppcls.optimizer import build_optimizer
    from ppcls.utils import logger

    if getattr(logger, "_logger", True) is None:  # outside tools/train.py nothing has set up ppcls's logger
        logger.init_logger()
    model = paddle.nn.Linear(2, 2)
    optimizer, lr_sch = build_optimizer(copy.deepcopy(config["Optimizer"]), config["Global"]["epochs"],
                                        step_each_epoch, [model])
    used = lr_values(lr_sch, step_each_epoch)
    used.update(optimizer_values(optimizer))
    return used


# A Piecewise schedule that names both keys: which one does this ppcls train with?
_PIECEWISE_PROBE = {"Global": {"epochs": 4},
                    "Optimizer": {"name": "Momentum", "momentum": 0.9,
                                  "lr": {"name": "Piecewise", "learning_rate": 0.123, "decay_epochs": [2],
                                         "values": [0.5, 0.05]}}}


def piecewise_reads():
    """'learning_rate' where Piecewise rebuilds values from learning_rate (ppcls 2.5.1 on), else 'values'."""
    used = built_values(_PIECEWISE_PROBE)
    return "learning_rate" if abs(used["Optimizer.lr.learning_rate"] - 0.123) < 1e-6 else "values"


def warmup_schedules():
    """The ppcls learning-rate classes that take ``warmup_epoch`` (2.4's MultiStepDecay, for one, does not:
    a warm-up added there stops the trial with a TypeError)."""
    import inspect

    from ppcls.optimizer import learning_rate

    names = []
    for name, cls in vars(learning_rate).items():
        if inspect.isclass(cls) and cls.__module__ == learning_rate.__name__:
            params = inspect.signature(cls.__init__).parameters
            if "warmup_epoch" in params or any(p.kind == p.VAR_KEYWORD for p in params.values()):
                names.append(name)
    return sorted(names)


FACTS = {"piecewise_reads": piecewise_reads, "warmup_schedules": warmup_schedules}


def main():
    """``python -m ...readback ROOT FACT``: a trainer fact of the ppcls under ROOT, as a JSON line."""
    root, fact = sys.argv[1], sys.argv[2]
    sys.path.insert(0, root)
    from . import hooks

    hooks.install()
    print(json.dumps({fact: FACTS[fact]()}))


if __name__ == "__main__":
    main()
