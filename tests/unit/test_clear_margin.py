"""Issue 28: a rung that ranks configs still at their starting level does not cut. The case is the one the
misleading clas benchmark showed (benchmarks/RESULTS.md): the default study's seed 4, top1 by epoch of its
trials 0-9 (the config's learning rate 56 times too low; trial 9 drew lr 0.064, in the best region)."""
import optuna

from paddle_autotune_plugins.optuna_glue import pruners

SEED_4 = [  # top1 per epoch as recorded; a shorter curve is a trial the study pruned there
    [0.09583, 0.1375, 0.125, 0.13333, 0.10833, 0.07917, 0.125, 0.0875, 0.1125],
    [0.10833, 0.12917, 0.125, 0.09583, 0.10417, 0.1, 0.10417, 0.15, 0.09167],
    [0.1375, 0.14167, 0.1],
    [0.1375, 0.1375, 0.14167, 0.125, 0.1125, 0.12083, 0.1125, 0.10833, 0.12917],
    [0.14167, 0.14583, 0.12083],
    [0.1125, 0.1625, 0.12083],
    [0.1125, 0.1, 0.16667, 0.08333, 0.125, 0.10833, 0.09167, 0.07917, 0.10833],
    [0.10833, 0.13333, 0.08333],
    [0.14167, 0.14167, 0.10417],
]


def replayed(pruner, curves):
    study = optuna.create_study(direction="maximize", pruner=pruner)
    for curve in curves:
        trial = study.ask()
        for step, value in enumerate(curve, 1):
            trial.report(value, step)
            trial.should_prune()  # records ASHA's rung values as the study did
        if len(curve) == 9:
            study.tell(trial, max(curve))
        else:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    return study


def cut_at_epoch_3(pruner, curve):
    study = replayed(pruner, SEED_4)
    trial = study.ask()
    for step, value in enumerate(curve, 1):
        trial.report(value, step)
    return trial.should_prune()


def test_a_config_at_chance_is_not_cut_below_a_rung_of_configs_at_chance():
    at_chance = [0.06667, 0.1, 0.1]  # trial 9; random search's trainings at lr 0.04-0.07 end at top1 0.84-0.90
    plain = optuna.pruners.SuccessiveHalvingPruner(min_resource=3, reduction_factor=2)
    assert cut_at_epoch_3(plain, at_chance)  # what the study did
    assert not cut_at_epoch_3(pruners.make_pruner("asha", max_steps=9), at_chance)


def test_a_config_clearly_behind_configs_that_learn_is_still_cut():  # most of the rung has left chance
    learning = SEED_4[:4] + [[0.1, 0.3, 0.6], [0.09, 0.25, 0.55], [0.1, 0.3, 0.65], [0.11, 0.35, 0.7], [0.12, 0.2, 0.5]]
    study = replayed(pruners.make_pruner("asha", max_steps=9), learning)
    trial = study.ask()
    for step, value in enumerate([0.06667, 0.1, 0.1], 1):
        trial.report(value, step)
    assert trial.should_prune()


def test_the_wrapped_pruner_decides_alone_before_four_first_evaluations():
    study = optuna.create_study(direction="maximize", pruner=pruners.make_pruner("asha:1", max_steps=9))
    for value in (0.9, 0.1):
        trial = study.ask()
        trial.report(value, 1)
        pruned = trial.should_prune()
    assert pruners.start_noise(study) is None and pruned


def test_hyperband_keeps_its_brackets_for_the_sampler():
    """Optuna's samplers split a Hyperband study into its brackets only where the pruner is a HyperbandPruner."""
    pruner = pruners.make_pruner("hyperband", max_steps=9)
    assert isinstance(pruner, optuna.pruners.HyperbandPruner)
    study = optuna.create_study(direction="maximize", pruner=pruner)
    trial = study.ask()
    trial.report(0.5, 1)
    assert type(optuna.pruners._filter_study(study, study.trials[0])).__name__ == "_BracketStudy"
