"""Curated search spaces, kept as data in space_presets/<suite folder>/*.yaml (found, not listed).

A preset names its suite, the architectures it fits, and knobs. A knob has one spec and the places it
may live; the first place that exists in the resolved config wins, so one preset serves configs that
keep the same knob at different paths (Piecewise ``values`` vs ``learning_rate``, R-CNN vs YOLO NMS)::

    suite: clas
    description: Base learning rate
    knobs:
      learning_rate:
        spec: {type: float, low: 1.0e-3, high: 0.5, log: true}
        paths:
          - {path: Optimizer.lr.values, apply: scale_list, when: {Optimizer.lr.name: Piecewise}}
          - {path: Optimizer.lr.learning_rate}

``include: [other-preset]`` composes presets; ``optional: true`` lets a knob be absent with a note.
"""
import dataclasses
import difflib
import importlib.resources
import pathlib
from collections.abc import Callable, Iterable
from typing import Any, Optional

from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.search_space import dotpath
from paddle_autotune_plugins.search_space.space import Param, centre_on, load_yaml, parse_spec


def preset_dir() -> pathlib.Path:
    return pathlib.Path(str(importlib.resources.files("paddle_autotune_plugins.space_presets")))


def preset_files() -> dict[str, pathlib.Path]:
    """{name: path} of every shipped preset: each suite keeps its presets in a folder of its own, named like
    its adapter's folder (space_presets/paddleclas/clas-lr.yaml is preset clas-lr)."""
    found: dict[str, pathlib.Path] = {}
    for path in sorted(preset_dir().glob("**/*.yaml")):
        if path.stem in found:
            raise UsageError(f"two presets are named '{path.stem}': {found[path.stem]} and {path}; rename one")
        found[path.stem] = path
    return found


def available() -> "_Presets":
    """{name: parsed preset file} for every preset shipped (each file is read when first asked for)."""
    return _Presets()


class _Presets(dict[str, Any]):
    """The shipped presets by name, read lazily: a study that names one preset should not parse all."""

    def __init__(self) -> None:
        self.files = preset_files()
        super().__init__((name, None) for name in self.files)

    def __getitem__(self, name: str) -> Any:
        value = super().__getitem__(name)
        if value is None:
            value = load_yaml(self.files[name]) or {}
            self[name] = value
        return value

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self else default

    def items(self) -> list[tuple[str, Any]]:  # type: ignore[override]  # a list, each file read here
        return [(name, self[name]) for name in self]

    def values(self) -> list[Any]:  # type: ignore[override]  # a list, each file read here
        return [self[name] for name in self]


@dataclasses.dataclass
class Resolved:
    params: list[Param]  # named by the dotted path each writes
    notes: list[str]  # knobs this config lacks (optional ones), for the user to read


def _knobs(name: str, presets: dict[str, Any], seen: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    if name not in presets:
        close = difflib.get_close_matches(name, list(presets), n=1, cutoff=0.6)  # as -o typos get one
        names = ", ".join(sorted(presets))
        raise UsageError(f"unknown preset '{name}'; " + (f"did you mean {close[0]}? ('paddle-autotune presets' lists "
                                                         f"them: {names})" if close else
                                                         f"run 'paddle-autotune presets' to list them ({names})"))
    if name in seen:
        raise UsageError(f"preset '{name}' includes itself through {' -> '.join(seen)}")
    preset = presets[name]
    knobs: dict[str, dict[str, Any]] = {}
    for included in preset.get("include", []):
        # {preset: NAME, optional: true}: architectures without those knobs get a note, not an error
        optional = isinstance(included, dict) and included.get("optional", False)
        for knob, body in _knobs(included["preset"] if isinstance(included, dict) else included, presets,
                                 seen + (name,)).items():
            knobs[knob] = dict(body, optional=True) if optional else body
    for knob, body in (preset.get("knobs") or {}).items():
        knobs[knob] = dict(body, preset=name)
    return knobs


def expand(cfg: Any, pattern: str) -> list[str]:
    """A dotted path with `*` for any one key or index, matched against the config."""
    if "*" not in pattern:
        return [pattern] if dotpath.has(cfg, pattern) else []
    head, _, tail = pattern.partition("*")
    head = head.rstrip(".")
    node = dotpath.get(cfg, head, None) if head else cfg
    keys = range(len(node)) if isinstance(node, list) else (node.keys() if isinstance(node, dict) else [])
    found: list[str] = []
    for key in keys:
        found += expand(cfg, ".".join(p for p in (head, str(key), tail.lstrip(".")) if p))
    return found


FACT_PREFIX = "trainer."  # `when: {trainer.NAME: value}` asks the adapter what the installed trainer does


def _place_matches(place: dict[str, Any], cfg: Any, facts: Callable[[str], Any],
                   accepts: Callable[[str], bool]) -> tuple[bool, bool]:
    """(matches, new): whether a knob may live at this place of the config, and whether the key is added."""
    when = place.get("when") or {}
    for path, wanted in when.items():
        if not path.startswith(FACT_PREFIX) and dotpath.get(cfg, path, None) not in _options(wanted):
            return False, False
    path = place["path"]
    if dotpath.has(cfg, path):
        found = True, bool(place.get("new"))
    elif place.get("new") and dotpath.has(cfg, dotpath.parent_path(path)):
        found = True, True
    elif accepts(path):
        found = True, True
    else:
        return False, False
    for name, wanted in when.items():  # last: a fact may run the trainer's code, so only when all else fits
        if name.startswith(FACT_PREFIX) and facts(name[len(FACT_PREFIX):]) not in _options(wanted):
            return False, False
    return found


def _options(wanted: Any) -> list[Any]:
    return wanted if isinstance(wanted, list) else [wanted]


def resolve(names: Iterable[str], suite: Optional[str], cfg: Any, architecture: Optional[str] = None,
            data_choices: Optional[Callable[[str, Any], list[Any]]] = None,
            facts: Optional[Callable[[str], Any]] = None, accepts: Optional[Callable[[str], bool]] = None,
            centred_cfg: Any = None) -> Resolved:
    """Turn preset names into Params at the paths this config uses.

    ``data_choices(path, cfg)`` gives the choices of a knob whose spec says ``choices: from_data`` (the
    adapter's: e.g. k-means anchors over the training boxes). ``facts(name)`` answers a place's
    ``when: {trainer.NAME: value}`` from what the installed trainer does (e.g. whether ``Piecewise`` reads
    ``learning_rate`` or ``values``), so a preset follows behaviour, not version numbers. ``accepts(path)``
    says the trainer takes a setting the config does not spell out (a script flag listed by ``--help``).
    ``centred_cfg``: the config rescaled to the user's devices (rescale.py), where relative ranges are centred."""
    presets = available()
    facts = facts or (lambda name: None)
    accepts = accepts or (lambda path: False)
    params: list[Param] = []
    notes: list[str] = []
    for name in names:
        preset = presets.get(name)
        if preset is not None and preset.get("suite") not in (None, suite):
            own = any(p.get("suite") == suite for p in presets.values())
            fix = (f"run 'paddle-autotune presets' for the {suite} ones" if own else
                   f"the {suite} suite has no presets: give --space FILE.yaml or --param PATH=LOW:HIGH")
            raise UsageError(f"preset '{name}' is for the {preset['suite']} suite, this is a {suite} config; {fix}")
        fits = (preset or {}).get("architectures", "any")
        if architecture and fits != "any" and architecture not in fits:
            raise UsageError(f"preset '{name}' fits architectures {fits}, this config is {architecture}")
        for knob, body in _knobs(name, presets).items():
            place, new = next(((p, n) for p in body["paths"] for ok, n in [_place_matches(p, cfg, facts, accepts)]
                               if ok), (None, False))
            if place is None:
                tried = ", ".join(p["path"] for p in body["paths"])
                what = f"this {architecture} config" if architecture else "this config"
                message = f"preset '{body['preset']}': knob '{knob}' has no place in {what} (looked at {tried})"
                if body.get("optional"):
                    notes.append(message + "; skipped")
                    continue
                raise UsageError(message + "; drop the preset or add the key with -o")
            spec = dict(body["spec"], new=new)
            if spec.get("choices") == "from_data":
                if data_choices is None:
                    raise UsageError(f"preset '{body['preset']}' seeds '{knob}' from the data, which the {suite} "
                                     f"suite cannot do")
                spec["choices"] = data_choices(place["path"], cfg)
            if place.get("apply"):
                spec["apply"] = place["apply"]
            if place.get("also"):
                spec["also"] = [path for pattern in place["also"] for path in expand(cfg, pattern)]
            for key in ("low", "high", "choices", "factor", "otherwise"):  # a place may change the knob's range
                if key in place:
                    spec[key] = place[key]
            param = centre_on([parse_spec(place["path"], spec)], cfg, centred_cfg)[0]
            params.append(taking_config_value(param, cfg))
    return Resolved(params, notes)


def taking_config_value(param: Param, cfg: Any) -> Param:
    """A preset's fixed range widened (a choice list extended) to take the config's own value: a preset never
    excludes what the config trains with. Relative ranges (around: config) take it in space.centre_on."""
    if param.around or param.scale_with or param.apply == "scale_all" or param.step:
        return param
    value = param.current(cfg)
    if value is None or isinstance(value, bool) and param.kind != "categorical":
        return param
    param = dataclasses.replace(param, config_value=value)
    if param.kind == "categorical":
        if param.contains(value) or not isinstance(value, (int, float, str)):
            return param
        assert param.choices is not None  # parse_spec gives a categorical its choices
        choices = list(param.choices) + [value]
        if all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in choices):
            choices = sorted(choices)
        return dataclasses.replace(param, choices=choices)
    if not isinstance(value, (int, float)) or (param.log and value <= 0) or (param.kind == "int" and value != int(value)):
        return param
    value = int(value) if param.kind == "int" else value
    assert param.low is not None and param.high is not None  # a fixed range (around: config returned above)
    return dataclasses.replace(param, low=min(param.low, value), high=max(param.high, value))


def describe(suite: Optional[str] = None) -> list[str]:
    """Lines for `paddle-autotune presets`: each preset with the paths each knob may touch."""
    lines = []
    presets = available()
    for name, preset in presets.items():
        if suite and preset.get("suite") != suite:
            continue
        fits = preset.get("architectures", "any")
        lines.append(f"{name}  [{preset.get('suite', 'any')}; architectures: {fits}]  {preset.get('description', '')}")
        for knob, body in _knobs(name, presets).items():
            paths = " | ".join(p["path"] + (" (if " + ", ".join(f"{k}={v}" for k, v in p["when"].items()) + ")"
                                            if p.get("when") else "") for p in body["paths"])
            shown = dict(body["spec"], choices=["as configured", "k-means over the training boxes"]) \
                if body["spec"].get("choices") == "from_data" else body["spec"]
            spec = parse_spec(knob, shown).describe().split(": ", 1)[1]
            lines.append(f"    {knob:<16} {spec:<30} -> {paths}")
    return lines
