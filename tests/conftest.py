import pathlib
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@pytest.fixture(scope="session")
def digits_root():
    from paddle_autotune_plugins.adapters.paddleclas.digits import ensure_digits

    return ensure_digits()


@pytest.fixture()
def digits_config(tmp_path, digits_root):
    """The bundled digits config with real data paths, in a fresh folder."""
    from paddle_autotune_plugins.adapters.paddleclas.digits import write_demo_config

    return write_demo_config(tmp_path / "cfg")
