"""Code that runs inside a PaddleNLP trial process started on a user's own script.

Every ``Trainer`` the script builds gets the reporting callback, attached right after PaddleNLP's trainer
module is imported; no file of the script or of PaddleNLP is edited.
"""
from paddle_autotune_plugins.import_hooks import when_imported


def _hook_trainer(module):
    trainer_cls = getattr(module, "Trainer", None)
    if trainer_cls is None or getattr(trainer_cls.__init__, "_autotune_hooked", False):
        return
    original = trainer_cls.__init__

    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        from .callback import install

        install(self)

    __init__._autotune_hooked = True
    trainer_cls.__init__ = __init__


def install():
    when_imported("paddlenlp.trainer.trainer", _hook_trainer)
