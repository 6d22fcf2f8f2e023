"""A study whose data is missing stops before trial 0 (exit 2, one line, nothing in --out): each suite's
data keys, resolved as its trainer resolves them (issue 27)."""

from data_paths_checks import assert_refused, tune


def test_nlp_files_and_dataset_dir(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.txt").write_text("good\t1\n")
    code, lines = tune(capsys, monkeypatch, tmp_path, ["--suite", "nlp", "--dataset_dir", "data", "--param",
                                                       "learning_rate=1e-4:1e-2", "--out", str(out)])
    assert_refused(code, lines, out, "--dataset_dir = data (the trainer looks for "
                   f"{tmp_path}/data/dev.txt); point it at your data with --dataset_dir DIR")
    code, lines = tune(capsys, monkeypatch, tmp_path, ["--suite", "nlp", "--dataset_dir", "data", "--dev_file",
                                                       "gone.txt", "--param", "learning_rate=1e-4:1e-2", "--out",
                                                       str(out)])
    assert_refused(code, lines, out, "--dev_file = gone.txt", "--dev_file PATH")
