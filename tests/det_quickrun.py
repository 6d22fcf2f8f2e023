"""Train and evaluate one PaddleDetection config on the digits set, in this process: the smallest real run.

Test scaffolding, not shipped: used by the groundwork tests (one subprocess per run, so ppdet's
global_config cannot leak between architectures) and handy by hand::

    python tests/det_quickrun.py faster_rcnn_r18_digits --epochs 1

prints ppdet's own log, then one line ``QUICKRUN_RESULT {json}`` with the losses, the eval metric and times.
"""
import argparse
import json
import math
import os
import random
import sys
import tempfile
import time

from paddle_autotune_plugins.adapters.paddledet import compat, digits_det

CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(digits_det.__file__)), "configs")
RESULT_PREFIX = "QUICKRUN_RESULT "
DATASET_KEYS = ("TrainDataset", "EvalDataset", "TestDataset")


def config_path(name):
    """A bundled config by name ('yolov3_mobilenet_v1_digits'), or any path to a .yml."""
    if os.path.isfile(name):
        return os.path.abspath(name)
    path = os.path.join(CONFIG_DIR, name if name.endswith((".yml", ".yaml")) else name + ".yml")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no config {name!r}; bundled ones: {', '.join(bundled_configs())}")
    return path


def bundled_configs():
    return sorted(f[:-4] for f in os.listdir(CONFIG_DIR) if f.endswith(".yml"))


def reset_global_config():
    """Forget every value loaded into ppdet's global_config, keeping the registered modules.

    ppdet keeps one module-level config; each registered class is a SchemaDict there whose items are
    the values configs set (its defaults live in `.schema`), so clearing the items undoes a load.
    """
    from ppdet.core.config.schema import SchemaDict
    from ppdet.core.workspace import global_config
    for key in list(global_config):
        value = global_config[key]
        if isinstance(value, SchemaDict):
            dict.clear(value)
        else:
            del global_config[key]


def point_at_dataset(cfg, data, fmt):
    """Replace the dataset sections with the digits set's (replace, not merge: COCO and VOC keys differ)."""
    overrides = data.dataset_overrides(fmt)
    for key in DATASET_KEYS:
        section = cfg[key]
        dict.clear(section)  # a registered SchemaDict: must stay the same object for create()
        section.update(overrides[key])
    cfg["metric"] = overrides["metric"]
    cfg["num_classes"] = overrides["num_classes"]


def train_eval(config, data, out_dir, epochs=1, fmt=None, overrides=None, fixes=None, seed=0):
    """Train `epochs` epochs with eval after each; return losses, eval metrics and timings.

    overrides: {section: {key: value}} merged into the loaded config (ppdet's merge: dicts key by key).
    fixes: names of compat fixes to install (None: all of them, []: none).
    """
    compat.install(fixes)  # before ppdet is imported, so the hooks see the modules load
    t_start = time.time()
    import numpy as np
    import paddle
    from ppdet.core.workspace import load_config, merge_config
    from ppdet.engine import Trainer
    from ppdet.engine.callbacks import Callback

    paddle.set_device("cpu")
    paddle.seed(seed)
    np.random.seed(seed)
    random.seed(seed)

    reset_global_config()
    cfg = load_config(config_path(config))
    fmt = fmt or ("voc" if cfg.get("metric") == "VOC" else "coco")
    point_at_dataset(cfg, data, fmt)
    output_eval = os.path.join(out_dir, "eval")
    os.makedirs(output_eval, exist_ok=True)  # VOCMetric writes its bbox.json there without creating it
    merge_config({"epoch": int(epochs), "use_gpu": False, "save_dir": os.path.join(out_dir, "output"),
                  "output_eval": output_eval, "weights": ""})
    if overrides:
        merge_config(overrides)

    record = {"losses": [], "evals": []}

    class Recorder(Callback):
        def on_step_end(self, status):
            if status.get("mode") == "train":
                meters = status["training_staus"].meters or {}
                if "loss" in meters:
                    record["losses"].append(float(np.asarray(meters["loss"].value)))

        def on_epoch_end(self, status):
            if status.get("mode") == "eval":
                results = self.model._metrics[0].get_results() or {}  # before the trainer resets it
                bbox = [float(v) for v in results.get("bbox", [])]
                # COCOMetric leaves no 'bbox' entry when the model detected nothing: that is AP 0
                record["evals"].append({"epoch": status["epoch_id"], "bbox": bbox or [0.0],
                                        "no_detections": not bbox})

    t_build = time.time()
    trainer = Trainer(cfg, mode="train")
    trainer.register_callbacks([Recorder(trainer)])
    t_train = time.time()
    trainer.train(validate=True)
    t_end = time.time()

    losses = record["losses"]
    last_eval = record["evals"][-1]["bbox"] if record["evals"] else []
    return {
        "config": config,
        "metric_name": "mAP" if fmt == "voc" else "AP",
        "metric": last_eval[0] if last_eval else None,
        "ap50": last_eval[1] if len(last_eval) > 1 else None,
        "final_loss": losses[-1] if losses else None,
        "loss_finite": bool(losses) and all(math.isfinite(v) for v in losses),
        "steps": len(losses),
        "evals": record["evals"],
        "seconds": {"imports": round(t_build - t_start, 2), "build": round(t_train - t_build, 2),
                    "train_eval": round(t_end - t_train, 2), "total": round(t_end - t_start, 2)},
        "compat": compat.status(),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="bundled config name or path: " + ", ".join(bundled_configs()))
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--format", choices=["coco", "voc"], default=None, help="default: the config's metric")
    parser.add_argument("--data-dir", default=None, help="digits_det folder (generated if missing)")
    parser.add_argument("--num-train", type=int, default=60)
    parser.add_argument("--num-val", type=int, default=20)
    parser.add_argument("--out", default=None, help="run folder (default: a new temporary folder)")
    parser.add_argument("--fixes", default=None,
                        help="comma-separated compat fixes to install (default: all; '' for none): "
                             + ", ".join(name for name, _, _ in compat.FIXES))
    parser.add_argument("--overrides", default=None, help="JSON {section: {key: value}} merged into the config")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    data = digits_det.ensure_dataset(args.data_dir, num_train=args.num_train, num_val=args.num_val)
    out = args.out or tempfile.mkdtemp(prefix="quickrun-")
    result = train_eval(args.config, data, out, epochs=args.epochs, fmt=args.format,
                        overrides=json.loads(args.overrides) if args.overrides else None,
                        fixes=None if args.fixes is None else [f for f in args.fixes.split(",") if f],
                        seed=args.seed)
    sys.stdout.flush()
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
