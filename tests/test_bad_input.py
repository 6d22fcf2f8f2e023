"""Bad input fails before any trial starts: exit code 2 and one line that names the problem and the fix."""
import subprocess

import pytest

from conftest import PYTHON, REPO
from paddle_autotune_plugins import cli


def _bytes(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def _space(tmp_path, text):
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return str(path)


CASES = {
    "config missing": (lambda cfg, tmp: ["-c", str(tmp / "nope.yaml"), "--preset", "clas-lr"],
                       "config file not found"),
    "unknown path": (lambda cfg, tmp: ["-c", str(cfg), "--space", _space(tmp, "Optimizer.lr.learning_rat: {low: 0.01, high: 0.1}\n")],
                     "unknown path 'Optimizer.lr.learning_rat'.*did you mean Optimizer.lr.learning_rate"),
    "low > high": (lambda cfg, tmp: ["-c", str(cfg), "--space", _space(tmp, "Optimizer.momentum: {low: 0.99, high: 0.8}\n")],
                   "low 0.99 > high 0.8; swap them"),
    "unknown preset": (lambda cfg, tmp: ["-c", str(cfg), "--preset", "clas-lrr"], "unknown preset 'clas-lrr'"),
    "unknown sampler": (lambda cfg, tmp: ["-c", str(cfg), "--preset", "clas-lr", "--sampler", "tpee"],
                        "unknown sampler 'tpee'; choose one of tpe, gp"),
    "unknown metric": (lambda cfg, tmp: ["-c", str(cfg), "--preset", "clas-lr", "--metric", "top3"],
                       "unknown metric 'top3' for this config; choose one of top1, top5"),
    "unknown pruner": (lambda cfg, tmp: ["-c", str(cfg), "--preset", "clas-lr", "--pruner", "sha"],
                       "unknown pruner 'sha'"),
    "bad pruner step": (lambda cfg, tmp: ["-c", str(cfg), "--preset", "clas-lr", "--pruner", "asha:0"],
                        "bad pruner 'asha:0': only asha:N and median:N take a first step N"),
    "bad stages": (lambda cfg, tmp: ["-c", str(cfg), "--preset", "clas-lr", "--stages", "random,tpe"],
                   "--stages takes SAMPLER:TRIALS stages then a last SAMPLER"),
    "-o leaf key typo": (lambda cfg, tmp: ["-c", str(cfg), "-o", "Global.epoch=1", "--preset", "clas-lr"],
                         "-o Global.epoch: the config has no 'epoch' there; did you mean Global.epochs"),
    "-o parent typo": (lambda cfg, tmp: ["-c", str(cfg), "-o", "Globl.epochs=1", "--preset", "clas-lr"],
                       "-o Globl.epochs: no such path in the config; did you mean Global.epochs"),
    "nan bound": (lambda cfg, tmp: ["-c", str(cfg), "--space", _space(tmp, "Optimizer.momentum: {low: .nan, high: 0.9}\n")],
                  "space 'Optimizer.momentum': low must be a finite number"),
    "inf bound": (lambda cfg, tmp: ["-c", str(cfg), "--space", _space(tmp, "Optimizer.momentum: {low: 0.5, high: .inf}\n")],
                  "space 'Optimizer.momentum': high must be a finite number"),
    "space not utf-8": (lambda cfg, tmp: ["-c", str(cfg), "--space", _bytes(tmp, "space.yaml", b"x: {low: 0, high: 1} # \xff\xfe\n")],
                        "is not UTF-8 text; save the space file as UTF-8"),
    "config not utf-8": (lambda cfg, tmp: ["-c", _bytes(tmp, "c.yaml", cfg.read_bytes() + b"# \xff\xfe\n"), "--preset", "clas-lr"],
                         "is not UTF-8 text; save it as UTF-8"),
    "workers 0": (lambda cfg, tmp: ["-c", str(cfg), "--preset", "clas-lr", "--workers", "0"], "--workers must be >= 1, got 0"),
    "max failures -1": (lambda cfg, tmp: ["-c", str(cfg), "--preset", "clas-lr", "--max-failures", "-1"],
                        "--max-failures must be >= 1, got -1; leave it out"),
    "trial timeout 0": (lambda cfg, tmp: ["-c", str(cfg), "--preset", "clas-lr", "--trial-timeout", "0"],
                        "--trial-timeout must be longer than 0, got '0'; leave the option out for no limit"),
    "trial memory 0": (lambda cfg, tmp: ["-c", str(cfg), "--preset", "clas-lr", "--trial-memory", "0GB"],
                       "--trial-memory must be more than 0"),
    "negative seed": (lambda cfg, tmp: ["-c", str(cfg), "--preset", "clas-lr", "--seed", "-3"], "--seed must be >= 0"),
    "duration 1.2.3h": (lambda cfg, tmp: ["-c", str(cfg), "--preset", "clas-lr", "--time-budget", "1.2.3h"],
                        "--time-budget: cannot read duration '1.2.3h'; write it like 90s, 30m, 1h30m"),
    "negative duration": (lambda cfg, tmp: ["-c", str(cfg), "--preset", "clas-lr", "--time-budget", "-5m"],
                          "--time-budget: cannot read duration '-5m'"),
    "out is empty": (lambda cfg, tmp: ["-c", str(cfg), "--preset", "clas-lr", "--out", ""], "--out is empty"),
    "out is a file": (lambda cfg, tmp: ["-c", str(cfg), "--preset", "clas-lr", "--out", _bytes(tmp, "f", b"x")],
                      "--out .*/f is a file, not a folder"),
    "out under /proc": (lambda cfg, tmp: ["-c", str(cfg), "--preset", "clas-lr", "--out", "/proc/autotune"],
                        "cannot write to --out /proc/autotune: "),
    "out name too long": (lambda cfg, tmp: ["-c", str(cfg), "--preset", "clas-lr", "--out", str(tmp / ("x" * 300))],
                          "cannot write to --out .*: File name too long"),
    "bad duration": (lambda cfg, tmp: ["-c", str(cfg), "--preset", "clas-lr", "--time-budget", "soon"],
                     "cannot read duration 'soon'"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_tune_rejects_bad_input(case, digits_config, tmp_path, capsys):
    make_args, message = CASES[case]
    out = tmp_path / "out"
    code = cli.main(["tune", "--suite", "clas", "--out", str(out)] + make_args(digits_config, tmp_path))
    err = capsys.readouterr().err
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("paddle-autotune: error: ")
    import re
    assert re.search(message, lines[0]), lines[0]
    assert not list(out.glob("trial_*")), "no trial may start on bad input"


def test_launcher_exit_code_and_single_line(digits_config, tmp_path):
    """The real `python -m paddle_autotune_plugins SCRIPT ... --autotune` path, as a user runs it."""
    script = tmp_path / "train.py"
    script.write_text("print('never runs')\n")
    proc = subprocess.run([PYTHON, "-m", "paddle_autotune_plugins", str(script), "-c", str(digits_config),
                           "--autotune", "--preset", "clas-lr", "--trials", "3", "--samplr", "tpe"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "unrecognized arguments: --samplr" in proc.stderr
