"""Trial bootstrap for a user's own training script: install the adapter's hooks, then run the script.

    python -m paddle_autotune_plugins.run_trial SUITE path/to/tools/train.py -c trial_config.yaml

The script runs as ``__main__`` exactly as ``python tools/train.py ...`` would (same sys.argv and
sys.path[0]), so it imports the suite from wherever it normally does; the hooks reach that copy.
"""
import os
import runpy
import sys

from paddle_autotune_plugins.adapter import get_adapter  # absolute: launch may run this as a file


def main():
    suite, script, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    get_adapter(suite).install_hooks()
    sys.argv = [script] + args
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
