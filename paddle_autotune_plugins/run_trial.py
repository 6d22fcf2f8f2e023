"""Trial bootstrap for a user's own training script: install the adapter's hooks, then run the script.

    python -m paddle_autotune_plugins.run_trial SUITE path/to/tools/train.py -c trial_config.yaml

SUITE is a suite name or the adapter's ``module:Class`` (what :meth:`Adapter.script_command` writes).

The script runs as ``__main__`` exactly as ``python tools/train.py ...`` would (same sys.argv and
sys.path[0]), so it imports the suite from wherever it normally does; the hooks reach that copy.
"""
import importlib
import os
import runpy
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for annotations only: launch may run this as a file
    from paddle_autotune_plugins.suites.adapter import Adapter


def load_adapter(spec: str) -> "Adapter":
    """``module:Class`` as the coordinator names it (no entry-point scan: that is a tenth of a second of
    every trial's start), or a suite name."""
    if ":" in spec:
        module, name = spec.split(":", 1)
        adapter: "Adapter" = getattr(importlib.import_module(module), name)()
        return adapter
    from paddle_autotune_plugins.suites.adapter import get_adapter  # absolute: launch may run this as a file

    return get_adapter(spec)


def main() -> None:
    spec, script, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    load_adapter(spec).install_hooks()
    sys.argv = [script] + args
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
