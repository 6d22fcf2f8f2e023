"""An offline segmentation data set made of real images: scikit-learn's 8x8 handwritten digits.

No segmentation data set ships inside a PyPI package and nothing can be downloaded, so digits from
``sklearn.datasets.load_digits`` (1,797 real scans, bundled with scikit-learn) are upscaled and pasted 1-3
per canvas at random places on small noisy grey canvases. The mask marks each pasted digit's ink (the
scan's pixels above a third of full ink): class 1 'digit', class 0 'background'. Train and val canvases
draw from disjoint digit scans.

The folder is what PaddleSeg's generic ``Dataset`` reads::

    images/train_0000.png ...     3-channel canvases
    masks/train_0000.png ...      one-channel label images (0 background, 1 digit)
    train.txt, val.txt            "images/x.png masks/x.png" per line, relative to the folder
    labels.txt                    class names, one a line

Written once, deterministic (same seed, same files), cached under ``$PADDLE_AUTOTUNE_DATA`` (default
``~/.cache/paddle_autotune/datasets``), one folder per parameter set.

    >>> data = ensure_dataset(num_train=64, num_val=16)   # doctest: +SKIP
    >>> sorted(p.name for p in data.iterdir())            # doctest: +SKIP
    ['.digits_seg_complete.json', 'images', 'labels.txt', 'masks', 'train.txt', 'val.txt']
"""
import os
import pathlib

import numpy as np

from paddle_autotune_plugins.suites.datasets import build_once, one_at_a_time

FORMAT_VERSION = 1  # bump when the generator's output changes, so cached sets are rebuilt
MARKER = ".digits_seg_complete.json"  # written last: its absence means a half-written set
ENV_VAR = "PADDLE_AUTOTUNE_DATA"
CLASSES = ["background", "digit"]
INK = 16.0 / 3  # digits' pixel values are 0..16: the mask is the ink above a third of full
_OWN_ENTRIES = {"images", "masks", "train.txt", "val.txt", "labels.txt", MARKER}


def data_home():
    base = os.environ.get(ENV_VAR) or os.path.join(pathlib.Path.home(), ".cache", "paddle_autotune", "datasets")
    return pathlib.Path(base)


def _params(num_train, num_val, seed, canvas, digit_size):
    return {"version": FORMAT_VERSION, "num_train": int(num_train), "num_val": int(num_val), "seed": int(seed),
            "canvas": int(canvas), "digit_size": [int(d) for d in digit_size]}


@one_at_a_time
def ensure_dataset(root=None, num_train=256, num_val=32, seed=0, canvas=64, digit_size=(16, 32)):
    """Generate the set on first use and return its folder; instant when it is already there.

    ``root`` is the data set folder itself; by default one folder per parameter set under
    ``data_home()/digits_seg``, so differently sized sets do not replace each other."""
    params = _params(num_train, num_val, seed, canvas, digit_size)
    if root is None:
        tag = f"n{params['num_train']}_{params['num_val']}_s{params['seed']}_c{params['canvas']}"
        root = data_home() / "digits_seg" / tag
    return build_once(root, params, _OWN_ENTRIES, _write, MARKER)


def _write(root, params):
    import cv2
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.RandomState(params["seed"])
    order = rng.permutation(len(digits.target))
    half = len(order) // 5  # a fifth of the scans for val canvases, the rest for train: disjoint
    pools = {"val": order[:half], "train": order[half:]}
    size, (small, large) = params["canvas"], params["digit_size"]
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    for split in ("train", "val"):
        lines = []
        for n in range(params[f"num_{split}"]):
            canvas = rng.normal(60, 20, (size, size)).clip(0, 255)  # grey paper with noise
            mask = np.zeros((size, size), np.uint8)
            for _ in range(rng.randint(1, 4)):
                scan = digits.images[pools[split][rng.randint(len(pools[split]))]]
                side = rng.randint(small, large + 1)
                ink = cv2.resize(scan.astype(np.float32), (side, side), interpolation=cv2.INTER_LINEAR)
                y, x = rng.randint(0, size - side + 1, size=2)
                region = canvas[y:y + side, x:x + side]
                canvas[y:y + side, x:x + side] = np.maximum(region, ink / 16.0 * 255 * rng.uniform(0.6, 1.0))
                mask[y:y + side, x:x + side][ink > INK] = 1
            name = f"{split}_{n:04d}.png"
            image = cv2.cvtColor(canvas.astype(np.uint8), cv2.COLOR_GRAY2BGR)
            cv2.imwrite(str(root / "images" / name), image)
            cv2.imwrite(str(root / "masks" / name), mask)
            lines.append(f"images/{name} masks/{name}\n")
        (root / f"{split}.txt").write_text("".join(lines))
    (root / "labels.txt").write_text("".join(f"{c}\n" for c in CLASSES))


def point_config(cfg, root):
    """Point a config's train/val ``Dataset`` sections at a generated set (in place; returns cfg)."""
    root = pathlib.Path(root)
    for key, listing in (("train_dataset", "train_path"), ("val_dataset", "val_path")):
        section = cfg[key]
        section["dataset_root"] = str(root)
        section[listing] = str(root / f"{key.split('_')[0]}.txt")
    return cfg


CONFIG = "pp_liteseg_stdc1_digits.yml"


def write_demo_config(dest_dir, iters=None, **data):
    """The bundled PP-LiteSeg digits config with real data paths (its ``_base_`` chain flattened, so it is
    one file that trains anywhere), written into dest_dir; returns its path."""
    import yaml

    from .adapter import load_config

    cfg = point_config(load_config(pathlib.Path(__file__).parent / "configs" / CONFIG), ensure_dataset(**data))
    if iters is not None:
        cfg["iters"] = int(iters)
    dest = pathlib.Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / CONFIG
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path
