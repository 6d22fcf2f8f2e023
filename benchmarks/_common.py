"""Shared by the benchmarks: machine facts, a monitor of the other load on the machine, timing env,
and the RESULTS.md section each benchmark rewrites with its latest run."""
import datetime
import json
import os
import pathlib
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
PYTHON = sys.executable
CLI = str(pathlib.Path(sys.executable).parent / "paddle-autotune")
TIMING_DIR = HERE / "_timing"
RESULTS = HERE / "RESULTS.md"


def scratch(name, keep=None, resume=False):
    """A fresh folder for a run's outputs (trial folders, logs): --keep DIR, else a temp dir. With resume,
    the kept folder of an interrupted run, whose studies then go on."""
    if keep:
        path = pathlib.Path(keep).resolve()
        if resume:
            if not path.is_dir():
                sys.exit(f"--resume: {path} is not a folder an earlier run kept")
            return path
        if path.exists() and any(path.iterdir()):
            # a study folder left there would be resumed, and its old trials counted as this run's
            sys.exit(f"--keep {path} is not empty: give a new or empty folder")
        path.mkdir(parents=True, exist_ok=True)
        return path
    return pathlib.Path(tempfile.mkdtemp(prefix=f"autotune_bench_{name}_"))


def timing_env(timing_file, **extra):
    """os.environ plus the timestamp recorder (benchmarks/_timing/sitecustomize.py) for every child."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", BENCH_TIMING_FILE=str(timing_file))
    env["PYTHONPATH"] = os.pathsep.join([str(TIMING_DIR)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    env.update({k: str(v) for k, v in extra.items()})
    return env


def read_timing(path):
    path = pathlib.Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else float("nan")


def mean(xs):
    xs = [x for x in xs if x is not None]
    return statistics.fmean(xs) if xs else float("nan")


def machine():
    """One dict of what the figures depend on."""
    info = {"date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "nproc": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    try:
        info["free_g"] = subprocess.run(["free", "-g"], capture_output=True, text=True).stdout.strip()
    except OSError:
        info["free_g"] = "?"
    try:
        with open("/proc/cpuinfo") as f:
            model = re.search(r"model name\s*:\s*(.*)", f.read())
        info["cpu"] = model.group(1).strip() if model else "?"
    except OSError:
        info["cpu"] = "?"
    versions = {}
    for dist in ("paddlepaddle", "paddleclas", "paddlenlp", "optuna", "paddle-autotune"):
        try:
            from importlib.metadata import version

            versions[dist] = version(dist)
        except Exception:
            versions[dist] = "-"
    info["versions"] = versions
    return info


class LoadMonitor:
    """Samples, every few seconds, the CPU the whole machine uses and the part used by this benchmark's
    own process tree; the difference is the concurrent load of others (in cores)."""

    def __init__(self, interval=5.0):
        import psutil

        self.psutil = psutil
        self.interval = interval
        self.samples = []  # (total cores busy, ours, others)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.load_start = os.getloadavg()
        self.load_end = None

    def _tree_cpu(self):
        me = self.psutil.Process()
        total = 0.0
        for p in [me] + me.children(recursive=True):
            try:
                t = p.cpu_times()  # children_*: exited children it reaped, so nothing is lost or doubled
                total += t.user + t.system + t.children_user + t.children_system
            except self.psutil.Error:
                pass
        return total

    def _run(self):
        cores = os.cpu_count() or 1
        last_sys, last_ours, last_t = self.psutil.cpu_times(), self._tree_cpu(), time.monotonic()
        while not self._stop.wait(self.interval):
            now_sys, now_ours, now_t = self.psutil.cpu_times(), self._tree_cpu(), time.monotonic()
            dt = now_t - last_t
            busy = lambda c: sum(c) - c.idle - getattr(c, "iowait", 0.0)
            total = (busy(now_sys) - busy(last_sys)) / dt
            ours = max(0.0, now_ours - last_ours) / dt
            self.samples.append((min(total, cores), min(ours, cores), max(0.0, min(total, cores) - ours)))
            last_sys, last_ours, last_t = now_sys, now_ours, now_t

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.load_end = os.getloadavg()

    def summary(self):
        if not self.samples:
            return f"load average {self.load_start[0]:.2f} at start, {self.load_end[0]:.2f} at end"
        total = mean(s[0] for s in self.samples)
        ours = mean(s[1] for s in self.samples)
        others = [s[2] for s in self.samples]
        return (f"CPU busy {total:.2f} of {os.cpu_count()} cores on average, this benchmark's processes "
                f"{ours:.2f}; other processes about {mean(others):.2f} cores on average (max "
                f"{max(others):.2f}; sampled every {self.interval:.0f} s); load average "
                f"{self.load_start[0]:.2f} at start, {self.load_end[0]:.2f} at end")


def command_line():
    rel = os.path.relpath(os.path.abspath(sys.argv[0]), REPO)
    return " ".join([".venv/bin/python", rel] + [shlex.quote(a) for a in sys.argv[1:]])


def machine_lines(info, monitor=None, wall=None):
    v = info["versions"]
    lines = [f"- date: {info['date']}",
             f"- command: `{command_line()}`" + (f" (took {wall / 60:.1f} min)" if wall is not None else ""),
             f"- machine: nproc {info['nproc']} ({info['cpu']}), {info['platform']}",
             f"- memory (`free -g`, GiB): {_free_line(info['free_g'])}",
             f"- Python {info['python']}, paddlepaddle {v['paddlepaddle']}, paddleclas {v['paddleclas']}, "
             f"paddlenlp {v['paddlenlp']}, optuna {v['optuna']}, paddle-autotune {v['paddle-autotune']}"]
    if monitor is not None:
        lines.append(f"- concurrent load: {monitor.summary()}")
    return lines


def _free_line(text):
    lines = text.splitlines()
    try:
        head = lines[0].split()
        mem = next(l for l in lines if l.startswith("Mem:")).split()[1:]
        return ", ".join(f"{h} {v}" for h, v in zip(head, mem))
    except (IndexError, StopIteration):
        return text.replace("\n", " / ")


def update_results(name, title, body_lines):
    """Replace this benchmark's section of RESULTS.md (kept between markers) with the latest run."""
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    section = "\n".join([begin, f"## {title}", ""] + body_lines + [end])
    text = RESULTS.read_text() if RESULTS.exists() else (
        "# Benchmark results\n\nThe latest run of each benchmark in this folder (see README.md for what each "
        "measures). Each section is rewritten by its benchmark when it finishes; the figures below are the "
        "ones that run printed.\n")
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda m: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text)


def print_block(lines):
    print("\n".join(lines), flush=True)


def publish(label, lines, info, monitor, wall, section=None, title=None):
    """Print a run's figures; with a section name, also make them that section of RESULTS.md."""
    print_block(["", f"{label}:"] + lines + ([f"- {monitor.summary()}"] if monitor is not None else []))
    if section:
        update_results(section, title, machine_lines(info, monitor, wall) + lines)


def fmt(x, digits=3):
    if x is None or (isinstance(x, float) and x != x):
        return "n/a"
    return f"{x:.{digits}f}"
