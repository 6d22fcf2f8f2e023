"""Issue 28, part 4: where the config does not tell how many evaluations a training makes (a script of the
generic adapter, a Trainer script), the baseline's own run tells it; no trial is pruned before that, and
none at its first evaluation."""
import optuna

from paddle_autotune_plugins.optuna_glue import pruners


def test_nothing_is_pruned_before_the_baseline_gave_the_length():
    pruner = pruners.make_pruner("asha", max_steps=None)
    study = optuna.create_study(direction="maximize", pruner=pruner)
    trials = [study.ask(), study.ask()]
    for trial, value in zip(trials, (0.9, 0.1)):  # the second trial is far worse
        for step in (1, 2):
            trial.report(value, step)
        assert not trial.should_prune()  # the length is not known yet
    study.set_user_attr(pruners.EVALUATIONS, [1, 2, 3, 4])
    # now rungs for 4 evaluations (the first at step 2): the better one goes on, the worse is cut there
    assert [t.should_prune() for t in trials] == [False, True]
    assert pruners.make_pruner("asha:1", max_steps=None)._min_resource == 1  # a first step given: used as is
