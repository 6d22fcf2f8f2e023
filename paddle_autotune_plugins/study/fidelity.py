"""Fidelity by schedule length: the budgets a config is trained at, and the pruner that promotes between them.

A low-fidelity evaluation is a complete training whose whole schedule (epochs, milestones, warm-up, decay
horizon) is compressed to b epochs by the adapter; the configs that do well are trained again at eta * b,
and so on up to the full length E. The budgets form a geometric ladder ``b, eta*b, eta**2*b, ... , E``
so that Optuna's own SuccessiveHalvingPruner, given ``min_resource=b`` and ``reduction_factor=eta``,
decides at exactly those steps when each level's result is reported at step = its epochs. The study's
trials, rungs and intermediate values stay plain Optuna (dashboard, resume, shared storages).

Optuna's TPE already tells full-fidelity results apart: it fills its "good" group with COMPLETE trials
first, then with PRUNED ones ordered by the furthest step they reached, so a short run never outranks a
full-length one.

    >>> ladder(9, min_epochs=1)
    [1, 3, 9]
    >>> ladder(300, min_epochs=11)
    [11, 33, 99, 300]
    >>> parse_levels("2,6,18", full_epochs=18)
    ([2, 6, 18], 3)
"""
from typing import TYPE_CHECKING, Any, Optional

import optuna

from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.suites.adapter import Adapter, Task

if TYPE_CHECKING:  # settings.options imports the study package: only the checker needs the name here
    from paddle_autotune_plugins.settings.options import Settings

DEFAULT_ETA = 3
# the shortest training when --min-epochs is not given, as a fraction of the full length: in
# benchmarks/fidelity_evidence.py (tiny ERNIE, E = 9) a 1-epoch training ranked 24 configs no better than
# chance (Spearman 0.22, 23 of them tied), a 3-epoch one at 0.82
DEFAULT_MIN_FRACTION = 3


def levels_for(settings: "Settings", full_epochs: Optional[int]) -> tuple[list[int], int]:
    """(levels, eta) of --fidelity schedule from --fidelity-levels or --min-epochs (default a third of it)."""
    if full_epochs is None:
        raise UsageError("--fidelity schedule: the training's length in epochs is not known from this config")
    if settings.fidelity_levels:
        levels, eta = parse_levels(settings.fidelity_levels, full_epochs)
    else:
        eta = DEFAULT_ETA
        levels = ladder(full_epochs, settings.min_epochs or max(1, full_epochs // DEFAULT_MIN_FRACTION), eta)
    if len(levels) < 2:
        raise UsageError(f"--fidelity schedule: a {full_epochs}-epoch training leaves no shorter level (each is a "
                         f"{eta}th of the next); give --min-epochs or --fidelity-levels, or use --fidelity truncate")
    return levels, eta


def compressed(adapter: Adapter, cfg: dict[str, Any], epochs: int, task: Task) -> dict[str, Any]:
    """The config trained at `epochs` of the ladder: itself at the full length, else its schedule compressed."""
    if epochs == adapter.max_steps(task, cfg):
        return cfg
    try:
        return adapter.compress_schedule(task, cfg, epochs)
    except ValueError as e:
        raise UsageError(f"--fidelity schedule: cannot compress the schedule to {epochs} epochs: {e}") from None


def ladder(full_epochs: int, min_epochs: int, eta: int = DEFAULT_ETA) -> list[int]:
    """Budgets min_epochs * eta**k up to full_epochs / eta, then full_epochs itself (each step of the ladder
    at least eta times the one before: no retraining at 297 epochs of a config already trained at 99)."""
    full_epochs, min_epochs, eta = int(full_epochs), int(min_epochs), int(eta)
    if eta < 2:
        raise UsageError(f"the reduction factor must be >= 2, got {eta}")
    if not 1 <= min_epochs <= full_epochs:
        raise UsageError(f"--min-epochs {min_epochs} must be between 1 and the training's {full_epochs} epochs")
    levels, b = [], min_epochs
    while b * eta <= full_epochs and b < full_epochs:
        levels.append(b)
        b *= eta
    return levels + [full_epochs]


def read_levels(text: Any) -> list[int]:
    """``--fidelity-levels 2,6,18`` -> [2, 6, 18]: increasing whole epochs (checked against the config later)."""
    try:
        levels = [int(x) for x in str(text).split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"--fidelity-levels takes whole epochs like 1,3,9, got '{text}'") from None
    if not levels or levels != sorted(set(levels)) or levels[0] < 1:
        raise UsageError(f"--fidelity-levels takes increasing whole epochs like 1,3,9, got '{text}'")
    return levels


def parse_levels(text: Any, full_epochs: int) -> tuple[list[int], int]:
    """``--fidelity-levels 2,6,18`` -> (levels, eta). The levels below the full length must be geometric with
    a whole ratio (the pruner's rungs are min_resource * eta**k); the full length is added when missing."""
    levels = read_levels(text)
    if levels[-1] > full_epochs:
        raise UsageError(f"--fidelity-levels {text}: {levels[-1]} is past the training's {full_epochs} epochs")
    below = [b for b in levels if b < full_epochs]
    if len(below) < 2:
        eta = DEFAULT_ETA
    else:
        eta, rest = divmod(below[1], below[0])
        if rest or eta < 2:
            raise UsageError(f"--fidelity-levels {text}: each level must be a whole multiple (>= 2) of the one "
                             f"before, as in 1,3,9")
    if any(b != below[0] * eta ** k for k, b in enumerate(below)):
        raise UsageError(f"--fidelity-levels {text}: the levels must grow by one factor ({eta}), e.g. "
                         f"{','.join(str(b) for b in ladder(full_epochs, below[0], eta))}")
    return below + [full_epochs], eta


def make_pruner(levels: list[int], eta: int = DEFAULT_ETA) -> optuna.pruners.SuccessiveHalvingPruner:
    """Optuna's successive halving, its rungs at the ladder's levels below the full length."""
    return optuna.pruners.SuccessiveHalvingPruner(min_resource=levels[0], reduction_factor=eta,
                                                  min_early_stopping_rate=0)
