"""Issue 28, part 4: where the config does not tell how many evaluations a training makes (a script of the
generic adapter, a Trainer script), the baseline's own run tells it; no trial is pruned before that, and
none at its first evaluation."""
from conftest import autotune, read_trials
import optuna
import yaml

from paddle_autotune_plugins.optuna_glue import pruners

# Trainer-like: 4 evaluations, a warm-up that costs the first one and pays off after it; the config as given
# (--warmup 0) starts fastest, --warmup 3 is best from the second evaluation on.
SCRIPT = '''
import argparse

parser = argparse.ArgumentParser()
parser.add_argument("--warmup", type=int, default=0)
parser.add_argument("--epochs", type=int, default=4)
args = parser.parse_args()
for epoch in range(1, args.epochs + 1):
    if epoch == 1:
        acc = 0.5 - 0.1 * args.warmup
    else:
        acc = 0.7 + 0.02 * args.warmup * epoch
    print(f"epoch {epoch} eval_accuracy: {acc:.4f}")
'''


def test_a_slow_starter_is_not_pruned_at_its_first_evaluation(tmp_path):
    (tmp_path / "train.py").write_text(SCRIPT)
    (tmp_path / "space.yaml").write_text(yaml.safe_dump({"warmup": {"type": "int", "low": 0, "high": 3},
                                                         "enqueue": [{"warmup": 3}, {"warmup": 1}]}))
    out = tmp_path / "out"
    proc = autotune(["train.py", "--warmup", "0", "--autotune", "--space", "space.yaml", "--metric", "eval_accuracy",
                     "--trials", "5", "--sampler", "random", "--prior", "none", "--out", str(out)], cwd=tmp_path,
                    timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "no trial is pruned until the baseline (trial 0) has finished" in proc.stderr
    rows = {int(r["number"]): r for r in read_trials(out)}
    assert rows[1]["warmup"] == "3" and rows[1]["state"] == "COMPLETE", rows[1]  # the best, though last at step 1
    assert float(rows[1]["value"]) == max(float(r["value"]) for r in rows.values() if r["value"])
    assert not any("pruned at step 1 " in r["reason"] for r in rows.values()), rows
    study = optuna.load_study(study_name="autotune", storage=f"sqlite:///{out / 'study.db'}")
    assert study.user_attrs[pruners.EVALUATIONS] == [1, 2, 3, 4]
