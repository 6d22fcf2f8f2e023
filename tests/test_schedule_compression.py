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
import json
import math
import shutil
import subprocess
import types

import pytest

from conftest import PYTHON, REPO, checkout_root
from paddle_autotune_plugins.adapters.paddleclas import schedule as clas
from paddle_autotune_plugins.adapters.paddlenlp import schedule as nlp

# Builds each case's lr schedule with the ppcls on sys.path[0] and prints the rate of every training
# iteration as JSON: [[lr per iteration] per case].
CURVES = r"""
import copy, json, sys
sys.path.insert(0, sys.argv[1])
from paddle_autotune_plugins.adapters.paddleclas import hooks
hooks.install()
import paddle
from ppcls.optimizer import build_optimizer
from ppcls.utils import logger
if getattr(logger, "_logger", True) is None:
    logger.init_logger()
out = []
for case in json.loads(sys.stdin.read()):
    cfg, spe = case["cfg"], case["spe"]
    epochs = cfg["Global"]["epochs"]
    _, lrs = build_optimizer(copy.deepcopy(cfg["Optimizer"]), epochs, spe, [paddle.nn.Linear(2, 2)])
    sch = lrs[0] if isinstance(lrs, (list, tuple)) else lrs
    curve = []
    for _ in range(epochs):
        for _ in range(spe):
            curve.append(float(sch.last_lr) if hasattr(sch, "last_lr") else float(sch))
            if hasattr(sch, "step") and not getattr(sch, "by_epoch", False):
                sch.step()
        if hasattr(sch, "step") and getattr(sch, "by_epoch", False):
            sch.step()
    out.append(curve)
print("CURVES " + json.dumps(out))
"""


def ppcls_curves(root, cases):
    """[[lr of each iteration]] of each {cfg, spe} case, built by the ppcls under root."""
    proc = subprocess.run([PYTHON, "-c", CURVES, str(root)], input=json.dumps(cases), capture_output=True,
                          text=True, cwd=REPO, timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("CURVES ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1][len("CURVES "):])


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


def clas_cfg(lr, epochs):
    return {"Global": {"epochs": epochs}, "Optimizer": {"name": "Momentum", "momentum": 0.9, "lr": lr}}


E, SPE = 9, 7  # 7 steps an epoch: a warm-up of a third of an epoch falls between steps
# name -> (lr config at E epochs, compressed epochs, tolerance in compressed epochs, naive must fail)
CLAS_CASES = {
    "cosine": ({"name": "Cosine", "learning_rate": 0.1}, 3, 0, False),
    "cosine_b4": ({"name": "Cosine", "learning_rate": 0.1}, 4, 0, False),
    "cosine_warmup": ({"name": "Cosine", "learning_rate": 0.1, "warmup_epoch": 3}, 3, 0, True),
    "cosine_warmup_rounded": ({"name": "Cosine", "learning_rate": 0.1, "warmup_epoch": 2}, 4, 0.5, True),
    "linear_warmup": ({"name": "Linear", "learning_rate": 0.1, "warmup_epoch": 3, "end_lr": 0.001}, 3, 0, True),
    "piecewise": ({"name": "Piecewise", "decay_epochs": [3, 6], "values": [0.1, 0.01, 0.001],
                   "warmup_epoch": 1}, 3, 1 / 7, True),  # warm-up 1/3 epoch: ppcls rounds 2.33 steps to 2
    "piecewise_rounded": ({"name": "Piecewise", "decay_epochs": [2, 6], "values": [0.1, 0.01, 0.001]}, 4, 0.5, True),
    "piecewise_by_epoch": ({"name": "Piecewise", "decay_epochs": [3, 6], "values": [0.1, 0.01, 0.001],
                            "by_epoch": True}, 3, 0, True),
    "multistep": ({"name": "MultiStepDecay", "learning_rate": 0.1, "milestones": [2, 5, 7], "gamma": 0.5}, 4, 0.5,
                  True),
    "step": ({"name": "Step", "learning_rate": 0.1, "step_size": 3, "gamma": 0.5}, 3, 0, True),
    "step_as_piecewise": ({"name": "Step", "learning_rate": 0.1, "step_size": 3, "gamma": 0.5,
                           "warmup_epoch": 1}, 4, 0.5, True),
    "constant": ({"name": "Constant", "learning_rate": 0.1}, 3, 0, False),
}


DISCRETE = {"piecewise_rounded", "piecewise_by_epoch", "multistep", "step", "constant"}


def _clas_roots():
    return [pytest.param("wheel", id="wheel-2.4.2"),
            pytest.param("PaddleClas-release-2.5.2", id="release-2.5.2"),
            pytest.param("PaddleClas-develop", id="develop")]


def _root(name, tmp_path):
    if name == "wheel":
        from paddle_autotune_plugins.adapters.paddleclas.hooks import wheel_ppcls_root

        return wheel_ppcls_root()
    source = checkout_root(name)  # skips unless $PADDLE_AUTOTUNE_CHECKOUTS has it
    target = tmp_path / name
    shutil.copytree(source / "ppcls", target / "ppcls", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for path in [target] + list(target.rglob("*")):  # run from a writable copy, as a user's clone
        path.chmod(path.stat().st_mode | 0o200)
    return target


@pytest.mark.parametrize("root_name", _clas_roots())
def test_clas_compressed_curve_is_the_full_curve_at_the_same_fractions(root_name, tmp_path):
    root = _root(root_name, tmp_path)
    names, cases = [], []
    for name, (lr, b, _, _) in CLAS_CASES.items():
        full = clas_cfg(lr, E)
        short = clas.compress(full, b, piecewise_reads="values", steps_per_epoch=SPE)
        naive = copy.deepcopy(full)
        naive["Global"]["epochs"] = b
        names.append(name)
        cases += [{"cfg": full, "spe": SPE}, {"cfg": short, "spe": SPE}, {"cfg": naive, "spe": SPE}]
    curves = ppcls_curves(root, cases)
    failures = []
    for k, name in enumerate(names):
        _, b, tol_epochs, naive_fails = CLAS_CASES[name]
        full, short, naive = curves[3 * k:3 * k + 3]
        assert len(short) == b * SPE and len(full) == E * SPE
        tol = max(1.0, tol_epochs * SPE * E / b)  # in full-run iterations
        bad = within(full, short, tol)
        if bad is not None:
            failures.append(f"{name}: iteration {bad} of {len(short)}: {short[bad]} vs the full curve near "
                            f"{bad * len(full) / len(short):.1f}: {full[max(0, int(bad * E / b) - 3):int(bad * E / b) + 4]}")
        if naive_fails and within(full, naive, tol) is None:
            failures.append(f"{name}: the naive config (epochs only) matches too: the comparison cannot tell")
        if not (max(short) == pytest.approx(max(full)) and min(short) >= min(full) - 1e-9):
            failures.append(f"{name}: rates {min(short)}..{max(short)}, the full run's {min(full)}..{max(full)}")
        # the same rates, none dropped (a decay lost to rounding), none made up
        if name in DISCRETE and {round(v, 12) for v in short} != {round(v, 12) for v in full}:
            failures.append(f"{name}: rates {sorted(set(short))}, the full run's {sorted(set(full))}")
    assert not failures, "\n".join(failures)


def test_clas_piecewise_rebuilt_from_learning_rate_compresses_to_the_same_curve(tmp_path):
    """release/2.5.2 rebuilds Piecewise from learning_rate (decay by 10 every 30 epochs): the compressed
    config spells that schedule out, so it trains the same curve on 2.5.2 and on the 2.4 wheel."""
    from paddle_autotune_plugins.adapters.paddleclas.hooks import wheel_ppcls_root

    root = _root("PaddleClas-release-2.5.2", tmp_path)
    lr = {"name": "Piecewise", "learning_rate": 0.1, "decay_epochs": [5], "values": [0.5, 0.05]}
    full = clas_cfg(lr, 90)
    short = clas.compress(full, 10, piecewise_reads="learning_rate")
    assert "learning_rate" not in short["Optimizer"]["lr"]
    assert short["Optimizer"]["lr"]["decay_epochs"] == [3, 7]
    curves = ppcls_curves(root, [{"cfg": full, "spe": 2}, {"cfg": short, "spe": 2}])
    assert sorted(set(curves[0]), reverse=True) == pytest.approx([0.1, 0.01, 0.001])
    assert within(curves[0], curves[1], 0.5 * 2 * 9) is None
    (wheel_curve,) = ppcls_curves(wheel_ppcls_root(), [{"cfg": short, "spe": 2}])
    assert wheel_curve == pytest.approx(curves[1])


def test_clas_milestones_rounding_keeps_order_and_spacing():
    assert clas.scale_milestones([30, 60, 80], 90, 10) == [3, 7, 9]
    assert clas.scale_milestones([1, 2, 3], 9, 4) == [1, 2, 3]  # 0.44, 0.89, 1.33 pushed apart, none lost
    assert clas.scale_milestones([0, 4, 20], 9, 3) == [0, 1, 7]  # at 0 stays, past the end stays past it
    with pytest.raises(ValueError, match="need at least 4 epochs"):
        clas.scale_milestones([2, 5, 7], 9, 3)
    with pytest.raises(ValueError, match="strictly increasing"):
        clas.scale_milestones([5, 3], 9, 3)


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


# --- PaddleNLP ------------------------------------------------------------------------------------------

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


# --- PaddleDetection --------------------------------------------------------------------------------------

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
    from paddle_autotune_plugins.adapters.paddledet import config_io
    from paddle_autotune_plugins.adapters.paddledet import schedule as det

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


def test_det_phases_milestones_and_refusals():
    from paddle_autotune_plugins.adapters.paddledet import config_io
    from paddle_autotune_plugins.adapters.paddledet import schedule as det

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
