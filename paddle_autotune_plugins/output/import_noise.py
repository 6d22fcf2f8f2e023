"""The suites' import-time noise, kept out of the coordinator's console."""
import optuna


# What the suites say when the coordinator's own process imports them (a demo building its data or model,
# a config read): import-time warnings and PaddleNLP's INFO log. Each trial's train.log keeps all of its
# suite's output; only these exact messages are dropped, and only in the coordinator's process.
IMPORT_NOISE = (r"No ccache found", r"Setuptools is replacing distutils", r"pkg_resources is deprecated",
                r".*distutils Version classes are deprecated", r".*pkg_resources\.declare_namespace")


_quieted: list[bool] = []


def quiet_suite_imports() -> None:
    """Drop the suites' import-time noise from this (the coordinator's) console; errors still show."""
    import warnings

    from paddle_autotune_plugins.suites.adapter import adapter_classes

    for message in IMPORT_NOISE:
        warnings.filterwarnings("ignore", message=message)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # about APIs the coordinator uses
    if not _quieted:  # a suite that logs its INFO lines from its import on is told to keep to warnings
        _quieted.append(True)
        for cls in adapter_classes():
            cls.quiet_imports()
