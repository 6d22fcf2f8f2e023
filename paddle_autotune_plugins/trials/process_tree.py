"""A trial's whole process tree, so that nothing it started outlives the trial: children that ignore
SIGTERM, that call setsid, or that leave the trial's process group included.

Where Linux lets this coordinator make a cgroup (cgroup v2, written by root), each trial runs in one of
its own and its end kills the cgroup. Elsewhere a trial's end signals its process group and kills every
process that still carries the trial's report path in its environment (PADDLE_AUTOTUNE_REPORT): a
descendant keeps it wherever it moved in the process tree. PADDLE_AUTOTUNE_NO_CGROUP=1 picks the second way.

A coordinator killed with SIGKILL cannot end its trials' trees itself (its trials' main processes die with it,
PR_SET_PDEATHSIG, but not what they started): the next coordinator to start in the same --out ends them
(remove_orphans)."""
import os
import pathlib
import signal
import time
from typing import Optional, Union

from paddle_autotune_plugins.trials.reporting import CGROUP_ENV, ENV_VAR, PARENT_ENV

NO_CGROUP_ENV = "PADDLE_AUTOTUNE_NO_CGROUP"
PREFIX = "paddle-autotune-"  # cgroup names: paddle-autotune-<coordinator pid>-<--out's tag>-<trial folder>-<count>
_made = [0]


def cgroup_root() -> Optional[pathlib.Path]:
    """This process's own cgroup v2 folder when this process may make cgroups in it, else None."""
    if os.environ.get(NO_CGROUP_ENV) == "1":
        return None
    try:
        mounts = pathlib.Path("/proc/self/mountinfo").read_text().splitlines()
        own = next(line[3:] for line in pathlib.Path("/proc/self/cgroup").read_text().splitlines()
                   if line.startswith("0::"))
    except (OSError, StopIteration):
        return None
    for line in mounts:
        fields = line.split()
        if fields[fields.index("-") + 1] == "cgroup2":
            folder = pathlib.Path(fields[4] + own)
            if os.access(folder, os.W_OK) and (folder / "cgroup.procs").exists():
                return folder
    return None


class TrialTree:
    """The processes of one trial: its cgroup when one could be made, else its process group and the
    processes that carry its report path."""

    def __init__(self, report_path: Union[str, pathlib.Path]) -> None:
        """For the trial whose report file is --out/trial_NNNN/metrics.jsonl, before its process starts."""
        self.pid: Optional[int] = None
        self.marker = str(report_path)
        trial_dir = pathlib.Path(report_path).parent
        self.cgroup = _new_cgroup(f"{out_tag(trial_dir.parent)}-{trial_dir.name}")

    def env(self) -> dict[str, str]:
        """For the trial's environment: its process joins its cgroup itself as it starts (reporting), before it
        can start anything, which a move by the coordinator after the start cannot promise."""
        return {CGROUP_ENV: str(self.cgroup)} if self.cgroup is not None else {}

    def adopt(self, pid: int) -> None:
        """The trial's process has started: moved into the cgroup (a command that is not Python, a fork)."""
        self.pid = pid
        if self.cgroup is not None:
            try:
                (self.cgroup / "cgroup.procs").write_text(str(pid))
            except OSError:
                if _alive(pid):  # refused, not exited (an instant trial): this trial goes without a cgroup
                    _remove(self.cgroup)
                    self.cgroup = None

    def kill(self) -> None:
        """SIGKILL everything of the trial that is left; its main process has exited or is to go too."""
        signal_group(self.pid, signal.SIGKILL)
        if self.cgroup is not None:
            kill_cgroup(self.cgroup)
            self.cgroup = None
        else:
            for pid in _carrying(self.marker):
                _kill(pid)

    def terminate(self) -> None:
        """SIGTERM to the trial's process group (its own children that stayed in it)."""
        signal_group(self.pid, signal.SIGTERM)


def _new_cgroup(name: str) -> Optional[pathlib.Path]:
    root = cgroup_root()
    if root is None:
        return None
    _made[0] += 1
    folder = root / f"{PREFIX}{os.getpid()}-{name}-{_made[0]}"
    try:
        folder.mkdir()
    except OSError:
        return None
    return folder


def kill_cgroup(folder: pathlib.Path, wait: float = 5.0) -> None:
    """Kill every process in the cgroup and remove it (left in place if its processes do not go in time)."""
    deadline = time.time() + wait
    while True:
        try:
            pids = (folder / "cgroup.procs").read_text().split()
        except OSError:
            return  # removed already
        if not pids:
            try:
                folder.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:  # busy: its last processes are still exiting
                pass
        elif (folder / "cgroup.kill").exists():  # Linux 5.14+: one write kills them all, new forks included
            try:
                (folder / "cgroup.kill").write_text("1")
            except OSError:
                pass
        else:
            for pid in pids:
                _kill(int(pid))
        if time.time() > deadline:
            return
        time.sleep(0.01)


def out_tag(out: Union[str, pathlib.Path]) -> str:
    """A short name for a --out folder in cgroup names (the folder's path may be long or hold any character)."""
    import hashlib

    return hashlib.sha256(str(out).encode()).hexdigest()[:12]


def remove_orphans(out: pathlib.Path) -> None:
    """What is left of the trials in `out` of coordinators that died (SIGKILL) is killed: their cgroups, or
    else the processes of trials in `out` whose environment names a coordinator that is gone. Empty cgroups
    of any dead coordinator are removed too."""
    root = cgroup_root()
    if root is not None:
        tag = out_tag(out)
        for folder in root.glob(f"{PREFIX}*"):
            owner, rest = (folder.name[len(PREFIX):].split("-", 1) + [""])[:2]
            if not owner.isdigit() or _alive(int(owner)):
                continue
            if rest.startswith(f"{tag}-"):
                kill_cgroup(folder)
            else:  # another --out's: only removed once empty (a coordinator killed while it made one)
                _remove(folder)
        return
    for pid, env in _trial_environments():
        owner = env.get(PARENT_ENV, "")
        if env[ENV_VAR].startswith(f"{out}{os.sep}") and owner.isdigit() and not _alive(int(owner)):
            _kill(pid)


def _carrying(marker: str) -> list[int]:
    """Live processes whose environment holds the trial's report path."""
    return [pid for pid, env in _trial_environments() if env.get(ENV_VAR) == marker]


def _trial_environments() -> list[tuple[int, dict[str, str]]]:
    """(pid, environment) of the live processes (of this user) started by some trial."""
    import psutil

    found = []
    for proc in psutil.process_iter():
        try:
            env = proc.environ()
        except psutil.Error:
            continue
        if proc.pid != os.getpid() and ENV_VAR in env:
            found.append((proc.pid, env))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def signal_group(pid: Optional[int], sig: int) -> None:
    if pid is None:  # the trial's process never started
        return
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _remove(folder: pathlib.Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
