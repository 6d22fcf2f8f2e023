"""What a person sees while a study runs: each running trial's epoch k/N with an ETA for it and for the study
(one line rewritten in place on a terminal, periodic lines in a log), the suites' import noise kept out of
the console, and the progress lines each suite's hooks write."""
import json
import types

from paddle_autotune_plugins.output.trial_clock import TrialClock


def test_eta_is_remaining_epochs_times_measured_seconds_per_epoch():
    clock = TrialClock(started=90.0)
    clock.update({"epoch": 1, "epochs": 5}, 100.0)
    assert clock.eta(105.0) is None and clock.where() == "epoch 1/5"  # nothing measured yet: no number
    clock.update({"epoch": 1, "epochs": 5, "end": True}, 110.0)
    assert clock.seconds_per_epoch == 10.0 and clock.eta(110.0) == 40.0 and clock.eta(113.0) == 37.0
    clock.update({"epoch": 1, "epochs": 5}, 112.0)  # ppdet's eval starts an "epoch" with the ended one's id
    assert clock.boundary == 110.0 and clock.done == 1
    clock.update({"epoch": 2, "epochs": 5}, 114.0)  # eval included: 14 s per epoch, 4 epochs to go
    assert clock.seconds_per_epoch == 14.0 and clock.eta(114.0) == 56.0 and clock.where() == "epoch 2/5"
    early = TrialClock(started=0.0)  # before the first epoch ends, its iterations give the first guess
    early.update({"epoch": 1, "epochs": 3}, 10.0)
    early.update({"epoch": 1, "epochs": 3, "iter": 5, "iters": 20}, 15.0)
    assert early.rate() == 20.0 and early.eta(15.0) == 55.0 and early.where() == "epoch 1/3 iter 5/20"


def test_clas_hook_reports_each_epoch_and_its_batches_around_the_engines_epoch_function(tmp_path, monkeypatch):
    """ppcls's Engine.train calls train_epoch_func(engine, epoch_id, print_batch_step), which iterates
    engine.train_dataloader up to engine.max_iter: the hook wraps both, and puts the loader back after."""
    from paddle_autotune_plugins.adapters.paddleclas import hooks
    from paddle_autotune_plugins.trials import reporting

    report_file = tmp_path / "metrics.jsonl"
    monkeypatch.setenv("PADDLE_AUTOTUNE_REPORT", str(report_file))
    monkeypatch.setattr(reporting, "PROGRESS_ITER_SECONDS", 0.0)  # every batch's line (thinned to 2 s normally)
    trained = []

    def train_epoch(engine, epoch_id, print_batch_step):  # ppcls 2.4's loop, in short
        for iter_id, batch in enumerate(engine.train_dataloader):
            if iter_id >= engine.max_iter:
                break
            trained.append((epoch_id, batch))

    loader = ["a", "b", "c"]
    engine = types.SimpleNamespace(train_epoch_func=train_epoch, config={"Global": {"epochs": 2}},
                                   train_dataloader=loader, max_iter=3)
    hooks._time_epochs(engine)
    for epoch in (1, 2):
        engine.train_epoch_func(engine, epoch, 10)
    assert trained == [(1, "a"), (1, "b"), (1, "c"), (2, "a"), (2, "b"), (2, "c")]
    assert engine.train_dataloader is loader
    lines = [json.loads(line) for line in report_file.read_text().splitlines()]
    assert all(set(line) == {"progress", "time"} for line in lines)  # nothing the coordinator takes for an eval
    assert [line["progress"] for line in lines[:5]] == [
        {"epoch": 1, "epochs": 2}, {"epoch": 1, "epochs": 2, "iter": 1, "iters": 3},
        {"epoch": 1, "epochs": 2, "iter": 2, "iters": 3}, {"epoch": 1, "epochs": 2, "iter": 3, "iters": 3},
        {"epoch": 1, "epochs": 2, "end": True}]
    assert len(lines) == 10 and lines[-1]["progress"] == {"epoch": 2, "epochs": 2, "end": True}
    assert reporting.read_reports(report_file)[0] == lines  # read back as they are, not as metrics
