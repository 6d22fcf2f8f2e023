"""PaddleSeg adapter, without training: configs read with their _base_ chains as PaddleSeg's own Config reads
them, the command's flags and --opts, the presets, the trial command, the digits masks data set, the trial
hooks' metrics and knob readback, and the Paddle 3 fixes (against the installed paddleseg wheel)."""
import subprocess

from conftest import PYTHON
import pytest
from seg_configs import BUNDLED, chain  # noqa: F401 - chain is a fixture

from paddle_autotune_plugins.adapters.paddleseg import hooks
from paddle_autotune_plugins.adapters.paddleseg.adapter import SegAdapter, load_config


def test_base_chain_merges_as_paddleseg_merges_it(chain):
    cfg = load_config(chain)
    assert cfg["iters"] == 40 and cfg["batch_size"] == 2  # the file wins; the first base over the second
    assert cfg["extra_from_b"] == "kept" and cfg["loss"]["coef"] == [1, 0.4]
    assert cfg["optimizer"] == {"type": "SGD", "momentum": 0.9, "weight_decay": 1.0e-4}  # key by key
    assert cfg["model"]["backbone"] == {"type": "STDC1", "pretrained": None}
    assert cfg["model"]["arm_out_chs"] == [16, 32, 64]  # a list is replaced whole
    assert cfg["train_dataset"] == {"type": "Dataset", "dataset_root": "c", "num_classes": 2, "mode": "train"}
    from paddleseg.cvlibs.config import parse_from_yaml  # the installed paddleseg's own reader agrees

    assert parse_from_yaml(str(chain)) == cfg


def test_wheel_metrics_fixed_and_reported_dice_is_the_trainers_dice():
    """The 2.8 wheel's calculate_area fails on Paddle 3 until fixed; then dice_of turns the class IoU that
    evaluate returns into the Dice the trainer logs (paddleseg's own metrics.dice)."""
    import numpy as np
    import paddle
    from paddleseg.utils import metrics

    rng = np.random.RandomState(0)
    label = paddle.to_tensor(rng.randint(0, 3, (2, 1, 16, 16)))
    pred = paddle.to_tensor(np.where(rng.rand(2, 1, 16, 16) < 0.7, label.numpy(), rng.randint(0, 3, (2, 1, 16, 16))))
    assert hooks._concats_areas(metrics)  # the pinned wheel (2.8.0) concatenates 0-D sums
    with pytest.raises(ValueError, match="axis is expected to be in range"):
        metrics.calculate_area(pred, label, 3)
    hooks._METRICS.fix(metrics)
    inter, pred_area, label_area = metrics.calculate_area(pred, label, 3)
    class_iou, miou = metrics.mean_iou(inter, pred_area, label_area)
    _, mdice = metrics.dice(inter, pred_area, label_area)
    assert hooks.dice_of(class_iou) == pytest.approx(float(mdice), rel=1e-6)
    got = hooks.eval_metrics((miou, 0.9, class_iou, None, 0.3))
    assert got == {"mIoU": pytest.approx(miou), "Acc": 0.9, "Kappa": 0.3, "Dice": pytest.approx(float(mdice))}


def test_knobs_read_back_from_objects_paddleseg_builds(tmp_path):
    """The readback of the objects the installed paddleseg's SegBuilder builds from a trial config."""
    from paddle_autotune_plugins.adapters.paddleseg.readback import built_values

    cfg = load_config(BUNDLED)
    cfg["lr_scheduler"].update(learning_rate=0.0321, power=0.7)
    cfg["optimizer"]["weight_decay"] = 2.5e-4
    cfg["loss"]["coef"] = [1, 0.3, 0.3]
    cfg["loss"]["types"][0]["coef"] = [0.8, 0.45]
    SegAdapter().write_config(cfg, tmp_path / "t.yml")
    _, used = built_values(tmp_path / "t.yml")
    assert used["lr_scheduler.learning_rate"] == pytest.approx(0.0321)
    assert used["lr_scheduler.power"] == pytest.approx(0.7)
    assert used["lr_scheduler.warmup_iters"] == 5 and used["lr_scheduler.decay_steps"] == 35
    assert used["optimizer.weight_decay"] == pytest.approx(2.5e-4) and used["optimizer.momentum"] == 0.9
    assert [used[f"loss.coef.{i}"] for i in range(3)] == [1, 0.3, 0.3]
    assert used["loss.types.0.coef.1"] == pytest.approx(0.45)


_DICE_AFTER_CE = """
import sys
if sys.argv[1] == "fixed":
    from paddle_autotune_plugins.adapters.paddleseg import hooks
    hooks.install()
import paddle
import paddle.nn.functional as F
from paddleseg.models.losses import DiceLoss
logits = paddle.randn([2, 2, 8, 8]); logits.stop_gradient = False
labels = paddle.randint(0, 2, [2, 8, 8]).astype("int64")
labels[0, 0, 0] = 255
ce = F.cross_entropy(logits.transpose([0, 2, 3, 1]), labels.unsqueeze(-1), ignore_index=255)  # uses the labels
loss = ce + DiceLoss()(logits, labels)
loss.backward()
print("backward ok")
"""


def test_dice_loss_fix_is_needed_on_paddle_3_and_works():
    """DiceLoss beside another loss on the same labels: Paddle 3's backward fails without the fix."""
    runs = {mode: subprocess.run([PYTHON, "-c", _DICE_AFTER_CE, mode], capture_output=True, text=True, timeout=300)
            for mode in ("plain", "fixed")}
    assert runs["plain"].returncode != 0 and "modified by an inplace operation" in runs["plain"].stderr
    assert runs["fixed"].returncode == 0 and "backward ok" in runs["fixed"].stdout, runs["fixed"].stderr[-2000:]


def test_wheel_cross_entropy_fixed_for_paddle_3():
    """The 2.8 wheel's CrossEntropyLoss multiplies a float mask by int64 ones, which Paddle 3 refuses; once
    fixed it gives the mean per-pixel cross-entropy (paddle's own, over the non-ignored pixels)."""
    import paddle
    import paddle.nn.functional as F
    from paddleseg.models.losses import cross_entropy_loss

    paddle.seed(0)
    logits = paddle.randn([2, 3, 8, 8])
    labels = paddle.randint(0, 3, [2, 8, 8]).astype("int64")
    assert hooks._multiplies_int_ones(cross_entropy_loss)  # the pinned wheel (2.8.0) does
    with pytest.raises(TypeError, match="Type promotion"):
        cross_entropy_loss.CrossEntropyLoss()(logits, labels)
    hooks._CROSS_ENTROPY.fix(cross_entropy_loss)
    got = float(cross_entropy_loss.CrossEntropyLoss()(logits, labels))
    expected = float(F.cross_entropy(logits.transpose([0, 2, 3, 1]), labels.unsqueeze(-1)))
    assert got == pytest.approx(expected, rel=1e-4)
    assert not hooks._multiplies_int_ones(type("Fixed", (), {"CrossEntropyLoss": object}))  # stands aside
