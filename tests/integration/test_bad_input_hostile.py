"""Bad input a hostile user tried (issue 31): each exits 2 with one line before any trial, and --out is left
as it was. Most cases run the generic probe script in-process (an instant training, so that a case the
plugin does not refuse runs its trials and fails fast rather than training a suite)."""
import os
import re
import resource
import shutil
import subprocess

from conftest import PYTHON, REPO, read_trials
import optuna
import pytest

from paddle_autotune_plugins import cli
from paddle_autotune_plugins.suites import flag_scripts

PROBE = str(REPO / "tests" / "probe_train.py")


def _space(tmp, text):
    path = tmp / "space.yaml"
    path.write_text(text)
    return ["--space", str(path)]


def _immutable(path):
    """A file nothing may write: chattr +i (as root), else read-only mode bits."""
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0:
        return lambda: subprocess.run(["chattr", "-i", str(path)])
    path.chmod(0o444)
    if os.access(path, os.W_OK):
        pytest.skip("cannot make a file read-only here (root without chattr)")
    return lambda: path.chmod(0o644)


def _loop(tmp):
    (tmp / "a").symlink_to(tmp / "b")
    (tmp / "b").symlink_to(tmp / "a")
    return str(tmp / "a")


LONG_NAME = "s" * 600

# NAME: (tuning options after `probe.py --lr 0.1 --epochs 1 --autotune --metric val_acc` (tmp -> list),
#        the one line's message, a regex)
CASES = {
    # --- space files ---
    "nni value a number": (lambda tmp: _space(tmp, "lr: {_type: uniform, _value: 5}\n"),
                           r"space 'lr': _value of uniform must be \[low, high\], got 5$"),
    "nni value one item": (lambda tmp: _space(tmp, "lr: {_type: uniform, _value: [1]}\n"),
                           r"_value of uniform must be \[low, high\], got \[1\]"),
    "nni value null": (lambda tmp: _space(tmp, "lr: {_type: choice, _value: null}\n"),
                       r"_value of a choice must be a list of values, got None"),
    "grid step 1e-9": (lambda tmp: _space(tmp, "lr: {low: 0, high: 1, step: 1e-9}\n") + ["--sampler", "grid"],
                       r"--sampler grid: the grid has 1,000,000,001 points \(lr: 1,000,000,001 values\), more than "
                       r"100,000; give lr a larger step"),
    "bounds 1e308": (lambda tmp: _space(tmp, "lr: {low: -1e308, high: 1e308}\n"),
                     r"the range \[-1e\+308, 1e\+308\] is too wide to sample"),
    "apply on a number": (lambda tmp: _space(tmp, "lr: {low: 0.1, high: 1, apply: scale_list}\n"),
                          r"apply: scale_list needs a list of numbers at lr .* the config holds 0.1; drop apply"),
    "step larger than the range": (lambda tmp: _space(tmp, "lr: {low: 0.1, high: 0.2, step: 0.5}\n"),
                                   r"step 0.5 is larger than the range \[0.1, 0.2\], which leaves one value"),
    "log is text": (lambda tmp: _space(tmp, "lr: {low: 0.1, high: 0.2, log: 'no'}\n"),
                    r"space 'lr': log must be true or false, got 'no'"),
    "new is text": (lambda tmp: _space(tmp, "lr: {low: 0.1, high: 0.2, new: 'yes'}\n"),
                    r"space 'lr': new must be true or false, got 'yes'"),
    "when unknown path": (lambda tmp: _space(tmp, "lr: {low: 0.1, high: 0.2, when: {nope: 1}}\n"),
                          r"when names 'nope', which is neither tuned nor in the config, so 'lr' would never be"),
    "when value a mapping": (lambda tmp: _space(tmp, "lr: {low: 0.1, high: 0.2, when: {epochs: {a: 1}}}\n"),
                             r"when epochs: \{'a': 1\} must be a value or a list of values"),
    "scale_with a number": (lambda tmp: _space(tmp, "lr: {low: 0.1, high: 0.2, scale_with: [3], reference: 2}\n"),
                            r"scale_with must be a dotted path or a list of them, got \[3\]"),
    "also unknown path": (lambda tmp: _space(tmp, "lr: {low: 0.1, high: 0.2, also: [nope]}\n"),
                          r"also names 'nope', which the config does not have"),
    "choices are mappings": (lambda tmp: _space(tmp, "mode: {choices: [{a: 1}, {b: 2}]}\n"),
                             r"choice \{'a': 1\} is not a value a config holds"),
    "choice null": (lambda tmp: _space(tmp, "mode: {choices: [null]}\n"), r"null is not a choice"),
    "param choice a mapping": (lambda tmp: ["--param", "mode=choice:{a: 1}"],
                               r"--param mode=choice:\{a: 1\}: choice \{'a': 1\} is not a value a config holds"),
    # --- options ---
    "seed 2**32": (lambda tmp: ["--param", "lr=0.1:0.5", "--seed", str(2 ** 32)],
                   r"--seed must be <= 4294967295"),
    "constraint bound a dot": (lambda tmp: ["--param", "lr=0.1:0.5", "--constraint", "val_acc<=."],
                               r"--constraint 'val_acc<=\.' must read METRIC<=VALUE"),
    "constraint bound 1e999": (lambda tmp: ["--param", "lr=0.1:0.5", "--constraint", "val_acc<=1e999"],
                               r"1e999 is not a finite number"),
    "stage of 0 trials": (lambda tmp: ["--param", "lr=0.1:0.5", "--stages", "random:0,tpe"],
                          r"--stages: 'random:0' runs no trial"),
    "fidelity levels out of order": (lambda tmp: ["--param", "lr=0.1:0.5", "--fidelity-levels", "3,1"],
                                     r"--fidelity-levels takes increasing whole epochs like 1,3,9, got '3,1'"),
    "fidelity levels without schedule": (lambda tmp: ["--param", "lr=0.1:0.5", "--fidelity-levels", "1,3"],
                                         r"--fidelity-levels set the trainings of --fidelity schedule; add"),
    "gpus only commas": (lambda tmp: ["--param", "lr=0.1:0.5", "--gpus", ",,"], r"--gpus takes GPU ids like 0,1"),
    "metric with a space": (lambda tmp: ["--param", "lr=0.1:0.5", "--metric", "val acc"],
                            r"--metric 'val acc' cannot be read from the script's output .* --metric val_acc$"),
    "metric with =": (lambda tmp: ["--param", "lr=0.1:0.5", "--metric", "val=acc"],
                      r"--metric 'val=acc' cannot be read"),
    # --- --out ---
    "out a symlink loop": (lambda tmp: ["--param", "lr=0.1:0.5", "--out", _loop(tmp)],
                           r"--out .*/a is a loop of symbolic links"),
    # --- --storage ---
    "sqlite://": (lambda tmp: ["--param", "lr=0.1:0.5", "--storage", "sqlite://"],
                  r"storage URL 'sqlite://' keeps the study in memory, so nothing would be kept"),
    "sqlite:///": (lambda tmp: ["--param", "lr=0.1:0.5", "--storage", "sqlite:///"], r"keeps the study in memory"),
    "sqlite memory": (lambda tmp: ["--param", "lr=0.1:0.5", "--storage", "sqlite:///:memory:"],
                      r"keeps the study in memory"),
    "journal on /dev/null": (lambda tmp: ["--param", "lr=0.1:0.5", "--storage", "journal:///dev/null"],
                             r"storage file /dev/null is not a regular file"),
    "study name of 600 characters": (lambda tmp: ["--param", "lr=0.1:0.5", "--study", LONG_NAME, "--storage",
                                                  "postgresql://tuner:pw@127.0.0.1:9/studies"],
                                     r"--study is 600 characters long; Optuna keeps at most 512"),
}


def _tune(tmp_path, capsys, options, out=None):
    out = out or tmp_path / "out"
    code = cli.main([PROBE, "--lr", "0.1", "--epochs", "1", "--autotune", "--metric", "val_acc", "--trials", "2",
                     "--pruner", "none", "--quiet", "--out", str(out)] + options)
    return code, [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def _one_line(code, lines, message):
    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith("paddle-autotune: error: "), lines
    assert re.search(message, lines[0]), lines[0]


@pytest.mark.parametrize("case", sorted(CASES))
def test_refused_before_any_trial(case, tmp_path, capsys):
    make_options, message = CASES[case]
    out = tmp_path / "out"
    options = make_options(tmp_path)
    code, lines = _tune(tmp_path, capsys, options)  # a case's own --out comes last and wins
    _one_line(code, lines, message)
    assert not out.exists(), "nothing may be written to --out on bad input"


def test_immutable_sqlite_file_is_refused(tmp_path, capsys):
    db = tmp_path / "study.db"
    optuna.create_study(storage=f"sqlite:///{db}", study_name="other")
    undo = _immutable(db)
    try:
        code, lines = _tune(tmp_path, capsys, ["--param", "lr=0.1:0.5", "--storage", f"sqlite:///{db}"])
    finally:
        undo()
    _one_line(code, lines, rf"storage file {db} cannot be written \(read-only or immutable\)")
    assert not (tmp_path / "out").exists()


def test_at_sign_in_a_password_is_refused_before_connecting_and_never_shown(tmp_path, capsys):
    password = "Zq9x@secret"
    code, lines = _tune(tmp_path, capsys, ["--param", "lr=0.1:0.5", "--storage",
                                           f"postgresql://tuner:{password}@127.0.0.1:9/studies"])
    _one_line(code, lines, r"postgresql://tuner:\*\*\*@127.0.0.1:9/studies: the user or password holds an '@'; "
                           r"encode it as %40")
    assert "Zq9" not in lines[0] and "secret" not in lines[0]


def test_a_huge_int_grid_takes_its_points_without_listing_the_range(tmp_path):
    """An int range over 0..1e9 under --sampler grid once built the whole list (MemoryError): its five points
    are taken without it, under a 2 GB memory limit."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    script = tmp_path / "seeds.py"
    script.write_text("import argparse\np = argparse.ArgumentParser()\np.add_argument('--seed', type=int)\n"
                      "print(f'val_acc: {p.parse_args().seed % 7}')\n")
    space = tmp_path / "space.yaml"
    space.write_text("seed: {low: 0, high: 1000000000}\n")
    proc = subprocess.run([PYTHON, "-m", "paddle_autotune_plugins", str(script), "--seed", "1", "--autotune",
                           "--metric", "val_acc", "--space", str(space), "--sampler", "grid", "--trials", "2",
                           "--pruner", "none", "--quiet", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=REPO, preexec_fn=limit, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(read_trials(tmp_path / "out")) == 2


def test_metric_named_in_non_ascii_letters_is_read(tmp_path, capsys):
    script = tmp_path / "accuracy.py"
    script.write_text("import argparse\np = argparse.ArgumentParser()\np.add_argument('--lr', type=float)\n"
                      "print(f'äcc: {p.parse_args().lr}')\n")
    code = cli.main([str(script), "--lr", "0.1", "--autotune", "--metric", "äcc", "--param", "lr=0.1:0.5",
                     "--trials", "2", "--pruner", "none", "--quiet", "--out", str(tmp_path / "out")])
    assert code == 0, capsys.readouterr().err
    rows = read_trials(tmp_path / "out")
    assert [r["state"] for r in rows] == ["COMPLETE", "COMPLETE"] and float(rows[0]["value"]) == 0.1


def test_another_scripts_study_in_out_is_not_resumed(tmp_path, capsys):
    out = tmp_path / "out"
    code, _ = _tune(tmp_path, capsys, ["--param", "lr=0.1:0.5"])
    assert code == 0
    before = (out / "trials.csv").read_text()
    other = tmp_path / "other.py"
    shutil.copy(PROBE, other)
    code = cli.main([str(other), "--lr", "0.1", "--epochs", "1", "--autotune", "--metric", "val_acc", "--trials", "3",
                     "--param", "lr=0.1:0.5", "--pruner", "none", "--quiet", "--out", str(out)])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    _one_line(code, lines, rf"study 'autotune' in {out} was started with the generic suite's {PROBE}, not the "
                           rf"generic suite's {other}: use another --out \(or --study\) for this one")
    assert (out / "trials.csv").read_text() == before and not (out / "trial_0002").exists()


def test_a_help_that_never_answers_is_bounded_and_said(tmp_path, capsys, monkeypatch):
    from paddle_autotune_plugins.adapters.generic import adapter as generic

    monkeypatch.setattr(flag_scripts, "HELP_NOTICE", 0.5)
    monkeypatch.setattr(generic, "HELP_TIMEOUT", 2)
    script = tmp_path / "hang.py"
    script.write_text("import argparse, sys, time\nif '--help' in sys.argv:\n    time.sleep(3600)\n"
                      "p = argparse.ArgumentParser()\np.add_argument('--lr', type=float)\n"
                      "print(f'val_acc: {p.parse_args().lr}')\n")
    code = cli.main([str(script), "--lr", "0.1", "--autotune", "--metric", "val_acc", "--param", "lr=0.1:0.5",
                     "--trials", "2", "--pruner", "none", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "[autotune] waiting for 'hang.py --help' to list the script's flags: at most 2 s, then it is tuned on " \
           "its command alone" in err
    assert "hang.py --help' did not answer within 2 s" in err


# --- sub-commands ---
@pytest.fixture()
def finished(tmp_path, capsys):
    """A finished probe study in tmp_path/out."""
    code, _ = _tune(tmp_path, capsys, ["--param", "lr=0.1:0.5"])
    assert code == 0
    return tmp_path / "out"


@pytest.mark.parametrize("top", ["0", "-1"])
def test_export_top_below_one_is_refused(top, finished, capsys):
    code = cli.main(["export", "--out", str(finished), "--top", top])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    _one_line(code, lines, rf"--top must be >= 1, got {top}")
    assert not (finished / "export").exists()
