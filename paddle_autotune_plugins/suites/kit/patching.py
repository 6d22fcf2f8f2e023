"""The mark that a trial's hook has patched a function or module of the suite, so that installing the hooks
twice (a module imported again, a second Trainer class) patches nothing twice.

>>> def f(): pass
>>> is_patched(f)
False
>>> mark_patched(f)
>>> is_patched(f)
True
"""
from typing import Any

MARK = "_autotune_hooked"


def is_patched(target: Any, mark: str = MARK) -> bool:
    """Whether target (a function, method or module) is the plugin's patch, or was patched already."""
    return bool(getattr(target, mark, False))


def mark_patched(target: Any, mark: str = MARK) -> None:
    """Mark target as the plugin's patch (or as patched)."""
    setattr(target, mark, True)
