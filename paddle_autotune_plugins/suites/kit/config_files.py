"""The errors a suite's config file can meet while it is read, each one line that names the fix, worded
alike for every suite. Each adapter catches what its own reader can raise and raises these.

>>> str(not_found("x.yml", "pass the path of a PaddleSeg YAML with --config"))
'config file not found: x.yml; pass the path of a PaddleSeg YAML with --config'
"""
import os
from typing import Union

import yaml

from paddle_autotune_plugins.errors import UsageError

PathLike = Union[str, "os.PathLike[str]"]
YAML_SUFFIXES = (".yml", ".yaml")


def not_found(path: PathLike, how: str) -> UsageError:
    """No file at path; how: how to pass one (e.g. "pass the path of a PaddleClas YAML with -c")."""
    return UsageError(f"config file not found: {path}; {how}")


def not_yaml_suffix(path: PathLike, suite: str) -> UsageError:
    """A suite that reads only .yml/.yaml files was given another."""
    return UsageError(f"config {path}: {suite} reads only .yml/.yaml files")


def base_missing(path: PathLike, base_key: str, error: FileNotFoundError) -> UsageError:
    """A file the config's base chain (``_BASE_``, ``_base_``) names is missing."""
    return UsageError(f"config {path}: a {base_key} file is missing: {error.filename}")


def not_valid_yaml(path: PathLike, error: yaml.YAMLError) -> UsageError:
    return UsageError(f"config {path} is not valid YAML: {str(error).splitlines()[0]}")


def not_utf8(path: PathLike) -> UsageError:
    return UsageError(f"config {path} is not UTF-8 text; save it as UTF-8")


def unreadable(path: PathLike, error: OSError) -> UsageError:
    return UsageError(f"cannot read config {path}: {error.strerror or error}")
