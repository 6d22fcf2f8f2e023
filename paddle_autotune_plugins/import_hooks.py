"""Run a function right after a module is imported, wherever it is imported from.

Trials import the suite from site-packages or from the user's checkout; compat fixes and metric hooks
must reach whichever copy loads, without editing a file. ``when_imported`` wraps the module's loader so
``fn(module)`` runs once the module body has executed (or at once if it is already imported).
"""
import importlib.abc
import sys

_pending = {}


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
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


def _wrap_loader(spec, name):
    loader = spec.loader
    original = loader.exec_module

    def exec_module(module):
        original(module)
        for fn in _pending.pop(name, []):
            fn(module)

    loader.exec_module = exec_module  # path-based loaders are made per module: safe to shadow


_finder = _Finder()


def when_imported(name, fn):
    if name in sys.modules:
        fn(sys.modules[name])
        return
    _pending.setdefault(name, []).append(fn)
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
