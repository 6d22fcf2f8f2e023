"""Dotted paths into nested dicts and lists: ``Optimizer.lr.learning_rate``, ``Loss.Train.0.CELoss``.

>>> cfg = {"Optimizer": {"lr": {"learning_rate": 0.1}}, "Loss": {"Train": [{"CELoss": {}}]}}
>>> get(cfg, "Optimizer.lr.learning_rate")
0.1
>>> set_(cfg, "Loss.Train.0.CELoss.epsilon", 0.1)
>>> cfg["Loss"]["Train"][0]["CELoss"]["epsilon"]
0.1
"""
import difflib
from collections.abc import Iterable, Iterator
from typing import Any, Optional

_MISSING = object()


def _step(node: Any, key: str) -> Any:
    """One level down, or _MISSING. List items are addressed by their index."""
    if isinstance(node, dict):
        return node.get(key, _MISSING)
    if isinstance(node, (list, tuple)) and key.lstrip("-").isdigit():
        index = int(key)
        return node[index] if -len(node) <= index < len(node) else _MISSING
    getter = getattr(node, "__dict__", None)  # tagged objects in detection configs
    if isinstance(getter, dict):
        return getter.get(key, _MISSING)
    return _MISSING


def get(cfg: Any, path: str, default: Any = _MISSING) -> Any:
    """The value at path. A key that itself holds dots (a script's ``--opt.lr`` flag) is found as it is."""
    node = cfg
    keys = path.split(".")
    for i, key in enumerate(keys):
        rest = ".".join(keys[i:])
        if i < len(keys) - 1 and isinstance(node, dict) and rest in node:
            return node[rest]
        node = _step(node, key)
        if node is _MISSING:
            if default is _MISSING:
                raise KeyError(path)
            return default
    return node


def has(cfg: Any, path: str) -> bool:
    absent = object()
    return get(cfg, path, absent) is not absent if path else True


def parent_path(path: str) -> str:
    return path.rsplit(".", 1)[0] if "." in path else ""


def set_(cfg: Any, path: str, value: Any) -> None:
    """Set the value at path. The parent must exist; the last key may be new (dicts only). In a flat
    mapping (a script's flags: no nested sections) a dotted name is one key.

    >>> flags = {"opt.lr": 0.1, "epochs": 3}
    >>> set_(flags, "opt.lr", 0.2); set_(flags, "opt.momentum", 0.9); flags
    {'opt.lr': 0.2, 'epochs': 3, 'opt.momentum': 0.9}
    """
    if isinstance(cfg, dict) and (path in cfg or ("." in path and _flat(cfg) and not has(cfg, parent_path(path)))):
        cfg[path] = value
        return
    parent_key, _, key = path.rpartition(".")
    parent = get(cfg, parent_key) if parent_key else cfg
    if isinstance(parent, list):
        parent[int(key)] = value
    elif isinstance(parent, dict):
        parent[key] = value
    else:
        setattr(parent, key, value)


def _flat(cfg: dict[str, Any]) -> bool:
    return not any(isinstance(v, (dict, list, tuple)) for v in cfg.values())


def leaf_paths(cfg: Any, prefix: str = "") -> Iterator[str]:
    """Every dotted path to a leaf value (and to every container on the way)."""
    items: Iterable[tuple[Any, Any]]
    if isinstance(cfg, dict):
        items = cfg.items()
    elif isinstance(cfg, (list, tuple)):
        items = enumerate(cfg)
    elif isinstance(getattr(cfg, "__dict__", None), dict) and not isinstance(cfg, type):
        items = vars(cfg).items()
    else:
        return
    for key, value in items:
        path = f"{prefix}{key}"
        yield path
        yield from leaf_paths(value, path + ".")


def nearest(cfg: Any, path: str, n: int = 3) -> list[str]:
    """The existing paths that look most like a mistyped one, best first."""
    candidates = list(leaf_paths(cfg))
    close = difflib.get_close_matches(path, candidates, n=n, cutoff=0.5)
    if not close:  # fall back on the last key alone: 'learning_rat' -> '...lr.learning_rate'
        last = path.rsplit(".", 1)[-1]
        tails = {c.rsplit(".", 1)[-1]: c for c in candidates}
        close = [tails[t] for t in difflib.get_close_matches(last, list(tails), n=n, cutoff=0.6)]
    return close


def sibling_typo(cfg: Any, path: str) -> Optional[str]:
    """For a path whose parent exists but whose last key does not: the existing sibling key it most
    likely misspells (``Global.epoch`` -> ``Global.epochs``), or None when it looks like a new key."""
    if has(cfg, path) or not has(cfg, parent_path(path)):
        return None
    parent = get(cfg, parent_path(path)) if parent_path(path) else cfg
    keys = [str(k) for k in (parent.keys() if isinstance(parent, dict) else vars(parent).keys()
                             if isinstance(getattr(parent, "__dict__", None), dict) else [])]
    last = path.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(last, keys, n=1, cutoff=0.75)
    return f"{parent_path(path)}.{close[0]}".lstrip(".") if close else None
