"""Resuming, damaged study files, passwords and repeated work, with the generic probe (seconds a study).

Each case here once gave a traceback, silently changed the study, or repeated draws it had already made.
"""
import time

from conftest import read_trials
import optuna


def test_a_trial_still_running_elsewhere_is_said_so_in_the_table(tmp_path):
    """The coordinator that finishes first writes its trials.csv while another worker's trial still runs."""
    from paddle_autotune_plugins.output import trials_csv

    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"lr": 0.1})
    done = study.ask({"lr": optuna.distributions.FloatDistribution(0, 1)})
    study.tell(done, 0.5)
    running = study.ask({"lr": optuna.distributions.FloatDistribution(0, 1)})
    running.set_user_attr("heartbeat", time.time())
    trials_csv.write_trials_csv(study, ["lr"], tmp_path / "trials.csv")
    rows = read_trials(tmp_path)
    assert rows[1]["state"] == "RUNNING" and rows[1]["reason"].startswith("still running when this table was written")
