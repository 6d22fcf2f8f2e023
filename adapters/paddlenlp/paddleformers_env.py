"""Where a PaddleFormers script runs: PaddleFormers cannot share the coordinator's environment (it needs
transformers >= 5 and aistudio-sdk >= 0.3; PaddleNLP pins aistudio-sdk 0.2.6), so its scripts (their
``--help`` and every trial) run with a second interpreter, found in this order:

1. ``$PADDLE_AUTOTUNE_PADDLEFORMERS_PYTHON``, when set;
2. the coordinator's own Python, when it can import paddleformers;
3. ``.venv-paddleformers/bin/python`` of the plugin's checkout (``make setup-paddleformers`` makes it).

None found: a usage error naming ``make setup-paddleformers``. The coordinator itself never imports
paddleformers. Nothing here imports Paddle.
"""
import importlib.util
import os
import pathlib
import re

from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.suites.adapter import python

ENV_VAR = "PADDLE_AUTOTUNE_PADDLEFORMERS_PYTHON"
SETUP = "make setup-paddleformers"
VENV = ".venv-paddleformers"
IMPORTS_PADDLEFORMERS = re.compile(r"^\s*(?:from|import)\s+paddleformers\b", re.MULTILINE)


def imports_paddleformers(script):
    try:
        return bool(IMPORTS_PADDLEFORMERS.search(pathlib.Path(script).read_text(errors="ignore")))
    except OSError:
        return False


def project_root():
    """The plugin's checkout (an editable install, as ``make setup`` makes it): where ``.venv-paddleformers`` is."""
    import paddle_autotune_plugins

    return pathlib.Path(paddle_autotune_plugins.__file__).resolve().parent.parent


def paddleformers_python():
    """The interpreter PaddleFormers scripts run with (the order in the module's docstring)."""
    named = os.environ.get(ENV_VAR)
    if named:
        if not (os.path.isfile(named) and os.access(named, os.X_OK)):
            raise UsageError(f"{ENV_VAR}={named} is not an executable Python; name one that can import "
                             f"paddleformers, or unset it to use {VENV} ({SETUP})")
        return named
    if importlib.util.find_spec("paddleformers") is not None:
        return python()
    own = project_root() / VENV / "bin" / "python"
    if os.access(own, os.X_OK):
        return str(own)
    raise UsageError(f"this script imports paddleformers, which needs its own environment: run '{SETUP}' in "
                     f"{project_root()} (or set {ENV_VAR} to a Python that has paddleformers)")


def python_for(script):
    """The interpreter a user's script runs with: the PaddleFormers one for a script that imports it."""
    return paddleformers_python() if script and imports_paddleformers(script) else python()
