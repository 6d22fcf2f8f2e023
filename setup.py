"""Packages and their data are found, not listed: a new suite is a new folder under adapters/ (installed as
paddle_autotune_plugins.adapters.<folder>) with its presets in space_presets/<folder>/; the rest of the
metadata is in pyproject.toml."""
from setuptools import find_packages, setup


def packages_under(package, folder):
    return [package] + [f"{package}.{sub}" for sub in find_packages(folder)]


setup(packages=packages_under("paddle_autotune_plugins", "paddle_autotune_plugins")
      + packages_under("paddle_autotune_plugins.adapters", "adapters")
      + ["paddle_autotune_plugins.space_presets"])
