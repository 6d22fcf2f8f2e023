"""The config rescaled to the user's hardware: a suite's shipped configs are written for a known number of
devices (PaddleClas 4, or 8 for AdamW; PaddleDetection 8; ...), each with its per-device batch. Trained on
fewer devices, the total batch is smaller and the learning rate should move with it:

- SGD / Momentum: linearly with the total batch (Goyal et al. 2017, the rule PaddleDetection's FAQ and
  model READMEs give for a changed GPU count);
- the Adam family (Adam, AdamW, Lamb, ...): with its square root (Malladi et al. 2022, "On the SDEs and
  scaling rules for adaptive gradient algorithms"; Granziol et al. 2022, JMLR).

The rescaled config is the centre of the search (space.centre_on) and trial 1; trial 0 stays the config as
given. docs/config-prior.md says more.
"""
import copy
import dataclasses
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Optional

from paddle_autotune_plugins.search_space import dotpath

if TYPE_CHECKING:
    from paddle_autotune_plugins.search_space.space import Param
    from paddle_autotune_plugins.suites.adapter import Adapter, Task

LINEAR, SQUARE_ROOT = "linear", "square root"
_ADAPTIVE = ("adam", "lamb", "lars_adam", "rmsprop", "adagrad", "adadelta")  # name fragments of the Adam family
_SGD = ("momentum", "sgd", "lars")


@dataclasses.dataclass
class Rescaled:
    config: dict[str, Any]  # the config with its learning rate moved (the config itself where nothing moved)
    factor: float = 1.0  # the learning rate's factor
    rule: Optional[str] = None
    reference: Optional[int] = None  # devices the config is written for
    devices: Optional[int] = None  # devices one trial trains on
    optimizer: Optional[str] = None
    paths: list[str] = dataclasses.field(default_factory=list)  # the learning-rate paths moved
    given: Optional[dict[str, Any]] = None  # the config as given

    @property
    def moved(self) -> bool:
        return bool(self.paths) and self.factor != 1.0

    def line(self) -> Optional[str]:
        """The study's line about it (None where the adapter knows no reference device count)."""
        if self.reference is None:
            return None
        where = f"the config is written for {_devices(self.reference)}, a trial trains on {self.devices}"
        if self.reference == self.devices:
            return f"{where}: the learning rate stays as configured"
        if not self.rule:
            return (f"{where}, but its optimizer {self.optimizer or '(unnamed)'} has no known scaling rule: the "
                    f"learning rate stays as configured")
        if not self.paths:
            return f"{where}; no learning rate found to rescale"
        assert self.devices is not None  # rescale() gives both counts
        before = dotpath.get(self.given, self.paths[0])
        after = dotpath.get(self.config, self.paths[0])
        return (f"{where}: learning rate {_fmt(before)} -> {_fmt(after)} (x{self.factor:.4g}, {self.rule} rule "
                f"for {self.optimizer}, total batch x{self.devices / self.reference:.4g})")


def _devices(count: int) -> str:
    return f"{count} device" + ("" if count == 1 else "s")


def trial_devices(adapter: "Adapter", gpus_per_trial: Optional[int]) -> int:
    """Devices one trial trains on: 1 on the CPU, else its GPUs (--gpus-per-trial, or the launcher's --gpus)."""
    from paddle_autotune_plugins.suites.adapter import available_device

    if not adapter.runs_paddle or available_device() == "cpu":
        return 1
    return gpus_per_trial or 1


def centres(params: Sequence["Param"], cfg: Any) -> dict[str, Any]:
    """{path: value} of the (rescaled) config for each tuned knob whose value lies in its range: where the
    prior sampler draws first, and trial 1's values."""
    found = {}
    for p in params:
        value = p.current(cfg)
        if value is not None and p.contains(value):
            found[p.name] = p.encode(value)
    return found


def rule_for(optimizer: Optional[str]) -> Optional[str]:
    """The scaling rule of an optimizer, by its name as the suite's config spells it (None: unknown)."""
    name = str(optimizer or "").lower()
    if any(word in name for word in _ADAPTIVE):
        return SQUARE_ROOT
    if any(word in name for word in _SGD):
        return LINEAR
    return None


def factor_for(rule: Optional[str], ratio: float) -> float:
    """The learning rate's factor when the total batch changes by `ratio`.

    >>> factor_for(LINEAR, 0.25), factor_for(SQUARE_ROOT, 0.25), factor_for(None, 0.25)
    (0.25, 0.5, 1.0)
    """
    if rule == LINEAR:
        return ratio
    if rule == SQUARE_ROOT:
        return math.sqrt(ratio)
    return 1.0


def rescale(task: "Task", devices: int, reference: Optional[int] = None) -> Rescaled:
    """The task's config rescaled from the devices it is written for (`reference`, else its suite's) to
    `devices`."""
    adapter, cfg = task.adapter, task.adapter.values_in_effect(task)
    reference = reference or adapter.reference_devices(cfg)
    result = Rescaled(config=cfg, reference=reference, devices=devices, given=cfg)
    if reference is None or reference == devices:
        return result
    result.optimizer = adapter.optimizer_name(cfg)
    result.rule = rule_for(result.optimizer)
    result.factor = factor_for(result.rule, devices / reference)
    if result.rule is None:
        return result
    result.config = copy.deepcopy(cfg)
    for path in adapter.learning_rate_paths(cfg):
        if dotpath.has(cfg, path):
            dotpath.set_(result.config, path, _times(dotpath.get(cfg, path), result.factor))
            result.paths.append(path)
    return result


def _times(value: Any, factor: float) -> Any:
    if isinstance(value, (list, tuple)):  # a Piecewise schedule's values
        return [_times(v, factor) for v in value]
    if isinstance(value, str):  # PyYAML reads 4e-3 as text; ppcls evaluates it to a number
        try:
            value = float(value)
        except ValueError:
            return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    return value * factor


def _fmt(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return f"{value:.4g}" if isinstance(value, float) else str(value)
