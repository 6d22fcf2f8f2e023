"""The schedule-fidelity ladder and Optuna's successive halving deciding exactly at its levels."""


# ---------------------------------------------------------------- the coordinator's --fidelity schedule
from fidelity_fakes import CompressingAdapter, schedule_study  # noqa: E402


def test_schedule_fidelity_trains_survivors_again_longer_and_keeps_the_full_config(tmp_path):
    import yaml

    coordinator = schedule_study(tmp_path)
    assert coordinator.ladder == ([1, 3, 9], 3)
    coordinator.run()
    trials = [t for t in coordinator.study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(trials) == 10
    out = tmp_path / "out"
    for t in trials:
        # one intermediate value per training, at its length: never a step of a training's own epochs
        assert set(t.intermediate_values) <= {1, 3, 9}
        trained = sorted(t.intermediate_values)
        assert trained == [1, 3, 9][:len(trained)]
        assert t.user_attrs["epochs_trained"] == sum(trained)
        folder = out / f"trial_{t.number:04d}"
        for epochs in trained[:-1]:  # each shorter training kept with its compressed config and its evaluations
            short = folder / f"epochs_{epochs}"
            assert yaml.safe_load((short / "config.yaml").read_text())["steps"] == epochs
            assert (short / "metrics.jsonl").read_text().count('"metrics"') == epochs
        last = yaml.safe_load((folder / "config.yaml").read_text())["steps"]
        assert last == trained[-1]
        if t.state.name == "COMPLETE":
            assert trained == [1, 3, 9]
        else:
            assert trained[-1] in (1, 3) and t.user_attrs["reason"].startswith(f"pruned after its {trained[-1]}-epoch")
    states = [t.state.name for t in trials]
    assert "PRUNED" in states and "COMPLETE" in states
    # the best is a full-length trial, and best_config.yaml is its full-length config
    best = coordinator.study.best_trial
    assert sorted(best.intermediate_values) == [1, 3, 9]
    assert yaml.safe_load((out / "best_config.yaml").read_text())["steps"] == 9


def test_a_compression_the_trainer_ignores_is_said_loudly(tmp_path, capsys):
    class Ignored(CompressingAdapter):  # writes the shorter length where the fake training does not read it
        def compress_schedule(self, task, cfg, epochs):
            return dict(cfg, epochs=epochs)

    coordinator = schedule_study(tmp_path, adapter_class=Ignored, trials=2)
    coordinator.run()
    assert "its 1-epoch training evaluated at step 9: the compressed schedule did not act" in capsys.readouterr().err
