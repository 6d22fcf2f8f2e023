"""What a person sees while a study runs: each running trial's epoch k/N with an ETA for it and for the study
(one line rewritten in place on a terminal, periodic lines in a log), the suites' import noise kept out of
the console, and the progress lines each suite's hooks write."""
import json
import os
import re
import shutil
import subprocess
import time

from conftest import PYTHON, REPO, TESTS, autotune, read_trials
import pytest
import yaml

# the fake suite's trial: epochs of `sleep` seconds, each reported as it starts and ends, with an eval after it
TRAIN = '''
import sys, time, yaml
from paddle_autotune_plugins.trials.reporting import report, report_progress
cfg = yaml.safe_load(open(sys.argv[1]))
n = cfg["steps"]
for epoch in range(1, n + 1):
    report_progress(epoch, n)
    for i in range(1, 5):
        time.sleep(cfg["sleep"] / 4)
        report_progress(epoch, n, iter=i, iters=4)
    report_progress(epoch, n, end=True)
    report(epoch, {"score": cfg["x"] * epoch / n})
'''

# a study of it, run the way a user's terminal or log meets it: the coordinator's own stderr
DRIVER = '''
import sys
sys.path.insert(0, {tests!r})
from fake_suite import FakeAdapter
from paddle_autotune_plugins.output.import_noise import quiet_suite_imports
from paddle_autotune_plugins.search_space import space
from paddle_autotune_plugins.suites.adapter import Task
from paddle_autotune_plugins.settings.options import Settings
from paddle_autotune_plugins.study.coordinator import Coordinator
task = Task(FakeAdapter({script!r}), {{"x": 0.9, "steps": {epochs}, "sleep": {sleep}}}, config_path="fake.yaml",
            cwd={cwd!r})
params = space.parse_space({{"x": {{"low": 0.0, "high": 1.0}}}})
quiet_suite_imports()  # as the CLI does for a study
Coordinator(task, params, Settings(out={out!r}, trials={trials}, pruner="none", sampler="random")).run()
print("STUDY DONE", file=sys.stderr, flush=True)
'''

CLOCK = r"\d+:\d\d:\d\d"
EVENT = re.compile(rf"^\[autotune {CLOCK}\] \d+/2 done \(\d+ pruned, \d+ failed\), \d+ running, best score=\S+ \| "
                   r"trial \d+ (started(: x=[\d.e-]+| \(baseline: your config\))|step \d+: score=[\d.]+"
                   r"|COMPLETE: score=[\d.]+)$")
LIVE = re.compile(rf"^\[autotune {CLOCK}\] trial \d+ ")


def write_driver(tmp_path, epochs=3, sleep=0.8, trials=2):
    script = tmp_path / "fake_train.py"
    script.write_text(TRAIN)
    driver = tmp_path / "study.py"
    driver.write_text(DRIVER.format(tests=str(TESTS), script=str(script), epochs=epochs, sleep=sleep, cwd=str(tmp_path),
                                    out=str(tmp_path / "out"), trials=trials))
    return driver


def test_terminal_shows_one_rewritten_line_with_epoch_and_eta(tmp_path):
    tmux = shutil.which("tmux")
    if not tmux:
        pytest.skip("tmux is not installed (make setup installs it as root: apt-get install tmux)")
    driver = write_driver(tmp_path)
    server = ["tmux", "-L", f"autotune-test-{os.getpid()}"]  # a tmux server of this test's own
    subprocess.run(server + ["-f", "/dev/null", "new-session", "-d", "-s", "study", "-x", "160", "-y", "50",
                             f"{PYTHON} {driver}; sleep 120"], check=True, cwd=REPO)
    screens = []
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            screen = subprocess.run(server + ["capture-pane", "-p", "-t", "study"], capture_output=True,
                                    text=True).stdout
            screens.append([line.rstrip() for line in screen.splitlines() if line.strip()])
            if "STUDY DONE" in screen:
                break
            time.sleep(0.25)
    finally:
        subprocess.run(server + ["kill-server"], capture_output=True)
    final = screens[-1]
    assert final and final[-1] == "STUDY DONE", final
    # the live line while trials trained: the running trial's epoch k/N, its ETA and the study's
    live = [s[-1] for s in screens if s and LIVE.match(s[-1])]
    timed = [line for line in live if re.search(rf"epoch [1-3]/3( iter \d/4)?, ETA ~{CLOCK} \| study [01]/2 done, "
                                                rf"ETA ~{CLOCK}$", line)]
    assert timed, live
    assert any("epoch 2/3" in line or "epoch 3/3" in line for line in timed), timed
    # one line, rewritten: never two live lines on a screen, always the last one; the event lines above it intact
    for screen in screens:
        for line in screen[:-1]:
            assert EVENT.match(line), (line, screen)
    # at the end no live line is left over, and every event is there, in order
    events = final[:-1]
    assert all(EVENT.match(line) for line in events) and len(events) == 10, events
    what = [line.split(" | ", 1)[1].split(":")[0] for line in events]
    assert what == ["trial 0 started (baseline", "trial 0 step 1", "trial 0 step 2", "trial 0 step 3",
                    "trial 0 COMPLETE", "trial 1 started", "trial 1 step 1", "trial 1 step 2", "trial 1 step 3",
                    "trial 1 COMPLETE"], what


def test_a_log_gets_periodic_progress_lines_and_no_carriage_return(tmp_path):
    driver = write_driver(tmp_path, epochs=4, sleep=1.5)
    log = tmp_path / "stderr.log"
    started = time.time()
    with open(log, "w") as f:
        proc = subprocess.run([PYTHON, str(driver)], stderr=f, stdout=subprocess.DEVNULL, cwd=REPO, timeout=300,
                              env=dict(os.environ, PADDLE_AUTOTUNE_PROGRESS_EVERY="1"))
    elapsed = time.time() - started
    text = log.read_text()
    assert proc.returncode == 0 and text.rstrip().endswith("STUDY DONE"), text[-2000:]
    assert "\r" not in text and "\x1b" not in text
    progress = [line for line in text.splitlines() if " epoch " in line]
    pattern = re.compile(rf"^\[autotune {CLOCK}\] \d/2 done .* \| trial (\d) epoch ([1-4])/4( iter \d/4)?( ended)?"
                         rf"(, [\d.]+ s/epoch)?, trial ETA ~({CLOCK}|\? \(timing its first epoch\)), "
                         rf"study ETA ~({CLOCK}|\? \(nothing timed yet\))$")
    assert progress and all(pattern.match(line) for line in progress), progress
    per_trial = {n: [line for line in progress if pattern.match(line).group(1) == n] for n in "01"}
    # trial 1 trains ~6 s (trial 0 may have trained while the study storage was opening: see TrialProcesses.prestart)
    assert len(per_trial["1"]) >= 3, per_trial
    assert len(progress) <= elapsed + 2  # periodic (every second here), not one per poll
    assert any(re.search(rf"s/epoch, trial ETA ~{CLOCK}, study ETA ~{CLOCK}$", line) for line in per_trial["1"])
    # progress lines are not metrics: both trials completed with the score of their last eval
    rows = read_trials(tmp_path / "out")
    assert [r["state"] for r in rows] == ["COMPLETE", "COMPLETE"] and float(rows[0]["value"]) == pytest.approx(0.9)


GENERIC_SCRIPT = '''
import argparse, time
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--epochs", type=int, default=3)
args = parser.parse_args()
for epoch in range(1, args.epochs + 1):
    print(f"Epoch {epoch}/{args.epochs}", flush=True)
    time.sleep(1.0)
    if args.lr > 0.5 and epoch == 2:
        raise ValueError(f"lr {args.lr} is too high")
    print(f"epoch {epoch}/{args.epochs} val_acc: {0.5 + 0.1 * epoch - args.lr:.4f}", flush=True)
'''


def test_generic_script_epochs_are_progress_and_a_failing_trial_still_says_why(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(GENERIC_SCRIPT)
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({"lr": {"low": 0.6, "high": 0.9}}))
    out = tmp_path / "out"
    proc = autotune([str(script), "--lr", "0.1", "--epochs", "3", "--autotune", "--space", str(space), "--metric",
                     "val_acc", "--trials", "2", "--pruner", "none", "--out", str(out)], cwd=tmp_path,
                    env=dict(os.environ, PADDLE_AUTOTUNE_PROGRESS_EVERY="0.5"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(line) for line in (out / "trial_0000" / "metrics.jsonl").read_text().splitlines()]
    progress = [(p["progress"]["epoch"], p["progress"].get("end", False)) for p in lines if "progress" in p]
    assert progress == [(1, False), (1, True), (2, False), (2, True), (3, False), (3, True)], progress
    assert [r["step"] for r in lines if "metrics" in r] == [1, 2, 3]
    assert re.search(r"\| trial [01] epoch [1-3]/3", proc.stderr), proc.stderr  # trial 0 may end before the first poll
    assert re.search(r"\| trial 1 FAIL: exit code 1: ValueError: lr 0\.\d+ is too high$", proc.stderr, re.MULTILINE), \
        proc.stderr
    assert [r["state"] for r in read_trials(out)] == ["COMPLETE", "FAIL"]
