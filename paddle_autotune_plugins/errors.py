"""Errors the user can fix. The CLI turns them into exit code 2 and one line."""
import argparse
import re
from typing import Any, NoReturn


class UsageError(Exception):
    """Bad input found before any trial started: the message names the problem and the fix."""

    exit_code = 2


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a mistake is one line and exit code 2 (via UsageError), not a usage dump: for the
    plugin's own options and for the suite commands the adapters read (-c, -o)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # '-5m' after an option is its (bad) value, for our own checks to refuse, not an unknown option
        self._negative_number_matcher = re.compile(r"^-\.?\d")

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


class InternalError(UsageError):
    """A bug of the plugin found mid-study: one line for the user, the traceback in a file."""

    exit_code = 1


class StorageFailed(UsageError):
    """The study storage stopped taking writes mid-study (disk full, database server gone): the trials that
    were running were stopped, and the same command resumes once the cause is fixed."""

    exit_code = 1


def last_line(e: BaseException) -> str:
    """An exception as its type and the last line of its message: one cell of a doctor's table."""
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[-1] if lines else ''}"
