"""The plugin's PaddleDetection train entry, for pip-only installs: behaves like PaddleDetection's
tools/train.py (which the paddledet wheel does not ship).

    python -m paddle_autotune_plugins.adapters.paddledet.train -c config.yml --eval [-o epoch=12 use_gpu=false]

It applies the Paddle 3 fixes for paddledet 2.6.0, registers the plugin's dropout RoI head, and trains
with ppdet's own Trainer; under a study each evaluation's mAP is reported to the coordinator.
"""
import argparse

from paddle_autotune_plugins.adapters.paddledet import hooks  # absolute: launch may run this as a file


def parse_opts(items):
    """`-o key=value` as ppdet reads it (values as YAML; `a.b=1` sets a nested key)."""
    import yaml

    opts = {}
    for item in items:
        key, _, value = item.partition("=")
        node = opts
        *parents, last = key.strip().split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = yaml.safe_load(value)
    return opts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("-c", "--config", required=True, help="native PaddleDetection YAML")
    parser.add_argument("-o", "--opt", nargs="*", action="extend", default=[], help="key=value, as tools/train.py")
    parser.add_argument("--eval", action="store_true", help="evaluate every snapshot epoch (the study needs it)")
    args = parser.parse_args(argv)
    hooks.install()
    import paddle
    from ppdet.core.workspace import load_config, merge_config
    from ppdet.engine import Trainer

    cfg = load_config(args.config)
    merge_config(parse_opts(args.opt))
    if cfg.get("use_gpu") and not paddle.is_compiled_with_cuda():
        cfg["use_gpu"] = False
    paddle.set_device("gpu" if cfg.get("use_gpu") else "cpu")
    trainer = Trainer(cfg, mode="train")
    trainer.train(validate=args.eval)


if __name__ == "__main__":
    main()
