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
import json
import math
import subprocess
import types

from conftest import PYTHON, REPO
import pytest

from paddle_autotune_plugins.adapters.paddlenlp import schedule as nlp


def within(full, short, tol_steps, rel=1e-6):
    """The first iteration of `short` whose rate lies outside the range of `full` within tol_steps (in
    full-run iterations) of the same fraction of training; None when every one lies inside."""
    n_full, n_short = len(full), len(short)
    for i, value in enumerate(short):
        x = i * n_full / n_short
        lo, hi = max(0, math.floor(x - tol_steps)), min(n_full - 1, math.ceil(x + tol_steps))
        window = full[lo:hi + 1]
        eps = rel * max(abs(v) for v in full)
        if not min(window) - eps <= value <= max(window) + eps:
            return i
    return None


def nlp_curve(cfg, spe):
    """The rate of every iteration, as the plugin's train entry and PaddleNLP's Trainer build it."""
    from paddlenlp.trainer import Trainer

    from paddle_autotune_plugins.adapters.paddlenlp import train_seq_cls

    flags = []
    for key, value in dict(cfg, model_name_or_path="unused", output_dir="unused").items():
        flags += [f"--{key}", str(value)]
    _, _, _, args = train_seq_cls.parse_args(flags)
    epochs_steps = args.max_steps if args.max_steps > 0 else int(spe * args.num_train_epochs)  # as Trainer.train
    stub = types.SimpleNamespace(args=args, lr_scheduler=None)
    sch = Trainer.create_scheduler(stub, epochs_steps)
    curve = []
    for _ in range(epochs_steps):
        curve.append(float(sch.last_lr))
        sch.step()
    warmup = args.warmup_steps if args.warmup_steps > 0 else int(args.warmup_ratio * epochs_steps)
    return curve, warmup


@pytest.mark.parametrize("full,b,tol", [
    ({"num_train_epochs": 9, "warmup_steps": 50, "learning_rate": 1e-3}, 3, 1),
    ({"num_train_epochs": 9, "warmup_ratio": 0.2, "learning_rate": 1e-3, "lr_scheduler_type": "cosine"}, 1, 1),
    ({"max_steps": 180, "num_train_epochs": 2, "warmup_steps": 40, "learning_rate": 1e-3,
      "lr_scheduler_type": "polynomial", "lr_end": 1e-5}, 4, 1),
], ids=["linear-warmup-steps", "cosine-warmup-ratio", "polynomial-max-steps"])
def test_nlp_compressed_warmup_and_decay_keep_their_share_of_training(full, b, tol):
    spe = 20
    short = nlp.compress(full, b, steps_per_epoch=spe)
    full_curve, full_warmup = nlp_curve(full, spe)
    short_curve, short_warmup = nlp_curve(short, spe)
    assert len(short_curve) == b * spe
    # the warm-up is the same share of training, to a step of the compressed run
    assert abs(short_warmup / len(short_curve) - full_warmup / len(full_curve)) <= 1 / len(short_curve)
    assert within(full_curve, short_curve, tol * len(full_curve) / len(short_curve)) is None
    if "warmup_steps" in full:  # the naive config (length only) keeps the full warm-up: a larger share
        naive = dict(full, **({"max_steps": b * spe} if "max_steps" in full else {"num_train_epochs": b}))
        naive_curve, naive_warmup = nlp_curve(naive, spe)
        assert naive_warmup / len(naive_curve) > full_warmup / len(full_curve) + 1 / len(naive_curve)
        assert within(full_curve, naive_curve, tol * len(full_curve) / len(naive_curve)) is not None


def test_nlp_multi_class_script_flags():
    """multi_class/train.py: epochs sets LinearDecayWithWarmup's total, warmup_proportion is a share of it."""
    from paddlenlp.transformers import LinearDecayWithWarmup

    full = {"epochs": 9, "warmup_proportion": 0.1, "learning_rate": 1e-3, "early_stop_nums": 3, "warmup": True}
    short = nlp.compress(full, 3)
    assert short == dict(full, epochs=3, early_stop_nums=1)
    spe = 10

    def curve(cfg):
        total = spe * cfg["epochs"]  # the script: len(train_data_loader) * args.epochs
        sch = LinearDecayWithWarmup(cfg["learning_rate"], total, cfg["warmup_proportion"])
        values = []
        for _ in range(total):
            values.append(float(sch.last_lr))
            sch.step()
        return values

    full_curve, short_curve = curve(full), curve(short)
    assert within(full_curve, short_curve, 3) is None
    assert full_curve.index(max(full_curve)) / len(full_curve) == pytest.approx(
        short_curve.index(max(short_curve)) / len(short_curve), abs=1 / len(short_curve))


DET_CURVES = r"""
import json, sys
from paddle_autotune_plugins.adapters.paddledet import hooks
hooks.install()
from ppdet.optimizer import LearningRate
from ppdet.optimizer import optimizer as ppdet_optimizer
from paddle_autotune_plugins.adapters.paddledet.config_io import load_text
out = []
for case in json.loads(sys.stdin.read()):
    cfg, spe = load_text(case["text"]), case["spe"]
    section = cfg["LearningRate"]
    scheds = [getattr(ppdet_optimizer, s.tag)(**s) for s in section["schedulers"]]
    sch = LearningRate(section["base_lr"], scheds)(spe)
    curve = []
    for _ in range(cfg["epoch"] * spe):  # ppdet steps the rate every iteration
        curve.append(float(sch.last_lr))
        sch.step()
    out.append(curve)
print("CURVES " + json.dumps(out))
"""

DET_E, DET_SPE = 12, 5
# name -> (LearningRate text at DET_E epochs, compressed epochs, tolerance in compressed epochs)
DET_CASES = {
    "piecewise_warmup_steps": ("{base_lr: 0.02, schedulers: [!PiecewiseDecay {gamma: 0.1, milestones: [6, 9]}, "
                               "!LinearWarmup {start_factor: 0.1, steps: 12}]}", 4, 0),
    "piecewise_rounded": ("{base_lr: 0.02, schedulers: [!PiecewiseDecay {gamma: 0.1, milestones: [6, 9]}, "
                          "!LinearWarmup {start_factor: 0.1, steps: 12}]}", 3, 0.5),
    "piecewise_no_warmup": ("{base_lr: 0.02, schedulers: [!PiecewiseDecay {gamma: [0.5, 0.1], milestones: [4, 8], "
                            "use_warmup: false}, !LinearWarmup {steps: 10}]}", 3, 0),
    "cosine_warmup_epochs": ("{base_lr: 0.01, schedulers: [!CosineDecay {max_epochs: 15}, "
                             "!LinearWarmup {start_factor: 0.0, steps: 1000, epochs: 3}]}", 4, 0),
    "cosine_warmup_epochs_as_steps": ("{base_lr: 0.01, schedulers: [!CosineDecay {max_epochs: 12, min_lr_ratio: 0.1}, "
                                      "!LinearWarmup {start_factor: 0.0, epochs: 2}]}", 4, 0),
    "cosine_exp_warmup": ("{base_lr: 0.01, schedulers: [!CosineDecay {max_epochs: 12}, !ExpWarmup {steps: 20}]}", 3, 0),
}


def det_text(lr_text, epochs):
    return f"epoch: {epochs}\nLearningRate: {lr_text}\n"


def test_det_compressed_curve_is_the_full_curve_at_the_same_fractions():
    from paddle_autotune_plugins.adapters.paddledet import config_io, schedule as det

    cases, naive_fails = [], []
    for name, (lr_text, b, _) in DET_CASES.items():
        full = config_io.load_text(det_text(lr_text, DET_E))
        short = det.compress(full, b, steps_per_epoch=DET_SPE)
        naive = config_io.load_text(det_text(lr_text, b))
        cases += [{"text": config_io.dump_text(c), "spe": DET_SPE} for c in (full, short, naive)]
    proc = subprocess.run([PYTHON, "-c", DET_CURVES], input=json.dumps(cases), capture_output=True, text=True,
                          cwd=REPO, timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("CURVES ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    curves = json.loads(lines[-1][len("CURVES "):])
    failures = []
    for k, (name, (_, b, tol_epochs)) in enumerate(DET_CASES.items()):
        full, short, naive = curves[3 * k:3 * k + 3]
        assert len(short) == b * DET_SPE
        tol = max(1.0, tol_epochs * DET_SPE * DET_E / b)
        bad = within(full, short, tol)
        if bad is not None:
            failures.append(f"{name}: iteration {bad}: {short[bad]} vs the full curve near {bad * DET_E / b:.1f}")
        if within(full, naive, tol) is None:
            failures.append(f"{name}: the naive config (epoch only) matches too: the comparison cannot tell")
    assert not failures, "\n".join(failures)
