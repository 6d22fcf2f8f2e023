"""Issue 28: the user's config as the prior - rescaled to the user's devices, ranges centred on it."""
import math

import pytest

from paddle_autotune_plugins.search_space import rescale
from paddle_autotune_plugins.suites.adapter import Task, get_adapter


def clas_task(optimizer, lr, schedule="Cosine"):
    cfg = {"Global": {"epochs": 4}, "Arch": {"name": "MobileNetV3_small_x0_35"},
           "Optimizer": {"name": optimizer, "lr": {"name": schedule, "learning_rate": lr}},
           "DataLoader": {"Train": {"sampler": {"batch_size": 512}}}}
    return Task(get_adapter("clas"), cfg)


@pytest.mark.parametrize("optimizer, reference, factor", [
    ("Momentum", 4, 0.25),  # linear: a quarter of the total batch, a quarter of the rate
    ("AdamW", 8, math.sqrt(1 / 8)),  # square root for the Adam family, whose configs ppcls writes for 8 GPUs
])
def test_clas_config_rescaled_to_one_device(optimizer, reference, factor):
    result = rescale.rescale(clas_task(optimizer, 1.3), devices=1)
    assert (result.reference, result.devices, result.paths) == (reference, 1, ["Optimizer.lr.learning_rate"])
    assert result.config["Optimizer"]["lr"]["learning_rate"] == pytest.approx(1.3 * factor)
    assert result.given["Optimizer"]["lr"]["learning_rate"] == 1.3  # the task's config is left as given
    assert f"-> {1.3 * factor:.4g}" in result.line()


def test_no_rescale_on_the_reference_devices_or_without_a_known_rule():
    same = rescale.rescale(clas_task("Momentum", 1.3), devices=4)
    assert not same.moved and "stays as configured" in same.line()
    unknown = rescale.rescale(clas_task("Ftrl", 1.3), devices=1)
    assert not unknown.moved and "no known scaling rule" in unknown.line()
    nlp = rescale.rescale(Task(get_adapter("nlp"), {"learning_rate": 5e-5}), devices=1)
    assert not nlp.moved and nlp.line() is None  # PaddleNLP names no reference device count


def test_det_adamw_config_rescaled_by_square_root():
    cfg = {"LearningRate": {"base_lr": 1e-4}, "OptimizerBuilder": {"optimizer": {"type": "AdamW"}}}
    result = rescale.rescale(Task(get_adapter("det"), cfg), devices=2)
    assert result.config["LearningRate"]["base_lr"] == pytest.approx(1e-4 * 0.5)  # sqrt(2 / 8)


def test_a_rate_written_as_text_is_the_number_the_trainer_reads():
    """PyYAML reads ppcls's `learning_rate: 4e-3` (ConvNeXt, DeiT ...) as text; ppcls evaluates it to 0.004."""
    result = rescale.rescale(clas_task("AdamW", "4e-3"), devices=2)
    assert result.config["Optimizer"]["lr"]["learning_rate"] == pytest.approx(0.004 * 0.5)  # sqrt(2 / 8)
    from paddle_autotune_plugins.search_space import presets

    (lr,) = presets.resolve(["clas-lr"], "clas", clas_task("AdamW", "4e-3").config).params
    assert (lr.low, lr.high) == (pytest.approx(4e-4), pytest.approx(4e-2))
    assert lr.current(clas_task("AdamW", "4e-3").config) == 0.004  # trial 0's value, inside the range


def test_clas_rate_range_stays_above_the_warmup_start():
    """MobileViT: AdamW 2e-3 warmed up from 2e-4; a range a factor of 10 down would cross the warm-up's start,
    which ppcls's LinearWarmup refuses (end_lr must be greater than start_lr)."""
    from paddle_autotune_plugins.search_space import presets

    task = clas_task("AdamW", 2e-3)
    task.config["Optimizer"]["lr"].update(warmup_epoch=5, warmup_start_lr="2e-4")
    params = presets.resolve(["clas-lr"], "clas", task.config).params
    notes = task.adapter.check_space(task, params)
    assert params[0].low == pytest.approx(2.02e-4) and params[0].contains(2e-3)
    assert any("starts above warmup_start_lr 0.0002" in n for n in notes), notes


def test_devices_of_a_trial_cpu_one_else_its_gpus(monkeypatch):
    """On the CPU a trial is 1 device; with GPUs it has --gpus-per-trial of them (which a pasted
    `paddle.distributed.launch --gpus 0,1` command sets), and the rescaling follows."""
    import argparse

    from paddle_autotune_plugins.search_space.build import build_params
    from paddle_autotune_plugins.suites import adapter as adapter_module

    clas = get_adapter("clas")
    assert rescale.trial_devices(clas, 2) == 1  # this machine's CPU build
    monkeypatch.setattr(adapter_module, "available_device", lambda: "gpu")
    assert rescale.trial_devices(clas, 2) == 2
    task = clas_task("Momentum", 0.8)
    params, notes = build_params(task, argparse.Namespace(preset=[], space=None, gpus_per_trial=2,
                                                              param=["Optimizer.lr.learning_rate=log:around:10"]))
    assert params[0].centre == pytest.approx(0.4) and "a trial trains on 2: learning rate 0.8 -> 0.4" in notes[0]
