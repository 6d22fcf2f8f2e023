"""``python -m paddle_autotune_plugins``: the suite command with ``--autotune``, or the CLI sub-commands."""
import sys

from paddle_autotune_plugins.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
