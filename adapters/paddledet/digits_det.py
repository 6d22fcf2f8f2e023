"""An offline detection data set made of real images: scikit-learn's 8x8 handwritten digits.

No detection data set ships inside a PyPI package and nothing can be downloaded, so digits from
``sklearn.datasets.load_digits`` (1,797 real scans, bundled with scikit-learn) are upscaled and pasted
1-3 per canvas at random, non-overlapping places on small noisy canvases; their tight boxes are the
ground truth. Ten classes, '0'..'9' (or fewer: ``classes``; 1 is one class 'digit' of every scan).
Train and val canvases draw from disjoint digit scans.

One folder holds both formats PaddleDetection reads, sharing the images::

    JPEGImages/train_000000.jpg ...          images (COCO image_dir and VOC image paths)
    annotations/instances_{train,val}.json   COCO
    Annotations/train_000000.xml ...         VOC
    train.txt, val.txt                       VOC lists: "JPEGImages/x.jpg Annotations/x.xml"
    label_list.txt                           VOC class names, one a line

so a config only needs ``dataset_dir`` pointed at it (see ``DigitsDet.dataset_overrides``).

    >>> data = ensure_dataset(num_train=60, num_val=20)   # doctest: +SKIP
    >>> data.dataset_dir                                  # doctest: +SKIP
"""
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import shutil
import tempfile
from xml.sax.saxutils import escape

import numpy as np

from paddle_autotune_plugins.suites.datasets import one_at_a_time

CLASSES = [str(i) for i in range(10)]
ONE_CLASS = ["digit"]  # classes=1: every scan, one class - "where are the digits", without telling them apart
FORMAT_VERSION = 1  # bump when the generator's output changes, so cached sets are rebuilt
MARKER = ".digits_det_complete.json"  # written last: its absence means a half-written set
ENV_VAR = "PADDLE_AUTOTUNE_DATA"

IMAGE_DIR = "JPEGImages"
COCO_TRAIN = "annotations/instances_train.json"
COCO_VAL = "annotations/instances_val.json"
VOC_TRAIN = "train.txt"
VOC_VAL = "val.txt"
LABEL_LIST = "label_list.txt"
# everything the generator writes; only folders made of these are ever replaced
_OWN_ENTRIES = {IMAGE_DIR, "annotations", "Annotations", VOC_TRAIN, VOC_VAL, LABEL_LIST, MARKER}


@dataclass
class DigitsDet:
    """Where a generated set lives. Relative names are relative to ``dataset_dir``, as ppdet wants."""
    dataset_dir: str
    num_train: int
    num_val: int
    image_dir: str = IMAGE_DIR
    coco_train: str = COCO_TRAIN
    coco_val: str = COCO_VAL
    voc_train: str = VOC_TRAIN
    voc_val: str = VOC_VAL
    label_list: str = LABEL_LIST
    classes: list = field(default_factory=lambda: list(CLASSES))

    @property
    def num_classes(self):
        return len(self.classes)

    def path(self, relative):
        return os.path.join(self.dataset_dir, relative)

    def dataset_overrides(self, fmt="coco"):
        """Config keys that point a PaddleDetection config at this set (merge into the loaded config).

        The bundled configs already use these relative names, so only ``dataset_dir`` really changes;
        the rest is given so that any COCO/VOC config can be pointed here.
        """
        if fmt == "coco":
            train = {"name": "COCODataSet", "dataset_dir": self.dataset_dir, "image_dir": self.image_dir,
                     "anno_path": self.coco_train,
                     "data_fields": ["image", "gt_bbox", "gt_class", "is_crowd"]}
            val = {"name": "COCODataSet", "dataset_dir": self.dataset_dir, "image_dir": self.image_dir,
                   "anno_path": self.coco_val, "allow_empty": True}
            test = {"name": "ImageFolder", "dataset_dir": self.dataset_dir, "anno_path": self.coco_val}
            metric = "COCO"
        elif fmt == "voc":
            fields = ["image", "gt_bbox", "gt_class", "difficult"]
            # image_dir '' because VOC list lines already start with JPEGImages/
            train = {"name": "VOCDataSet", "dataset_dir": self.dataset_dir, "image_dir": "",
                     "anno_path": self.voc_train, "label_list": self.label_list, "data_fields": fields}
            val = dict(train, anno_path=self.voc_val)
            test = {"name": "ImageFolder", "dataset_dir": self.dataset_dir, "anno_path": self.label_list}
            metric = "VOC"
        else:
            raise ValueError(f"unknown data set format {fmt!r}: use 'coco' or 'voc'")
        return {"metric": metric, "num_classes": self.num_classes,
                "TrainDataset": train, "EvalDataset": val, "TestDataset": test}


def data_home():
    """The cache folder for generated data sets: $PADDLE_AUTOTUNE_DATA or ~/.cache/paddle_autotune/datasets."""
    return Path(os.environ.get(ENV_VAR) or "~/.cache/paddle_autotune/datasets").expanduser()


@one_at_a_time
def ensure_dataset(root=None, num_train=200, num_val=50, seed=0, canvas_size=(96, 128), digit_size=(16, 32),
                   classes=10, max_objects=3):
    """Generate the set on first use and return a ``DigitsDet``; instant when it is already there.

    ``root`` is the data set folder itself; by default one folder per parameter set under
    ``data_home()/digits_det``, so differently sized sets (a test's, the demo's) do not replace each other.
    ``classes``: 10 (the digits '0'..'9'), 2-9 (only the scans of digits 0..classes-1), or 1 (every scan,
    one class 'digit'). ``max_objects``: each canvas holds 1..max_objects digits (fewer when no room is left).
    """
    classes, max_objects = int(classes), int(max_objects)
    if not 1 <= classes <= 10 or max_objects < 1:
        raise ValueError(f"classes must be 1..10 and max_objects >= 1, got {classes} and {max_objects}")
    params = {"version": FORMAT_VERSION, "num_train": int(num_train), "num_val": int(num_val), "seed": int(seed),
              "canvas_size": [int(v) for v in canvas_size], "digit_size": [int(v) for v in digit_size]}
    if (classes, max_objects) != (10, 3):  # only then: the defaults keep the markers of sets built before
        params.update(classes=classes, max_objects=max_objects)
    if root is None:
        name = f"train{num_train}_val{num_val}_seed{seed}"
        if tuple(canvas_size) != (96, 128) or tuple(digit_size) != (16, 32):
            name += f"_c{canvas_size[0]}-{canvas_size[1]}_d{digit_size[0]}-{digit_size[1]}"
        if (classes, max_objects) != (10, 3):
            name += f"_k{classes}_n{max_objects}"
        root = data_home() / "digits_det" / name
    root = Path(root).expanduser().resolve()
    result = DigitsDet(str(root), int(num_train), int(num_val), classes=class_names(classes))
    if _marker_matches(root, params):
        return result

    # Build next to the target and rename into place: parallel trials never see a half-written set.
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; a shared cache should stay readable
    try:
        _generate(tmp, params)
        if root.exists():
            if _marker_matches(root, params):  # another process finished first
                return result
            _remove_own_folder(root)
        try:
            os.rename(tmp, root)
        except OSError:
            if not _marker_matches(root, params):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return result


def class_names(classes=10):
    """The class names of a set made with ``classes``: '0'..'k-1', or ['digit'] for 1."""
    return list(ONE_CLASS) if int(classes) == 1 else CLASSES[:int(classes)]


def _marker_matches(root, params):
    try:
        with open(root / MARKER) as f:
            return json.load(f) == params
    except (OSError, ValueError):
        return False


def _remove_own_folder(root):
    # A stale or half-written set is ours to replace; refuse to wipe a folder holding anything else.
    foreign = [p.name for p in root.iterdir() if p.name not in _OWN_ENTRIES]
    if foreign:
        raise FileExistsError(f"{root} exists and holds files that are not a digits_det set ({foreign[:3]}); "
                              f"choose another root")
    shutil.rmtree(root)


def _generate(out, params):
    import cv2
    from sklearn.datasets import load_digits

    rng = np.random.RandomState(params["seed"])
    digits = load_digits()
    k = params.get("classes", 10)
    names = class_names(k)
    label_of = (lambda digit: 0) if k == 1 else int  # noqa: E731 - one class: every digit is a 'digit'
    order = rng.permutation(len(digits.images))
    if 1 < k < 10:
        order = order[digits.target[order] < k]
    n_val_pool = len(order) // 5  # val canvases use scans never seen in training
    pools = {"val": order[:n_val_pool], "train": order[n_val_pool:]}
    max_objects = params.get("max_objects", 3)

    (out / IMAGE_DIR).mkdir()
    (out / "annotations").mkdir()
    (out / "Annotations").mkdir()
    with open(out / LABEL_LIST, "w") as f:
        f.write("\n".join(names) + "\n")

    next_ann_id = 1
    for split, count, coco_name, voc_name in (("train", params["num_train"], COCO_TRAIN, VOC_TRAIN),
                                              ("val", params["num_val"], COCO_VAL, VOC_VAL)):
        images, annotations, lines = [], [], []
        for i in range(count):
            canvas, objects = _make_canvas(rng, digits, pools[split], params["canvas_size"], params["digit_size"],
                                           max_objects)
            objects = [(label_of(label), box) for label, box in objects]
            stem = f"{split}_{i:06d}"
            file_name = f"{IMAGE_DIR}/{stem}.jpg"
            cv2.imwrite(str(out / file_name), canvas, [cv2.IMWRITE_JPEG_QUALITY, 95])
            h, w = canvas.shape[:2]
            image_id = i + 1
            images.append({"id": image_id, "file_name": f"{stem}.jpg", "width": w, "height": h})
            for label, (x0, y0, x1, y1) in objects:
                annotations.append({"id": next_ann_id, "image_id": image_id, "category_id": label + 1,
                                    "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0),
                                    "iscrowd": 0})
                next_ann_id += 1
            _write_voc_xml(out / "Annotations" / f"{stem}.xml", f"{stem}.jpg", w, h, objects, names)
            lines.append(f"{file_name} Annotations/{stem}.xml")
        coco = {"info": {"description": "digits_det: sklearn load_digits pasted on canvases"},
                "images": images, "annotations": annotations,
                "categories": [{"id": i + 1, "name": name, "supercategory": "digit"}
                               for i, name in enumerate(names)]}
        with open(out / coco_name, "w") as f:
            json.dump(coco, f)
        with open(out / voc_name, "w") as f:
            f.write("\n".join(lines) + "\n")

    with open(out / MARKER, "w") as f:
        json.dump(params, f)


def _make_canvas(rng, digits, pool, canvas_size, digit_size, max_objects=3):
    import cv2

    w, h = (int(v) for v in rng.randint(canvas_size[0], canvas_size[1] + 1, size=2))
    # dark background: a colour gradient plus sensor-like noise, so the task is not a flat threshold
    base = rng.uniform(10, 90, size=3)
    ramp = np.linspace(0, 1, w)[None, :, None] * rng.uniform(-30, 30, size=3)
    ramp = ramp + np.linspace(0, 1, h)[:, None, None] * rng.uniform(-30, 30, size=3)
    img = base + ramp + rng.normal(0, rng.uniform(4, 12), size=(h, w, 3))
    for _ in range(rng.randint(0, 3)):  # faint distractor patches
        px, py = rng.randint(0, w - 8), rng.randint(0, h - 8)
        pw, ph = rng.randint(6, 24), rng.randint(6, 24)
        img[py:py + ph, px:px + pw] += rng.uniform(-25, 25, size=3)

    objects, placed = [], []
    for _ in range(rng.randint(1, max_objects + 1)):
        idx = pool[rng.randint(len(pool))]
        size = rng.randint(digit_size[0], digit_size[1] + 1)
        alpha = cv2.resize(digits.images[idx] / 16.0, (size, size), interpolation=cv2.INTER_LINEAR)
        ys, xs = np.nonzero(alpha > 0.25)
        if len(xs) == 0:
            continue
        for _try in range(50):
            x, y = rng.randint(0, w - size + 1), rng.randint(0, h - size + 1)
            box = (float(x + xs.min()), float(y + ys.min()), float(x + xs.max() + 1), float(y + ys.max() + 1))
            if all(_iou(box, other) < 0.05 for other in placed):
                break
        else:
            continue  # no room left on this canvas
        colour = rng.uniform(150, 255, size=3)
        a = np.clip(alpha, 0, 1)[:, :, None]
        img[y:y + size, x:x + size] = img[y:y + size, x:x + size] * (1 - a) + colour * a
        placed.append(box)
        objects.append((int(digits.target[idx]), box))
    return np.clip(img, 0, 255).astype(np.uint8), objects


def _iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _write_voc_xml(path, file_name, w, h, objects, names=CLASSES):
    parts = ["<annotation>", f"  <filename>{escape(file_name)}</filename>",
             f"  <size><width>{w}</width><height>{h}</height><depth>3</depth></size>"]
    for label, (x0, y0, x1, y1) in objects:
        parts.append(f"  <object><name>{names[label]}</name><difficult>0</difficult>"
                     f"<bndbox><xmin>{x0:g}</xmin><ymin>{y0:g}</ymin><xmax>{x1:g}</xmax><ymax>{y1:g}</ymax>"
                     f"</bndbox></object>")
    parts.append("</annotation>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


# `paddle-autotune demo --suite det`: a task a small detector learns on a CPU in a minute - one class, one
# large digit a canvas, 128 training canvases (16 steps of 8 an epoch), 40 for eval (see picodet_digits_demo.yml)
DEMO = {"config": "picodet_digits_demo", "num_train": 128, "num_val": 40, "classes": 1, "max_objects": 1,
        "canvas_size": (56, 72), "digit_size": (28, 44)}
DEMO_SPACE = Path(__file__).parent / "configs" / "picodet_digits_demo_space.yaml"


def write_demo_config(dest_dir, config="faster_rcnn_r18_digits", epochs=None, num_train=120, num_val=30, **data_args):
    """A bundled config pointed at the digits set (generated on first use), flattened into dest_dir.

    ``data_args`` go to ``ensure_dataset`` (classes, max_objects, canvas_size, digit_size, seed); the
    config's num_classes follows the set."""
    from .config_io import dump, load

    data = ensure_dataset(num_train=num_train, num_val=num_val, **data_args)
    cfg = load(Path(__file__).parent / "configs" / f"{config}.yml")
    fmt = "voc" if str(cfg.get("metric")).upper() == "VOC" else "coco"
    cfg.update(data.dataset_overrides(fmt))  # whole sections replaced: COCO and VOC keys differ
    if epochs:
        cfg["epoch"] = int(epochs)
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{config}.yml"
    dump(cfg, path)
    return path
