"""The schedule-fidelity ladder and Optuna's successive halving deciding exactly at its levels."""
import optuna
import pytest

from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.study import fidelity


def test_ladder_is_geometric_and_ends_at_the_full_length():
    assert fidelity.ladder(9, 1) == [1, 3, 9]
    assert fidelity.ladder(12, 1) == [1, 3, 12]
    assert fidelity.ladder(300, 11) == [11, 33, 99, 300]
    assert fidelity.ladder(120, 5, eta=2) == [5, 10, 20, 40, 120]
    assert fidelity.ladder(10, 4) == [10]  # 12 epochs would be past the full length: train it once
    assert fidelity.ladder(9, 9) == [9]


@pytest.mark.parametrize("args, words", [((9, 0), "between 1 and"), ((9, 10), "between 1 and"),
                                         ((9, 1, 1), "reduction factor")])
def test_ladder_refuses_budgets_that_make_no_ladder(args, words):
    with pytest.raises(UsageError, match=words):
        fidelity.ladder(*args)


def test_levels_given_by_hand():
    assert fidelity.parse_levels("1,3,9", 9) == ([1, 3, 9], 3)
    assert fidelity.parse_levels("2,4", 12) == ([2, 4, 12], 2)
    assert fidelity.parse_levels("3", 9) == ([3, 9], 3)
    for text, words in [("1,3,8", "grow by one factor"), ("2,5", "whole multiple"), ("3,1", "increasing"),
                        ("1,x", "whole epochs"), ("1,3,27", "past the training")]:
        with pytest.raises(UsageError, match=words):
            fidelity.parse_levels(text, 9)


def _trial_at(study, values_by_step):
    trial = study.ask()
    verdicts = {}
    for step, value in values_by_step:
        trial.report(value, step)
        verdicts[step] = trial.should_prune()
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    return verdicts


def test_successive_halving_decides_at_the_levels_only():
    levels = fidelity.ladder(9, 1)
    study = optuna.create_study(direction="maximize", pruner=fidelity.make_pruner(levels),
                                sampler=optuna.samplers.RandomSampler(seed=0))
    for v in [0.1 * k for k in range(1, 10)]:  # nine configs trained at 1 epoch
        _trial_at(study, [(1, v)])
    # against those nine, a result in the top third goes on to 3 epochs, one below it stops at 1
    assert _trial_at(study, [(1, 0.95)]) == {1: False}
    assert _trial_at(study, [(1, 0.05)]) == {1: True}
    # a step between two levels decides nothing; the next level (3 epochs) does
    verdicts = _trial_at(study, [(1, 0.99), (2, 0.0), (3, 0.0)])
    assert verdicts[1] is False and verdicts[2] is False
    assert verdicts[3] is False  # the only result at the 3-epoch rung so far (with 0.95's trial told pruned at 1)
    assert _trial_at(study, [(1, 0.98), (3, -1.0)]) == {1: False, 3: True}


# ---------------------------------------------------------------- the coordinator's --fidelity schedule
from fake_suite import FakeAdapter  # noqa: E402
from fake_suite import X, make_task  # noqa: E402

from paddle_autotune_plugins.search_space import space  # noqa: E402
from paddle_autotune_plugins.settings.options import Settings  # noqa: E402
from paddle_autotune_plugins.study.coordinator import Coordinator  # noqa: E402


class CompressingAdapter(FakeAdapter):
    """The fake training's schedule is its `steps`: compressed, it runs fewer of them to the same end value."""

    def compress_schedule(self, task, cfg, epochs):
        return dict(cfg, steps=epochs)


def _schedule_study(tmp_path, adapter_class=CompressingAdapter, **settings):
    task = make_task(tmp_path, steps=9)
    task.adapter = adapter_class(tmp_path / "fake_train.py", metrics=("score", "cost"))
    settings = dict(dict(trials=10, seed=3, quiet=True, fidelity="schedule", min_epochs=1), **settings)
    coordinator = Coordinator(task, space.parse_space(X), Settings(out=tmp_path / "out", **settings))
    return coordinator


def test_schedule_fidelity_refuses_what_it_cannot_do(tmp_path):
    with pytest.raises(UsageError, match="cannot compress its schedule"):
        _schedule_study(tmp_path, adapter_class=FakeAdapter)
    with pytest.raises(UsageError, match="use --pruner asha"):
        _schedule_study(tmp_path, pruner="median")
    with pytest.raises(UsageError, match="leaves no shorter level"):
        _schedule_study(tmp_path, min_epochs=4)  # 4 * 3 > 9: one training only, nothing to halve
    with pytest.raises(UsageError, match="grow by one factor"):
        _schedule_study(tmp_path, min_epochs=None, fidelity_levels="1,3,6")
