"""Errors the user can fix. The CLI turns them into exit code 2 and one line."""


class UsageError(Exception):
    """Bad input found before any trial started: the message names the problem and the fix."""

    exit_code = 2


class StorageFailed(UsageError):
    """The study storage stopped taking writes mid-study (disk full, database server gone): the trials that
    were running were stopped, and the same command resumes once the cause is fixed."""

    exit_code = 1
