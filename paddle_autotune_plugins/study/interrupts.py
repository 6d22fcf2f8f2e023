"""The coordinator's signals: Ctrl-C (SIGINT) and SIGTERM held while a trial is started and registered, and
SIGTERM (a scheduler's stop, `kill`) taken as Ctrl-C, so that both end a study the same way: running trials stopped,
recorded as interrupted and queued again, the study's files written."""
import contextlib
import signal
import threading
from typing import Any, Iterator


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C's KeyboardInterrupt would be (sigterm_as_ctrl_c)."""


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) and SIGTERM until the block ends, then act on them as before. A trial's process
    started in the block and registered in it (Coordinator.running) is then known to the clean-up that the
    interrupt runs; without it, a stop signal between the process's start and its registration left that
    trial running. Outside the main thread, where Python delivers no signal, it holds nothing.

    >>> import os
    >>> seen = []
    >>> before = signal.signal(signal.SIGINT, lambda signum, frame: seen.append("Ctrl-C handled"))
    >>> with held():
    ...     os.kill(os.getpid(), signal.SIGINT)
    ...     seen.append("the block ended")
    >>> _ = signal.signal(signal.SIGINT, before)
    >>> seen
    ['the block ended', 'Ctrl-C handled']
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {signum: signal.signal(signum, lambda signum, frame: caught.append(signum))
                for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum, handler in previous.items():  # each signal that came, once
            if signum not in caught:
                continue
            if callable(handler):
                handler(signum, None)
            elif handler == signal.SIG_DFL and signum == signal.SIGINT:
                raise KeyboardInterrupt
            elif handler == signal.SIG_DFL:
                signal.raise_signal(signum)


@contextlib.contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """Within the block, SIGTERM raises Terminated (a KeyboardInterrupt), so a study stopped by `kill` or a
    job scheduler cleans up as on Ctrl-C instead of dying at once (its trials' children left running, its
    rows left RUNNING). Outside the main thread it changes nothing.

    >>> import os
    >>> try:
    ...     with sigterm_as_ctrl_c():
    ...         os.kill(os.getpid(), signal.SIGTERM)
    ...         signal.sigtimedwait([], 0)  # a call, so that Python runs the handler here
    ... except Terminated:
    ...     print("cleaned up")
    cleaned up
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminated(signum: int, frame: Any) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
