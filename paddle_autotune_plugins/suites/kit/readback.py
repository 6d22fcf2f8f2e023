"""Reading a built learning-rate scheduler back, for the suites' readback modules (what the trainer really
uses for the tuned knobs): the parts every Paddle schedule with a warm-up has alike. Paddle is imported
only when a scheduler is read (the coordinator never needs it here)."""
from typing import Any, Optional


def split_warmup(scheduler: Any) -> tuple[Optional[Any], int, Any]:
    """(the LinearWarmup or None, its warm-up steps (0 without one), the schedule it hands over to) of a
    built scheduler; without a warm-up the schedule is the scheduler itself."""
    import paddle

    warmup = scheduler if isinstance(scheduler, paddle.optimizer.lr.LinearWarmup) else None
    steps = int(warmup.warmup_steps) if warmup is not None else 0
    inner = warmup.learning_rate if warmup is not None else scheduler
    return warmup, steps, inner
