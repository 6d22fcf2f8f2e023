"""The fake suite with a compressible schedule, and a --fidelity schedule study on it (both layers)."""
from fake_suite import FakeAdapter, X, make_task

from paddle_autotune_plugins.search_space import space
from paddle_autotune_plugins.settings.options import Settings
from paddle_autotune_plugins.study.coordinator import Coordinator


class CompressingAdapter(FakeAdapter):
    """The fake training's schedule is its `steps`: compressed, it runs fewer of them to the same end value."""

    def compress_schedule(self, task, cfg, epochs):
        return dict(cfg, steps=epochs)


def schedule_study(tmp_path, adapter_class=CompressingAdapter, **settings):
    task = make_task(tmp_path, steps=9)
    task.adapter = adapter_class(tmp_path / "fake_train.py", metrics=("score", "cost"))
    settings = dict(dict(trials=10, seed=3, quiet=True, fidelity="schedule", min_epochs=1), **settings)
    coordinator = Coordinator(task, space.parse_space(X), Settings(out=tmp_path / "out", **settings))
    return coordinator
