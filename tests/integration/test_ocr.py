"""PaddleOCR adapter, without training: configs and -o items read as PaddleOCR's tools/program.py reads
them, detection from a checkout, the trial's config and command, the presets on a config of each kind,
bad input (one line, exit 2, nothing written), the trial hook's one report per evaluation, the knob
readback from built Paddle objects, and the rendered digit strings."""
import json
import types

from conftest import autotune
from ocr_fakes import Loader, checkout, fake_program  # noqa: F401 - checkout and fake_program are fixtures
import pytest

from paddle_autotune_plugins.adapters.paddleocr import readback


@pytest.mark.parametrize("suite_args, tuning_args, named", [
    (["-o", "Global.epoch_nun=3"], [], "Global.epoch_nun"),
    (["-o", "Global.epoch_num=3", "-o", "Global.use_gpu=False"], [], "more than once"),
    (["-o", "Global.eval_batch_step=[0]"], [], "eval_batch_step"),
    ([], ["--preset", "ocr-lr", "--metric", "fps"], "fps"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(checkout, tmp_path, suite_args, tuning_args, named):
    out = tmp_path / "out"
    proc = autotune(["tools/train.py", "-c", "configs/det/db.yml"] + suite_args + ["--autotune"] + tuning_args
                    + ["--trials", "2", "--out", str(out)], cwd=checkout)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and named in proc.stderr, proc.stderr
    assert not out.exists()




def test_one_report_per_evaluation_without_fps(fake_program):
    import paddle

    module, report = fake_program
    model = paddle.nn.Linear(2, 2)
    scheduler = paddle.optimizer.lr.LinearWarmup(paddle.optimizer.lr.CosineAnnealingDecay(0.002, 100), 20, 0.0,
                                                 0.002)
    optimizer = paddle.optimizer.Adam(learning_rate=scheduler, parameters=model.parameters(), weight_decay=3e-5)
    config = {"Global": {"epoch_num": 2},
              "Optimizer": {"name": "Adam", "lr": {"name": "Cosine", "learning_rate": 0.002, "warmup_epoch": 2},
                            "regularizer": {"name": "L2", "factor": 3e-5}},
              "PostProcess": {"name": "CTCLabelDecode"}}
    module.train(config, Loader(16), None, "cpu", model, None, optimizer, scheduler, None, None, {}, None, 10)
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    assert [x["used"] for x in lines if "used" in x] == [{
        "Optimizer.lr.learning_rate": pytest.approx(0.002), "Optimizer.lr.warmup_epoch": 2,
        "Optimizer.regularizer.factor": pytest.approx(3e-5), "Train.loader.batch_size_per_card": 16}]
    assert [(x["step"], x["metrics"]) for x in lines if "metrics" in x] == [
        (50, {"acc": 0.25, "norm_edit_dis": 0.5}), (100, {"acc": 0.5, "norm_edit_dis": 0.75})]
    ends = [x["progress"] for x in lines if "progress" in x and x["progress"].get("end")]
    assert ends == [{"epoch": 1, "epochs": 2, "end": True}, {"epoch": 2, "epochs": 2, "end": True}]


def test_readback_of_weight_decay_warmup_and_post_process():
    import paddle

    model = paddle.nn.Linear(2, 2)
    adamw = paddle.optimizer.AdamW(learning_rate=0.001, parameters=model.parameters(), weight_decay=0.05)
    assert readback.optimizer_values({"weight_decay": 0.05}, adamw) == {"Optimizer.weight_decay": pytest.approx(0.05)}
    momentum = paddle.optimizer.Momentum(learning_rate=0.01, momentum=0.9, parameters=model.parameters(),
                                         weight_decay=1e-4)
    assert readback.optimizer_values({"momentum": 0.9, "regularizer": {"name": "L2", "factor": 1e-4}}, momentum) == \
        {"Optimizer.momentum": pytest.approx(0.9), "Optimizer.regularizer.factor": pytest.approx(1e-4)}
    # 2.5 epochs of 7 steps: PaddleOCR warms up round(17.5) = 18 steps, which is the config's 2.5
    warm = paddle.optimizer.lr.LinearWarmup(paddle.optimizer.lr.CosineAnnealingDecay(0.01, 70), 18, 0.0, 0.01)
    assert readback.scheduler_values({"warmup_epoch": 2.5}, warm, 7)["Optimizer.lr.warmup_epoch"] == 2.5
    assert readback.scheduler_values({"warmup_epoch": 5}, warm, 7)["Optimizer.lr.warmup_epoch"] == 18 / 7
    piecewise = paddle.optimizer.lr.PiecewiseDecay([10], [0.002, 0.0002])
    assert readback.scheduler_values({}, piecewise, 7) == {"Optimizer.lr.values": [0.002, pytest.approx(0.0002)]}
    distill = types.SimpleNamespace(post_process=types.SimpleNamespace(thresh=0.2, box_thresh=0.5, unclip_ratio=2.0))
    assert readback.post_process_values(distill) == {"PostProcess.thresh": 0.2, "PostProcess.box_thresh": 0.5,
                                                     "PostProcess.unclip_ratio": 2.0}


def test_readback_of_const_and_one_cycle_schedules(monkeypatch):
    import paddle

    # Const without a warm-up hands the optimizer a plain float: the warm-up asked (0) is what it used
    assert readback.scheduler_values({"warmup_epoch": 0}, 0.001, 10) == {
        "Optimizer.lr.learning_rate": 0.001, "Optimizer.lr.warmup_epoch": 0}

    class OneCycleDecay(paddle.optimizer.lr.LRScheduler):  # ppocr's own class of that name holds max_lr
        def __init__(self, max_lr):
            self.max_lr = max_lr
            super().__init__(max_lr / 25)

        def get_lr(self):
            return self.base_lr

    assert readback.scheduler_values({}, OneCycleDecay(0.0007), 10) == {"Optimizer.lr.max_lr": 0.0007}

def test_dry_run_shows_each_range_centred_on_the_config(checkout, tmp_path):
    """--dry-run from a checkout: each range and the value it is centred on, the learning rate's rescaled from
    8 GPUs (square root rule for the config's Adam); exit 0, nothing trained."""
    (checkout / "train_data" / "val.txt").write_text("img_0.jpg\t[]\n")
    proc = autotune(["tools/train.py", "-c", "configs/det/db.yml", "--autotune", "--preset", "ocr-det-all", "--out",
                     str(tmp_path / "out"), "--dry-run"], cwd=checkout, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lr = 0.001 * (1 / 8) ** 0.5
    for line in [f"Optimizer.lr.learning_rate: float [{lr / 10:g}, {lr * 10:g}] log; centred on {lr:g} (the "
                 f"config's 0.001, rescaled)",
                 "Train.loader.batch_size_per_card: int [2, 32] log; centred on the config's 8",
                 f"Optimizer.lr.warmup_epoch: float [{2 / 3:g}, 6]; centred on the config's 2",
                 f"Optimizer.regularizer.factor: float [{5e-5 / 10:g}, {5e-5 * 10:g}] log; centred on the config's 5e-05",
                 "PostProcess.thresh: float [0.15, 0.6]; centred on the config's 0.3",
                 f"PostProcess.box_thresh: float [{0.6 / 1.5:g}, {0.6 * 1.5:g}]; centred on the config's 0.6",
                 "PostProcess.unclip_ratio: float [0.75, 3]; centred on the config's 1.5",
                 "the config is written for 8 devices, a trial trains on 1: learning rate 0.001 ->"]:
        assert line in proc.stdout, (line, proc.stdout)
    assert "trial 0 (the config as given)" in proc.stdout and not (tmp_path / "out" / "trial_0000").exists()
