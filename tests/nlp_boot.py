"""The PaddleNLP adapter's modules for the groundwork tests of both layers, from the installed package or
from adapters/paddlenlp before pyproject maps it."""
import importlib
import importlib.util
import os
import sys

import conftest

REPO = str(conftest.REPO)
ADAPTER_DIR = os.path.join(REPO, "adapters", "paddlenlp")
PACKAGE = "paddle_autotune_plugins.adapters.paddlenlp"


def _installed():
    try:
        return importlib.util.find_spec(f"{PACKAGE}.train_seq_cls") is not None
    except ImportError:
        return False


INSTALLED = _installed()


def load_module(name):
    """The adapter module, from the installed package, or from the folder before pyproject maps it."""
    if INSTALLED:
        return importlib.import_module(f"{PACKAGE}.{name}")
    for path in (REPO, ADAPTER_DIR):  # the repo for paddle_autotune_plugins.trials.reporting, the folder for siblings
        if path not in sys.path:
            sys.path.insert(0, path)
    return importlib.import_module(name)


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]
