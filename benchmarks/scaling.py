"""Throughput of 1 vs 2 workers on CPU trials: short real PaddleClas trainings (digits, 1 epoch).

    .venv/bin/python benchmarks/scaling.py [--quick] [--trials 4] [--rounds 2]

Both sides run the same study: ``paddle-autotune tune --suite clas -c CFG -o Global.epochs=1 --space S
--trials N --pruner none --sampler random --workers W`` with S = ``Global.seed: categorical [42]`` (the
config's own seed, so every trial trains the same config and the two sides do the same work), W = 1 and
W = 2, alternated (1 2 1 2 with --rounds 2). With 2 workers the coordinator sets OMP_NUM_THREADS (and
MKL/OPENBLAS/CPU_NUM) to cores // workers = 1 per trial on this 2-core machine; with 1 worker it sets none.

Figures: throughput = trials / study wall time (CLI start to exit); the ratio 2 workers / 1 worker
(target >= 1.7). To show what limits it, each trial's own lifetime (process start to exit, from
benchmarks/_timing/sitecustomize.py) under 1 and 2 workers, the ideal ratio those lifetimes allow
(2 x lifetime@1 / lifetime@2), and the CPU used by others on the machine meanwhile.
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


def run_study(work, cfg, space, trials, epochs, workers, tag, timing):
    out = work / tag
    cmd = [C.CLI, "tune", "--suite", "clas", "-c", str(cfg), "-o", f"Global.epochs={epochs}", "--space", str(space),
           "--trials", str(trials), "--pruner", "none", "--sampler", "random", "--workers", str(workers),
           "--out", str(out)]
    with open(work / f"{tag}_cli.log", "w") as log:
        t0 = time.time()
        code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=work,
                                env=C.timing_env(timing, BENCH_TAG=tag)).returncode
        wall = time.time() - t0
    if code != 0:
        sys.exit(f"study {tag} failed with exit code {code}: see {work / f'{tag}_cli.log'}")
    rows = (out / "trials.csv").read_text().splitlines()[1:]
    if len(rows) != trials or not all(",COMPLETE," in r for r in rows):
        sys.exit(f"study {tag}: expected {trials} COMPLETE trials, got {rows}")
    records = [r for r in C.read_timing(timing) if r.get("tag") == tag and r.get("first_step")]
    lifetimes = [r["exit"] - r["proc_start"] for r in records]
    cpus = [r.get("cpu") for r in records]
    omp = sorted({str(r.get("omp") or "unset") for r in records})
    return wall, lifetimes, omp, cpus


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one round (1 then 2 workers) instead of two")
    ap.add_argument("--trials", type=int, default=4, help="trials per study (default 4)")
    ap.add_argument("--rounds", type=int, help="rounds of (1 worker, 2 workers); default 2, --quick 1")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--keep", help="folder for the runs' outputs (default: a temp dir)")
    ap.add_argument("--no-results", action="store_true")
    args = ap.parse_args()
    rounds = args.rounds or (1 if args.quick else 2)
    work = C.scratch("scaling", args.keep)
    from paddle_autotune_plugins.adapters.paddleclas.digits import write_demo_config
    from paddle_autotune_plugins.suites.adapter import cpu_threads

    cfg = write_demo_config(work / "cfg")
    seed = yaml.safe_load(cfg.read_text())["Global"]["seed"]
    space = work / "space.yaml"
    space.write_text(yaml.safe_dump({"Global.seed": {"type": "categorical", "choices": [seed]}}))
    timing = work / "timing.jsonl"
    info = C.machine()
    print(f"[scaling] {args.trials} trials per study, {rounds} rounds (1 worker, 2 workers), outputs in {work}",
          flush=True)
    walls = {1: [], 2: []}
    lifetimes = {1: [], 2: []}
    omp = {1: set(), 2: set()}
    cpus = {1: [], 2: []}
    started = time.time()
    with C.LoadMonitor() as monitor:
        for r in range(rounds):
            for w in (1, 2):
                wall, life, seen, cpu = run_study(work, cfg, space, args.trials, args.epochs, w, f"w{w}_r{r}", timing)
                omp[w].update(seen)
                cpus[w] += cpu
                walls[w].append(wall)
                lifetimes[w] += life
                print(f"[scaling] round {r}: {w} worker(s): {wall:7.2f} s, {args.trials / wall * 60:.2f} trials/min",
                      flush=True)
    total = time.time() - started
    tpm = {w: args.trials * len(walls[w]) / sum(walls[w]) * 60 for w in (1, 2)}
    ratio = tpm[2] / tpm[1]
    per_round = [a / b for a, b in zip(walls[1], walls[2])]
    life1, life2 = C.median(lifetimes[1]), C.median(lifetimes[2])
    ideal = 2 * life1 / life2
    lines = [
        f"- setup: {args.trials} identical trials per study (digits config, {args.epochs} epoch, `--space "
        f"{{Global.seed: categorical [{seed}]}} --pruner none --sampler random`), {rounds} rounds alternating "
        f"1 and 2 workers; OMP_NUM_THREADS seen inside the trials: with 2 workers {'/'.join(sorted(omp[2]))} "
        f"(cpu_threads(2) = {cpu_threads(2)}), with 1 worker {'/'.join(sorted(omp[1]))}",
        f"- study wall, 1 worker: " + ", ".join(f"{w:.2f} s" for w in walls[1]) + "; 2 workers: "
        + ", ".join(f"{w:.2f} s" for w in walls[2]),
        f"- throughput: 1 worker {tpm[1]:.2f} trials/min, 2 workers {tpm[2]:.2f} trials/min; **ratio "
        f"{ratio:.3f}** (per round: " + ", ".join(f"{x:.3f}" for x in per_round) + "; target >= 1.7)",
        f"- a trial's lifetime (process start to exit, median): {life1:.2f} s alone, {life2:.2f} s beside another "
        f"(x{life2 / life1:.2f}); the ratio these lifetimes allow with no coordinator cost at all: {ideal:.3f}",
        f"- a trial's CPU time (median): {C.median(cpus[1]):.2f} s alone, {C.median(cpus[2]):.2f} s beside another, "
        f"i.e. {C.median(cpus[1]) / life1:.2f} and {C.median(cpus[2]) / life2:.2f} cores busy over its lifetime "
        + (f"(CPU time x{C.median(cpus[2]) / C.median(cpus[1]):.2f}: the work itself grows when two trials run "
           f"together, e.g. shared caches and memory bandwidth)" if C.median(cpus[2]) > 1.1 * C.median(cpus[1]) else
           f"(about the same CPU time: a trial beside another waits for a core, as two trials, the coordinator "
           f"and the other load share {os.cpu_count()} cores)"),
    ]
    C.publish("scaling", lines, info, monitor, total, section=None if args.no_results else "scaling",
              title="scaling.py: 1 vs 2 workers on CPU trials")


if __name__ == "__main__":
    main()
