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

from conftest import PYTHON, REPO, checkout_root
import pytest

from paddle_autotune_plugins.adapters.paddleclas import schedule as clas

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
