"""Command line: `paddle-autotune SUB-COMMAND` and `python -m paddle_autotune_plugins SCRIPT ... --autotune ...`.

Bad input fails before any trial starts, with exit code 2 and one line naming the problem and the fix.
"""
import argparse
from collections.abc import Sequence
import os
import pathlib
import shlex
import sys
import textwrap
import time
from typing import Any, Optional

import optuna

from paddle_autotune_plugins import __version__
from paddle_autotune_plugins.errors import ArgumentParser as _Parser, UsageError
from paddle_autotune_plugins.optuna_glue import pruners, samplers
from paddle_autotune_plugins.optuna_glue.storages import open_storage, redact
from paddle_autotune_plugins.output.export import Exporter
from paddle_autotune_plugins.output.import_noise import quiet_suite_imports
from paddle_autotune_plugins.output.summary import no_trial_completed, summary
from paddle_autotune_plugins.search_space import data_paths, presets, space
from paddle_autotune_plugins.search_space.build import build_params
from paddle_autotune_plugins.settings.options import add_tuning_options, at_least, make_settings, parse_gpus
from paddle_autotune_plugins.study import command_record, interrupts, trial_queries
from paddle_autotune_plugins.study.coordinator import Coordinator
from paddle_autotune_plugins.suites.adapter import Task, detect_adapter, detect_program, get_adapter, suite_names


def check_out(out: str) -> None:
    """--out must be a folder this process can create and write, checked before anything is written there."""
    if not str(out).strip():
        raise UsageError("--out is empty; name the folder the study goes to, e.g. --out tune_resnet18")
    path = pathlib.Path(out)
    probe = path / f".write-test-{os.getpid()}"
    try:
        path.resolve(strict=False)
    except RuntimeError:  # Python's pathlib names a symlink loop so
        raise UsageError(f"--out {out} is a loop of symbolic links; point the link at a folder, or choose "
                         f"another --out") from None
    try:
        if path.exists() and not path.is_dir():
            raise UsageError(f"--out {out} is a file, not a folder; choose another --out")
        created = not path.exists()
        path.mkdir(parents=True, exist_ok=True)
        probe.write_text("")
        probe.unlink()
        if created:
            path.rmdir()  # the study makes it when it starts; a later bad input leaves nothing behind
    except OSError as e:
        raise UsageError(f"cannot write to --out {out}: {e.strerror or e}; choose a writable folder") from None


def run_study(task: Task, opts: argparse.Namespace, params: Optional[list[space.Param]] = None,
              notes: Sequence[str] = ()) -> int:
    if params is None:
        params, notes = build_params(task, opts)
    command = command_record.record(task, opts, params)
    check_out(opts.out)
    coordinator = Coordinator(task, params, make_settings(opts, command))
    if getattr(opts, "dry_run", False):  # all of it shown, then missing data refused as a real run would
        code = dry_run(task, opts, params, notes, coordinator)
        data_paths.check(task.adapter.data_paths(task))
        return code
    data_paths.check(task.adapter.data_paths(task))  # after the other checks: missing data fails every trial alike
    if opts.fidelity != "schedule":  # the ladder names its own steps
        note = pruners.unknown_length_note(opts.pruner, task.adapter.max_steps(task, task.config))
        notes = list(notes) + ([note] if note else [])
    say = (lambda *a: None) if opts.quiet else (lambda *a: print(*a, file=sys.stderr, flush=True))
    say(f"[autotune] suite {task.adapter.name}, config {task.config_path}, metric {coordinator.metric} "
        f"({coordinator.direction}), {drawing(coordinator)}, pruner {opts.pruner}, out {coordinator.out}"
        + (f", storage {redact(opts.storage)}" if opts.storage else "")
        + (f", {coordinator.s.workers} workers" if coordinator.s.workers > 1 else ""))
    for p in params:
        say(f"[autotune]   {p.describe()}")
    for note in notes:
        say(f"[autotune] note: {note}")
    started = time.time()
    try:
        stop = coordinator.run()
    except KeyboardInterrupt as e:
        sigterm = isinstance(e, interrupts.Terminated)
        print(f"\n[autotune] {'terminated (SIGTERM)' if sigterm else 'interrupted'}: finished trials are kept in "
              f"{coordinator.out}; run the same command to resume", file=sys.stderr)
        return 143 if sigterm else 130
    where = " ".join(([f"--storage {shlex.quote(redact(opts.storage))}"] if opts.storage else []) +
                     ([f"--study {shlex.quote(opts.study)}"] if opts.study else []))
    print(summary(coordinator.study, coordinator.metric, started, stop, out=opts.out, where=where))
    if (coordinator.out / "best_config.yaml").exists():
        weights = coordinator.out / "best"
        print(f"Best config: {coordinator.out / 'best_config.yaml'}   "
              + (f"weights: {weights}/   " if weights.is_dir() and any(weights.iterdir()) else "no weights kept   ")
              + f"table: {coordinator.out / 'trials.csv'}")
    failure = no_trial_completed(coordinator.study)
    if failure:
        print(f"paddle-autotune: error: {failure}", file=sys.stderr)
        return 1
    return 0


def drawing(coordinator: Coordinator) -> str:
    """How the study draws its trials, for its first line (the prior or PULC's pass, then the sampler)."""
    return samplers.describe(coordinator.s.sampler, coordinator.s.centres, coordinator.s.prior)


def dry_run(task: Task, opts: argparse.Namespace, params: list[space.Param], notes: Sequence[str],
            coordinator: Coordinator) -> int:
    """--dry-run: everything a study would start from, resolved and printed; nothing trains. Trial 0's config
    is written to OUT/dry-run/ so that its command can be run by hand, the rescaled config beside it."""
    print(f"[autotune] dry run: suite {task.adapter.name}, config {task.config_path}, metric {coordinator.metric} "
          f"({coordinator.direction}), {drawing(coordinator)}, pruner {opts.pruner}")
    for p in params:
        print(f"[autotune]   {p.describe()}")
    for note in notes:
        print(f"[autotune] note: {note}")
    rescaled = getattr(opts, "rescaled", None)
    if rescaled is not None and rescaled.moved:
        print("[autotune] the config rescaled to your devices (trial 1"
              + ("" if opts.rescaled_trial else ", not run: its learning rate is not tuned") + "):")
        # written by the adapter, as a trial's config is: the suite's own YAML (ppdet's !Tag objects included)
        rescaled_path = (pathlib.Path(opts.out) / "dry-run" / "rescaled" / task.adapter.config_filename).resolve()
        task.adapter.write_config(rescaled.config, rescaled_path)
        print(textwrap.indent(rescaled_path.read_text(), "    ").rstrip("\n"))
        print(f"[autotune] written to {rescaled_path}")
    trial_dir = (pathlib.Path(opts.out) / "dry-run" / "trial_0000").resolve()
    trial_dir.mkdir(parents=True, exist_ok=True)
    cfg = task.adapter.prepare_trial(task, task.fresh_config(), trial_dir, coordinator.s.seed)
    config_path = trial_dir / task.adapter.config_filename
    task.adapter.write_config(cfg, config_path)
    command = task.adapter.trial_command(task, str(config_path), cfg=cfg)
    print(f"[autotune] trial 0 (the config as given), from {task.cwd}: {shlex.join(command)}")
    return 0


LAUNCHERS = ("paddle.distributed.launch", "paddle.distributed.fleet.launch")
_DEVICE_OPTIONS = ("--gpus", "--devices", "--xpus", "--npus")
_NODE_OPTIONS = ("--master", "--ips", "--nnodes", "--rank", "--host")  # several machines: one trial cannot span them


def split_launcher(command: list[str]) -> tuple[dict[str, Any], Optional[list[str]], list[str]]:
    """`-m paddle.distributed.launch --gpus 0,1 tools/train.py ...` -> (launcher, its GPUs, `tools/train.py ...`).

    Every option of paddle.distributed.launch takes a value (`--gpus 0,1` or `--gpus=0,1`). The launcher is
    kept for each trial with its options, except its devices (the trial's GPUs go there) and `--log_dir`
    (each trial logs in its own folder).

    >>> split_launcher(["-m", "paddle.distributed.launch", "--gpus=0,1", "--log_dir", "log", "tools/train.py", "-c", "x.yml"])
    ({'module': 'paddle.distributed.launch', 'options': []}, ['0', '1'], ['tools/train.py', '-c', 'x.yml'])
    """
    example = "-m paddle.distributed.launch --gpus 0,1 tools/train.py -c x.yml --autotune ..."
    module = command[1] if len(command) > 1 else ""
    if module not in LAUNCHERS:
        raise UsageError(f"-m {module or 'MODULE'}: only paddle.distributed.launch is taken before the training "
                         f"script; write {example}")
    options, gpus, i = [], None, 2
    while i < len(command) and command[i].startswith("-"):
        name, eq, value = command[i].partition("=")
        if not eq:
            if i + 1 >= len(command):
                raise UsageError(f"{name} of paddle.distributed.launch needs a value; write {example}")
            value, i = command[i + 1], i + 1
        i += 1
        if name in _NODE_OPTIONS and not (name == "--nnodes" and value == "1"):
            raise UsageError(f"paddle.distributed.launch {name} {value}: trials run on this machine only; drop "
                             f"{name}, and to use several machines start 'paddle-autotune worker' on each")
        if name in _DEVICE_OPTIONS:
            gpus = parse_gpus(value, f"the launcher's {name}")
        elif name != "--log_dir":
            options += [name, value]
    if i >= len(command):
        raise UsageError(f"no training script after paddle.distributed.launch's options; write {example}")
    return {"module": module, "options": options}, gpus, command[i:]


def check_python_script(script: str) -> None:
    """Each trial runs the script with Python: a shell script or a program would fail every trial."""
    with open(script, "rb") as f:
        head = f.read(4096)
    first = head.split(b"\n", 1)[0].decode(errors="replace").strip()
    if first.startswith("#!") and "python" not in first:
        what = f"a script for {first[2:].strip()}"
    elif pathlib.Path(script).suffix in (".sh", ".bash", ".zsh", ".ksh"):
        what = "a shell script"
    elif b"\0" in head:
        what = "a program, not a Python script"
    else:
        return
    raise UsageError(f"{script} is {what}; trials run the training script with Python: put the Python command it "
                     f"runs (e.g. train.py --lr 0.1) before --autotune")


def launch(argv: list[str]) -> int:
    """`python -m paddle_autotune_plugins tools/train.py -c x.yml ... --autotune [tuning options]`, the
    training command possibly under `-m paddle.distributed.launch --gpus 0,1` as the user runs it."""
    split = argv.index("--autotune")
    command, tuning = argv[:split], argv[split + 1:]
    if not command:
        raise UsageError("put your training command before --autotune, e.g. tools/train.py -c configs/x.yaml --autotune")
    launcher = launcher_gpus = None
    if command[0] == "-m":
        launcher, launcher_gpus, command = split_launcher(command)
    script = command[0]
    program = detect_program(script)  # a suite's own command (paddleformers-cli train ...), not a script
    if program is None:
        if not os.path.isfile(script):
            raise UsageError(f"training script not found: {script}; run from the suite checkout or give its path")
        check_python_script(script)
    parser = _Parser(prog=f"{script} ... --autotune", allow_abbrev=False)
    add_tuning_options(parser)
    opts = parser.parse_args(tuning)
    if launcher_gpus:  # the launcher's GPUs: the study's pool (unless --gpus says), one launcher-set per trial
        given_per_trial = any(t.split("=")[0] == "--gpus-per-trial" for t in tuning)
        if not given_per_trial:
            pool = parse_gpus(opts.gpus) or launcher_gpus
            if len(launcher_gpus) > len(pool):
                raise UsageError(f"the launcher's --gpus {','.join(launcher_gpus)} gives each trial "
                                 f"{len(launcher_gpus)} GPUs, more than --gpus {opts.gpus} has; give more --gpus "
                                 f"or --gpus-per-trial {len(pool)}")
            opts.gpus_per_trial = len(launcher_gpus)
        opts.gpus = opts.gpus or ",".join(launcher_gpus)
    adapter = program or detect_adapter(script)
    task = adapter.load_command(script, command[1:])
    task.launcher = launcher
    return run_study(task, opts)


def suite_command_help() -> str:
    """-c and -o as each suite reads them, from its adapter (``config_help``, ``override_example``)."""
    adapters = {name: get_adapter(name) for name in suite_names()}
    configs = [f"{name} {a.config_help}" for name, a in adapters.items() if getattr(a, "config_help", None)]
    examples: dict[str, list[str]] = {}  # an example of -o -> the suites that take it
    for name, a in adapters.items():
        example = getattr(a, "override_example", None)
        if example:
            examples.setdefault(example, []).append(name)
    config = "the config to tune" + (": " + ", ".join(configs) if configs else "")
    override = "config values set before tuning, as tools/train.py takes them" + (
        " (" + "; ".join(f"{', '.join(names)}: {example}" for example, names in examples.items()) + ")"
        if examples else "")
    indent = " " * 22
    return "\n".join(["-c CONFIG, --config CONFIG", textwrap.fill(config, 92, initial_indent=indent,
                                                                  subsequent_indent=indent),
                      "-o KEY=VALUE [KEY=VALUE ...]", textwrap.fill(override, 92, initial_indent=indent,
                                                                    subsequent_indent=indent)])


def demo_suites() -> dict[str, str]:
    """{suite: what its demo trains}, from every adapter that has a demo (its ``demo_summary``)."""
    found = {}
    for name in suite_names():
        summary = getattr(get_adapter(name), "demo_summary", None)
        if summary:
            found[name] = summary
    return found


def demo_epilog(suites: dict[str, str]) -> str:
    lines = ["suites it demos (each a real training of the suite on the CPU):"]
    for name, line_text in suites.items():
        wrapped = textwrap.wrap(line_text, 92)
        lines += [f"  {name:<6}{wrapped[0]}"] + [f"        {line}" for line in wrapped[1:]]
    return "\n".join(lines)


def cmd_tune(opts: argparse.Namespace, rest: list[str]) -> int:
    adapter = get_adapter(opts.suite)
    task = adapter.load_command(None, rest)
    return run_study(task, opts)


def cmd_worker(opts: argparse.Namespace, rest: list[str]) -> int:
    """Join a study in a shared storage: rebuild its command and space from the study, pull trials."""
    if not opts.storage:
        raise UsageError("worker needs --storage URL (the study's shared storage) and --study NAME")
    from paddle_autotune_plugins.report.load import load_study

    storage, _ = open_storage(opts.storage, pathlib.Path(opts.out).resolve(), existing=True)
    # without --study: 'autotune', or the storage's only study; several others are listed, to pick one
    study = load_study(opts.out, study=opts.study, storage=storage, label=opts.storage)
    opts.study = study.study_name
    task, params = command_record.replay(study.user_attrs.get("command"), opts.study, opts)
    # the study's own --seed: Coordinator.sampler_seed mixes in this host and pid on a shared storage
    return run_study(task, opts, params)


def _open(opts: argparse.Namespace) -> optuna.Study:
    from paddle_autotune_plugins.report.load import load_study

    storage = opts.storage
    if storage:  # the same URL handling as tune and worker (journal files, drivers, masked passwords)
        storage, _ = open_storage(storage, pathlib.Path(opts.out), existing=True)
    return load_study(opts.out, study=opts.study, storage=storage, label=opts.storage)


def cmd_show(opts: argparse.Namespace, rest: list[str]) -> int:
    from paddle_autotune_plugins.report.trials_table import trials_table

    print("\n".join(trials_table(_open(opts))))
    return 0


def cmd_report(opts: argparse.Namespace, rest: list[str]) -> int:
    from paddle_autotune_plugins.report.html_page import write_report
    from paddle_autotune_plugins.report.visualdl_export import log_to_visualdl

    study = _open(opts)
    path = write_report(study, opts.out)
    print(f"report: {path}")
    if opts.visualdl:
        log_to_visualdl(study, pathlib.Path(opts.out) / "vdl")
        print(f"VisualDL HParams: visualdl --logdir {pathlib.Path(opts.out) / 'vdl'}")
    return 0


def cmd_export(opts: argparse.Namespace, rest: list[str]) -> int:
    """Any trial's full native config (the one it trained with), or the best K, into OUT/export/: each as
    best_config.yaml is written (the adapter's export_config: your own output_dir, not the trial's folder)."""
    from paddle_autotune_plugins.report.trials_table import ordered_trials

    if opts.trial is None:
        at_least("--top", opts.top, 1, "it is how many of the best trials to export")
    study = _open(opts)
    if opts.trial is not None:
        chosen = [t for t in study.trials if t.number == opts.trial]
        if not chosen:
            raise UsageError(f"no trial {opts.trial} in the study (0..{len(study.trials) - 1})")
    else:
        chosen = [t for t in ordered_trials(study) if t.state.name == "COMPLETE"][:opts.top]
    dest = pathlib.Path(opts.out) / "export"
    dest.mkdir(parents=True, exist_ok=True)
    exporter = Exporter(study)
    for t in chosen:
        folder = trial_queries.folder(t, opts.out)
        configs = sorted(p for p in folder.glob("config.*") if p.suffix in (".yaml", ".yml", ".json"))
        if not configs and "config" not in t.user_attrs:
            raise UsageError(f"trial {t.number} left no config in {folder}")
        name = configs[0].name if configs else exporter.filename()
        target = dest / f"trial_{t.number:04d}_{name}"
        exporter.write(t, configs[0] if configs else None, target)
        value = "" if t.value is None else f" ({study.user_attrs.get('metric', 'value')} = {t.value:.4f})"
        print(f"trial {t.number} {t.state.name}{value}: {target}")
    return 0


def cmd_presets(opts: argparse.Namespace, rest: list[str]) -> int:
    for line in presets.describe(opts.suite):
        print(line)
    return 0


def cmd_train(opts: argparse.Namespace, rest: list[str]) -> int:
    import runpy

    adapter = get_adapter(opts.suite)
    if adapter.train_entry is None:
        raise UsageError(f"--suite {opts.suite} has no train entry of the plugin's own; run the suite's tools/train.py")
    sys.argv = [adapter.train_entry] + rest
    runpy.run_module(adapter.train_entry, run_name="__main__")
    return 0


def cmd_doctor(opts: argparse.Namespace, rest: list[str]) -> int:
    import platform

    print(f"paddle-autotune {__version__}, Python {platform.python_version()}")
    try:
        import paddle

        gpus = paddle.device.cuda.device_count() if paddle.device.is_compiled_with_cuda() else 0
        print(f"paddlepaddle {paddle.__version__} ({'CUDA' if paddle.device.is_compiled_with_cuda() else 'CPU'} build),"
              f" devices: cpu x{os.cpu_count()}" + (f", gpu x{gpus}" if gpus else ""))
    except ImportError:
        print("paddlepaddle: not installed")
    for name in suite_names():
        for line in get_adapter(name).doctor():
            print(line)
    if opts.configs:
        root = pathlib.Path(opts.configs)
        adapters = [get_adapter(n) for n in ([opts.suite] if opts.suite else suite_names())]
        adapter = next((a for a in adapters if a.owns_checkout(root)), None)
        if adapter is None:
            raise UsageError(f"{root} is not a suite checkout this plugin knows; give --suite")
        counts, failures = adapter.doctor_configs(root)
        for line in failures[:opts.show_failures]:
            print(f"  {line}" if line.startswith("note:") else f"  FAIL {line}")
        total = counts.pop("total")
        print(f"{adapter.name} configs under {root}: {total}")
        for key, n in counts.items():
            if key.startswith("fragments"):
                print(f"  not counted, {key}: {n}")
            else:
                print(f"  {key}: {n}/{total} ({100.0 * n / max(total, 1):.1f}%)")
    return 0


def cmd_demo(opts: argparse.Namespace, rest: list[str]) -> int:
    adapter = get_adapter(opts.suite)
    demo = adapter.demo(pathlib.Path(opts.out))
    assert demo is not None, "demo's --suite choices are the suites with a demo"
    task, options = demo
    parser = _Parser(prog="paddle-autotune demo")
    add_tuning_options(parser)
    return run_study(task, parser.parse_args(["--out", opts.out, "--trials", str(opts.trials)] + options + rest))


def main(argv: Optional[list[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if "--autotune" in argv:
            quiet_suite_imports()  # a study: the suites' import noise stays out of its console
            return launch(argv)
        parser = _Parser(prog="paddle-autotune", description=__doc__.splitlines()[0].replace("`", ""))
        parser.add_argument("--version", action="version", version=__version__)
        sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
        p = sub.add_parser("tune", help="tune a suite config (-c CONFIG [-o KEY=VALUE ...])",
                           usage="paddle-autotune tune --suite SUITE -c CONFIG [-o KEY=VALUE ...] [tuning options]",
                           description="Tune a suite config with the plugin's own train entry of the suite (no\n"
                                       "source checkout needed). From a checkout, put --autotune after your own\n"
                                       "training command instead:\n"
                                       "  python -m paddle_autotune_plugins tools/train.py -c CONFIG --autotune ...",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--suite", required=True,
                       help=f"the suite: {', '.join(n for n in suite_names() if n != 'generic')} (a script of "
                            f"your own: python -m paddle_autotune_plugins SCRIPT ... --autotune)")
        p.add_argument_group("the suite's command (read by the suite, as its tools/train.py reads it)",
                             suite_command_help())
        add_tuning_options(p)
        p.set_defaults(func=cmd_tune)
        p = sub.add_parser("worker", help="join a study in a shared --storage and run its trials here")
        add_tuning_options(p)
        p.set_defaults(func=cmd_worker)
        for name, func, text in (("show", cmd_show, "the trials table, best first"),
                                 ("report", cmd_report, "HTML report with plots (and VisualDL HParams)"),
                                 ("export", cmd_export, "write any trial's full config (--trial N) or the best K")):
            p = sub.add_parser(name, help=text)
            p.add_argument("--out", default="autotune_out", help="the tuning run's --out folder")
            p.add_argument("--study")
            p.add_argument("--storage", help="for studies kept in a --storage URL")
            if name == "report":
                p.add_argument("--visualdl", action="store_true", help="also log trials to VisualDL's HParams")
            if name == "export":
                p.add_argument("--trial", type=int)
                p.add_argument("--top", type=int, default=1)
            p.set_defaults(func=func)
        p = sub.add_parser("presets", help="list presets and the paths each touches")
        p.add_argument("--suite")
        p.set_defaults(func=cmd_presets)
        p = sub.add_parser("train", help="the plugin's own train entry of a suite (like tools/train.py)")
        p.add_argument("--suite", required=True)
        p.set_defaults(func=cmd_train)
        p = sub.add_parser("doctor", help="versions, run-time fixes, devices; --configs walks a suite checkout")
        p.add_argument("--configs", help="root of a suite source checkout")
        p.add_argument("--suite")
        p.add_argument("--show-failures", type=int, default=20)
        p.set_defaults(func=cmd_doctor)
        demos = demo_suites()
        p = sub.add_parser("demo", help="a real tuning run on bundled offline data (" + ", ".join(demos) + ")",
                           description="A real, small tuning run of a suite on data bundled with the plugin (no\n"
                                       "download): it writes the demo's config into --out and tunes it there.\n"
                                       "Any tuning option of 'tune' may follow (e.g. --sampler random --workers 2).",
                           formatter_class=argparse.RawDescriptionHelpFormatter, epilog=demo_epilog(demos))
        p.add_argument("--out", default="autotune_demo",
                       help="folder for the demo's config and study (default: autotune_demo)")
        p.add_argument("--trials", type=int, default=8, help="trials to run, trial 0 included (default: 8)")
        first = next(iter(demos), None)  # the first suite by name that has a demo
        p.add_argument("--suite", default=first, choices=list(demos),
                       help=f"which suite to demo (default: {first}); see the list below")
        p.set_defaults(func=cmd_demo)
        from paddle_autotune_plugins.report import dashboard

        dashboard.add_parser(sub)
        opts, rest = parser.parse_known_args(argv)
        if opts.func in (cmd_tune, cmd_worker, cmd_demo):
            quiet_suite_imports()
        if rest and opts.func not in (cmd_tune, cmd_train, cmd_demo):
            raise UsageError(f"unrecognized arguments: {' '.join(rest)}")
        return opts.func(opts, rest)
    except UsageError as e:
        print(f"paddle-autotune: error: {e}", file=sys.stderr)
        return e.exit_code
