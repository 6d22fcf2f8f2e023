"""Code that runs around a module's import, wherever the module is imported from.

Trials import the suite from site-packages or from the user's checkout; compat fixes and metric hooks
must reach whichever copy loads, without editing a file. A finder put first on ``sys.meta_path`` finds
the module through the other finders and wraps its loader's ``exec_module``:

- ``when_imported(name, fn)``: ``fn(module)`` once the module body has run (at once if already imported);
- ``around_import(name, wrap)``: ``wrap(run_body)`` instead of the body, for fixes needed *during* it.
"""
import importlib.abc
import sys

_pending = {}  # module name -> [wrap(run_body, module)]


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
        run = lambda: original(module)  # noqa: E731
        for wrap in reversed(_pending.pop(name, [])):  # the first registered runs outermost
            run = (lambda w, inner: lambda: w(inner, module))(wrap, run)
        run()

    loader.exec_module = exec_module  # path-based loaders are made per module: safe to shadow


_finder = _Finder()


def _register(name, wrap):
    _pending.setdefault(name, []).append(wrap)
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)


def around_import(name, wrap):
    """``wrap(run_body, module)`` runs instead of the module's body; it must call ``run_body()``."""
    if name not in sys.modules:
        _register(name, wrap)


def when_imported(name, fn):
    if name in sys.modules:
        fn(sys.modules[name])
        return

    def after(run_body, module):
        run_body()
        fn(module)

    _register(name, after)
