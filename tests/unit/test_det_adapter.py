"""PaddleDetection through the adapter, without training: anchors in the space, k-means seeded anchors, and
bad input refused before any trial (tests/e2e/test_det_e2e.py trains)."""
import re

from conftest import REPO
import pytest

from paddle_autotune_plugins import cli
from paddle_autotune_plugins.adapters.paddledet.adapter import DetAdapter
from paddle_autotune_plugins.adapters.paddledet.digits_det import write_demo_config
from paddle_autotune_plugins.search_space import dotpath


def small_config(tmp_path, name="faster_rcnn_r18_digits", epochs=2):
    return write_demo_config(tmp_path / "cfg", config=name, epochs=epochs, num_train=60, num_val=20)


def test_yolov3_anchors_stay_equal_in_head_and_target_assigner(tmp_path):
    from paddle_autotune_plugins.search_space import presets, space

    cfg = DetAdapter().load(None, ["-c", str(REPO / "adapters/paddledet/configs/yolov3_mobilenet_v1_digits.yml")])
    params = presets.resolve(["det-anchors"], "det", cfg.config, "YOLOv3").params
    trial = cfg.fresh_config()
    space.apply_all(params, {"YOLOv3Head.anchors": 1.5}, trial)
    head = dotpath.get(trial, "YOLOv3Head.anchors")
    target = next(t["Gt2YoloTarget"] for t in trial["TrainReader"]["batch_transforms"] if "Gt2YoloTarget" in t)
    assert head == target["anchors"] and head[0] == [round(13 * 1.5), round(19 * 1.5)]


@pytest.mark.parametrize("args, message", [
    (["--preset", "det-roi-dropout"], r"knob 'roi_dropout' has no place in this PPYOLOE config"),
    (["--preset", "det-anchors"], r"knob 'anchor_scale' has no place in this PPYOLOE config"),
    (["--space", "SPACE"], r"unknown path 'PPYOLOEHead.nms.nms_thresh'.*did you mean PPYOLOEHead.nms.nms_threshold"),
])
def test_bad_det_input_exits_2(tmp_path, capsys, args, message):
    space = tmp_path / "space.yaml"
    space.write_text("PPYOLOEHead.nms.nms_thresh: {low: 0.3, high: 0.8}\n")
    args = [str(space) if a == "SPACE" else a for a in args]
    code = cli.main(["tune", "--suite", "det", "-c", str(REPO / "adapters/paddledet/configs/ppyoloe_tiny_digits.yml"),
                     "--out", str(tmp_path / "out")] + args)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and re.search(message, err), err
    assert not (tmp_path / "out").exists()


def test_anchors_seeded_from_the_training_boxes(tmp_path):
    """det-anchors-kmeans: each trial takes the config's anchors or k-means ones over the training data."""
    from paddle_autotune_plugins.search_space import presets, space

    adapter = DetAdapter()
    for name, path in (("faster_rcnn_r18_digits", "RPNHead.anchor_generator.anchor_sizes"),
                       ("yolov3_mobilenet_v1_digits", "YOLOv3Head.anchors")):
        task = adapter.load(None, ["-c", str(small_config(tmp_path / name, name, epochs=1))])
        (param,) = presets.resolve(["det-anchors-kmeans"], "det", task.config, adapter.architecture(task.config),
                                   data_choices=adapter.data_choices,
                                   facts=lambda name: adapter.trainer_fact(task, name)).params
        assert param.name == path and param.choices[0] == dotpath.get(task.config, path)
        seeded = param.choices[1]
        assert seeded != param.choices[0] and len(seeded) == len(param.choices[0])
        areas = [a[0] * a[-1] for a in seeded]
        assert areas == sorted(areas)
        # the digits are pasted at 16-32 px on 96-128 px canvases: the seeded sizes sit in that range
        assert all(8 <= v <= 48 for a in seeded for v in a), seeded
        cfg = task.fresh_config()
        space.apply_all([param], {path: seeded}, cfg)
        assert dotpath.get(cfg, path) == seeded
    with pytest.raises(Exception, match="cannot compute choices"):
        presets.resolve(["det-anchors-kmeans"], "det", task.config, "YOLOv3",
                        data_choices=super(DetAdapter, adapter).data_choices,
                        facts=lambda name: adapter.trainer_fact(task, name))
