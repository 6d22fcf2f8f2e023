"""The test layers follow from the folders: tests/unit, tests/integration, tests/e2e (tests/conftest.py)."""
import os
import subprocess
import sys

import pytest


def test_a_unit_test_is_marked_unit_by_its_folder(request):
    assert request.node.get_closest_marker("unit") is not None
    assert request.node.get_closest_marker("integration") is None and request.node.get_closest_marker("e2e") is None


def test_a_unit_test_cannot_start_a_process():
    with pytest.raises(AssertionError, match="belongs in tests/integration"):
        subprocess.run([sys.executable, "-c", "pass"])
    with pytest.raises(AssertionError, match="belongs in tests/integration"):
        os.fork()
