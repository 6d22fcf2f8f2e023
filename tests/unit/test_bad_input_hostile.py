"""Bad input a hostile user tried (issue 31): each exits 2 with one line before any trial, and --out is left
as it was. Most cases run the generic probe script in-process (an instant training, so that a case the
plugin does not refuse runs its trials and fails fast rather than training a suite)."""
import re

import optuna
import pytest

from paddle_autotune_plugins import cli


def _one_line(code, lines, message):
    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith("paddle-autotune: error: "), lines
    assert re.search(message, lines[0]), lines[0]


# --- the command ---
@pytest.mark.parametrize("text, what", [("#!/bin/bash\necho val_acc: 0.5\n", "a script for /bin/bash"),
                                        ("echo val_acc: 0.5\n", "a shell script")])
def test_shell_script_is_refused(text, what, tmp_path, capsys):
    script = tmp_path / "run.sh"
    script.write_text(text)
    code = cli.main([str(script), "--lr", "0.1", "--autotune", "--metric", "val_acc", "--param", "lr=0.1:0.5",
                     "--trials", "2", "--out", str(tmp_path / "out")])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    _one_line(code, lines, rf"run.sh is {what}; trials run the training script with Python: put the Python command")
    assert not (tmp_path / "out").exists()


OVERRIDES = {"double =": ("Global.epochs==3", r"-o 'Global.epochs==3': one '=' goes between key and value; write "
                                              r"Global.epochs=3$"),
             "no key": ("=1", r"-o '=1' names no key; write KEY=VALUE, e.g. -o Global.epochs=10")}


@pytest.mark.parametrize("case", sorted(OVERRIDES))
def test_bad_override_is_refused(case, digits_config, tmp_path, capsys):
    item, message = OVERRIDES[case]
    out = tmp_path / "out"
    code = cli.main(["tune", "--suite", "clas", "--out", str(out), "-c", str(digits_config), "-o", item,
                     "--preset", "clas-lr", "--trials", "1", "--quiet"])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    _one_line(code, lines, message)
    assert not out.exists()


@pytest.mark.parametrize("command", ["show", "report", "export", "dashboard", "worker"])
def test_missing_storage_file_is_not_created(command, tmp_path, capsys):
    db = tmp_path / "missing.db"
    code = cli.main([command, "--storage", f"sqlite:///{db}", "--out", str(tmp_path / "out")])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    _one_line(code, lines, rf"no study file {db} \(from --storage sqlite:///{db}\): give the URL the study was run")
    assert not db.exists()


def test_dashboard_port_out_of_range_is_refused(tmp_path, capsys):
    code = cli.main(["dashboard", "--out", str(tmp_path), "--port", "99999"])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    _one_line(code, lines, r"argument --port: port 99999 does not exist: give a number from 1 to 65535")


def test_worker_without_study_lists_the_studies(tmp_path, capsys):
    db = tmp_path / "two.db"
    for name in ("first", "second"):
        optuna.create_study(storage=f"sqlite:///{db}", study_name=name)
    code = cli.main(["worker", "--storage", f"sqlite:///{db}", "--out", str(tmp_path / "out")])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    _one_line(code, lines, rf"no study 'autotune' in sqlite:///{db}; it holds first, second: pass --study NAME")
    assert not (tmp_path / "out").exists()
