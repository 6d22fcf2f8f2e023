"""Errors the user can fix. The CLI turns them into exit code 2 and one line."""


class UsageError(Exception):
    """Bad input found before any trial started: the message names the problem and the fix."""

    exit_code = 2
