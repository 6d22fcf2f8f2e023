"""Code that runs around a module's import, wherever the module is imported from.

Trials import the suite from site-packages or from the user's checkout; compat fixes and metric hooks
must reach whichever copy loads, without editing a file. A finder put first on ``sys.meta_path`` finds
the module through the other finders and wraps its loader's ``exec_module``:

- ``when_imported(name, fn)``: ``fn(module)`` once the module body has run (at once if already imported);
- ``around_import(name, wrap)``: ``wrap(run_body)`` instead of the body, for fixes needed *during* it.
"""
import importlib.abc
import importlib.machinery
import sys
import types
from typing import Any, Callable, Optional, Sequence

# wrap(run_body, module): runs instead of the module's body and calls run_body() itself
Wrap = Callable[[Callable[[], None], types.ModuleType], None]

_pending: dict[str, list[Wrap]] = {}  # module name -> [wrap(run_body, module)]


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Optional[Sequence[str]] = None,
                  target: Optional[types.ModuleType] = None) -> Optional[importlib.machinery.ModuleSpec]:
        if name not in _pending:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                _wrap_loader(spec, name)
                return spec
        return None


def _wrap_loader(spec: importlib.machinery.ModuleSpec, name: str) -> None:
    loader = spec.loader
    assert loader is not None  # find_spec wraps only specs with a loader
    original = loader.exec_module

    def exec_module(module: types.ModuleType) -> None:
        run = lambda: original(module)  # noqa: E731
        for wrap in reversed(_pending.pop(name, [])):  # the first registered runs outermost
            run = (lambda w, inner: lambda: w(inner, module))(wrap, run)
        run()

    # path-based loaders are made per module: safe to shadow (on purpose, which mypy forbids for a method)
    loader.exec_module = exec_module  # type: ignore[method-assign]


_finder = _Finder()


def _register(name: str, wrap: Wrap) -> None:
    _pending.setdefault(name, []).append(wrap)
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)


def around_import(name: str, wrap: Wrap) -> None:
    """``wrap(run_body, module)`` runs instead of the module's body; it must call ``run_body()``."""
    if name not in sys.modules:
        _register(name, wrap)


def when_imported(name: str, fn: Callable[[types.ModuleType], Any]) -> None:
    if name in sys.modules:
        fn(sys.modules[name])
        return

    def after(run_body: Callable[[], None], module: types.ModuleType) -> None:
        run_body()
        fn(module)

    _register(name, after)
