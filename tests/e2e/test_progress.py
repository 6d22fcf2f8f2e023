"""What a person sees while a study runs: each running trial's epoch k/N with an ETA for it and for the study
(one line rewritten in place on a terminal, periodic lines in a log), the suites' import noise kept out of
the console, and the progress lines each suite's hooks write."""
import json
import os
import re

from conftest import autotune

NOISE = ("ccache", "distutils", "pkg_resources", "[    INFO]", "[   DEBUG]", "UserWarning", "ExperimentalWarning")


def test_nlp_study_console_shows_the_plugin_only_and_train_log_keeps_the_suite_output(tmp_path):
    """A fresh machine: the demo builds its data and tiny ERNIE in the coordinator's own process (importing
    Paddle and PaddleNLP there), then one real trial of 3 epochs reports its progress through the callback."""
    out = tmp_path / "out"
    proc = autotune(["demo", "--suite", "nlp", "--out", str(out), "--trials", "1"], cwd=tmp_path, timeout=900,
                    env=dict(os.environ, PADDLE_AUTOTUNE_DATA=str(tmp_path / "data"),  # a fresh machine
                             PADDLE_AUTOTUNE_PROGRESS_EVERY="2"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    console = proc.stderr + proc.stdout
    assert not [word for word in NOISE if word in console], console
    assert all(line.startswith("[autotune") for line in proc.stderr.splitlines()), proc.stderr
    assert "trial 0 COMPLETE: eval_accuracy=" in proc.stderr
    assert re.search(r"\| trial [01] epoch [1-3]/3", proc.stderr), proc.stderr  # trial 0 may end before the first poll
    log = (out / "trial_0000" / "train.log").read_text()
    assert "pkg_resources" in log and "[    INFO]" in log and "eval_accuracy" in log  # the suite's own output
    lines = [json.loads(line) for line in (out / "trial_0000" / "metrics.jsonl").read_text().splitlines()]
    progress = [line["progress"] for line in lines if "progress" in line]
    bounds = [(p["epoch"], p.get("end", False)) for p in progress if "iter" not in p]
    assert bounds == [(1, False), (1, True), (2, False), (2, True), (3, False), (3, True)], bounds
    assert all(p["epochs"] == 3 for p in progress)
    iters = [p for p in progress if "iter" in p]
    assert all(0 < p["iter"] <= p["iters"] for p in iters), iters
    assert [line["step"] for line in lines if "metrics" in line] == [1, 2, 3]
