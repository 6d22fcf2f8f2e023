"""scikit-learn's digits (1,797 real 8x8 scans of handwritten digits) as a PaddleClas data set.

Written on first use as PNGs plus ImageNet-style list files (``relative/path.png label``), the format
PaddleClas's ImageNetDataset reads. Deterministic: the same split on every machine.

>>> root = ensure_digits()                     # doctest: +SKIP
>>> sorted(p.name for p in root.iterdir())     # doctest: +SKIP
['images', 'label_list.txt', 'train_list.txt', 'val_list.txt', '.complete']
"""
import os
import pathlib

import numpy as np

from paddle_autotune_plugins.suites.datasets import one_at_a_time

IMAGE_SIZE = 32  # upscaled once here, so training needs no resize of 8x8 inputs
MARKER = ".complete"


def data_root():
    base = os.environ.get("PADDLE_AUTOTUNE_DATA") or os.path.join(pathlib.Path.home(), ".cache", "paddle_autotune",
                                                                  "datasets")
    return pathlib.Path(base) / "digits_clas"


@one_at_a_time
def ensure_digits(root=None, val_fraction=0.2, seed=0):
    """Generate the data set unless a complete copy is already there; returns its folder."""
    root = pathlib.Path(root) if root else data_root()
    if (root / MARKER).exists():
        return root
    import cv2
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.RandomState(seed).permutation(len(digits.target))
    n_val = int(len(order) * val_fraction)
    splits = {"val": order[:n_val], "train": order[n_val:]}
    (root / "images").mkdir(parents=True, exist_ok=True)
    for split, indices in splits.items():
        lines = []
        for i in indices:
            image = (digits.images[i] / 16.0 * 255).astype(np.uint8)  # values are 0..16
            image = cv2.resize(image, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_LINEAR)
            rel = f"images/{i:04d}.png"
            cv2.imwrite(str(root / rel), cv2.cvtColor(image, cv2.COLOR_GRAY2BGR))
            lines.append(f"{rel} {digits.target[i]}\n")
        (root / f"{split}_list.txt").write_text("".join(lines))
    (root / "label_list.txt").write_text("".join(f"{k} {k}\n" for k in range(10)))
    (root / MARKER).write_text("ok\n")  # written last: a half-written set is regenerated
    return root


def write_demo_config(dest_dir):
    """The bundled digits config with real data paths, written into dest_dir; returns its path."""
    import yaml

    root = ensure_digits()
    template = pathlib.Path(__file__).parent / "configs" / "digits_mobilenet.yaml"
    cfg = yaml.safe_load(template.read_text())
    for split, listing in (("Train", "train_list.txt"), ("Eval", "val_list.txt")):
        dataset = cfg["DataLoader"][split]["dataset"]
        dataset["image_root"] = str(root) + "/"
        dataset["cls_label_path"] = str(root / listing)
    dest = pathlib.Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / template.name
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path
