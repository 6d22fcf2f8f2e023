"""The plugin's PaddleSeg train entry, for pip-only installs (the ``paddleseg`` wheel ships no tools/):
takes tools/train.py's usual flags and trains with the installed paddleseg's own Config, SegBuilder and
``paddleseg.core.train``.

    python -m paddle_autotune_plugins.adapters.paddleseg.train --config x.yml --do_eval --save_interval 100

The plugin's hooks (the Paddle 3 fix, and under a study the per-eval mIoU) are installed first.
"""
import argparse

from paddle_autotune_plugins.adapters.paddleseg import hooks  # absolute: launch may run this as a file


def build_parser(parser_class=argparse.ArgumentParser):
    p = parser_class(prog="python -m paddle_autotune_plugins.adapters.paddleseg.train",
                     description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("--config", required=True, help="a PaddleSeg YAML")
    p.add_argument("--device", default="gpu", choices=["cpu", "gpu", "xpu", "npu", "mlu"])
    p.add_argument("--save_dir", default="./output")
    p.add_argument("--num_workers", type=int, default=0)
    p.add_argument("--do_eval", action="store_true")
    p.add_argument("--use_vdl", action="store_true")
    p.add_argument("--use_ema", action="store_true")
    p.add_argument("--resume_model")
    p.add_argument("--iters", type=int)
    p.add_argument("--batch_size", type=int)
    p.add_argument("--learning_rate", type=float)
    p.add_argument("--save_interval", type=int, default=1000)
    p.add_argument("--log_iters", type=int, default=10)
    p.add_argument("--keep_checkpoint_max", type=int, default=5)
    p.add_argument("--seed", type=int)
    p.add_argument("--precision", default="fp32", choices=["fp32", "fp16"])
    p.add_argument("--amp_level", default="O1", choices=["O1", "O2"])
    p.add_argument("--opts", nargs="+", help="key=value items, as tools/train.py")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    hooks.install()
    from paddleseg.core import train
    from paddleseg.cvlibs import Config, SegBuilder
    from paddleseg.utils import utils

    cfg = Config(args.config, learning_rate=args.learning_rate, iters=args.iters, batch_size=args.batch_size,
                 opts=args.opts)
    builder = SegBuilder(cfg)
    utils.show_env_info()
    utils.show_cfg_info(cfg)
    utils.set_seed(args.seed)
    utils.set_device(args.device)
    utils.set_cv2_num_threads(args.num_workers)
    train(builder.model, builder.train_dataset, val_dataset=builder.val_dataset if args.do_eval else None,
          optimizer=builder.optimizer, save_dir=args.save_dir, iters=cfg.iters, batch_size=cfg.batch_size,
          resume_model=args.resume_model, save_interval=args.save_interval, log_iters=args.log_iters,
          num_workers=args.num_workers, use_vdl=args.use_vdl, use_ema=args.use_ema, losses=builder.loss,
          keep_checkpoint_max=args.keep_checkpoint_max, test_config=cfg.test_config, precision=args.precision,
          amp_level=args.amp_level)


if __name__ == "__main__":
    main()
