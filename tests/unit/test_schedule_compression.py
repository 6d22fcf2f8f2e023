"""Schedule compression (adapters/*/schedule.py): a compressed config's learning-rate curve, built by the
suite's own code, is the full curve sampled at the same fractions of training.

PaddleClas: ppcls's own ``build_optimizer`` (the 2.4.2 wheel; release/2.5.2 and develop checkouts where
$PADDLE_AUTOTUNE_CHECKOUTS has them) builds the full and the compressed schedule in a process of its own;
both are stepped as ppcls's train loop steps them (each iteration, or each epoch when ``by_epoch``), and
every rate of the compressed run must lie within the full curve around the same fraction of training (one
step either way where the compression is exact, half a compressed epoch where whole-epoch rounding moves a
milestone). The naive compression (only ``Global.epochs`` changed) is checked to fail the same comparison
wherever the schedule has a milestone or warm-up, so the comparison can tell. PaddleNLP: the plugin's train
entry parses the compressed arguments into ``TrainingArguments`` and ``Trainer.create_scheduler`` builds the
schedule; the multi_class script's ``LinearDecayWithWarmup`` from its own flags.
"""
import copy

import pytest

from paddle_autotune_plugins.adapters.paddleclas import schedule as clas
from paddle_autotune_plugins.adapters.paddlenlp import schedule as nlp
from paddle_autotune_plugins.suites.kit import schedule as kit_schedule


def clas_cfg(lr, epochs):
    return {"Global": {"epochs": epochs}, "Optimizer": {"name": "Momentum", "momentum": 0.9, "lr": lr}}


def test_clas_milestones_rounding_keeps_order_and_spacing():
    assert kit_schedule.scale_milestones([30, 60, 80], 90, 10) == [3, 7, 9]
    assert kit_schedule.scale_milestones([1, 2, 3], 9, 4) == [1, 2, 3]  # 0.44, 0.89, 1.33 pushed apart, none lost
    assert kit_schedule.scale_milestones([0, 4, 20], 9, 3) == [0, 1, 7]  # at 0 stays, past the end stays past it
    with pytest.raises(ValueError, match="need at least 4 epochs"):
        kit_schedule.scale_milestones([2, 5, 7], 9, 3)
    with pytest.raises(ValueError, match="strictly increasing"):
        kit_schedule.scale_milestones([5, 3], 9, 3)


def test_clas_refuses_what_it_cannot_compress():
    cyclic = clas_cfg({"name": "Cyclic", "base_learning_rate": 0.01, "max_learning_rate": 0.1,
                       "step_size_up": 100}, 9)
    with pytest.raises(ValueError, match="'Cyclic'.*refused"):
        clas.compress(cyclic, 3)
    both = clas_cfg({"name": "Piecewise", "learning_rate": 0.1, "decay_epochs": [3], "values": [0.1, 0.01]}, 9)
    with pytest.raises(ValueError, match="piecewise_reads"):
        clas.compress(both, 3)
    assert clas.compress(both, 3, piecewise_reads="values")["Optimizer"]["lr"]["decay_epochs"] == [1]
    with pytest.raises(ValueError, match="Global.epochs"):
        clas.compress({"Optimizer": {"lr": {"name": "Cosine", "learning_rate": 0.1}}}, 3)
    warm = clas_cfg({"name": "Cosine", "learning_rate": 0.1, "warmup_epoch": 1}, 9)
    with pytest.raises(ValueError, match="use at least 2 epochs"):
        clas.compress(warm, 1)  # a whole-epoch warm-up would fill the 1-epoch training
    with pytest.raises(ValueError, match="whole number"):
        clas.compress(warm, 2.5)


def test_clas_compress_is_pure_and_handles_optimizer_lists():
    cfg = {"Global": {"epochs": 9, "eval_interval": 1},
           "Optimizer": [{"Momentum": {"scope": "backbone", "lr": {"name": "MultiStepDecay", "learning_rate": 0.1,
                                                                    "milestones": [3, 6]}}},
                         {"SGD": {"scope": "CenterLoss", "lr": {"name": "Cosine", "learning_rate": 0.5,
                                                                "warmup_epoch": 3}}}]}
    before = copy.deepcopy(cfg)
    short = clas.compress(cfg, 3)
    assert cfg == before
    assert short["Global"] == {"epochs": 3, "eval_interval": 1}
    assert short["Optimizer"][0]["Momentum"]["lr"]["milestones"] == [1, 2]
    assert short["Optimizer"][1]["SGD"]["lr"]["warmup_epoch"] == 1


def test_clas_digits_config_compresses_and_ppcls_reads_it(digits_config):
    """The benchmark's config: only Global.epochs changes (Cosine, no warm-up), and ppcls's get_config reads it."""
    import yaml

    cfg = yaml.safe_load(digits_config.read_text())
    cfg["Global"]["epochs"] = 9
    short = clas.compress(cfg, 3)
    diff = {k for k in cfg if cfg[k] != short[k]}
    assert diff == {"Global"} and short["Global"]["epochs"] == 3
    assert {k: v for k, v in short["Global"].items() if k != "epochs"} == \
        {k: v for k, v in cfg["Global"].items() if k != "epochs"}


def test_nlp_refuses_what_it_cannot_compress():
    with pytest.raises(ValueError, match="no training length"):
        nlp.compress({"learning_rate": 1e-3}, 3)
    with pytest.raises(ValueError, match="both"):
        nlp.compress({"num_train_epochs": 9, "epochs": 9}, 3)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        nlp.compress({"max_steps": 100}, 3)
    with pytest.raises(ValueError, match="'cosine_with_restarts'.*refused"):
        nlp.compress({"num_train_epochs": 9, "lr_scheduler_type": "cosine_with_restarts"}, 3)
    with pytest.raises(ValueError, match="whole number"):
        nlp.compress({"num_train_epochs": 2.5}, 1)
    cfg = {"num_train_epochs": 9, "warmup_steps": 2, "eval_steps": 50}
    assert nlp.compress(cfg, 1) == {"num_train_epochs": 1, "warmup_steps": 1, "eval_steps": 50}  # never 0
    assert cfg == {"num_train_epochs": 9, "warmup_steps": 2, "eval_steps": 50}


def test_nlp_demo_config_compresses(tmp_path):
    """The benchmark's config (the offline demo's arguments): the length changes, the warm-up share stays."""
    full = {"num_train_epochs": 9, "warmup_ratio": 0.1, "learning_rate": 5e-5, "per_device_train_batch_size": 32}
    assert nlp.compress(full, 3) == dict(full, num_train_epochs=3)


def test_det_phases_milestones_and_refusals():
    from paddle_autotune_plugins.adapters.paddledet import config_io, schedule as det

    cfg = config_io.load_text(
        "epoch: 12\nPicoHeadV2: {static_assigner_epoch: 4}\nTrainReader: {mosaic_epoch: -1}\n"
        "LearningRate: {base_lr: 0.01, schedulers: [!PiecewiseDecay {milestones: [2, 8, 20]}, "
        "!LinearWarmup {steps: 3, epochs: 2}]}\nsnapshot_epoch: 2\n")
    before = copy.deepcopy(cfg)
    short = det.compress(cfg, 3)
    assert cfg == before and cfg["LearningRate"]["schedulers"][0].tag == "PiecewiseDecay"
    assert short["LearningRate"]["schedulers"][0].tag == "PiecewiseDecay"  # still a !Tag when written
    assert short["epoch"] == 3 and short["snapshot_epoch"] == 2
    assert short["PicoHeadV2"]["static_assigner_epoch"] == 1 and short["TrainReader"]["mosaic_epoch"] == -1
    assert short["LearningRate"]["schedulers"][0]["milestones"] == [1, 2, 5]  # 0.5, 2, 5: inside, in order, past
    assert short["LearningRate"]["schedulers"][1] == {"steps": 1, "epochs": 1}  # 0.5 epochs: whole, at least 1
    with pytest.raises(ValueError, match="'OneCycle'.*refused"):
        det.compress(config_io.load_text("epoch: 12\nLearningRate: {schedulers: [!OneCycle {}]}\n"), 3)
    with pytest.raises(ValueError, match="cycle_epoch"):
        det.compress(config_io.load_text("epoch: 12\nTrainReader: {cycle_epoch: 3}\n"), 3)
    with pytest.raises(ValueError, match="need at least 3 epochs"):
        det.compress(config_io.load_text("epoch: 12\nLearningRate: {schedulers: [!PiecewiseDecay "
                                         "{milestones: [8, 11]}]}\n"), 2)
    with pytest.raises(ValueError, match="no epoch"):
        det.compress({"LearningRate": {}}, 3)


@pytest.mark.parametrize("suite", ["paddleclas", "paddlenlp", "paddledet"])
def test_docstring_examples(suite):
    import doctest
    import importlib

    module = importlib.import_module(f"paddle_autotune_plugins.adapters.{suite}.schedule")
    failed, tried = doctest.testmod(module)
    assert tried > 0 and failed == 0
