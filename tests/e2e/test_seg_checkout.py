"""PaddleSeg end to end: a short study through a release/2.9 checkout's own tools/train.py on the digits
masks, then its best_config.yaml trained again with that tools/train.py, unaided.

The evaluations in each trial's metrics.jsonl are checked against the trainer's own `[EVAL]` lines in
train.log (read apart from what the hooks reported), the knob values against the trial's config.
"""
import os
import re
import subprocess

from conftest import PYTHON, copy_checkout, read_trials, trial_lines
import pytest
import yaml

from paddle_autotune_plugins.adapters.paddleseg.digits_seg import write_demo_config

CHECKOUT = "PaddleSeg-release-2.9"
EVAL_LINE = re.compile(r"\[EVAL\] #Images: \d+ mIoU: ([\d.]+) Acc: ([\d.]+) Kappa: ([-\d.]+) Dice: ([\d.]+)")
ITERS, INTERVAL = 20, 10


def _logged_evals(trial_dir):
    return [tuple(float(x) for x in m.groups()) for m in EVAL_LINE.finditer((trial_dir / "train.log").read_text())]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    base = tmp_path_factory.mktemp("seg")
    root = copy_checkout(CHECKOUT, base)
    config = write_demo_config(base / "cfg")
    space = base / "space.yaml"  # the batch size too, read from the trainer's live loader
    space.write_text(yaml.safe_dump({"batch_size": {"choices": [2, 4]}}))
    out = base / "out"
    cmd = [PYTHON, "-m", "paddle_autotune_plugins", "tools/train.py", "--config", str(config), "--iters", str(ITERS),
           "--save_interval", str(INTERVAL), "--opts", "batch_size=4", "--autotune", "--preset", "seg-lr",
           "--preset", "seg-loss", "--space", str(space), "--trials", "3", "--pruner", f"asha:{INTERVAL}",
           "--seed", "0", "--out", str(out)]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=1800)
    return {"root": root, "out": out, "proc": proc, "base": base}


def test_study_reports_every_eval_checks_knobs_and_keeps_the_best(study):
    out, proc = study["out"], study["proc"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "knob does not act" not in proc.stderr, proc.stderr[-3000:]
    rows = read_trials(out)
    assert len(rows) == 3 and rows[0]["reason"].startswith("baseline")
    # the checkout's own paddleseg trained it (run_trial puts the checkout on the path), not the 2.8.0 wheel
    assert "PaddleSeg: 2.9.0" in (out / "trial_0000" / "train.log").read_text()
    tuned = ["lr_scheduler.learning_rate", "lr_scheduler.power", "loss.coef.1", "loss.types.0.coef.1", "batch_size"]
    assert all(name in rows[0] for name in tuned), list(rows[0])
    at_first_rung = {}
    for row in rows:
        trial = out / f"trial_{int(row['number']):04d}"
        reports, used = trial_lines(trial)
        steps = [r["step"] for r in reports]
        assert row["state"] in ("COMPLETE", "PRUNED"), row
        assert steps == ([INTERVAL, ITERS] if row["state"] == "COMPLETE" else [INTERVAL]), (row, steps)
        logged = _logged_evals(trial)  # the trainer's own [EVAL] lines, one per evaluation it ran
        assert len(logged) >= len(reports)
        for rep, (miou, acc, kappa, dice) in zip(reports, logged):
            got = rep["metrics"]
            assert (got["mIoU"], got["Acc"], got["Kappa"], got["Dice"]) == pytest.approx((miou, acc, kappa, dice),
                                                                                         abs=6e-5)
        at_first_rung[int(row["number"])] = reports[0]["metrics"]["mIoU"]
        cfg = yaml.safe_load((trial / "config.yml").read_text())
        seen = {k: v for u in used for k, v in u.items()}
        for path in tuned:  # every tuned knob read back from the live trainer equals the trial's config
            node = cfg
            for key in path.split("."):
                node = node[int(key)] if isinstance(node, list) else node[key]
            assert seen[path] == pytest.approx(node, rel=1e-5), (path, seen, node)
        assert seen["loss.coef.2"] == pytest.approx(seen["loss.coef.1"])  # both auxiliary heads alike
        assert seen["iters"] == ITERS
        assert float(row["lr_scheduler.learning_rate"]) == pytest.approx(cfg["lr_scheduler"]["learning_rate"],
                                                                        rel=1e-5)  # trials.csv: 6 digits
        assert "--save_dir" in (trial / "command.txt").read_text() and str(trial / "output") in \
            (trial / "command.txt").read_text()
    # ASHA at step 10: trial 1 goes on only if it is at least as good as trial 0 there
    assert (rows[1]["state"] == "PRUNED") == (at_first_rung[1] < at_first_rung[0]), (rows, at_first_rung)
    best = out / "best"
    assert (best / "model.pdparams").is_file() and (best / "trial.txt").is_file()
    best_number = int((best / "trial.txt").read_text().split()[1])
    assert rows[best_number]["state"] == "COMPLETE"
    assert float(rows[best_number]["value"]) == max(float(r["value"]) for r in rows if r["state"] == "COMPLETE")
    assert not list(out.glob("trial_*/output/**/*.pdparams")), "weights of trials that are not the best remain"


def test_best_config_trains_with_the_checkouts_own_train_py(study):
    assert study["proc"].returncode == 0, study["proc"].stderr[-3000:]
    root, out = study["root"], study["out"]
    best = yaml.safe_load((out / "best_config.yaml").read_text())
    assert "_base_" not in best and best["model"]["type"] == "PPLiteSeg"
    env = dict(os.environ, PYTHONPATH=str(root))  # as `pip install -e .` of the checkout would
    env.pop("PADDLE_AUTOTUNE_REPORT", None)
    retrain = subprocess.run([PYTHON, "tools/train.py", "--config", str(out / "best_config.yaml"), "--do_eval",
                              "--iters", "10", "--save_interval", "10", "--save_dir", str(study["base"] / "retrain")],
                             cwd=root, capture_output=True, text=True, env=env, timeout=900)
    assert retrain.returncode == 0, retrain.stderr[-3000:]
    assert EVAL_LINE.search(retrain.stdout + retrain.stderr) and "PaddleSeg: 2.9.0" in retrain.stdout + retrain.stderr
    assert (study["base"] / "retrain" / "best_model" / "model.pdparams").is_file()
    assert "[autotune]" not in retrain.stdout + retrain.stderr  # no hook of the plugin was involved


def test_pip_only_study_trains_the_wheel_with_the_plugins_entry(tmp_path):
    """No checkout: `tune --suite seg` trains each trial with the plugin's entry over the paddleseg 2.8.0 wheel,
    which trains on Paddle 3 only with the run-time fixes (0-D losses and areas, CrossEntropyLoss's ones)."""
    from conftest import autotune

    config = write_demo_config(tmp_path / "cfg")
    out = tmp_path / "out"
    proc = autotune(["tune", "--suite", "seg", "--config", str(config), "--iters", "10", "--save_interval", "5",
                     "--preset", "seg-lr", "--trials", "2", "--pruner", "none", "--seed", "0", "--out", str(out)],
                    timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = read_trials(out)
    assert [r["state"] for r in rows] == ["COMPLETE", "COMPLETE"], rows
    for row in rows:
        trial = out / f"trial_{int(row['number']):04d}"
        assert "paddle_autotune_plugins.adapters.paddleseg.train" in (trial / "command.txt").read_text()
        reports, used = trial_lines(trial)
        assert [r["step"] for r in reports] == [5, 10]
        assert [r["metrics"]["mIoU"] for r in reports] == pytest.approx([e[0] for e in _logged_evals(trial)], abs=6e-5)
        assert used[0]["lr_scheduler.learning_rate"] == pytest.approx(float(row["lr_scheduler.learning_rate"]),
                                                                      rel=1e-5)
        assert "PaddleSeg: 2.8.0" in (trial / "train.log").read_text()  # the wheel trained it (its env info)
    assert (out / "best" / "model.pdparams").is_file()


def test_doctor_walks_the_checkouts_configs():
    """`doctor --configs` over release/2.9's shipped configs, with that checkout's own paddleseg."""
    from conftest import autotune, checkout_root

    root = checkout_root(CHECKOUT)
    proc = autotune(["doctor", "--configs", str(root), "--suite", "seg"], timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = dict(re.findall(r"^\s+(.+?): (\d+)/\d+ \(", proc.stdout, re.MULTILINE))
    assert re.search(r"seg configs under .*: 200$", proc.stdout, re.MULTILINE), proc.stdout[-2000:]
    assert counts["load"] == "200" and counts["_base_ merged as the checkout's parse_from_yaml merges it"] == "200"
    assert counts["preset seg-all resolved"] == "200"
    assert counts["every knob acts (scheduler, optimizer and losses built by paddleseg)"] == "199"
    fails = [line for line in proc.stdout.splitlines() if "FAIL" in line]
    assert len(fails) == 1 and "cae/upernet_cae_base" in fails[0] and "backbone" in fails[0], fails
    assert "fix seg-dice-labels: applied" in proc.stdout  # release/2.9's DiceLoss still writes its labels
