"""Search spaces: dotted config paths mapped to parameter specs.

Every spelling docs/search-spaces.md lists parses to the same :class:`Param`:

>>> [p.describe() for p in parse_space({
...     "Optimizer.lr.learning_rate": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
...     "Optimizer.momentum": {"bounds": [0.8, 0.99]},
...     "DataLoader.Train.sampler.batch_size": {"values": [32, 64, 128]},
...     "Global.epochs": {"type": "int", "min": 2, "max": 6, "step": 2},
... })]  # doctest: +NORMALIZE_WHITESPACE
['Optimizer.lr.learning_rate: float [0.0001, 0.1] log', 'Optimizer.momentum: float [0.8, 0.99]',
 'DataLoader.Train.sampler.batch_size: categorical [32, 64, 128]', 'Global.epochs: int [2, 6] step 2']
"""
import dataclasses
import json
import math
import pathlib
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Optional, Union

import optuna
import yaml
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial

from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.search_space import dotpath

_FLOAT_TYPES = {"float", "continuous", "uniform", "real", "loguniform", "quniform", "qloguniform"}
_INT_TYPES = {"int", "integer", "randint"}
_CATEGORICAL_TYPES = {"categorical", "choice", "choices"}
_KNOWN_KEYS = {"type", "_type", "_value", "low", "high", "min", "max", "bounds", "log", "scale", "step", "q",
               "choices", "values", "new", "when", "apply", "description", "scale_with", "reference", "also",
               "around", "factor", "otherwise"}
_APPLY_MODES = {None, "set", "scale_list", "scale_all"}


@dataclasses.dataclass
class Param:
    """One tuned knob. ``name`` is the dotted path it writes in the native config."""

    name: str
    kind: str  # float | int | categorical
    low: Optional[float] = None
    high: Optional[float] = None
    log: bool = False
    step: Optional[float] = None
    choices: Optional[list[Any]] = None
    new: bool = False  # the path may be absent from the config (its parent must exist)
    when: Optional[dict[str, Any]] = None  # {other path: value or [values]}: sampled only when all match
    apply: Optional[str] = None  # "scale_list": the value is the list's first entry, the rest keep their ratios
    # derived: the applied value is value * product(config[path]) / reference
    scale_with: Optional[list[str]] = None
    reference: Optional[float] = None  # e.g. the linear LR-scaling rule: the sampled LR is for a total batch of 32
    # more paths that take the same change (YOLOv3 anchors in head and target assigner)
    also: Optional[list[str]] = None
    # {around: config, factor: F}: the range is [c/F, c*F] around the config's value c (see centre_on);
    # low/high given with it bound that range (the knob's valid domain) and are its fallback where c is 0 or absent
    around: Optional[str] = None
    factor: Optional[float] = None
    domain: Optional[list[Optional[float]]] = None  # [low, high] as given with around (None where not given)
    # with around: the spec ({low, high, log}) where the config holds no value or 0
    otherwise: Optional[dict[str, Any]] = None
    centre: Any = None  # the value the range was centred on (the rescaled config's), once resolved
    config_value: Any = None  # the config's own value there (trial 0's), once resolved

    def distribution(self) -> BaseDistribution:
        # low and high are None in a range not centred yet (around: config): Optuna's or int()'s TypeError
        # then, which contains() reads as 'not inside'
        if self.kind == "float":
            return optuna.distributions.FloatDistribution(self.low, self.high,  # type: ignore[arg-type]
                                                          log=self.log, step=self.step)
        if self.kind == "int":
            return optuna.distributions.IntDistribution(int(self.low), int(self.high),  # type: ignore[arg-type]
                                                        log=self.log, step=int(self.step or 1))
        return optuna.distributions.CategoricalDistribution(self._encoded_choices())

    def suggest(self, trial: optuna.Trial) -> Any:
        if self.kind == "float":
            assert self.low is not None and self.high is not None  # a sampled range is resolved (centre_on)
            return trial.suggest_float(self.name, self.low, self.high, log=self.log, step=self.step)
        if self.kind == "int":
            assert self.low is not None and self.high is not None  # a sampled range is resolved (centre_on)
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return self.decode(trial.suggest_categorical(self.name, self._encoded_choices()))

    def _encoded_choices(self) -> list[Any]:
        # Optuna stores only scalars; lists (anchor sizes, milestones) travel as JSON text.
        assert self.choices is not None  # asked of a categorical only, whose choices parse_spec checked
        if all(c is None or isinstance(c, (bool, int, float, str)) for c in self.choices):
            return list(self.choices)
        return [json.dumps(c) for c in self.choices]

    def decode(self, stored: Any) -> Any:
        # categorical: its choices are there (_encoded_choices asserts it first)
        if self.kind == "categorical" and self._encoded_choices() != list(self.choices):  # type: ignore[arg-type]
            return json.loads(stored)
        return stored

    def encode(self, value: Any) -> Any:
        # categorical: its choices are there (_encoded_choices asserts it first)
        if self.kind == "categorical" and self._encoded_choices() != list(self.choices):  # type: ignore[arg-type]
            return json.dumps(value)
        return value

    def contains(self, value: Any) -> bool:
        """Whether a value from a config lies inside this space (for the baseline trial)."""
        try:
            return self.distribution()._contains(self.distribution().to_internal_repr(self.encode(value)))
        except (ValueError, TypeError):
            return False

    def grid_values(self, points: int = 5) -> list[Any]:
        if self.kind == "categorical":
            return list(self._encoded_choices())
        assert self.low is not None and self.high is not None  # a range on a grid is resolved (centre_on)
        if self.kind == "int":
            values = range(int(self.low), int(self.high) + 1, int(self.step or 1))  # not a list: 0..1e9 fits
            if len(values) <= points:
                return list(values)
            return sorted({values[round(i * (len(values) - 1) / (points - 1))] for i in range(points)})
        if self.step:
            return [self.low + i * self.step for i in range(self.grid_count(points))]
        if self.log:
            a, b = math.log(self.low), math.log(self.high)
            return [math.exp(a + (b - a) * i / (points - 1)) for i in range(points)]
        return [self.low + (self.high - self.low) * i / (points - 1) for i in range(points)]

    def grid_count(self, points: int = 5) -> int:
        """How many values grid_values gives, counted without making them."""
        if self.kind == "categorical":
            assert self.choices is not None  # parse_spec gives a categorical its choices
            return len(self.choices)
        assert self.low is not None and self.high is not None  # a range on a grid is resolved (centre_on)
        if self.kind == "int":
            return min(points, len(range(int(self.low), int(self.high) + 1, int(self.step or 1))))
        return int(round((self.high - self.low) / self.step)) + 1 if self.step else points

    def apply_to(self, cfg: Any, value: Any) -> None:
        if self.scale_with:
            for path in self.scale_with:
                value = value * (dotpath.get(cfg, path, None) or 1)  # an absent factor (e.g. no accumulation) is 1
            value = value / self.reference
        for path in [self.name] + (self.also or []):
            if self.apply == "scale_list":
                values = dotpath.get(cfg, path)
                ratio = value / values[0]
                dotpath.set_(cfg, path, [value if i == 0 else v * ratio for i, v in enumerate(values)])
            elif self.apply == "scale_all":
                dotpath.set_(cfg, path, _scaled(dotpath.get(cfg, path), value))
            else:
                dotpath.set_(cfg, path, value)

    def current(self, cfg: Any) -> Any:
        """The value the config holds for this knob now (None if absent)."""
        if self.apply == "scale_all":
            return 1.0 if dotpath.has(cfg, self.name) else None  # the config as given is scale 1
        value = dotpath.get(cfg, self.name, None)
        if self.apply == "scale_list" and isinstance(value, (list, tuple)) and value:
            value = value[0]
        if self.kind in ("float", "int") and isinstance(value, str) and _NUMBER_TEXT.fullmatch(value.strip()):
            value = float(value)  # PyYAML reads 4e-3 as text; ppcls evaluates it to the number it trains with
        return value

    def active(self, sampled: dict[str, Any], cfg: Any) -> bool:
        for path, wanted in (self.when or {}).items():
            actual = sampled[path] if path in sampled else dotpath.get(cfg, path, None)
            options = wanted if isinstance(wanted, list) else [wanted]
            if actual not in options:
                return False
        return True

    def describe(self) -> str:
        if self.kind == "categorical":
            assert self.choices is not None  # parse_spec gives a categorical its choices
            return f"{self.name}: categorical {list(self.choices)}" + self._centred_text()
        if self.around and self.low is None:  # not resolved against a config yet (presets, --param)
            bounds = "".join(f", {word} {_fmt(b)}" for word, b in zip(("at least", "at most"), self.domain or ())
                             if b is not None)
            return f"{self.name}: {self.kind} around the config's value, x/÷ {_fmt(self.factor)}" + \
                (" log" if self.log else "") + bounds
        text = f"{self.name}: {self.kind} [{_fmt(self.low)}, {_fmt(self.high)}]"
        if self.log:
            text += " log"
        if self.step:
            text += f" step {_fmt(self.step)}"
        if self.scale_with:
            text += f" x {' x '.join(self.scale_with)} / {_fmt(self.reference)}"
        if self.apply == "scale_all":
            text += " (a factor on the config's values)"
        if self.also:
            text += f", also at {', '.join(self.also)}"
        return text + self._centred_text()

    def _centred_text(self) -> str:
        """Where the range is centred: the config's value, or its rescaled value (rescale.py)."""
        if self.centre is None:  # a fixed range: the config's value is shown beside it, where known
            return "" if self.config_value is None else f"; the config's {_fmt(self.config_value)}"
        if self.config_value is None:  # the config leaves it out: the trainer's own default (values_in_effect)
            return f"; centred on the trainer's default {_fmt(self.centre)}"
        if self.config_value == self.centre:
            return f"; centred on the config's {_fmt(self.centre)}"
        return f"; centred on {_fmt(self.centre)} (the config's {_fmt(self.config_value)}, rescaled)"


def _scaled(node: Any, factor: float) -> Any:
    """Every number in a nested list times factor; whole numbers (pixel sizes) stay whole, at least 1."""
    if isinstance(node, (list, tuple)):
        return [_scaled(v, factor) for v in node]
    if isinstance(node, bool) or not isinstance(node, (int, float)):
        return node
    return max(1, int(round(node * factor))) if isinstance(node, int) else node * factor


def _fmt(x: Any) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _number(name: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise UsageError(f"space '{name}': {key} must be a number, got {value!r}")
    try:
        number = float(value) if isinstance(value, str) else value
    except ValueError:
        raise UsageError(f"space '{name}': {key} must be a number, got {value!r}") from None
    if not math.isfinite(number):  # .nan / .inf in YAML: Optuna would take it and the trial would crash
        raise UsageError(f"space '{name}': {key} must be a finite number, got {value!r}")
    return number


def _nni_value(name: str, kind: str, value: Any) -> list[Any]:
    """NNI's _value: a list of choices for choice, [low, high] (and q for the q types) for a range."""
    if kind == "choice":
        if not isinstance(value, list) or not value:
            raise UsageError(f"space '{name}': _value of a choice must be a list of values, got {value!r}")
    elif not isinstance(value, list) or len(value) not in ((2, 3) if kind.startswith("q") else (2,)):
        form = "[low, high, q]" if kind.startswith("q") else "[low, high]"
        raise UsageError(f"space '{name}': _value of {kind or 'a range'} must be {form}, got {value!r}")
    return value


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _check_choices(name: str, choices: Iterable[Any]) -> None:
    """Choices are values a config holds: numbers, text, booleans, or lists of them (anchor sizes)."""
    for choice in choices:
        if choice is None:
            raise UsageError(f"space '{name}': null is not a choice (it would drop the key); list the values to try")
        flat = choice if isinstance(choice, list) else [choice]
        if not all(c is not None and (_is_scalar(c) or isinstance(c, list)) for c in flat):
            raise UsageError(f"space '{name}': choice {choice!r} is not a value a config holds; choices are numbers, "
                             f"text, true/false or lists of them")


def parse_spec(name: str, spec: Any) -> Param:
    """Parse one spec in any supported spelling into a validated Param."""
    if isinstance(spec, (list, tuple)):
        spec = {"type": "categorical", "choices": list(spec)}
    if not isinstance(spec, dict):
        raise UsageError(f"space '{name}': expected a mapping like {{type: float, low: 0.001, high: 0.1}}, "
                         f"got {spec!r}")
    unknown = set(spec) - _KNOWN_KEYS
    if unknown:
        raise UsageError(f"space '{name}': unknown key(s) {sorted(unknown)}; use type, low, high, log, step, "
                         f"choices (or bounds, min/max, scale, values)")
    spec = dict(spec)
    kind = str(spec.get("type") or spec.get("_type") or "").lower()
    for key in ("log", "new"):
        if key in spec and not isinstance(spec[key], bool):  # YAML's "no" in quotes is text, and truthy
            raise UsageError(f"space '{name}': {key} must be true or false, got {spec[key]!r}")
    log = bool(spec.get("log", False)) or str(spec.get("scale", "")).lower() in ("log", "log10", "loguniform")
    low = high = step = choices = None

    if "_value" in spec:  # NNI style: {_type: loguniform, _value: [1e-4, 1e-1]}
        value = _nni_value(name, kind, spec["_value"])
        if kind == "choice":
            choices = list(value)
        else:
            low, high = value[0], value[1]
            if kind.startswith("q") and len(value) > 2:
                step = value[2]
            if kind == "randint":  # NNI's upper bound is exclusive
                high = _number(name, "high", high) - 1
    if "bounds" in spec:
        bounds = spec["bounds"]
        if not isinstance(bounds, (list, tuple)) or len(bounds) != 2:
            raise UsageError(f"space '{name}': bounds must be [low, high], got {bounds!r}")
        low, high = bounds
    low = spec.get("low", spec.get("min", low))
    high = spec.get("high", spec.get("max", high))
    step = spec.get("step", spec.get("q", step))
    choices = spec.get("choices", spec.get("values", choices))

    if kind in ("loguniform", "qloguniform"):
        log = True
    if kind == "conditional" and not spec.get("when"):
        raise UsageError(f"space '{name}': type conditional needs a 'when: {{path: value}}' condition")
    if kind in ("", "conditional", "discrete"):
        if choices is not None:
            kind = "categorical"
        elif isinstance(low, int) and isinstance(high, int) and not isinstance(step, float):
            kind = "int"
        elif kind == "discrete":
            kind = "int"
        else:
            kind = "float"
    elif kind in _FLOAT_TYPES:
        kind = "float"
    elif kind in _INT_TYPES:
        kind = "int"
    elif kind in _CATEGORICAL_TYPES:
        kind = "categorical"
    else:
        raise UsageError(f"space '{name}': unknown type '{kind}'; use float, int or categorical")

    apply = spec.get("apply")
    if apply not in _APPLY_MODES:
        raise UsageError(f"space '{name}': unknown apply '{apply}'; use set or scale_list")
    when = spec.get("when")
    if when is not None and not isinstance(when, dict):
        raise UsageError(f"space '{name}': when must map a path to a value, got {when!r}")
    for path, wanted in (when or {}).items():
        if not all(_is_scalar(w) for w in (wanted if isinstance(wanted, list) else [wanted])):
            raise UsageError(f"space '{name}': when {path}: {wanted!r} must be a value or a list of values "
                             f"(numbers, text, true/false, null)")
    scale_with = spec.get("scale_with")
    if scale_with is not None:
        scale_with = [scale_with] if isinstance(scale_with, str) else scale_with
        if not (isinstance(scale_with, list) and scale_with and all(isinstance(w, str) for w in scale_with)):
            raise UsageError(f"space '{name}': scale_with must be a dotted path or a list of them, "
                             f"got {spec['scale_with']!r}")
        if not spec.get("reference") or _number(name, "reference", spec["reference"]) <= 0:
            raise UsageError(f"space '{name}': scale_with needs a reference > 0 (the value the range is meant for)")
    also = spec.get("also")
    if also is not None and not (isinstance(also, list) and all(isinstance(a, str) for a in also)):
        raise UsageError(f"space '{name}': also must be a list of dotted paths")
    common = dict(new=bool(spec.get("new", False)), when=when, apply=apply, scale_with=scale_with,
                  reference=_number(name, "reference", spec["reference"]) if scale_with else None, also=also)

    if spec.get("around") is not None:
        return _relative_spec(name, spec, kind, low, high, log, step, common)
    if kind == "categorical":
        if not isinstance(choices, (list, tuple)) or not choices:
            raise UsageError(f"space '{name}': categorical needs a non-empty list of choices")
        _check_choices(name, choices)
        return Param(name, "categorical", choices=list(choices), **common)

    if low is None or high is None:
        raise UsageError(f"space '{name}': a {kind} range needs low and high (or bounds: [low, high])")
    low, high = _number(name, "low", low), _number(name, "high", high)
    if kind == "int":
        if low != int(low) or high != int(high):
            raise UsageError(f"space '{name}': int bounds must be whole numbers, got [{low}, {high}]")
        low, high = int(low), int(high)
    if low > high:
        raise UsageError(f"space '{name}': low {low} > high {high}; swap them")
    if low == high:
        raise UsageError(f"space '{name}': empty range [{low}, {high}]; widen it, or set the value with -o")
    if log and low <= 0:
        raise UsageError(f"space '{name}': a log range needs low > 0, got {low}")
    if not math.isfinite(float(high) - float(low)):  # the samplers draw low + u * (high - low)
        raise UsageError(f"space '{name}': the range [{_fmt(low)}, {_fmt(high)}] is too wide to sample (its width "
                         f"overflows a float); narrow it, or use log: true")
    if step is not None:
        step = _number(name, "step", step)
        if step <= 0:
            raise UsageError(f"space '{name}': step must be > 0, got {step}")
        if step > high - low:
            raise UsageError(f"space '{name}': step {_fmt(step)} is larger than the range [{_fmt(low)}, {_fmt(high)}], "
                             f"which leaves one value to tune; use a step of at most {_fmt(high - low)}")
        if log:
            raise UsageError(f"space '{name}': step and log cannot be combined; drop one")
    return Param(name, kind, low=low, high=high, log=log, step=step, **common)


def _relative_spec(name: str, spec: dict[str, Any], kind: str, low: Any, high: Any, log: bool, step: Any,
                   common: dict[str, Any]) -> Param:
    """``{around: config, factor: F[, log, low, high]}``: a range resolved later around the config's value."""
    if spec["around"] != "config":
        raise UsageError(f"space '{name}': around takes 'config' (the range is centred on the config's value), "
                         f"got {spec['around']!r}")
    if kind not in ("float", "int"):
        raise UsageError(f"space '{name}': around: config needs a float or int range, not {kind}")
    factor = _number(name, "factor", spec.get("factor", 10))
    if factor <= 1:
        raise UsageError(f"space '{name}': factor must be > 1 (the range is [value/factor, value*factor]), "
                         f"got {spec.get('factor')}")
    if step is not None:
        raise UsageError(f"space '{name}': around: config takes no step; give low and high for a stepped range")
    domain = [None if b is None else _number(name, key, b) for key, b in (("low", low), ("high", high))]
    if None not in domain and domain[0] >= domain[1]:  # type: ignore[operator]  # neither is None here
        raise UsageError(f"space '{name}': low {domain[0]} >= high {domain[1]}; swap them")
    if log and domain[0] is not None and domain[0] <= 0:
        raise UsageError(f"space '{name}': a log range needs low > 0, got {domain[0]}")
    otherwise = spec.get("otherwise")
    if otherwise is not None:
        if not isinstance(otherwise, dict):
            raise UsageError(f"space '{name}': otherwise must be a range like {{low: 0, high: 5}}, got {otherwise!r}")
        parse_spec(name, dict(otherwise, type=kind))  # checked now, used where the config has no value
    return Param(name, kind, log=log, around="config", factor=factor, domain=domain, otherwise=otherwise, **common)


def centre_on(params: Iterable[Param], cfg: Any, centred_cfg: Any = None) -> list[Param]:
    """Resolve every ``around: config`` range against a config: [c/F, c*F] around the value c that
    ``centred_cfg`` holds (the config rescaled to the user's devices; the config itself if not given), cut
    to the spec's low/high and widened to take the config's own value (trial 0 must lie inside). Where c is
    0 or absent the spec's low/high are the range. Returns new Params; fixed ranges pass unchanged."""
    centred_cfg = cfg if centred_cfg is None else centred_cfg
    return [_centred(p, p.current(cfg), p.current(centred_cfg)) if p.around and p.low is None else p for p in params]


def _centred(p: Param, own: Any, centre: Any) -> Param:
    assert p.domain is not None and p.factor is not None  # an around: config range (_relative_spec sets both)
    usable = [v for v in (centre, own) if _positive_number(v)]
    if not usable:
        if p.otherwise is None and None in p.domain:
            raise UsageError(f"space '{p.name}': around: config, but the config holds {own!r} there; give "
                             f"otherwise: {{low: ..., high: ...}} for that case")
        fallback = p.otherwise or dict(low=p.domain[0], high=p.domain[1], log=p.log)
        return dataclasses.replace(parse_spec(p.name, dict(fallback, type=p.kind, **_common_keys(p))),
                                   config_value=own)
    centre = usable[0]
    low, high = centre / p.factor, centre * p.factor
    if p.domain[0] is not None:
        low = max(low, p.domain[0])
    if p.domain[1] is not None:
        high = min(high, p.domain[1])
    if _positive_number(own):  # the config's own value stays inside, whatever the domain says
        low, high = min(low, own), max(high, own)
    if p.kind == "int":
        low, high = int(math.floor(low)), int(math.ceil(high))
        high = high if high > low else low + 1
    return dataclasses.replace(p, low=low, high=high, centre=centre, config_value=own)


def start_above_warmup(lr: Optional[Param], start: Any) -> Optional[str]:
    """A learning-rate range raised above a LinearWarmup's start (Paddle's LinearWarmup asserts end_lr >
    start_lr, and the warm-up ends at the tuned rate): the note saying so, or None where it already is."""
    if isinstance(start, str) and _NUMBER_TEXT.fullmatch(start.strip()):
        start = float(start)  # PyYAML reads 1e-6 as text; the suites evaluate it to a number
    if lr is None or lr.kind != "float" or not isinstance(start, (int, float)):
        return None
    assert lr.low is not None and lr.high is not None  # asked of the space once centred (check_space)
    if lr.low > start:
        return None
    low = start * 1.01
    if low >= lr.high:
        raise UsageError(f"{lr.name}: the range [{lr.low:g}, {lr.high:g}] lies at or below the warm-up's start "
                         f"(warmup_start_lr {start:g}); LinearWarmup needs a higher rate")
    note = (f"{lr.name} starts above warmup_start_lr {start:g} (LinearWarmup asserts end_lr > start_lr): range "
            f"[{low:g}, {lr.high:g}] instead of [{lr.low:g}, {lr.high:g}]")
    lr.low = low
    return note


MISSES = "a preset range misses the config's value (goal 0)"  # doctor --configs' count (issue 28)


def missing_config_value(params: Iterable[Param], cfg: Any) -> list[str]:
    """Tuned paths whose range leaves out the value the config holds there (trial 0's); a knob the config
    lacks, and a derived one (scale_with: the range is for another batch), cannot miss."""
    return [p.name for p in params if not p.scale_with and p.current(cfg) is not None and not p.contains(p.current(cfg))]


def _positive_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _common_keys(p: Param) -> dict[str, Any]:
    return {k: getattr(p, k) for k in ("new", "when", "apply", "scale_with", "reference", "also")
            if getattr(p, k) is not None}


def load_yaml(path: Union[str, pathlib.Path]) -> Any:
    """A space or preset file as plain data. OmegaConf reads ``1e-4`` as a number (PyYAML reads a
    string) and resolves interpolations such as ``${oc.env:MAX_LR}``."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        return OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    except (OmegaConfBaseException, yaml.YAMLError) as e:
        raise UsageError(f"{path} is not a valid space file: {str(e).splitlines()[0]}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text; save the space file as UTF-8") from None
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror or e}") from None


def parse_space(mapping: Any) -> list[Param]:
    if mapping is None:
        return []
    if not isinstance(mapping, dict):
        raise UsageError(f"a space file must map dotted paths to specs, got {type(mapping).__name__}")
    return [parse_spec(str(name), spec) for name, spec in mapping.items()]


def check_resumable(params: Iterable[Param], trials: Iterable[FrozenTrial]) -> None:
    """Resuming with a parameter whose kind (or choices) changed would fail at the first ask: say so first."""
    by_name = {p.name: p for p in params}
    for t in trials:
        for name, stored in t.distributions.items():
            if name not in by_name:
                continue
            try:
                optuna.distributions.check_distribution_compatibility(stored, by_name[name].distribution())
            except ValueError:
                raise UsageError(f"the study already tunes '{name}' as {_kind(stored)}; this command tunes it as "
                                 f"{by_name[name].describe().split(': ', 1)[1]}: keep the spec, or start a new study "
                                 f"with another --out or --study") from None
            del by_name[name]  # each name is checked once, against its first stored trial


def _kind(dist: BaseDistribution) -> str:
    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        return f"categorical {list(dist.choices)}"
    assert isinstance(dist, (optuna.distributions.FloatDistribution, optuna.distributions.IntDistribution))
    kind = "int" if isinstance(dist, optuna.distributions.IntDistribution) else "float"
    return f"{kind} [{_fmt(dist.low)}, {_fmt(dist.high)}]" + (" log" if dist.log else "")


def check_paths(params: Iterable[Param], cfg: Any, where: str = "config") -> None:
    """Every tuned path must exist in the resolved config (or be marked new, with an existing parent)."""
    for p in params:
        if dotpath.has(cfg, p.name):
            continue
        if p.new and dotpath.has(cfg, dotpath.parent_path(p.name)):
            continue
        hint = dotpath.nearest(cfg, p.name)
        fix = f"did you mean {' or '.join(hint)}?" if hint else "check the path against the config"
        raise UsageError(f"unknown path '{p.name}' in the {where}: {fix} "
                         f"(mark it 'new: true' if the key is meant to be added)")


def check_links(params: Sequence[Param], cfg: Any, known: Callable[[str], bool] = lambda path: False) -> None:
    """What a spec names besides its own path: ``also`` paths the value is written to, the list that
    ``apply: scale_list`` scales, and ``when`` conditions that can hold. known(path): the trainer takes the
    path though the config does not name it (a flag its --help lists)."""
    tuned = {p.name for p in params}
    for p in params:
        for path in p.also or []:
            if not dotpath.has(cfg, path) and not known(path):
                raise UsageError(f"space '{p.name}': also names '{path}', which the config does not have; "
                                 f"fix the path or drop it from also")
        if p.apply == "scale_list":
            for path in [p.name] + (p.also or []):
                value = dotpath.get(cfg, path, None)
                if not (isinstance(value, list) and value and isinstance(value[0], (int, float))
                        and not isinstance(value[0], bool) and value[0] != 0):
                    raise UsageError(f"space '{p.name}': apply: scale_list needs a list of numbers at {path} "
                                     f"(starting with a non-zero one), the config holds {value!r}; drop apply")
        for path, wanted in (p.when or {}).items():
            options = wanted if isinstance(wanted, list) else [wanted]
            if path not in tuned and not dotpath.has(cfg, path) and not known(path) and None not in options:
                raise UsageError(f"space '{p.name}': when names '{path}', which is neither tuned nor in the config, "
                                 f"so '{p.name}' would never be tuned; fix the path or drop the condition")


def narrow(params: Iterable[Param], complete: Iterable[FrozenTrial], direction: str, keep: float = 0.25,
           margin: float = 0.25) -> list[Param]:
    """The space around the best trials (the top quarter, at least 3): each range shrunk to what they
    used plus a margin of that width (in log space for log ranges), categories to the ones they used."""
    ranked = sorted((t for t in complete if t.value is not None),
                    key=lambda t: t.value,  # type: ignore[arg-type, return-value]  # no None: filtered out
                    reverse=direction == "maximize")
    top = ranked[:max(3, int(len(ranked) * keep))]
    if len(top) < 3:
        return list(params)
    narrowed = []
    for p in params:
        used = [t.params[p.name] for t in top if p.name in t.params]
        if not used:
            narrowed.append(p)
        elif p.kind == "categorical":
            assert p.choices is not None  # parse_spec gives a categorical its choices
            kept = [c for c in p.choices if p.encode(c) in used]
            narrowed.append(dataclasses.replace(p, choices=kept) if len(kept) >= 2 else p)
        else:
            assert p.low is not None and p.high is not None  # the study's ranges are centred (centre_on)
            scale = (math.log, math.exp) if p.log else (lambda v: v, lambda v: v)
            lo, hi = scale[0](min(used)), scale[0](max(used))
            pad = (hi - lo) * margin or (scale[0](p.high) - scale[0](p.low)) * 0.05
            low, high = max(p.low, scale[1](lo - pad)), min(p.high, scale[1](hi + pad))
            if p.kind == "int":
                low, high = int(math.floor(low)), int(math.ceil(high))
            narrowed.append(dataclasses.replace(p, low=low, high=high) if low < high else p)
    return narrowed


def check_enqueue(items: Any, params: Iterable[Param]) -> list[dict[str, Any]]:
    """`enqueue:` in a space file: known-good configs run right after the baseline. Each maps tuned paths
    to values inside their ranges; paths left out are sampled."""
    by_name = {p.name: p for p in params}
    if not isinstance(items, list):
        raise UsageError("enqueue must be a list of {path: value} mappings")
    checked = []
    for item in items:
        if not isinstance(item, dict):
            raise UsageError(f"enqueue item {item!r} must map tuned paths to values")
        for name, value in item.items():
            if name not in by_name:
                raise UsageError(f"enqueue: '{name}' is not a tuned path ({', '.join(by_name)})")
            if not by_name[name].contains(value):
                raise UsageError(f"enqueue: {name} = {value!r} is outside its space {by_name[name].describe()}")
        checked.append({name: by_name[name].encode(value) for name, value in item.items()})
    return checked


def apply_all(params: Iterable[Param], values: dict[str, Any], cfg: Any) -> None:
    """Write sampled values into a config; derived (scale_with) ones last, once their factors are set."""
    for p in sorted(params, key=lambda p: bool(p.scale_with)):
        if p.name in values:
            p.apply_to(cfg, values[p.name])


def sample(trial: optuna.Trial, params: Iterable[Param], cfg: Any) -> dict[str, Any]:
    """Ask Optuna for each active parameter; returns {path: value} in native form."""
    values: dict[str, Any] = {}
    for p in params:
        if p.active(values, cfg):
            values[p.name] = p.suggest(trial)
    return values


# --- ranges on the command line: --param PATH=SPEC ---------------------------------------------------------
INLINE_FORMS = ("PATH=LOW:HIGH[:STEP], PATH=log:LOW:HIGH, PATH=int:LOW:HIGH, PATH=choice:A,B,C or "
                "PATH=[log:]around:FACTOR[:LOW:HIGH]")
_INLINE_WORDS = {"int": ("type", "int"), "float": ("type", "float"), "log": ("log", True), "new": ("new", True),
                 "around": ("around", "config")}
_CHOICE_WORDS = ("choice", "choices", "values")
_INT_TEXT = re.compile(r"[-+]?\d+")
_NUMBER_TEXT = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_CALL = re.compile(r"(\w+)\s*\((.*)\)", re.DOTALL)


def parse_inline(text: str, option: str = "--param") -> Param:
    """One ``--param PATH=SPEC`` of the command line as the Param the same entry of a space file makes.

    The spec is the space file's entry in one word: words before the numbers are its keys (``int``/``float``
    = ``type``, ``log`` = ``log: true``, ``new`` = ``new: true``, ``around`` = ``around: config``, whose first
    number is the factor), then ``low:high[:step]``, or ``choice:`` and the values (``values: [...]``):

    >>> parse_inline("Optimizer.lr.learning_rate=log:1e-4:1e-1").describe()
    'Optimizer.lr.learning_rate: float [0.0001, 0.1] log'
    >>> parse_inline("DataLoader.Train.sampler.batch_size=choice:32,64,128").describe()
    'DataLoader.Train.sampler.batch_size: categorical [32, 64, 128]'
    >>> parse_inline("Global.epochs=2:6:2").describe(), parse_inline("Optimizer.momentum=0.8:0.99").describe()
    ('Global.epochs: int [2, 6] step 2', 'Optimizer.momentum: float [0.8, 0.99]')
    >>> p = parse_inline("Optimizer.lr.warmup_epoch=new:int:0:5"); (p.describe(), p.new)
    ('Optimizer.lr.warmup_epoch: int [0, 5]', True)
    >>> parse_inline("Optimizer.lr.learning_rate=log:around:10").describe()
    "Optimizer.lr.learning_rate: float around the config's value, x/÷ 10 log"
    """
    name, sep, spec = str(text).partition("=")
    name, spec = name.strip(), spec.strip()
    if not sep or not name or not spec or " " in name:
        raise UsageError(f"{option} '{text}' must read {INLINE_FORMS}, e.g. "
                         f"{option} Optimizer.lr.learning_rate=log:1e-4:1e-1")
    shown = f"{option} {name}={spec}"
    _refuse_other_spellings(shown, name, spec)
    parts = spec.split(":")
    keys: dict[str, Any] = {}
    while parts and parts[0].strip().lower() in _INLINE_WORDS:
        key, value = _INLINE_WORDS[parts.pop(0).strip().lower()]
        if key in keys:
            raise UsageError(f"{shown}: '{key if key != 'type' else 'int/float'}' given twice; write {INLINE_FORMS}")
        keys[key] = value
    if parts and parts[0].strip().lower() in _CHOICE_WORDS:
        if "type" in keys or "log" in keys:
            raise UsageError(f"{shown}: a choice takes no int/float/log; write {name}=choice:A,B,C")
        keys["values"] = _inline_values(shown, name, ":".join(parts[1:]))
    else:
        for part in parts:
            if not _NUMBER_TEXT.fullmatch(part.strip()):
                raise UsageError(f"{shown}: '{part}' is not a number or one of int, float, log, new, choice; "
                                 f"write {INLINE_FORMS}")
        if "around" in keys:
            return _inline_around(shown, name, keys, parts)
        if len(parts) == 1:
            value = float(parts[0])
            around = f"{_fmt(value / 2)}:{_fmt(value * 2)}" if value > 0 else "LOW:HIGH"
            raise UsageError(f"{shown} is one value, not a range: write {name}=LOW:HIGH (e.g. {name}={around}) or "
                             f"{name}=choice:A,B; to fix a value, give it to the command (-o or the script's flag)")
        if len(parts) > 3:
            raise UsageError(f"{shown}: {len(parts)} numbers; a range is LOW:HIGH or LOW:HIGH:STEP")
        numbers = [int(p) if _INT_TEXT.fullmatch(p.strip()) else float(p) for p in parts]
        keys.update(low=numbers[0], high=numbers[1])
        if len(numbers) == 3:
            keys["step"] = numbers[2]
    try:
        return parse_spec(name, keys)
    except UsageError as e:
        raise UsageError(f"{shown}: {str(e).split(': ', 1)[-1]}") from None


def _inline_around(shown: str, name: str, keys: dict[str, Any], parts: list[str]) -> Param:
    """``around:10`` / ``log:around:10:1e-5:1``: the factor, then optional bounds (low, high)."""
    if len(parts) not in (1, 3):
        raise UsageError(f"{shown}: around takes a factor, then optionally LOW:HIGH; e.g. "
                         f"{name}=log:around:10 or {name}=log:around:10:1e-5:1")
    numbers = [int(p) if _INT_TEXT.fullmatch(p.strip()) else float(p) for p in parts]
    keys["factor"] = numbers[0]
    if len(numbers) == 3:
        keys.update(low=numbers[1], high=numbers[2])
    try:
        return parse_spec(name, keys)
    except UsageError as e:
        raise UsageError(f"{shown}: {str(e).split(': ', 1)[-1]}") from None


def _inline_values(shown: str, name: str, body: str) -> list[Any]:
    """``32,64,128`` / ``adam,sgd`` / ``[8, 11],[16, 22]`` -> the list a space file's ``values:`` holds."""
    try:
        values = yaml.safe_load(f"[{body}]")
    except yaml.YAMLError:
        raise UsageError(f"{shown}: cannot read the choices '{body}'; write {name}=choice:A,B,C "
                         f"(lists as choice:[8, 11],[16, 22])") from None
    if not body.strip() or not values or any(v is None for v in values):
        raise UsageError(f"{shown}: empty choice; list the values, e.g. {name}=choice:A,B,C")
    # YAML 1.1 reads 1e-4 as text; the space file (OmegaConf) and the suites read a number
    return [float(v) if isinstance(v, str) and _NUMBER_TEXT.fullmatch(v) else v for v in values]


def _refuse_other_spellings(shown: str, name: str, spec: str) -> None:
    """Hydra's sweep syntax and a bare comma list: not read, but the error says what to write instead."""
    call = _CALL.fullmatch(spec)
    if call:
        fn, args = call.group(1).lower(), [a.strip() for a in call.group(2).split(",")]
        hint = f"{name}=choice:{','.join(args)}" if fn == "choice" else None
        if fn == "interval" and len(args) == 2:
            ints = all(_INT_TEXT.fullmatch(a) for a in args)
            hint = f"{name}={'float:' if ints else ''}{args[0]}:{args[1]}"  # Hydra's interval is a float range
        inner = _CALL.fullmatch(call.group(2).split(",", 1)[-1].strip()) if fn == "tag" else None
        if inner and inner.group(1).lower() == "interval" and "log" in call.group(2).split(",", 1)[0]:
            bounds = [a.strip() for a in inner.group(2).split(",")]
            hint = f"{name}=log:{':'.join(bounds)}" if len(bounds) == 2 else None
        if fn == "range" and 2 <= len(args) <= 3 and all(_INT_TEXT.fullmatch(a) for a in args):
            step = int(args[2]) if len(args) == 3 else 1  # Hydra's range stops before its end
            last = int(args[0]) + (int(args[1]) - 1 - int(args[0])) // step * step
            hint = f"{name}=int:{args[0]}:{last}" + (f":{step}" if step != 1 else "")
        raise UsageError(f"{shown}: {call.group(1)}(...) is not read here (Hydra's sweep syntax); write "
                         + (hint or INLINE_FORMS))
    if "," in spec and not any(part.strip().lower() in _CHOICE_WORDS for part in spec.split(":")):
        listed = spec.strip("[]")
        raise UsageError(f"{shown}: a list of values needs 'choice:'; write {name}=choice:{listed}")
