"""Resuming, damaged study files, passwords and repeated work, with the generic probe (seconds a study).

Each case here once gave a traceback, silently changed the study, or repeated draws it had already made.
"""
import shlex
import subprocess
import time

from conftest import PYTHON, REPO, autotune, read_trials
import optuna
import pytest
import yaml

PROBE = str(REPO / "tests" / "probe_train.py")


def space_file(tmp_path, spec, name="space.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec))
    return str(path)


def study(tmp_path, out, *extra, spec=None, trials=3, flags=()):
    return autotune([PROBE, "--lr", "0.1", "--epochs", "2", *flags, "--autotune",
                     "--space", space_file(tmp_path, spec or {"lr": {"low": 0.0, "high": 1.0}}),
                     "--metric", "val_acc", "--trials", str(trials), "--pruner", "none", "--out", str(out), *extra],
                    timeout=300)


def one_line_error(proc, message):
    """Exit 2, no traceback, and the last line says what is wrong (after the study's own header lines)."""
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr and lines[-1].startswith("paddle-autotune: error: "), proc.stderr[-2000:]
    assert message in lines[-1] and all(line.startswith("[autotune]") for line in lines[:-1]), proc.stderr[-2000:]


def test_resume_with_another_direction_or_parameter_kind_is_refused(tmp_path):
    out = tmp_path / "out"
    assert study(tmp_path, out, trials=2).returncode == 0
    before = (out / "trials.csv").read_text()
    one_line_error(study(tmp_path, out, "--direction", "minimize", trials=3),
                   "was started to maximize; this command asks to minimize: drop --direction to resume it")
    one_line_error(study(tmp_path, out, spec={"lr": {"values": [0.1, 0.2]}}, trials=3),
                   "the study already tunes 'lr' as float [0, 1]; this command tunes it as categorical [0.1, 0.2]")
    assert (out / "trials.csv").read_text() == before and not (out / "trial_0002").exists()


def test_empty_study_file_is_never_written_over_an_earlier_run(tmp_path):
    out = tmp_path / "out"
    assert study(tmp_path, out, trials=2).returncode == 0
    (out / "study.db").write_bytes(b"")  # as after a crash while the file was being created
    before = (out / "trials.csv").read_text(), (out / "trial_0000" / "train.log").read_text()
    one_line_error(study(tmp_path, out, trials=3), "study.db is empty (cut off while it was created?) but")
    assert ((out / "trials.csv").read_text(), (out / "trial_0000" / "train.log").read_text()) == before

    fresh = tmp_path / "fresh"  # nothing else of a run there: the empty file is simply replaced
    fresh.mkdir()
    (fresh / "study.db").write_bytes(b"")
    assert study(tmp_path, fresh, trials=2).returncode == 0 and len(read_trials(fresh)) == 2


def test_damaged_study_file_is_one_line_and_left_as_it_was(tmp_path):
    out = tmp_path / "out"
    assert study(tmp_path, out, trials=2).returncode == 0
    db = out / "study.db"
    for damage in (db.read_bytes()[:3000], b"not a database at all, just text\n" * 10):
        db.write_bytes(damage)
        one_line_error(study(tmp_path, out, trials=3), "study.db is damaged or not a study")
        assert db.read_bytes() == damage
        shown = autotune(["show", "--out", str(out)])
        assert shown.returncode == 2 and "Traceback" not in shown.stderr, shown.stderr[-2000:]


def test_a_resumed_study_does_not_repeat_its_draws(tmp_path):
    out = tmp_path / "out"
    assert study(tmp_path, out, "--sampler", "random", trials=4).returncode == 0
    assert study(tmp_path, out, "--sampler", "random", trials=8).returncode == 0
    lrs = [r["lr"] for r in read_trials(out)[1:]]  # trial 0 is the config's own lr
    assert len(lrs) == 7 and len(set(lrs)) == 7, lrs
    again = tmp_path / "again"  # a fresh study with the same --seed stays reproducible
    assert study(tmp_path, again, "--sampler", "random", trials=4).returncode == 0
    assert [r["lr"] for r in read_trials(again)] == [r["lr"] for r in read_trials(out)[:4]]


def test_two_coordinators_on_one_storage_draw_different_parameters(tmp_path):
    storage = f"journal:///{tmp_path / 'study.log'}"
    args = [PROBE, "--lr", "0.1", "--epochs", "1", "--sleep", "0.2", "--autotune", "--space",
            space_file(tmp_path, {"lr": {"low": 0.0, "high": 1.0}}), "--metric", "val_acc", "--trials", "10",
            "--pruner", "none", "--sampler", "random", "--storage", storage, "--study", "same"]
    procs = [subprocess.Popen([PYTHON, "-m", "paddle_autotune_plugins"] + args + ["--out", str(tmp_path / name)],
                              cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in ("a", "b")]  # the same command, twice, at the same time
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
    from paddle_autotune_plugins.optuna_glue.storages import open_storage

    trials = optuna.load_study(study_name="same", storage=open_storage(storage, tmp_path)[0]).trials
    drawn = [t.params["lr"] for t in trials if not t.user_attrs.get("baseline") and "lr" in t.params
             and not t.user_attrs.get("surplus")]
    assert len(drawn) >= 8 and len(set(drawn)) == len(drawn), drawn


def test_command_txt_is_shell_quoted_and_trial_0_duration_is_its_run(tmp_path):
    out = tmp_path / "out"
    proc = study(tmp_path, out, trials=1, flags=["--sleep", "0.6", "--record", str(tmp_path / "a b.jsonl")])
    assert proc.returncode == 0, proc.stderr[-2000:]
    command = shlex.split((out / "trial_0000" / "command.txt").read_text().splitlines()[0])
    assert command[command.index("--record") + 1] == str(tmp_path / "a b.jsonl")
    assert float(read_trials(out)[0]["duration_s"]) >= 1.2  # two epochs of 0.6 s, from its process's start


def test_passwords_never_printed_whatever_they_hold(tmp_path):
    for password in ("Zq9x/Kw", "Zq9x@Kw:Yt/Rv", "Zq9x%40Kw"):
        url = f"postgresql://tuner:{password}@127.0.0.1:1/studies"  # nothing listens on port 1
        started = time.time()
        proc = study(tmp_path, tmp_path / "out", "--storage", url, trials=2)
        assert proc.returncode == 2 and time.time() - started < 60, proc.stderr[-2000:]
        shown = "postgresql://tuner:***@127.0.0.1:1/studies"  # an unencoded '@' is refused before connecting
        assert (f"storage URL {shown}: the user or password holds an '@'; encode it as %40" if "@" in password
                else f"cannot open storage {shown}") in proc.stderr, proc.stderr
        for secret in {password, password.split("@")[0], password.split("@")[-1], password.split("/")[0]}:
            assert secret not in proc.stderr + proc.stdout, secret


DOTTED = '''import argparse
p = argparse.ArgumentParser()
p.add_argument("--opt.lr", type=float, default=0.1, dest="lr")
p.add_argument("--opt.momentum", type=float, default=0.5, dest="momentum")
a = p.parse_args()
for epoch in (1, 2):
    print(f"val_acc: {1 - (a.lr - 0.3) ** 2 - (a.momentum - 0.9) ** 2:.4f}", flush=True)
'''


def test_flags_with_dots_in_their_names(tmp_path):
    """`--opt.lr` (and a new `opt.momentum`) once gave KeyError after trial 0 and left a RUNNING row."""
    script = tmp_path / "dotted.py"
    script.write_text(DOTTED)
    out = tmp_path / "out"
    proc = autotune([str(script), "--opt.lr", "0.1", "--autotune", "--space",
                     space_file(tmp_path, {"opt.lr": {"low": 0.0, "high": 1.0},
                                           "opt.momentum": {"low": 0.5, "high": 0.99, "new": True}}),
                     "--metric", "val_acc", "--trials", "3", "--pruner", "none", "--out", str(out)], timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = read_trials(out)
    assert [r["state"] for r in rows] == ["COMPLETE"] * 3, rows
    command = shlex.split((out / "trial_0001" / "command.txt").read_text().splitlines()[0])
    assert float(command[command.index("--opt.lr") + 1]) == pytest.approx(float(rows[1]["opt.lr"]), rel=1e-5)
    assert float(command[command.index("--opt.momentum") + 1]) == pytest.approx(float(rows[1]["opt.momentum"]), rel=1e-5)
