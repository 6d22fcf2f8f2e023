"""Trial bootstrap for a user's own training script: install the adapter's hooks, then run the script.

    python -m paddle_autotune_plugins.run_trial SUITE path/to/tools/train.py -c trial_config.yaml

SUITE is a suite name or the adapter's ``module:Class`` (what :meth:`Adapter.script_command` writes).
Every suite's trial of a user's script starts here (the plugin's own train entries install the same hooks).

The script runs as ``__main__`` exactly as ``python tools/train.py ...`` would (same sys.argv and
sys.path[0], then the folders the adapter's ``script_import_paths`` names), so it imports the suite from
wherever it normally does; the hooks reach that copy.
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
    adapter = load_adapter(spec)
    adapter.install_hooks()
    sys.argv = [script] + args
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    for position, folder in enumerate(adapter.script_import_paths(script), start=1):
        if folder not in sys.path:
            sys.path.insert(position, folder)
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
