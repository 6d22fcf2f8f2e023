"""Warm trial start (``--warm-start``): trials are forks of one process that has imported the suite already.

A cold trial spends most of its start-up importing Paddle and the suite (for PaddleClas, 3 s to its first
training step on a quiet two-core machine, far more under load). With ``--warm-start`` the coordinator
starts one helper process per study, the *zygote*, which runs the adapter's preload (e.g. ``import paddle``
and ppcls's Engine, or PaddleNLP's Trainer) once; each trial is then a fork of it that takes its own
environment, folder and log, and runs the same ``python -m MODULE ARGS`` a cold trial runs, in its own
session (so stopping it stops its process group, as for cold trials).

Why a fork trains exactly as a cold process does:

- the zygote only imports, it never runs an operator, so no thread pool, device or allocator state is
  shared;
- what Paddle reads from the environment at import (``FLAGS_*``) is the same for every trial of a study:
  the zygote is started with the study's trial environment, and only the plugin's own reporting
  variables (read when a report is written) differ per trial;
- thread counts are always set in a warm study (``OMP_NUM_THREADS`` and friends; 1 with one worker,
  Paddle's own default): with them unset, a fork trained with 2 threads where a fresh process used 1;
- GPU trials (``CUDA_VISIBLE_DEVICES`` per trial), a suite from the user's checkout and a user's own PaddleNLP
  script always start cold.

``tests/e2e/test_clas_e2e.py`` and ``tests/e2e/test_nlp_e2e.py`` check that warm and cold trials of one config log
identical losses and metrics.

The protocol is one JSON line at a time. The zygote says ``{"ready": true}`` once its preload has run;
a request ``{"argv", "env", "cwd", "log"}`` on its stdin is answered by ``{"pid": N}``, and when a trial ends
the zygote says ``{"exit": N, "code": C}`` (C < 0: killed by signal -C, as in subprocess). Until the zygote
is ready, and if it fails, trials start cold.

>>> import sys, tempfile, time
>>> zygote = Zygote("gc:collect", env={}, cwd=".", log_path=tempfile.mktemp())  # preload: any function
>>> while not zygote.ready(): time.sleep(0.05)
>>> proc = zygote.start([sys.executable, "-m", "json.tool", "--help"], {}, ".", tempfile.mktemp())
>>> proc.wait(30)
0
>>> zygote.close()
"""
import importlib
import json
import os
import select
import subprocess
import sys
import time
from typing import Any, Callable, Optional, Union

from paddle_autotune_plugins.trials.reporting import set_parent_death_signal

# --- the zygote ---------------------------------------------------------------------------------------


def main() -> None:
    """python -m paddle_autotune_plugins.trials.warm_start MODULE:FUNCTION - preload, then fork a trial per request."""
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # what the preload prints goes to the zygote's log, not into the protocol
    module, _, function = sys.argv[1].partition(":")
    getattr(importlib.import_module(module), function)()
    protocol.write(json.dumps({"ready": True}) + "\n")
    while True:
        ready, _, _ = select.select([sys.stdin], [], [], 0.02)
        if ready:
            line = sys.stdin.readline()
            if not line:  # the coordinator is done (or gone)
                return
            request = json.loads(line)
            pid = os.fork()
            if pid == 0:
                protocol.close()
                _run_trial(request)  # never returns
            protocol.write(json.dumps({"pid": pid}) + "\n")
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            protocol.write(json.dumps({"exit": pid, "code": os.waitstatus_to_exitcode(status)}) + "\n")


def exit_as_a_process(body: Callable[[], Any]) -> None:
    """Run body() in a fork that is a trial and end the fork as a Python process running it would end: exit
    code 0, SystemExit's code, or 1 with the traceback; interpreter exit's handlers run first (the suites
    register some). os._exit: nothing else of the parent's is flushed or closed on the way out."""
    import atexit
    import traceback

    code = 1
    try:
        body()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if not isinstance(e.code, (int, type(None))):
            print(e.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _run_trial(request: dict[str, Any]) -> None:
    """In the fork: become the process the cold command would have started, run it, exit."""
    import random
    import runpy

    def trial() -> None:
        os.setsid()  # its own process group, as cold trials: stopping the trial stops its children
        set_parent_death_signal()  # dies with the zygote, which dies with the coordinator
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        random.seed()  # fresh entropy, as a new process would have, not the zygote's state
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()
        argv = request["argv"]
        sys.argv = [argv[2]] + argv[3:]
        runpy.run_module(argv[2], run_name="__main__", alter_sys=True)

    exit_as_a_process(trial)


# --- the coordinator's side ---------------------------------------------------------------------------


def can_fork(argv: list[str]) -> bool:
    """Whether a trial command can run in a fork: ``python -m MODULE ...`` with this interpreter."""
    return len(argv) >= 3 and argv[0] == sys.executable and argv[1] == "-m"


class Zygote:
    """The coordinator's handle on the zygote: ready(), start() a trial, learn when trials end."""

    def __init__(self, preload: str, env: dict[str, str], cwd: Union[str, os.PathLike[str], None],
                 log_path: Union[str, os.PathLike[str]]) -> None:
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "paddle_autotune_plugins.trials.warm_start", preload],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, env=env,
                                     cwd=cwd, start_new_session=True)
        self.exits: dict[int, int] = {}  # pid -> exit code, as the zygote reported them
        self._ready = False
        self._buffer = b""
        self._closed = False

    def ready(self) -> bool:
        """True once the preload has run (never waits)."""
        while not self._ready and self._read(timeout=0) is not None:
            pass
        return self._ready

    def start(self, argv: list[str], env: dict[str, str], cwd: Union[str, os.PathLike[str], None],
              log_path: Union[str, os.PathLike[str]]) -> Optional["WarmProcess"]:
        """A WarmProcess running argv, or None if the zygote is gone (the caller then starts it cold)."""
        try:
            request = {"argv": argv, "env": env, "cwd": str(cwd), "log": str(log_path)}
            assert self.proc.stdin is not None  # made with stdin=PIPE
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
            while True:
                message = self._read(timeout=30)
                if message is None:
                    return None
                if "pid" in message:
                    return WarmProcess(self, message["pid"])
        except (OSError, ValueError):
            return None

    def collect(self) -> None:
        """Take in every exit the zygote has reported so far, without waiting."""
        while self._read(timeout=0) is not None:
            pass

    def _read(self, timeout: float) -> Optional[dict[str, Any]]:
        """The next message, or None if none came within timeout. Raw reads: a buffered reader would hold
        lines that select cannot see."""
        assert self.proc.stdout is not None  # made with stdout=PIPE
        while b"\n" not in self._buffer:
            if self._closed:
                return None
            ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
            if not ready:
                return None
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                self._closed = True
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        message: dict[str, Any] = json.loads(line)
        if "exit" in message:
            self.exits[message["exit"]] = message["code"]
        if message.get("ready"):
            self._ready = True
        return message

    def close(self) -> None:
        """End the zygote (its stdin closes); trials still running die with it."""
        assert self.proc.stdin is not None  # made with stdin=PIPE
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class WarmProcess:
    """What the coordinator uses of a subprocess.Popen (pid, poll, wait), for a trial forked by the zygote."""

    def __init__(self, zygote: Optional[Zygote], pid: int) -> None:
        self.zygote = zygote  # None for a ForkedProcess
        self.pid = pid
        self.returncode: Optional[int] = None

    def poll(self) -> Optional[int]:
        if self.returncode is None:
            self.returncode = self._ended()
        return self.returncode

    def _ended(self) -> Optional[int]:
        """The trial's exit code once it has ended (C < 0: killed by signal -C), else None. Never waits."""
        assert self.zygote is not None  # a ForkedProcess has its own _ended
        self.zygote.collect()
        if self.pid in self.zygote.exits:
            return self.zygote.exits.pop(self.pid)
        if self.zygote.proc.poll() is not None:  # the zygote is gone, and its trials with it
            return -9
        return None

    def wait(self, timeout: Optional[float] = None) -> Optional[int]:
        deadline = None if timeout is None else time.time() + timeout
        while self.poll() is None:
            if deadline is not None and time.time() > deadline:
                assert timeout is not None  # a deadline comes from it
                raise subprocess.TimeoutExpired(f"trial process {self.pid}", timeout)
            time.sleep(0.02)
        return self.returncode


class ForkedProcess(WarmProcess):
    """The same handle on a trial this process forked itself (the Python API's trials, api.py): reaped here."""

    def __init__(self, pid: int) -> None:
        super().__init__(None, pid)

    def _ended(self) -> Optional[int]:
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # reaped by someone else (e.g. SIGCHLD ignored): no status, as Popen takes it
            return 0
        return os.waitstatus_to_exitcode(status) if pid else None


if __name__ == "__main__":
    main()
