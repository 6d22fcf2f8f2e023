"""Trial slots on one GPU: several small trials per GPU, memory freed after a stop, the API after CUDA.

    python benchmarks/gpu_slots.py [--json FILE] [--keep DIR] [--no-results]   # on a machine with a GPU
    python benchmarks/gpu_slots.py --dry-run                                   # CPU: checks the script (CI)
    python benchmarks/gpu_slots.py --from FILE                                 # figures of a run -> RESULTS.md

The training is benchmarks/gpu_trial.py (a small PyTorch CNN on scikit-learn's digits, one eval line an
epoch), tuned through the generic adapter (``python -m paddle_autotune_plugins gpu_trial.py ... --autotune``)
and through the Python API; PyTorch, not Paddle, so that it runs where only PyTorch has CUDA. In one go:

1. calibration: one training run directly sets the steps an epoch so that a trial trains about
   --train-s seconds (8 epochs);
2. the API: benchmarks/gpu_api_caller.py, a caller that has trained on the GPU, runs AutoTuner with the
   default start_method (it must stop before any trial, naming start_method="import"), then with "import";
   also what a plain os.fork() of that caller gets from CUDA;
3. a trial stopped mid-training (--trial-timeout) that holds --hold-mb of GPU memory: seconds from its
   SIGTERM until the GPU's used memory is back to where it was before the study, and until its process
   leaves nvidia-smi's list;
4. studies of --trials identical trainings with --gpus 0 --trials-per-gpu 1, 2 and 4: throughput (trials a
   minute, study start to exit), each trial's CUDA_VISIBLE_DEVICES as the trial saw it, each trial's peak
   GPU memory (PyTorch's allocator, and the process as nvidia-smi lists it).

GPU memory is sampled every 0.1 s from nvidia-smi (else torch.cuda.mem_get_info in this process). A phase
that would not fit in --budget seconds is skipped with one line. --dry-run (no GPU needed, under a minute):
tiny CPU trainings; every study command is checked as the CLI reads it, the --trials-per-gpu 2 study and
the API caller run for real, and the parts that need CUDA are skipped with one line each.
"""
import argparse
import json
import math
import os
import pathlib
import shlex
import shutil
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _common as C  # noqa: E402

TRIAL = C.HERE / "gpu_trial.py"
CALLER = C.HERE / "gpu_api_caller.py"
RECORD_ENV = "GPU_SLOTS_RECORD"  # gpu_trial.py appends its JSON lines there
SLOTS = (1, 2, 4)
EPOCHS = 8
CPU_SIZES = dict(epochs=2, steps=2, batch_size=16, width=4, device="cpu")  # --dry-run: seconds on a CPU


# --- the GPU's memory, sampled in a thread ------------------------------------------------------
def nvidia_smi(*query):
    """nvidia-smi's CSV rows for a query (lists of fields), or None where it does not answer."""
    try:
        proc = subprocess.run(["nvidia-smi", *query, "--format=csv,noheader,nounits"], capture_output=True,
                              text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return [[f.strip() for f in line.split(",")] for line in proc.stdout.splitlines() if line.strip()]


def cuda_present():
    rows = nvidia_smi("--query-gpu=name")
    if rows:
        return True
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


class GpuMemory:
    """Samples GPU 0's used memory (MB) and each process's (nvidia-smi's compute apps) until stopped."""

    def __init__(self, interval=0.1):
        self.interval = interval
        self.samples = []  # (time, used MB, {pid: MB})
        self.smi = nvidia_smi("--query-gpu=memory.used", "-i", "0") is not None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def read(self):
        if self.smi:
            used = nvidia_smi("--query-gpu=memory.used", "-i", "0")
            apps = nvidia_smi("--query-compute-apps=pid,used_memory") or []
            per_pid = {int(a[0]): float(a[1]) for a in apps if len(a) == 2 and a[0].isdigit() and _number(a[1])}
            return (float(used[0][0]) if used and _number(used[0][0]) else None), per_pid
        import torch  # no nvidia-smi: this process asks CUDA (it trains nothing, so its context is all it holds)

        free, total = torch.cuda.mem_get_info(0)
        return (total - free) / 2**20, {}

    def _run(self):
        while not self._stop.is_set():
            used, per_pid = self.read()
            if used is not None:
                self.samples.append((time.time(), used, per_pid))
            self._stop.wait(self.interval)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join()

    def used_between(self, t0, t1):
        return [used for t, used, _ in self.samples if t0 <= t <= t1]

    def interval_seen(self):
        times = [t for t, _, _ in self.samples]
        return _median([b - a for a, b in zip(times, times[1:])])

    def process_peak(self, pid):
        seen = [per_pid[pid] for _, _, per_pid in self.samples if pid in per_pid]
        return max(seen) if seen else None


def _number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


# --- runs --------------------------------------------------------------------------------------
def trial_flags(sizes, **extra):
    flags = {"lr": 0.05, "epochs": sizes["epochs"], "steps": sizes["steps"], "batch-size": sizes["batch_size"],
             "width": sizes["width"], "device": sizes["device"], **extra}
    return [x for name, value in flags.items() for x in (f"--{name.replace('_', '-')}", str(value))]


def study_command(work, tag, sizes, trials, trials_per_gpu, extra_flags=None, tuning=()):
    """`python -m paddle_autotune_plugins gpu_trial.py FLAGS --autotune OPTIONS`, as a user runs it."""
    space = work / "space.yaml"
    space.write_text("lr: {type: float, low: 0.005, high: 0.2, log: true}\n")
    return ([sys.executable, "-m", "paddle_autotune_plugins", str(TRIAL)] + trial_flags(sizes, **(extra_flags or {}))
            + ["--autotune", "--space", str(space), "--trials", str(trials), "--gpus", "0",
               "--trials-per-gpu", str(trials_per_gpu), "--sampler", "random", "--pruner", "none",
               "--metric", "val_acc", "--direction", "maximize", "--seed", "0", "--out", str(work / tag)]
            + list(tuning))


def check_study_command(cmd, cwd):
    """Read a study command as the CLI does (its tuning options, the script's flags and --help, the space),
    without running it: a mistake raises the CLI's UsageError."""
    from paddle_autotune_plugins import cli
    from paddle_autotune_plugins.errors import ArgumentParser
    from paddle_autotune_plugins.search_space.build import build_params
    from paddle_autotune_plugins.suites.adapter import check_gpus, get_adapter

    argv = cmd[3:]  # after `python -m paddle_autotune_plugins`
    split = argv.index("--autotune")
    parser = ArgumentParser(prog="gpu_trial.py ... --autotune", allow_abbrev=False)
    cli.add_tuning_options(parser)
    opts = parser.parse_args(argv[split + 1:])
    here = os.getcwd()
    os.chdir(cwd)
    try:
        adapter = get_adapter("generic")
        task = adapter.load(argv[0], argv[1:split])
        params, _ = build_params(task, opts)
        settings = cli.make_settings(opts)
        check_gpus(settings.gpus, settings.gpus_per_trial, adapter.runs_paddle)
    finally:
        os.chdir(here)
    return [p.name for p in params], settings.workers


def read_records(path):
    return C.read_timing(path)  # JSON lines


def run_direct(work, sizes, record):
    """gpu_trial.py on its own, as the calibration: its records."""
    cmd = [sys.executable, str(TRIAL)] + trial_flags(sizes)
    with open(work / "calibration.log", "w") as log:
        code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=work,
                              env=dict(os.environ, **{RECORD_ENV: str(record)})).returncode
    if code != 0:
        sys.exit(f"calibration run failed (exit {code}): see {work / 'calibration.log'}")
    return read_records(record)


def run_study(work, tag, cmd, memory):
    """Run one study command; what its trials recorded, its wall time and trials.csv."""
    record = work / f"{tag}.records.jsonl"
    log_path = work / f"{tag}.log"
    before = memory.read()[0] if memory else None
    t0 = time.time()
    with open(log_path, "w") as log:
        code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=work,
                              env=dict(os.environ, PYTHONUNBUFFERED="1", **{RECORD_ENV: str(record)})).returncode
    t1 = time.time()
    rows = []
    if (work / tag / "trials.csv").exists():
        import csv

        with open(work / tag / "trials.csv", newline="") as f:
            rows = list(csv.DictReader(f))
    return {"tag": tag, "command": shlex.join(cmd), "exit_code": code, "t0": t0, "t1": t1, "wall_s": t1 - t0,
            "used_mb_before": before, "rows": [{k: r[k] for k in ("number", "state", "duration_s", "reason")}
                                               for r in rows],
            "records": read_records(record), "log_tail": log_path.read_text()[-1500:] if code else ""}


def trials_of(study, memory):
    """Per trial process (by pid): CUDA_VISIBLE_DEVICES it saw, peak memory, its start and end."""
    trials = {}
    for r in study["records"]:
        t = trials.setdefault(r["pid"], {"pid": r["pid"]})
        if r["event"] == "start":
            t.update(cvd=r["cuda_visible_devices"], started=r["t"], startup_s=r["since_process_start_s"])
        elif r["event"] == "end":
            t.update(ended=r["t"], peak_reserved_mb=r.get("peak_reserved_mb"), epoch_s=r["epoch_s"])
        elif r["event"] == "sigterm":
            t.update(sigterm=r["t"])
    for t in trials.values():
        t["process_peak_mb"] = memory.process_peak(t["pid"]) if memory else None
    return sorted(trials.values(), key=lambda t: t.get("started", 0))


def most_at_once(trials):
    events = sorted([(t["started"], 1) for t in trials if "started" in t] +
                    [(t["ended"], -1) for t in trials if "ended" in t])
    running = best = 0
    for _, step in events:
        running += step
        best = max(best, running)
    return best


def slot_phase(work, cmd, tpg, memory):
    study = run_study(work, f"slots{tpg}", cmd, memory)
    per_trial = trials_of(study, memory)
    complete = sum(r["state"] == "COMPLETE" for r in study["rows"])
    result = {"trials_per_gpu": tpg, "exit_code": study["exit_code"], "command": study["command"],
              "wall_s": study["wall_s"], "complete": complete, "states": [r["state"] for r in study["rows"]],
              "trials_per_min": complete / study["wall_s"] * 60, "most_at_once": most_at_once(per_trial),
              "trials": per_trial, "log_tail": study["log_tail"]}
    if memory:
        used = memory.used_between(study["t0"], study["t1"])
        result["gpu_used_max_mb"] = max(used) if used else None
        result["gpu_used_before_mb"] = study["used_mb_before"]
    return result


def stop_phase(work, cmd, timeout_s, hold_mb, memory):
    """One trial that trains far longer than --trial-timeout, holding hold_mb of GPU memory: how long after
    its SIGTERM the GPU's used memory is back to where it was before."""
    study = run_study(work, "stopped", cmd, memory)
    settle_until = time.time() + 30  # watch the memory a while after the study's exit
    baseline = study["used_mb_before"]
    freed_at = None
    while time.time() < settle_until and freed_at is None:
        time.sleep(0.2)
        freed_at = next((t for t, used, _ in memory.samples if t >= study["t0"] and used <= baseline + 64
                         and _after_stop(t, study)), None)
    trial = (trials_of(study, memory) or [{}])[0]
    term = trial.get("sigterm")
    gone_at = None
    if term and trial.get("pid"):
        gone_at = next((t for t, _, per_pid in memory.samples if t >= term and trial["pid"] not in per_pid), None)
    used = memory.used_between(study["t0"], study["t1"])
    return {"command": study["command"], "exit_code": study["exit_code"], "rows": study["rows"],
            "timeout_s": timeout_s, "hold_mb": hold_mb, "used_mb_before": baseline,
            "used_max_mb": max(used) if used else None,
            "sigterm_after_start_s": (term - trial["started"]) if term and "started" in trial else None,
            "free_after_sigterm_s": (freed_at - term) if term and freed_at else None,
            "gone_from_nvidia_smi_after_sigterm_s": (gone_at - term) if gone_at else None,
            "study_exit_after_sigterm_s": (study["t1"] - term) if term else None,
            "process_listed": memory.smi, "sampled_every_s": memory.interval_seen(), "log_tail": study["log_tail"]}


def _after_stop(t, study):
    terms = [r["t"] for r in study["records"] if r["event"] == "sigterm"]
    return bool(terms) and t >= terms[0]


def api_phase(work, sizes, trials, memory):
    cmd = [sys.executable, str(CALLER), str(work / "api"), "--epochs", str(max(1, sizes["epochs"] // 2)),
           "--steps", str(sizes["steps"]), "--trials", str(trials), "--batch-size", str(sizes["batch_size"]),
           "--width", str(sizes["width"]), "--device", sizes["device"]]
    record = work / "api.records"  # the caller makes it api.default and api.import, one a study
    t0 = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=work,
                          env=dict(os.environ, PYTHONUNBUFFERED="1", **{RECORD_ENV: str(record)}))
    (work / "api.log").write_text(proc.stdout + proc.stderr)
    found = [line[len("RESULT "):] for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    result = json.loads(found[0]) if found else {}
    result.update(command=shlex.join(cmd), exit_code=proc.returncode, wall_s=time.time() - t0,
                  log_tail="" if found else (proc.stdout + proc.stderr)[-1500:])
    ended = [r for r in read_records(work / "api.import") if r["event"] == "end"]
    result["trial_peaks_reserved_mb"] = [r.get("peak_reserved_mb") for r in ended]
    return result


# --- report ------------------------------------------------------------------------------------
def fmt_mb(x):
    return "n/a" if x is None else f"{x:.0f}"


def report_lines(data):
    lines = [f"- device: {data['device']}", f"- trial: {data['trial']}"]
    api = data.get("api")
    if api is None:
        lines.append(f"- API after CUDA: {data.get('api_skipped', 'not run')}")
    else:
        default, imported = api.get("default", {}), api.get("import", {})
        lines.append(f"- API from a caller that trained on {api.get('device')} first (torch.cuda.is_initialized() "
                     f"{api.get('cuda_initialised')}); a plain os.fork() of it using CUDA: "
                     f"{api.get('plain_fork', 'not tried (no CUDA)')}")
        if "stopped" in default:
            lines.append(f"  - default start_method: stopped before any trial in {default['s']:.1f} s "
                         f"(study folder made: {default['study_folder_made']}): \"{default['stopped']}\"")
        else:
            lines.append(f"  - default start_method: trials {default.get('states')} in {default.get('s', 0):.1f} s")
        lines.append(f"  - start_method=\"import\": trials {imported.get('states', imported.get('stopped'))} in "
                     f"{imported.get('s', 0):.1f} s; their peak GPU memory (PyTorch reserved, MB): "
                     f"{', '.join(fmt_mb(x) for x in api.get('trial_peaks_reserved_mb', [])) or 'n/a'}")
        if api.get("exit_code"):
            lines.append(f"  - the caller exited {api['exit_code']}: {api.get('log_tail', '')[-300:]!r}")
    stop = data.get("stop")
    if stop is None:
        lines.append(f"- memory after a stop: {data.get('stop_skipped', 'not run')}")
    else:
        s = stop
        lines.append(f"- a trial holding {s['hold_mb']} MB more, stopped by --trial-timeout {s['timeout_s']}s "
                     f"mid-training ({_fmt_s(s['sigterm_after_start_s'])} after its training started; state "
                     f"{[r['state'] + ' ' + r['reason'] for r in s['rows']]}): GPU memory back to the level before "
                     f"the study ({fmt_mb(s['used_mb_before'])} MB, +64) {_fmt_s(s['free_after_sigterm_s'])} after "
                     f"its SIGTERM (peak {fmt_mb(s['used_max_mb'])} MB); its process left nvidia-smi's list "
                     f"after {_fmt_s(s['gone_from_nvidia_smi_after_sigterm_s'])}; the study exited after "
                     f"{_fmt_s(s['study_exit_after_sigterm_s'])} (memory sampled every "
                     f"{_fmt_s(s.get('sampled_every_s'))})")
    alone = [s for s in data.get("slots", []) if s["trials_per_gpu"] == 1 and "skipped" not in s]
    base = alone[0]["trials_per_min"] if alone else None
    for s in data.get("slots", []):
        if "skipped" in s:
            lines.append(f"- --trials-per-gpu {s['trials_per_gpu']}: {s['skipped']}")
            continue
        trials = s["trials"]
        lifetimes = [t["ended"] - t["started"] + t["startup_s"] for t in trials if "ended" in t and "started" in t]
        epochs = [statistics.median(t["epoch_s"]) for t in trials if t.get("epoch_s")]
        lines.append(
            f"- --gpus 0 --trials-per-gpu {s['trials_per_gpu']}: {s['complete']} of {len(s['states'])} trials "
            f"complete in {s['wall_s']:.1f} s = {s['trials_per_min']:.2f} trials/min"
            + (f" (x{s['trials_per_min'] / base:.2f} of one per GPU)" if base else "") +
            f"; at most {s['most_at_once']} at once; a trial's life median "
            f"{_fmt_s(_median(lifetimes))} (epoch {_fmt_s(_median(epochs))}); CUDA_VISIBLE_DEVICES as each trial "
            f"saw it: {', '.join(str(t.get('cvd')) for t in trials)}; peak GPU memory per trial, PyTorch reserved / "
            f"nvidia-smi process (MB): {', '.join(fmt_mb(t.get('peak_reserved_mb')) + '/' + fmt_mb(t.get('process_peak_mb')) for t in trials)}"
            + (f"; GPU memory used at most {fmt_mb(s.get('gpu_used_max_mb'))} MB" if s.get("gpu_used_max_mb") else "")
            + (f"; exit code {s['exit_code']}: {s['log_tail'][-300:]!r}" if s["exit_code"] else ""))
    lines += data.get("notes", [])
    return lines


def _median(xs):
    return statistics.median(xs) if xs else None


def _fmt_s(x):
    return "n/a" if x is None else f"{x:.1f} s"


# --- the run -----------------------------------------------------------------------------------
def machine_facts(cuda):
    info = C.machine()
    gpu = nvidia_smi("--query-gpu=name,driver_version,memory.total", "-i", "0") if cuda else None
    try:
        from importlib.metadata import version

        torch_version = version("torch")
    except Exception:  # noqa: BLE001
        torch_version = "-"
    device = (f"{gpu[0][0]}, driver {gpu[0][1]}, {gpu[0][2]} MiB" if gpu else "no GPU (CPU)")
    return info, f"{device}; {info['nproc']} CPU cores; torch {torch_version}; optuna {info['versions']['optuna']}"


def calibrate(work, args, record, sizes):
    """Steps an epoch so that an epoch takes about train_s / EPOCHS with these sizes (one run of 2 epochs)."""
    recs = run_direct(work, sizes, record)
    end = next(r for r in recs if r["event"] == "end")
    start = next(r for r in recs if r["event"] == "start")
    per_step = end["epoch_s"][-1] / sizes["steps"]  # the second epoch: warmed up
    steps = max(1, round(args.train_s / EPOCHS / per_step))
    startup = start["since_process_start_s"]
    return dict(sizes, epochs=EPOCHS, steps=steps), per_step, startup


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="CPU check of the script and its commands (CI)")
    ap.add_argument("--trials", type=int, default=4, help="trials of each slot study (default 4)")
    ap.add_argument("--train-s", type=float, default=15.0, help="training seconds a trial, on an idle GPU")
    ap.add_argument("--calibration-steps", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--width", type=int, default=32, help="channels of the CNN's first convolutions")
    ap.add_argument("--trial-device", default="cuda", help="where the trials train where there is a GPU (cpu: "
                    "a rehearsal of the GPU path's own code, with small --batch-size and --width)")
    ap.add_argument("--hold-mb", type=int, default=4096, help="extra GPU memory of the stopped trial")
    ap.add_argument("--budget", type=float, default=450.0, help="seconds the whole run may take")
    ap.add_argument("--json", help="write the run's data there")
    ap.add_argument("--from", dest="from_json", help="make RESULTS.md's section from a run's --json")
    ap.add_argument("--keep", help="folder for the studies (default: a temp dir)")
    ap.add_argument("--no-results", action="store_true", help="leave RESULTS.md alone")
    args = ap.parse_args()
    if args.from_json:
        data = json.loads(pathlib.Path(args.from_json).read_text())
        C.update_results("gpu_slots", "gpu_slots: trial slots on one GPU", data["header"] + report_lines(data))
        C.print_block(data["header"] + report_lines(data))
        return
    t_start = time.time()
    left = lambda: args.budget - (time.time() - t_start)  # noqa: E731
    work = C.scratch("gpu_slots", args.keep)
    cuda = cuda_present() and not args.dry_run
    info, device = machine_facts(cuda)
    data = {"device": device, "notes": [], "slots": []}
    if not cuda:
        print("gpu_slots: no CUDA here" + (" (--dry-run)" if args.dry_run else "") + ": CPU-sized trainings; "
              "the GPU memory figures, the stopped trial's memory and the fork-after-CUDA stop are skipped",
              flush=True)
    memory = GpuMemory().start() if cuda else None
    try:
        record = work / "calibration.records.jsonl"
        if cuda:
            gpu_sizes = dict(epochs=2, steps=args.calibration_steps, batch_size=args.batch_size, width=args.width,
                             device=args.trial_device)
            sizes, per_step, startup = calibrate(work, args, record, gpu_sizes)
            start_s = startup + 3  # imports, CUDA, then the data on the GPU
            trial_s = start_s + args.train_s
            data["trial"] = (f"{EPOCHS} epochs x {sizes['steps']} steps (batch {args.batch_size}, width "
                             f"{args.width}, on {args.trial_device}; calibrated: "
                             f"{per_step * 1000:.2f} ms a step alone, start-up {startup:.1f} s to the first step)")
        else:
            _, per_step, _ = calibrate(work, args, record, CPU_SIZES)  # its code checked; the sizes stay tiny
            sizes, start_s, trial_s = dict(CPU_SIZES), 8.0, 10.0
            data["trial"] = f"CPU, {sizes} ({per_step * 1000:.0f} ms a step)"
        print(f"gpu_slots: trial {data['trial']}", flush=True)

        if left() > 3 * trial_s:
            data["api"] = api_phase(work, sizes, 1 if args.dry_run else 2, memory)
        else:
            data["api_skipped"] = "skipped: out of time"
        print("gpu_slots: API done", flush=True)

        timeout_s = math.ceil(start_s + 3 * args.train_s / EPOCHS)  # about 3 epochs into its training
        stop_cmd = study_command(work, "stopped", dict(sizes, epochs=1000), 1, 1, extra_flags={"hold_mb": args.hold_mb},
                                 tuning=["--trial-timeout", f"{timeout_s}s"])
        if not cuda:
            check_study_command(stop_cmd, work)
            data["stop_skipped"] = "skipped: no CUDA (its study command was checked)"
        elif left() > timeout_s + 45:
            data["stop"] = stop_phase(work, stop_cmd, timeout_s, args.hold_mb, memory)
        else:
            data["stop_skipped"] = "skipped: out of time"
        print("gpu_slots: stop done", flush=True)

        for tpg in SLOTS:
            trials = 2 if args.dry_run else args.trials
            cmd = study_command(work, f"slots{tpg}", sizes, trials, tpg)
            if args.dry_run and tpg != 2:
                names, workers = check_study_command(cmd, work)
                data["slots"].append({"trials_per_gpu": tpg, "skipped": f"--dry-run: command checked (tunes "
                                      f"{names}, {workers} workers), not run"})
            elif left() > args.trials * trial_s + 20:
                data["slots"].append(slot_phase(work, cmd, tpg, memory))
            else:
                data["slots"].append({"trials_per_gpu": tpg, "skipped": "skipped: out of time"})
            print(f"gpu_slots: --trials-per-gpu {tpg} done", flush=True)
    finally:
        if memory:
            memory.stop()
    wall = time.time() - t_start
    data["header"] = C.machine_lines(info, wall=wall)[:3]
    data["wall_s"] = wall
    C.print_block([""] + report_lines(data))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(data, indent=1) + "\n")
    if not (args.no_results or args.dry_run or not cuda):
        C.update_results("gpu_slots", "gpu_slots: trial slots on one GPU", data["header"] + report_lines(data))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok(data, args.dry_run) else 1


def ok(data, dry_run):
    """Whether every phase that ran did what it must (the API stop, trials complete)."""
    problems = []
    api = data.get("api")
    if api is not None:
        if api.get("exit_code") != 0 or "states" not in api.get("import", {}):
            problems.append("the API caller failed")
        elif api.get("cuda_initialised") and "stopped" not in api.get("default", {}):
            problems.append("the API forked trials from a CUDA caller")
    for s in data["slots"]:
        if "skipped" not in s and (s["exit_code"] != 0 or s["complete"] != len(s["states"])):
            problems.append(f"the --trials-per-gpu {s['trials_per_gpu']} study")
    for p in problems:
        print(f"gpu_slots: FAILED: {p}", file=sys.stderr)
    return not problems


if __name__ == "__main__":
    sys.exit(main())
