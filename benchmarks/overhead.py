"""Overhead of tuning through the plugin: K identical short PaddleClas trainings run (a) directly, one after
another, with the plugin's train entry, (b) as a study of K trials that all train that same config, and
(c) as that study with ``--warm-start``.

    .venv/bin/python benchmarks/overhead.py [--quick] [--k 4] [--rounds 2]

(a) ``python -m paddle_autotune_plugins.adapters.paddleclas.train -c CFG -o Global.epochs=1 -o Global.output_dir=..``
    K times, each started when the previous one has exited;
(b) ``paddle-autotune tune --suite clas -c CFG -o Global.epochs=1 --space S --trials K --pruner none
    --sampler random``, where S is ``Global.seed: {type: categorical, choices: [42]}`` - the config's own
    seed, so trial 0 (the baseline) and every sampled trial train exactly the config of (a) (checked).

The three alternate (A B C A B C with --rounds 2) so that drift in the machine's other load hits all alike.

Figures: the wall-time ratio (b)/(a) (sum over rounds; target <= 1.02), and each training's start latency,
from its launch to its first training step; for (c), the warm trials' start latency from the fork (the
trial process's start) to the first training step (stretch target: under 1 s), and the ratio (c)/(a). Timestamps come from benchmarks/_timing/sitecustomize.py, put
on PYTHONPATH of every process of both (a) and (b): the process's kernel start time (/proc, 10 ms) and the
sub-millisecond ``created`` time of the first ppcls ``[Train][Epoch ...][Iter: 0/...]`` log record (the log
line itself has only second resolution). The launch is the benchmark's Popen for (a) and the mtime of the
trial's command.txt for (b) (the coordinator writes it right before its Popen). The report also splits (b)'s
extra wall time into the coordinator's start-up (CLI start to the first trial's launch), the gaps between
one trial's exit and the next trial's launch, and the tail (last trial's exit to the CLI's exit).
"""
import argparse
import os
import pathlib
import subprocess
import sys
import time

import yaml

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _common as C  # noqa: E402

TRAIN = "paddle_autotune_plugins.adapters.paddleclas.train"


def run_direct(work, cfg, k, epochs, tag, timing):
    """(a): K trainings one after another; returns (wall, [{launch time, tag}], end time)."""
    runs = []
    folder = work / tag
    folder.mkdir(parents=True)
    t0 = time.time()
    for i in range(k):
        run_dir = folder / f"run{i}"
        run_dir.mkdir()
        cmd = [C.PYTHON, "-m", TRAIN, "-c", str(cfg), "-o", f"Global.epochs={epochs}",
               "-o", f"Global.output_dir={run_dir / 'output'}"]
        with open(run_dir / "train.log", "w") as log:
            launched = time.time()
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=work,
                                    env=C.timing_env(timing, BENCH_TAG=f"{tag}-{i}"))
            code = proc.wait()
            returned = time.time()
        if code != 0:
            sys.exit(f"direct run {tag}-{i} failed with exit code {code}: see {run_dir / 'train.log'}")
        runs.append({"launch": launched, "tag": f"{tag}-{i}", "returned": returned})
    end = time.time()
    return end - t0, runs, end


def run_study(work, cfg, space, k, epochs, tag, timing, extra=()):
    """(b), or (c) with extra=["--warm-start"]: one study of K trials; returns (wall, cli start, cli end, out)."""
    out = work / tag
    cmd = [C.CLI, "tune", "--suite", "clas", "-c", str(cfg), "-o", f"Global.epochs={epochs}", "--space", str(space),
           "--trials", str(k), "--pruner", "none", "--sampler", "random", "--out", str(out)] + list(extra)
    with open(work / f"{tag}_cli.log", "w") as log:
        t0 = time.time()
        code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=work,
                              env=C.timing_env(timing, BENCH_TAG=tag)).returncode
        t1 = time.time()
    if code != 0:
        sys.exit(f"study {tag} failed with exit code {code}: see {work / f'{tag}_cli.log'}")
    rows = (out / "trials.csv").read_text().splitlines()[1:]
    if len(rows) != k or not all(",COMPLETE," in r for r in rows):
        sys.exit(f"study {tag}: expected {k} COMPLETE trials, got {rows}")
    return t1 - t0, t0, t1, out


def study_records(timing, tag, k, cfg, epochs, out):
    """(trial folder names in order, {name: timing record}) of one study, its configs checked equal to (a)'s."""
    trials = {}
    for rec in C.read_timing(timing):
        if rec.get("tag") == tag and rec.get("first_step"):
            config = rec["argv"][rec["argv"].index("-c") + 1]
            trials[pathlib.Path(config).parent.name] = rec
    names = sorted(trials)
    if len(names) != k:
        sys.exit(f"study {tag}: timing records for {len(names)} of {k} trials")
    for name in names:
        if not same_config(cfg, epochs, out / name / "config.yaml"):
            sys.exit(f"{out / name / 'config.yaml'} differs from the direct runs' config")
    return names, trials


def same_config(cfg_path, epochs, trial_config):
    """The trial trains exactly what (a) trains: equal configs once output_dir is set aside."""
    base = yaml.safe_load(pathlib.Path(cfg_path).read_text())
    base["Global"]["epochs"] = epochs
    trial = yaml.safe_load(pathlib.Path(trial_config).read_text())
    for c in (base, trial):
        c["Global"].pop("output_dir", None)
    return base == trial


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="K=2")
    ap.add_argument("--k", type=int, help="trainings per side and round (default 4, --quick 2)")
    ap.add_argument("--rounds", type=int, default=2, help="A B rounds (default 2: A B A B)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--keep", help="folder for the runs' outputs (default: a temp dir)")
    ap.add_argument("--no-results", action="store_true", help="do not rewrite RESULTS.md")
    args = ap.parse_args()
    k = args.k or (2 if args.quick else 4)
    work = C.scratch("overhead", args.keep)
    from paddle_autotune_plugins.adapters.paddleclas.digits import write_demo_config

    cfg = write_demo_config(work / "cfg")
    space = work / "space.yaml"
    seed = yaml.safe_load(cfg.read_text())["Global"]["seed"]
    space.write_text(yaml.safe_dump({"Global.seed": {"type": "categorical", "choices": [seed]}}))
    timing = work / "timing.jsonl"
    info = C.machine()
    print(f"[overhead] K={k}, {args.rounds} rounds (A B ...), {args.epochs} epoch(s) per training, outputs in {work}",
          flush=True)

    walls_a, walls_b, lat_a, lat_b, proc_a, proc_b = [], [], [], [], [], []
    run_a, run_b, gaps_a, gaps_b, startups, tails = [], [], [], [], [], []
    tails_a, orch_a, orch_b, teardown = [], [], [], []  # orchestration: wall minus the trainings' own lifetimes
    walls_c, proc_c_warm, proc_c_cold, run_c = [], [], [], []  # (c): the study with --warm-start
    started = time.time()
    with C.LoadMonitor() as monitor:
        for r in range(args.rounds):
            wall, runs, end = run_direct(work, cfg, k, args.epochs, f"a{r}", timing)
            walls_a.append(wall)
            print(f"[overhead] round {r}: (a) direct  {wall:7.2f} s", flush=True)
            records = {rec["tag"]: rec for rec in C.read_timing(timing) if rec.get("first_step")}
            previous_exit = None
            lifetimes = 0.0
            for run in runs:
                rec = records[run["tag"]]
                lat_a.append(rec["first_step"] - run["launch"])
                proc_a.append(rec["first_step"] - rec["proc_start"])
                run_a.append(rec["exit"] - rec["proc_start"])
                lifetimes += rec["exit"] - rec["proc_start"]
                teardown.append(run["returned"] - rec["exit"])
                if previous_exit is not None:
                    gaps_a.append(run["launch"] - previous_exit)
                previous_exit = rec["exit"]
            tails_a.append(end - previous_exit)
            orch_a.append(wall - lifetimes)

            wall, t0, t1, out = run_study(work, cfg, space, k, args.epochs, f"b{r}", timing)
            walls_b.append(wall)
            print(f"[overhead] round {r}: (b) study   {wall:7.2f} s", flush=True)
            names, trials = study_records(timing, f"b{r}", k, cfg, args.epochs, out)
            launches = [os.stat(out / n / "command.txt").st_mtime_ns / 1e9 for n in names]
            for i, name in enumerate(names):
                rec = trials[name]
                lat_b.append(rec["first_step"] - launches[i])
                proc_b.append(rec["first_step"] - rec["proc_start"])
                run_b.append(rec["exit"] - rec["proc_start"])
                if i:
                    gaps_b.append(launches[i] - trials[names[i - 1]]["exit"])
            startups.append(launches[0] - t0)
            tails.append(t1 - trials[names[-1]]["exit"])
            orch_b.append(wall - sum(trials[n]["exit"] - trials[n]["proc_start"] for n in names))

            wall, t0, t1, out = run_study(work, cfg, space, k, args.epochs, f"c{r}", timing, ["--warm-start"])
            walls_c.append(wall)
            print(f"[overhead] round {r}: (c) warm    {wall:7.2f} s", flush=True)
            names, trials = study_records(timing, f"c{r}", k, cfg, args.epochs, out)
            for name in names:
                rec = trials[name]
                warm = "started warm" in (out / name / "command.txt").read_text()
                (proc_c_warm if warm else proc_c_cold).append(rec["first_step"] - rec["proc_start"])
                run_c.append(rec["exit"] - rec["proc_start"])
    total = time.time() - started

    ratio = sum(walls_b) / sum(walls_a)
    per_round = [b / a for a, b in zip(walls_a, walls_b)]
    # The same trainings with each side's own orchestration time: robust to the trainings' speed drifting
    # with the machine's other load, which the raw wall ratio is not.
    trainings = C.mean(run_a) * k
    derived = (trainings + C.mean(orch_b)) / (trainings + C.mean(orch_a))
    lines = [
        f"- setup: K={k} identical trainings per side, digits config (MobileNetV1_x0_25, {args.epochs} epoch), "
        f"{args.rounds} rounds interleaved A B C; (b) = `paddle-autotune tune --suite clas ... --space "
        f"{{Global.seed: categorical [{seed}]}} --trials {k} --pruner none --sampler random`; every trial's "
        f"config.yaml checked equal to (a)'s config (output_dir aside)",
        f"- wall (a) direct: " + ", ".join(f"{w:.2f} s" for w in walls_a) + f"; (b) study: "
        + ", ".join(f"{w:.2f} s" for w in walls_b),
        f"- **wall ratio (b)/(a): {ratio:.4f}** (per round: " + ", ".join(f"{x:.4f}" for x in per_round)
        + f"; target <= 1.02)",
        f"- start latency, launch to first training step (median of {len(lat_a)} / {len(lat_b)}): "
        f"(a) {C.median(lat_a):.3f} s, (b) {C.median(lat_b):.3f} s; process start (kernel) to first step: "
        f"(a) {C.median(proc_a):.3f} s, (b) {C.median(proc_b):.3f} s",
        f"- training process lifetime, process start to exit (median): (a) {C.median(run_a):.3f} s, "
        f"(b) {C.median(run_b):.3f} s",
        f"- where (b)'s extra wall time goes, per study (mean): coordinator start-up (CLI start to first trial "
        f"launch) {C.mean(startups):.3f} s; gap between a trial's exit and the next launch {C.mean(gaps_b):.3f} s "
        f"x {len(gaps_b) // args.rounds} (direct: {C.mean(gaps_a):.3f} s); tail (last trial exit to CLI exit) "
        f"{C.mean(tails):.3f} s (direct: last exit to the benchmark seeing it {C.mean(tails_a):.3f} s). 'Exit' is the "
        f"training's atexit time; a training process then needs {C.median(teardown):.3f} s (median, measured on "
        f"(a): atexit to wait() returning) to be gone, in both (a) and (b)",
        f"- orchestration time per side = wall - sum of the trainings' lifetimes (mean per round): (a) "
        f"{C.mean(orch_a):.2f} s, (b) {C.mean(orch_b):.2f} s; (b) adds {C.mean(orch_b) - C.mean(orch_a):.2f} s "
        f"per study of {k}; with (a)'s mean training lifetime for both sides the ratio is **{derived:.4f}** "
        f"(the wall ratio without the drift of the trainings' own speed)",
    ]
    lines += [
        f"- (c) the same study with `--warm-start` (trials after the first fork from one process that imported "
        f"Paddle and ppcls once): wall " + ", ".join(f"{w:.2f} s" for w in walls_c)
        + f"; **wall ratio (c)/(a): {sum(walls_c) / sum(walls_a):.4f}**; **start latency, process start to first "
        f"training step: {C.median(proc_c_warm):.3f} s warm** (median of {len(proc_c_warm)}; max "
        f"{max(proc_c_warm):.3f} s) vs {C.median(proc_a):.3f} s cold ((a)); the first trial of each (c) study starts "
        f"cold while that process imports ({C.median(proc_c_cold):.3f} s); training lifetime (median) "
        f"{C.median(run_c):.3f} s (stretch target: warm start under 1 s)",
    ]
    C.publish("overhead", lines, info, monitor, total, section=None if args.no_results else "overhead",
              title="overhead.py: study vs direct trainings")


if __name__ == "__main__":
    main()
