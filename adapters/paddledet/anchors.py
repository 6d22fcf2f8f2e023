"""Anchors seeded from the data: k-means (1 - IoU distance) over the training boxes' sizes.

The boxes are read from the config's TrainDataset (COCO JSON or VOC XML) and scaled to the network's
input size, as the anchors are in input pixels.

>>> import numpy as np
>>> kmeans_anchors(np.array([[10, 10], [11, 9], [40, 42], [38, 40]], float), k=2).tolist()
[[10.5, 9.5], [39.0, 41.0]]
"""
import json
import os
import xml.etree.ElementTree as ET

import numpy as np

from paddle_autotune_plugins.search_space import dotpath


def _iou_wh(boxes, anchors):
    inter = np.minimum(boxes[:, None, 0], anchors[None, :, 0]) * np.minimum(boxes[:, None, 1], anchors[None, :, 1])
    return inter / (boxes[:, 0:1] * boxes[:, 1:2] + (anchors[:, 0] * anchors[:, 1])[None, :] - inter)


def kmeans_anchors(wh, k, iters=300, seed=0):
    """k anchor (w, h) pairs, smallest area first."""
    rng = np.random.RandomState(seed)
    anchors = wh[rng.choice(len(wh), k, replace=False)].copy()
    for _ in range(iters):
        nearest = np.argmax(_iou_wh(wh, anchors), axis=1)
        moved = np.array([np.median(wh[nearest == i], axis=0) if np.any(nearest == i) else anchors[i]
                          for i in range(k)])
        if np.allclose(moved, anchors):
            break
        anchors = moved
    return anchors[np.argsort(anchors[:, 0] * anchors[:, 1])]


def input_size(cfg):
    """The eval input size (the largest side), where the anchors live."""
    for op in dotpath.get(cfg, "EvalReader.sample_transforms", None) or []:
        resize = op.get("Resize") if isinstance(op, dict) else None
        if resize and resize.get("target_size"):
            size = resize["target_size"]
            return max(size) if isinstance(size, (list, tuple)) else size
    return None


def training_boxes(cfg):
    """(w, h) of every training box, scaled so each image's longer side is the input size."""
    dataset = cfg.get("TrainDataset") or {}
    root = dataset.get("dataset_dir", "")
    anno = os.path.join(root, dataset.get("anno_path", ""))
    size = input_size(cfg)
    wh = []
    if anno.endswith(".json"):
        with open(anno) as f:
            coco = json.load(f)
        images = {im["id"]: max(im["width"], im["height"]) for im in coco["images"]}
        for a in coco["annotations"]:
            scale = size / images[a["image_id"]] if size else 1.0
            wh.append((a["bbox"][2] * scale, a["bbox"][3] * scale))
    else:  # VOC: a list of `image xml` lines
        with open(anno) as f:
            for line in f:
                if not line.strip():
                    continue
                tree = ET.parse(os.path.join(root, line.split()[1]))
                longer = max(int(tree.find("size/width").text), int(tree.find("size/height").text))
                scale = size / longer if size else 1.0
                for box in tree.iter("bndbox"):
                    x0, y0, x1, y1 = (float(box.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax"))
                    wh.append(((x1 - x0) * scale, (y1 - y0) * scale))
    return np.array([b for b in wh if b[0] > 0 and b[1] > 0], dtype=float)


def data_choices(path, cfg):
    """Choices for an anchor knob: the config's own anchors and the k-means ones from its training data."""
    current = dotpath.get(cfg, path)
    wh = training_boxes(cfg)
    if path.endswith("anchor_sizes"):  # R-CNN: one size per FPN level, from the boxes' sqrt(area)
        sizes = np.sqrt(wh[:, 0] * wh[:, 1])[:, None].repeat(2, axis=1)
        seeded = [[max(1, int(round(a[0])))] for a in kmeans_anchors(sizes, len(current))]
    else:  # YOLOv3: (w, h) pairs
        seeded = sorted(([max(1, int(round(w))), max(1, int(round(h)))] for w, h in kmeans_anchors(wh, len(current))),
                        key=lambda a: a[0] * a[1])  # small to large, as the anchor masks expect
    return [current, seeded]
