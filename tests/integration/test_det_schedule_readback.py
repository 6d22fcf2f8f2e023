"""PaddleDetection's learning-rate schedule read back from the objects ppdet builds (in a subprocess: ppdet
keeps global state), for the schedulers the checkouts' configs use (tests/e2e/test_det_checkouts.py)."""
import json
import subprocess

from conftest import PYTHON, REPO
import pytest

LR_PROBE = r"""
import json, sys
from paddle_autotune_plugins.adapters.paddledet import hooks, live
hooks.install()
from ppdet.optimizer import LearningRate
from ppdet.optimizer.optimizer import CosineDecay, LinearWarmup, PiecewiseDecay
from paddle_autotune_plugins.adapters.paddledet.config_io import load_text
cases = {}
for name, text in json.loads(sys.argv[1]).items():
    cfg = load_text(text)
    section = cfg["LearningRate"]
    make = {"PiecewiseDecay": PiecewiseDecay, "CosineDecay": CosineDecay, "LinearWarmup": LinearWarmup}
    built = LearningRate(section["base_lr"], [make[s.tag](**s) for s in section["schedulers"]])(10)
    cases[name] = live.lr_values(built, cfg, 10)
print("LR " + json.dumps(cases))
"""

LR_CASES = {
    "piecewise": "epoch: 12\nLearningRate: {base_lr: 0.02, schedulers: [!PiecewiseDecay {gamma: 0.2, milestones: [8, 11]},"
                 " !LinearWarmup {start_factor: 0.1, steps: 30}]}\n",
    "gamma_list": "epoch: 10\nLearningRate: {base_lr: 0.02, schedulers: [!PiecewiseDecay {gamma: [0.5, 0.25], milestones: [8, 11]},"
                  " !LinearWarmup {steps: 5}]}\n",
    "past_end": "epoch: 3\nLearningRate: {base_lr: 0.01, schedulers: [!PiecewiseDecay {gamma: 0.1, milestones: [8, 11]},"
                " !LinearWarmup {steps: 20}]}\n",
    "warmup_epochs": "epoch: 12\nLearningRate: {base_lr: 0.01, schedulers: [!CosineDecay {max_epochs: 12},"
                     " !LinearWarmup {start_factor: 0.0, steps: 1000, epochs: 2}]}\n",
    "no_warmup": "epoch: 12\nLearningRate: {base_lr: 0.01, schedulers: [!PiecewiseDecay {gamma: 0.1, milestones: [8],"
                 " use_warmup: false}, !LinearWarmup {steps: 40}]}\n",
}


def test_learning_rate_values_come_from_the_built_schedule():
    proc = subprocess.run([PYTHON, "-c", LR_PROBE, json.dumps(LR_CASES)], capture_output=True, text=True, cwd=REPO,
                          timeout=300)
    line = next((l for l in proc.stdout.splitlines() if l.startswith("LR ")), None)
    assert line, proc.stderr[-3000:]
    got = json.loads(line[3:])
    assert got["piecewise"].pop("LearningRate.schedulers.0.milestones") == [8, 11]
    assert got["piecewise"] == pytest.approx({"LearningRate.base_lr": 0.02, "LearningRate.schedulers.1.steps": 30,
                                              "LearningRate.schedulers.1.epochs": 3,
                                              "LearningRate.schedulers.0.gamma": 0.2})
    # the 11th epoch is never reached in 10: only the first factor acts
    assert got["gamma_list"]["LearningRate.schedulers.0.gamma"] == pytest.approx([0.5])
    assert "LearningRate.schedulers.0.gamma" not in got["past_end"]  # every milestone past the end: inert
    # `epochs` wins over `steps`: 2 epochs of 10 steps
    assert got["warmup_epochs"]["LearningRate.schedulers.1.steps"] == 20
    assert got["warmup_epochs"]["LearningRate.schedulers.1.epochs"] == 2
    assert got["warmup_epochs"]["LearningRate.base_lr"] == pytest.approx(0.01)
    assert "LearningRate.schedulers.1.steps" not in got["no_warmup"]  # use_warmup: false builds no warm-up
    assert got["no_warmup"]["LearningRate.base_lr"] == pytest.approx(0.01)
