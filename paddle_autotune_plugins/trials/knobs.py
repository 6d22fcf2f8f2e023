"""Proof that a tuned knob acts: the value the trainer really used against the value the trial was given.

A key being accepted is not proof that it acts (ppcls 2.5.2's ``Piecewise`` rebuilds ``values`` from
``learning_rate``, so tuning ``values`` there trains every trial at the config's rate). Each trial's hooks
read the live objects once the trainer is built and send ``{path: value}`` with
:func:`reporting.report_used`; the coordinator checks every tuned path against the trial's written config.

>>> trial_config = {"Optimizer": {"lr": {"name": "Piecewise", "values": [0.05, 0.005]}}}
>>> [m.describe() for m in check(trial_config, {"Optimizer.lr.values": [0.1, 0.1]}, ["Optimizer.lr.values"])]
['Optimizer.lr.values: given [0.05, 0.005], trainer used [0.1, 0.1]']
>>> check(trial_config, {"Optimizer.lr.values": [0.0500001, 0.005]}, ["Optimizer.lr.values"])  # float32
[]
"""
import dataclasses
import math
from typing import TYPE_CHECKING, Any, Optional, Sequence

from paddle_autotune_plugins.search_space import dotpath

if TYPE_CHECKING:  # only the checker needs it: importing knobs does not load the search space (optuna, yaml)
    from paddle_autotune_plugins.search_space.space import Param

RELATIVE = 1e-4  # the trainer holds floats as float32, and rounds some (e.g. warm-up steps)


@dataclasses.dataclass
class Mismatch:
    path: str
    given: Any  # what the trial's config says
    used: Any  # what the trainer's live objects hold

    def describe(self, sampled: Any = None) -> str:
        shown = "" if sampled is None or _same(sampled, self.given) else f" (sampled {_fmt(sampled)})"
        return f"{self.path}: given {_fmt(self.given)}{shown}, trainer used {_fmt(self.used)}"


@dataclasses.dataclass
class Verdict:
    """A trial's knob check, kept as its ``knobs`` attribute (a dict in the study): the mismatches found, how many
    tuned paths the trainer's values covered, and which it did not.

    >>> v = Verdict(mismatches=["x: given 1, trainer used 2"], read=1)
    >>> v.acted(), v.text()
    (False, 'MISMATCH x: given 1, trainer used 2')
    >>> Verdict.from_attr(v.to_attr()) == v
    True
    >>> Verdict.from_attr({"read": 2, "not_read": ["y"]}).text()
    'ok (2 read); not read: y'
    """
    mismatches: list[str] = dataclasses.field(default_factory=list)  # described (Mismatch.describe)
    read: int = 0  # tuned paths the trainer's values covered
    not_read: list[str] = dataclasses.field(default_factory=list)
    reported: bool = True  # False: the trainer reported no values at all

    def acted(self) -> bool:
        return not self.mismatches

    def text(self) -> str:
        """One line, as show, the report and trials.csv print it."""
        if self.mismatches:
            return "MISMATCH " + "; ".join(self.mismatches)
        if not self.reported:
            return "not read (the trainer reported no values)"
        return f"ok ({self.read} read)" + (f"; not read: {', '.join(self.not_read)}" if self.not_read else "")

    def to_attr(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_attr(cls, value: Any) -> Optional["Verdict"]:
        """The verdict stored on a trial (None where nothing tuned was checked)."""
        return cls(**value) if isinstance(value, dict) else None


def verdict(mismatches: Sequence[Mismatch], used: dict[str, Any], tuned_paths: Sequence[str]) -> Optional[Verdict]:
    """The verdict for a trial whose tuned paths are tuned_paths (None where nothing was tuned)."""
    if mismatches:
        return Verdict(mismatches=[m.describe() for m in mismatches])
    if not tuned_paths:
        return None
    missing = unchecked(used, tuned_paths)
    return Verdict(read=len(tuned_paths) - len(missing), not_read=missing, reported=bool(used))


def check(cfg: dict[str, Any], used: dict[str, Any], paths: Sequence[str]) -> list[Mismatch]:
    """Mismatches between the written config and the trainer's values, for the paths that were read."""
    found = []
    for path in paths:
        if path not in used or not dotpath.has(cfg, path):
            continue
        given = dotpath.get(cfg, path)
        if not _same(given, used[path]):
            found.append(Mismatch(path, given, used[path]))
    return found


def paths_of(params: Sequence["Param"]) -> list[str]:
    """Every config path the params write (a knob's main path and its ``also`` places)."""
    return [path for p in params for path in [p.name] + list(p.also or [])]


def unchecked(used: dict[str, Any], paths: Sequence[str]) -> list[str]:
    return [p for p in paths if p not in used]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b) and \
            all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b) and type(a) is type(b) or a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=RELATIVE, abs_tol=1e-12)
    return a == b


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return repr(value) if isinstance(value, str) else str(value)
