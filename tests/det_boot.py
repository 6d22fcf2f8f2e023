"""The PaddleDetection adapter's modules for the groundwork tests of both layers, importable in this process and
in a child process (BOOT) even before pyproject maps adapters/."""
import importlib
import os

import conftest

REPO = str(conftest.REPO)
PACKAGE = "paddle_autotune_plugins.adapters.paddledet"

# Makes the adapter importable in a child process even before pyproject maps adapters/ (then it is a no-op).
BOOT = f"""
import importlib, sys, types
sys.path.insert(0, {REPO!r})
try:
    importlib.import_module({PACKAGE!r})
except ImportError:
    import paddle_autotune_plugins
    _pkg = types.ModuleType("paddle_autotune_plugins.adapters")
    _pkg.__path__ = [{os.path.join(REPO, "adapters")!r}]
    sys.modules[_pkg.__name__] = _pkg
    paddle_autotune_plugins.adapters = _pkg
"""


def import_det(name):
    try:
        return importlib.import_module(f"{PACKAGE}.{name}")
    except ImportError:
        exec(BOOT, {})
        return importlib.import_module(f"{PACKAGE}.{name}")
