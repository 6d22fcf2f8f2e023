"""docs/options.md, written from options.Settings: each tuning option's flag, default, help and where a worker
joining a study takes it from, in the order --help lists them. From the repository's root:

    python -m paddle_autotune_plugins.settings.options_doc > docs/options.md

tests/unit/test_options_doc.py fails when docs/options.md is not what this writes, so the page cannot drift
from the options.
"""
from collections.abc import Mapping
from typing import Any

from paddle_autotune_plugins.settings import options

HEADER = """# Options

The tuning options of `paddle-autotune tune`, of a training command with `--autotune`, of `demo` and of
`worker`, in the order `--help` lists them. Generated from `options.Settings`
(`paddle_autotune_plugins/settings/options.py`) by `python -m paddle_autotune_plugins.settings.options_doc > docs/options.md`:
edit the option's field there, not this page. How durations, seeds, failures and several objectives behave:
[tuning.md](tuning.md).

"A worker takes it from": what `paddle-autotune worker` joining a study uses, the study's value (the one
the study was started with) or the one on the worker's own command line.

| option | default | a worker takes it from | what it does |
|---|---|---|---|
"""

WORKER_TAKES = {options.STUDY: "the study", options.MACHINE: "its own command", options.SPACE: "the study's space"}


def spelled(meta: Mapping[str, Any]) -> str:
    """The flag with its value as --help spells it: --trials TRIALS, --prior {config,none}, --mlflow [URI]."""
    kwargs = meta["argparse"]
    if kwargs.get("action") == "store_true":
        return meta["flag"]
    value = kwargs.get("metavar", meta["flag"].lstrip("-").replace("-", "_").upper())  # argparse's default metavar
    if "choices" in kwargs:
        value = "{" + ",".join(kwargs["choices"]) + "}"
    return f"{meta['flag']} [{value}]" if kwargs.get("nargs") == "?" else f"{meta['flag']} {value}"


def default_text(meta: Mapping[str, Any]) -> str:
    """The default as the user would give it; nothing where leaving the option out means 'not set'."""
    default = meta["default"]
    return "" if default is None or default is False or default == [] else f"`{default}`"


def help_text(meta: Mapping[str, Any]) -> str:
    text = meta["help"]() if callable(meta["help"]) else meta["help"] or ""
    return text.replace("|", "\\|")


def render() -> str:
    """The whole of docs/options.md."""
    rows = [f"| `{spelled(f.metadata)}` | {default_text(f.metadata)} | {WORKER_TAKES[f.metadata['scope']]} | "
            f"{help_text(f.metadata)} |\n" for f in options.option_fields()]
    return HEADER + "".join(rows)


if __name__ == "__main__":
    print(render(), end="")
