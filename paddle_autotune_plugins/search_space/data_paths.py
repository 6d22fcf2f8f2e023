"""The data a config names must exist before trial 0 starts: a study whose data is missing would only
repeat the same failure in every trial. Each adapter lists its data keys and how its trainer resolves
them (``Adapter.data_paths``); checking them and saying what to change lives here, once."""
import dataclasses
import os
from collections.abc import Iterable
from typing import Any, Optional

from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.search_space import dotpath


@dataclasses.dataclass(frozen=True)
class DataPath:
    key: str  # the config key, as an override names it (TrainDataset.anno_path, --train_file)
    value: str  # as the config writes it
    resolved: str  # the path the trainer opens
    fix: str  # the override that points it elsewhere, e.g. "-o TrainDataset.anno_path=PATH"


def configured(cfg: Any, key: str) -> Optional[str]:
    """The config's value of a dotted key as a path text, or None where it is absent or empty."""
    value = dotpath.get(cfg, key, None)
    return str(value) if value not in (None, "") else None


def resolve(base: str, *parts: str) -> str:
    """The path a trainer opens for parts joined under base (its working directory), as os.path.join does:
    an absolute part starts afresh, '~' is the home folder."""
    return os.path.normpath(os.path.join(base, *(os.path.expanduser(p) for p in parts)))


def yaml_keys(cfg: Any, cwd: str, keys: Iterable[str], flag: str,
              under: Optional[dict[str, str]] = None) -> list[DataPath]:
    """DataPath of each key present in cfg, resolved against cwd; ``under`` maps a key to the key whose path
    it is joined to (PaddleDetection's image_dir and anno_path live under dataset_dir)."""
    paths = []
    for key in keys:
        value = configured(cfg, key)
        if value is None:
            continue
        parent = configured(cfg, under[key]) if under and key in under else None
        resolved = resolve(cwd, *([parent] if parent else []), value)
        paths.append(DataPath(key, value, resolved, f"{flag} {key}=PATH"))
    return paths


def check(paths: Iterable[DataPath]) -> None:
    """UsageError naming the first data path that does not exist: its key, its value, where the trainer
    looks for it and the override that fixes it."""
    for p in paths:
        if not os.path.exists(p.resolved):
            where = "" if p.value == p.resolved else f" (the trainer looks for {p.resolved})"
            raise UsageError(f"data not found: {p.key} = {p.value}{where}; point it at your data with {p.fix}")
