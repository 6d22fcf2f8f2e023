"""PaddleDetection groundwork: the digits detection set, the bundled configs, the Paddle 3 compat fixes.

Every run that imports ppdet happens in a subprocess: ppdet keeps its config in one module-level
global_config, and the compat fixes must not leak into this process. The e2e tests train each bundled
architecture for one epoch on 60 images and evaluate on 20 (about 10-45 s each on 2 shared cores);
``pytest -s`` prints the measured times and AP values.
"""
import json
import os
import re
import time

from det_boot import import_det
import pytest


digits_det = import_det("digits_det")


def test_dataset_coco_and_voc_agree(tmp_path):
    data = digits_det.ensure_dataset(tmp_path / "d", num_train=12, num_val=5, seed=3)
    assert data.num_classes == 10 and data.classes == [str(i) for i in range(10)]
    with open(data.path(data.label_list)) as f:
        assert f.read().split() == data.classes
    for coco_file, list_file, count in ((data.coco_train, data.voc_train, 12), (data.coco_val, data.voc_val, 5)):
        with open(data.path(coco_file)) as f:
            coco = json.load(f)
        assert [c["name"] for c in coco["categories"]] == data.classes
        assert len(coco["images"]) == count
        per_image = {im["id"]: [] for im in coco["images"]}
        for ann in coco["annotations"]:
            per_image[ann["image_id"]].append(ann)
        assert all(1 <= len(anns) <= 3 for anns in per_image.values())
        with open(data.path(list_file)) as f:
            lines = f.read().split("\n")[:-1]
        assert len(lines) == count
        for im, line in zip(coco["images"], lines):
            image, xml = line.split()
            assert os.path.isfile(data.path(image)) and image.endswith(im["file_name"])
            objects = re.findall(r"<name>(\d)</name>.*?<xmin>([\d.]+)</xmin><ymin>([\d.]+)</ymin>"
                                 r"<xmax>([\d.]+)</xmax><ymax>([\d.]+)</ymax>", open(data.path(xml)).read())
            anns = per_image[im["id"]]
            assert len(objects) == len(anns)
            for (name, x0, y0, x1, y1), ann in zip(objects, anns):
                x, y, w, h = ann["bbox"]
                assert int(name) == ann["category_id"] - 1
                assert [float(x0), float(y0), float(x1), float(y1)] == [x, y, x + w, y + h]
                assert 0 <= x and x + w <= im["width"] and 0 <= y and y + h <= im["height"]
                assert 8 <= h <= 33  # digits are pasted at 16-32 px; the box is the tight ink box
            assert 96 <= im["width"] <= 128 and 96 <= im["height"] <= 128


def test_dataset_is_deterministic_cached_and_rebuilt_when_half_written(tmp_path, monkeypatch):
    a = digits_det.ensure_dataset(tmp_path / "a", num_train=5, num_val=2, seed=7)
    b = digits_det.ensure_dataset(tmp_path / "b", num_train=5, num_val=2, seed=7)
    for rel in (a.coco_train, a.coco_val, "JPEGImages/train_000004.jpg", "Annotations/val_000001.xml"):
        with open(a.path(rel), "rb") as fa, open(b.path(rel), "rb") as fb:
            assert fa.read() == fb.read(), rel
    other = digits_det.ensure_dataset(tmp_path / "c", num_train=5, num_val=2, seed=8)
    assert open(a.path(a.coco_train)).read() != open(other.path(other.coco_train)).read()

    marker = os.path.join(a.dataset_dir, digits_det.MARKER)
    stamp = os.path.getmtime(a.path(a.coco_train))
    start = time.time()
    digits_det.ensure_dataset(tmp_path / "a", num_train=5, num_val=2, seed=7)
    assert time.time() - start < 0.5 and os.path.getmtime(a.path(a.coco_train)) == stamp  # not rewritten

    os.remove(marker)  # as if generation had stopped half way
    os.remove(a.path(a.coco_val))
    digits_det.ensure_dataset(tmp_path / "a", num_train=5, num_val=2, seed=7)
    assert os.path.isfile(marker) and os.path.isfile(a.path(a.coco_val))

    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "mine.txt").write_text("not a data set")
    with pytest.raises(FileExistsError):
        digits_det.ensure_dataset(tmp_path / "foreign", num_train=2, num_val=1)

    monkeypatch.setenv(digits_det.ENV_VAR, str(tmp_path / "cache"))
    default = digits_det.ensure_dataset(num_train=3, num_val=2)
    assert default.dataset_dir.startswith(str(tmp_path / "cache" / "digits_det"))
    assert not [p for p in os.listdir(tmp_path / "cache" / "digits_det") if ".tmp-" in p]
