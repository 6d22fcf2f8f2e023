"""Parallel trials, GPU placement, faults, shared storages (journal file, real PostgreSQL), hard kills.

Trials here run tests/probe_train.py through the generic adapter (a real script, real processes) so the
machinery is exercised in seconds; the suite trainers run in the e2e tests (one of them here, with 2 workers).
"""
from conftest import autotune, read_trials


def test_two_workers_run_real_paddleclas_trials(digits_config, tmp_path):
    out = tmp_path / "out"
    proc = autotune(["tune", "--suite", "clas", "-c", str(digits_config), "-o", "Global.epochs=2",
                     "--preset", "clas-lr", "--trials", "4", "--workers", "2", "--pruner", "none", "--out", str(out)],
                    timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = read_trials(out)
    assert len(rows) == 4 and all(r["state"] == "COMPLETE" for r in rows)
    text = (proc.stderr + proc.stdout).lower()
    assert "database is locked" not in text and "oversubscri" not in text
    logs = " ".join((out / f"trial_{i:04d}" / "train.log").read_text().lower() for i in range(4))
    assert "oversubscri" not in logs
    assert "2 workers" in proc.stderr
