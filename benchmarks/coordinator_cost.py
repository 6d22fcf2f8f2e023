"""The coordinator's own cost per trial, over a long study of a trivial objective, next to the sampler's.

    .venv/bin/python benchmarks/coordinator_cost.py [--quick] [--trials 2000] [--workers 2]

The full path: the Coordinator (run in this process, as tests/integration/test_coordinator.py does, with the same
defaults the CLI gives: SQLite storage in --out, TPE, progress lines - written to a file here), the
generic adapter, and one process per trial running a tiny script that prints ``val: x``; 2 workers.

Instrumented from outside, without changing the core: each step of the coordinator's loop is one public
call (steps(): Coordinator.launch, poll, finish and stop_reason, StudyView.write_results and beat,
TrialProcesses.poll_stopping), each wrapped with a timer; so is the loop's idle wait
(trial_processes.wait_for_exit), so the loop's busy time (everything but that wait) is known. The
coordinator's time per trial is the busy wall time of the loop between the start of one launch and the
start of the next (one trial's worth of work in steady state: its launch,
the polls, a finish, the stop checks); the main thread's CPU time over the same interval is reported too.
Trial processes' run time is not in it (they run in their own processes).

For comparison the sampler alone: the same TPE sampler (samplers.make_sampler('tpe'), as the coordinator
builds it) doing ask + suggest (space.sample) + tell with the same objective on an in-memory study, and
the same on a SQLite storage (the coordinator's storage, without any process or file of a trial).

Figures: medians over the first 100 and the last 100 trials, and growth = last / first. Target: the
coordinator < 50 ms per trial and its growth not above the sampler's.
"""
import argparse
import bisect
import json
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _common as C  # noqa: E402

TRIVIAL = '''import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float, default=0.5)
print(f"val: {parser.parse_args().x}")
'''

SPACE = {"x": {"low": 0.0, "high": 1.0}}
METHODS = ("launch", "poll", "finish", "write_results", "stop_reason", "poll_stopping", "beat")


def steps():
    """Where each step of the coordinator's loop is: label -> (class, method); a rename fails here, by name."""
    from paddle_autotune_plugins.study.coordinator import Coordinator
    from paddle_autotune_plugins.study.study_view import StudyView
    from paddle_autotune_plugins.trials.trial_processes import TrialProcesses

    return {"launch": (Coordinator, "launch"), "poll": (Coordinator, "poll"), "finish": (Coordinator, "finish"),
            "stop_reason": (Coordinator, "stop_reason"), "write_results": (StudyView, "write_results"),
            "beat": (StudyView, "beat"), "poll_stopping": (TrialProcesses, "poll_stopping")}


# Calls inside those, for the breakdown (inclusive times; some nest in others, e.g. get_trials in ask).
INNER = ("Study.ask", "Study.tell", "Study.get_trials", "Trial.set_user_attr", "Trial.report",
         "Progress._line", "Popen")
LABELS = METHODS + INNER


def _targets():
    import subprocess

    import optuna

    from paddle_autotune_plugins.output import console

    targets = [(m, *steps()[m]) for m in METHODS]
    return targets + [("Study.ask", optuna.study.Study, "ask"), ("Study.tell", optuna.study.Study, "tell"),
                      ("Study.get_trials", optuna.study.Study, "get_trials"),
                      ("Trial.set_user_attr", optuna.trial.Trial, "set_user_attr"),
                      ("Trial.report", optuna.trial.Trial, "report"),
                      ("Progress._line", console.Progress, "_line"), ("Popen", subprocess.Popen, "__init__")]


class Probe:
    """Timers around the loop's steps (and the Optuna / progress / Popen calls inside them) and its idle waits."""

    def __init__(self):
        self.calls = {m: [] for m in LABELS}  # (start, wall, cpu, trial number or None)
        self.sleeps = []  # (start, duration)
        self.launches = []  # (start, thread cpu at start, trial number)

    def install(self):
        from paddle_autotune_plugins.trials import trial_processes

        self.saved = []
        for label, owner, attr in _targets():
            original = owner.__dict__[attr]
            self.saved.append((owner, attr, original))
            setattr(owner, attr, self._wrap(label, original))
        real_wait = trial_processes.wait_for_exit
        self.saved.append((trial_processes, "wait_for_exit", real_wait))
        probe = self

        def wait_for_exit(procs, timeout):  # the loop's idle wait (woken early when a trial exits)
            t0 = time.perf_counter()
            real_wait(procs, timeout)
            probe.sleeps.append((t0, time.perf_counter() - t0))

        trial_processes.wait_for_exit = wait_for_exit

    def uninstall(self):
        for owner, attr, original in self.saved:
            setattr(owner, attr, original)

    def _wrap(self, name, fn):
        probe = self

        def wrapper(obj, *args, **kwargs):
            before = set(obj.running) if name == "launch" else None
            number = None
            if name in METHODS and args and hasattr(args[0], "trial"):  # poll(rt), finish(rt, ...)
                number = args[0].trial.number
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                return fn(obj, *args, **kwargs)
            finally:
                wall, cpu = time.perf_counter() - t0, time.thread_time() - c0
                if name == "launch":
                    new = set(obj.running) - before
                    number = new.pop() if new else None
                    if number is not None:
                        probe.launches.append((t0, c0, number))
                probe.calls[name].append((t0, wall, cpu, number))

        return wrapper


def per_interval(probe, end, end_cpu):
    """Busy wall and CPU of the loop between consecutive launches: [(trial number, busy, cpu, {method: wall})]."""
    starts = [t for t, _, _ in probe.launches] + [end]
    cpus = [c for _, c, _ in probe.launches] + [end_cpu]
    sleep_starts = [s for s, _ in probe.sleeps]
    sleep_cum = [0.0]
    for _, d in probe.sleeps:
        sleep_cum.append(sleep_cum[-1] + d)
    rows = []
    method_starts = {m: [c[0] for c in probe.calls[m]] for m in LABELS}
    method_cum = {}
    for m in LABELS:
        cum = [0.0]
        for c in probe.calls[m]:
            cum.append(cum[-1] + c[1])
        method_cum[m] = cum
    for i, (t0, _, number) in enumerate(probe.launches):
        t1 = starts[i + 1]
        a, b = bisect.bisect_left(sleep_starts, t0), bisect.bisect_left(sleep_starts, t1)
        slept = sleep_cum[b] - sleep_cum[a]
        parts = {}
        for m in LABELS:
            a, b = bisect.bisect_left(method_starts[m], t0), bisect.bisect_left(method_starts[m], t1)
            parts[m] = method_cum[m][b] - method_cum[m][a]
        rows.append((number, (t1 - t0) - slept, cpus[i + 1] - cpus[i], parts))
    return rows


def wal_storage(path):
    """An Optuna RDBStorage on a SQLite file in WAL mode with synchronous=NORMAL, built independently of
    the core's storages.embedded_sqlite (for the sampler-alone comparison)."""
    import sqlite3

    import optuna

    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)

    def connect():
        conn = sqlite3.connect(str(path), check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    return optuna.storages.RDBStorage(f"sqlite:///{path}", engine_kwargs={"creator": connect})


def run_coordinator(work, trials, workers, pruner, quiet):
    from paddle_autotune_plugins.adapters.generic.adapter import GenericAdapter
    from paddle_autotune_plugins.search_space import space
    from paddle_autotune_plugins.settings.options import Settings
    from paddle_autotune_plugins.study.coordinator import Coordinator

    script = work / "trivial.py"
    script.write_text(TRIVIAL)
    task = GenericAdapter().load(str(script), ["--x", "0.5"])
    params = space.parse_space(SPACE)
    settings = Settings(out=work / "out", trials=trials, workers=workers, sampler="tpe", pruner=pruner,
                        metric="val", seed=0, quiet=quiet)
    coordinator = Coordinator(task, params, settings)
    probe = Probe()
    probe.install()
    saved_stderr = sys.stderr
    progress_log = open(work / "progress.log", "w")
    sys.stderr = progress_log  # the progress lines a user would see, kept out of the benchmark's output
    try:
        t0 = time.perf_counter()
        stop = coordinator.run()
        end, end_cpu = time.perf_counter(), time.thread_time()
    finally:
        sys.stderr = saved_stderr
        progress_log.close()
        probe.uninstall()
    wall = end - t0
    states = [t.state.name for t in coordinator.study.trials]
    return probe, per_interval(probe, end, end_cpu), wall, stop, states


def run_sampler(trials, storage=None):
    """TPE ask + suggest + tell alone; [seconds per trial]."""
    import optuna

    from paddle_autotune_plugins.optuna_glue import samplers
    from paddle_autotune_plugins.search_space import space

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    params = space.parse_space(SPACE)
    study = optuna.create_study(direction="maximize", storage=storage,
                                sampler=samplers.make_sampler("tpe", params, seed=0))
    times = []
    for _ in range(trials):
        t0 = time.perf_counter()
        trial = study.ask()
        values = space.sample(trial, params, {"x": 0.5})
        study.tell(trial, float(values["x"]))
        times.append(time.perf_counter() - t0)
    return times


def window_stats(xs, n=100):
    first, last = xs[:n], xs[-n:]
    a, b = C.median(first), C.median(last)
    return a, b, b / a if a else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="300 trials")
    ap.add_argument("--trials", type=int, help="default 2000, --quick 300")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--pruner", default="none", help="the study's pruner (default none: every trial completes, "
                                                     "so the sampler alone sees the same history)")
    ap.add_argument("--quiet", action="store_true", help="no progress lines (the CLI prints them by default)")
    ap.add_argument("--window", type=int, default=100)
    ap.add_argument("--keep", help="folder for the study's outputs (default: a temp dir)")
    ap.add_argument("--no-results", action="store_true")
    args = ap.parse_args()
    trials = args.trials or (300 if args.quick else 2000)
    work = C.scratch("coordinator", args.keep)
    info = C.machine()
    n = args.window
    print(f"[coordinator_cost] {trials} trials, {args.workers} workers, outputs in {work}", flush=True)
    started = time.time()
    with C.LoadMonitor() as monitor:
        probe, rows, wall, stop, states = run_coordinator(work, trials, args.workers, args.pruner, args.quiet)
        print(f"[coordinator_cost] study: {wall:.1f} s ({stop}); sampler alone ...", flush=True)
        t0 = time.perf_counter()
        mem = run_sampler(trials)
        mem_wall = time.perf_counter() - t0
        db = work / "sampler_only.db"
        t0 = time.perf_counter()
        sql = run_sampler(trials, storage=f"sqlite:///{db}")
        sql_wall = time.perf_counter() - t0
        t0 = time.perf_counter()
        wal = run_sampler(trials, storage=wal_storage(work / "sampler_only_wal.db"))
        wal_wall = time.perf_counter() - t0
    total = time.time() - started

    rows.sort(key=lambda r: r[0])
    busy = [r[1] for r in rows]
    cpu = [r[2] for r in rows]
    c_first, c_last, c_growth = window_stats(busy, n)
    cpu_first, cpu_last, cpu_growth = window_stats(cpu, n)
    s_first, s_last, s_growth = window_stats(mem, n)
    q_first, q_last, q_growth = window_stats(sql, n)
    w_first, w_last, w_growth = window_stats(wal, n)
    parts = {m: (C.mean(r[3][m] for r in rows[:n]), C.mean(r[3][m] for r in rows[-n:])) for m in LABELS}
    calls = {m: len(probe.calls[m]) / max(1, len(rows)) for m in LABELS}
    counts = {s: states.count(s) for s in sorted(set(states))}
    ms = lambda x: f"{x * 1000:.1f} ms"
    lines = [
        f"- setup: {trials} trials of `val: x` (x in [0, 1]) through Coordinator + generic adapter + one process "
        f"per trial, {args.workers} workers, sampler tpe, pruner {args.pruner}, "
        f"the default storage (SQLite file in --out, WAL mode, synchronous=NORMAL), progress lines "
        f"{'off' if args.quiet else 'on (to a file)'}; study wall {wall:.1f} s ({trials / wall:.2f} trials/s), "
        f"trial states {counts}",
        f"- **coordinator time per trial** (busy wall of its loop, sleeps excluded, between consecutive launches), "
        f"median of the first {n} / last {n} trials: **{ms(c_first)} / {ms(c_last)}, growth x{c_growth:.2f}**; "
        f"main-thread CPU: {ms(cpu_first)} / {ms(cpu_last)} (x{cpu_growth:.2f}); mean over all "
        f"{len(busy)}: {ms(C.mean(busy))}",
        f"- **sampler alone** (TPE ask + suggest + tell, in-memory study), median first / last {n}: "
        f"**{ms(s_first)} / {ms(s_last)}, growth x{s_growth:.2f}** ({mem_wall:.1f} s for {trials}); "
        f"same on a SQLite storage: {ms(q_first)} / {ms(q_last)}, growth x{q_growth:.2f} ({sql_wall:.1f} s); on SQLite in WAL mode with synchronous=NORMAL: "
        f"{ms(w_first)} / {ms(w_last)}, growth x{w_growth:.2f} ({wal_wall:.1f} s)",
        f"- coordinator growth / sampler growth: {c_growth / s_growth:.2f} (in-memory), "
        f"{c_growth / q_growth:.2f} (SQLite), {c_growth / w_growth:.2f} (SQLite WAL, the coordinator's storage); target: < 50 ms per trial and growth not above the sampler's",
        f"- where the coordinator's time goes (wall per trial interval, mean of the first {n} -> last {n}; "
        f"inclusive: finish and write_results run inside poll): " + ", ".join(
            f"{m} {ms(a)} -> {ms(b)}" for m, (a, b) in parts.items() if m in METHODS),
        f"- inside those (wall per trial interval, first {n} -> last {n}, calls per trial; inclusive, e.g. "
        f"Study.get_trials also runs inside Study.ask and Progress._line): " + ", ".join(
            f"{m} {ms(a)} -> {ms(b)} ({calls[m]:.1f} calls)" for m, (a, b) in parts.items() if m in INNER),
    ]
    (work / "per_trial.json").write_text(json.dumps(
        {"coordinator_busy": busy, "coordinator_cpu": cpu, "sampler_memory": mem, "sampler_sqlite": sql,
         "sampler_sqlite_wal": wal}))
    C.publish("coordinator_cost", lines, info, monitor, total,
              section=None if args.no_results else f"coordinator_cost_{trials}",
              title=f"coordinator_cost.py, {trials} trials: the coordinator's own time per trial")


if __name__ == "__main__":
    main()
