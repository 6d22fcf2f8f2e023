"""An offline text-recognition data set: digit strings rendered with PIL.

No OCR data set ships inside a PyPI package and nothing can be downloaded, so strings of 3-5 digits are
drawn with Pillow's built-in font on 32x100 grey canvases (a little jitter in place, size and shade), the
shape PaddleOCR's recognition configs read. The folder is what PaddleOCR's ``SimpleDataSet`` reads::

    images/train_0000.png ...     3-channel word images (and a copy turned upside down of every other one)
    train.txt, val.txt            "images/x.png<TAB>digits" per line, relative to the folder (recognition)
    train_direction.txt, ...      "images/x.png<TAB>0" or "...<TAB>180" (text direction, PaddleOCR's cls)
    digits.txt                    the character dictionary (Global.character_dict_path), one a line

Written once, deterministic (same parameters, same files), cached under ``$PADDLE_AUTOTUNE_DATA`` (default
``~/.cache/paddle_autotune/datasets``), one folder per parameter set.

    >>> data = ensure_dataset(num_train=64, num_val=16)   # doctest: +SKIP
    >>> sorted(p.name for p in data.iterdir())            # doctest: +SKIP
    ['.digits_ocr_complete.json', 'digits.txt', 'images', 'train.txt', 'train_direction.txt', 'val.txt',
     'val_direction.txt']
"""
import os
import pathlib

import numpy as np

from paddle_autotune_plugins.suites.datasets import build_once, one_at_a_time

FORMAT_VERSION = 2  # bump when the generator's output changes, so cached sets are rebuilt
MARKER = ".digits_ocr_complete.json"  # written last: its absence means a half-written set
HEIGHT, WIDTH = 32, 100
REC_CONFIG, DIRECTION_CONFIG = "rec_digits_crnn.yml", "cls_digits_direction.yml"
_OWN_ENTRIES = {"images", "train.txt", "val.txt", "train_direction.txt", "val_direction.txt", "digits.txt", MARKER}


def data_home():
    base = os.environ.get("PADDLE_AUTOTUNE_DATA") or os.path.join(pathlib.Path.home(), ".cache", "paddle_autotune",
                                                                  "datasets")
    return pathlib.Path(base)


@one_at_a_time
def ensure_dataset(root=None, num_train=1000, num_val=100, seed=0):
    """Generate the set on first use and return its folder; instant when it is already there."""
    params = {"version": FORMAT_VERSION, "num_train": int(num_train), "num_val": int(num_val), "seed": int(seed)}
    if root is None:
        root = data_home() / "digits_ocr" / f"n{params['num_train']}_{params['num_val']}_s{params['seed']}"
    return build_once(root, params, _OWN_ENTRIES, _write, MARKER)


def render(text, rng):
    """One word image: text in dark ink on a light canvas, its size, place and shades jittered."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=int(rng.randint(18, 25)))
    background = int(rng.randint(170, 256))
    image = Image.new("L", (WIDTH, HEIGHT), color=background)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x = rng.randint(0, max(1, WIDTH - (right - left))) - left
    y = rng.randint(0, max(1, HEIGHT - (bottom - top))) - top
    draw.text((x, y), text, fill=int(rng.randint(0, 90)), font=font)
    pixels = np.asarray(image, dtype=np.float32) + rng.normal(0, 8, (HEIGHT, WIDTH))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).convert("RGB")


def _write(root, params):
    rng = np.random.RandomState(params["seed"])
    (root / "images").mkdir(parents=True, exist_ok=True)
    for split in ("train", "val"):
        lines, directions = [], []
        for i in range(params[f"num_{split}"]):
            text = "".join(str(d) for d in rng.randint(0, 10, size=rng.randint(3, 6)))
            rel = f"images/{split}_{i:04d}.png"
            image = render(text, rng)
            image.save(root / rel)
            lines.append(f"{rel}\t{text}\n")
            if i % 2:  # every other word also upside down: the direction set is half 0, half 180 degrees
                turned = f"images/{split}_{i:04d}_180.png"
                image.rotate(180).save(root / turned)
                directions.append(f"{turned}\t180\n")
            else:
                directions.append(f"{rel}\t0\n")
        (root / f"{split}.txt").write_text("".join(lines))
        (root / f"{split}_direction.txt").write_text("".join(directions))
    (root / "digits.txt").write_text("".join(f"{d}\n" for d in range(10)))


def point_config(cfg, data):
    """A bundled config with its data paths set to the data set folder (the direction lists for cls)."""
    data = pathlib.Path(data)
    suffix = "_direction" if cfg["Architecture"]["model_type"] == "cls" else ""
    if suffix == "":
        cfg["Global"]["character_dict_path"] = str(data / "digits.txt")
    for section, split in (("Train", "train"), ("Eval", "val")):
        cfg[section]["dataset"]["data_dir"] = str(data)
        cfg[section]["dataset"]["label_file_list"] = [str(data / f"{split}{suffix}.txt")]
    return cfg


def write_demo_config(dest_dir, epochs=None, config=REC_CONFIG, **data):
    """A bundled digits config (the CRNN recognizer, or the text-direction classifier) with real data paths,
    written into dest_dir; returns its path."""
    import yaml

    cfg = yaml.safe_load((pathlib.Path(__file__).parent / "configs" / config).read_text())
    cfg = point_config(cfg, ensure_dataset(**data))
    if epochs is not None:
        cfg["Global"]["epoch_num"] = int(epochs)
    dest = pathlib.Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / config
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path
