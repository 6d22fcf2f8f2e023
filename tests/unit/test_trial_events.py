"""trial_events: a trial's report lines and its process's state, as the typed events the coordinator decides on."""
import json

from paddle_autotune_plugins.trials import trial_events
from paddle_autotune_plugins.trials.reporting import BadLine
from paddle_autotune_plugins.trials.trial_events import (BadReport, Evaluation, Exited, KnobValues, Progress, Running,
                                                         Unusable)


def test_each_kind_of_line_is_its_event_in_order():
    progress = {"progress": {"epoch": 1, "epochs": 3}, "time": 1.0}
    lines = [progress, {"used": {"lr": 0.1}}, {"step": 2, "metrics": {"acc": 0.5}, "time": 2.0},
             {"step": None, "metrics": {"acc": 0.7}, "final": True}, {"unusable": "returned a str"}, BadLine("no")]
    assert trial_events.as_events(lines, None) == [
        Progress(progress), KnobValues({"lr": 0.1}), Evaluation(2, {"acc": 0.5}), Evaluation(None, {"acc": 0.7}, True),
        Unusable("returned a str"), BadReport("no"), Running()]


def test_the_process_state_comes_last():
    assert trial_events.as_events([], 0) == [Exited(0)]
    assert trial_events.as_events([{"step": 1, "metrics": {"acc": 1.0}}], -9) == [Evaluation(1, {"acc": 1.0}),
                                                                                   Exited(-9)]


class _Exited:  # a process that has exited with 0 (no subprocess in unit tests)
    @staticmethod
    def poll():
        return 0


class _Trial:  # the fields of a RunningTrial that read_events reads and moves on
    def __init__(self, folder):
        self.proc, self.dir, self.offset = _Exited(), folder, 0


def test_read_events_reads_new_lines_once_and_leaves_a_half_line(tmp_path):
    report = tmp_path / "metrics.jsonl"
    report.write_text(json.dumps({"step": 1, "metrics": {"acc": 0.5}}) + "\n" + '{"step": 2, "metr')
    rt = _Trial(tmp_path)
    assert trial_events.read_events(rt) == [Evaluation(1, {"acc": 0.5}), Exited(0)]
    assert trial_events.read_events(rt) == [Exited(0)]  # nothing new: the half line waits for its newline
    with open(report, "a") as f:
        f.write('ics": {"acc": 0.6}}\n')
    assert trial_events.read_events(rt) == [Evaluation(2, {"acc": 0.6}), Exited(0)]


def test_a_bad_line_is_a_bad_report(tmp_path):
    (tmp_path / "metrics.jsonl").write_text("not json\n")
    (event, exited) = trial_events.read_events(_Trial(tmp_path))
    assert isinstance(event, BadReport) and "not JSON" in event.reason and exited == Exited(0)
