"""The plugin's PaddleClas train entry, for pip-only installs: behaves like PaddleClas's tools/train.py.

    python -m paddle_autotune_plugins.adapters.paddleclas.train -c config.yaml [-o Global.epochs=3 ...]

It puts the 2.4.2 wheel's ``ppcls`` on the path, applies the Paddle 3 fixes, and trains with ppcls's
own Engine; under a study each evaluation is reported to the coordinator.
"""
import argparse
import sys

from paddle_autotune_plugins.adapters.paddleclas import hooks  # absolute: launch may run this as a file


def preload():
    """The wheel's ppcls on the path, the fixes installed, the Engine imported (--warm-start runs this once
    per study and forks each trial from there; a second call does nothing new)."""
    root = hooks.wheel_ppcls_root()
    if root and root not in sys.path:
        sys.path.insert(0, root)
    hooks.install()
    from ppcls.engine import engine  # noqa: F401
    from ppcls.utils import config  # noqa: F401


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("-c", "--config", required=True, help="native PaddleClas YAML")
    parser.add_argument("-o", "--override", action="append", default=[], help="KEY=VALUE, as tools/train.py")
    args = parser.parse_args(argv)
    preload()
    from ppcls.engine.engine import Engine
    from ppcls.utils import config as ppcls_config

    cfg = ppcls_config.get_config(args.config, overrides=args.override, show=False)
    cfg.profiler_options = None
    Engine(cfg, mode="train").train()


if __name__ == "__main__":
    main()
