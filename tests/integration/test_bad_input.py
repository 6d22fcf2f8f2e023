"""Bad input fails before any trial starts: exit code 2 and one line that names the problem and the fix."""
import subprocess

from conftest import PYTHON, REPO


def _bytes(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def _space(tmp_path, text):
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return str(path)


def _options(*tuning):
    """Tuning options after a good config and preset: only they are wrong."""
    return lambda cfg, tmp: ["-c", str(cfg), "--preset", "clas-lr", *tuning]


CASES = {
    "config missing": (lambda cfg, tmp: ["-c", str(tmp / "nope.yaml"), "--preset", "clas-lr"],
                       "config file not found"),
    "unknown path": (lambda cfg, tmp: ["-c", str(cfg), "--space", _space(tmp, "Optimizer.lr.learning_rat: {low: 0.01, high: 0.1}\n")],
                     "unknown path 'Optimizer.lr.learning_rat'.*did you mean Optimizer.lr.learning_rate"),
    "low > high": (lambda cfg, tmp: ["-c", str(cfg), "--space", _space(tmp, "Optimizer.momentum: {low: 0.99, high: 0.8}\n")],
                   "low 0.99 > high 0.8; swap them"),
    "unknown preset": (lambda cfg, tmp: ["-c", str(cfg), "--preset", "clas-lrr"], "unknown preset 'clas-lrr'"),
    "-o leaf key typo": (lambda cfg, tmp: ["-c", str(cfg), "-o", "Global.epoch=1", "--preset", "clas-lr"],
                         "-o Global.epoch: the config has no 'epoch' there; did you mean Global.epochs"),
    "-o parent typo": (lambda cfg, tmp: ["-c", str(cfg), "-o", "Globl.epochs=1", "--preset", "clas-lr"],
                       "-o Globl.epochs: no such path in the config; did you mean Global.epochs"),
    "nan bound": (lambda cfg, tmp: ["-c", str(cfg), "--space", _space(tmp, "Optimizer.momentum: {low: .nan, high: 0.9}\n")],
                  "space 'Optimizer.momentum': low must be a finite number"),
    "inf bound": (lambda cfg, tmp: ["-c", str(cfg), "--space", _space(tmp, "Optimizer.momentum: {low: 0.5, high: .inf}\n")],
                  "space 'Optimizer.momentum': high must be a finite number"),
    "space not utf-8": (lambda cfg, tmp: ["-c", str(cfg), "--space", _bytes(tmp, "space.yaml", b"x: {low: 0, high: 1} # \xff\xfe\n")],
                        "is not UTF-8 text; save the space file as UTF-8"),
    "config not utf-8": (lambda cfg, tmp: ["-c", _bytes(tmp, "c.yaml", cfg.read_bytes() + b"# \xff\xfe\n"), "--preset", "clas-lr"],
                         "is not UTF-8 text; save it as UTF-8"),
    "out is empty": (_options("--out", ""), "--out is empty"),
    "out under /proc": (_options("--out", "/proc/autotune"), "cannot write to --out /proc/autotune: "),
    "out is a file": (lambda cfg, tmp: ["-c", str(cfg), "--preset", "clas-lr", "--out", _bytes(tmp, "f", b"x")],
                      "--out .*/f is a file, not a folder"),
    "out name too long": (lambda cfg, tmp: ["-c", str(cfg), "--preset", "clas-lr", "--out", str(tmp / ("x" * 300))],
                          "cannot write to --out .*: File name too long"),
    # --- beyond the reported ones: every option and spec spelling a hurried user gets wrong ---
    "preset without a name": (lambda cfg, tmp: ["-c", str(cfg), "--preset"], "argument --preset: expected one argument"),
    "preset of another suite": (lambda cfg, tmp: ["-c", str(cfg), "--preset", "det-nms"], "preset 'det-nms' is for the det suite"),
    "nothing to tune": (lambda cfg, tmp: ["-c", str(cfg)], "nothing to tune: give --preset NAME"),
    "space file missing": (lambda cfg, tmp: ["-c", str(cfg), "--space", str(tmp / "nope.yaml")], "space file not found"),
    "space file is a folder": (lambda cfg, tmp: ["-c", str(cfg), "--space", str(tmp)], "space file not found"),
    "space is a list": (lambda cfg, tmp: ["-c", str(cfg), "--space", _space(tmp, "- Optimizer.momentum\n")],
                        "a space file must map dotted paths to specs, got list"),
    "space not YAML": (lambda cfg, tmp: ["-c", str(cfg), "--space", _space(tmp, "a: [1, 2\n")], "is not a valid space file"),
    "space missing env var": (lambda cfg, tmp: ["-c", str(cfg), "--space", _space(tmp, "Optimizer.momentum: {low: ${oc.env:NO_SUCH_VAR_X}, high: 1}\n")],
                              "is not a valid space file"),
    "unknown spec type": (lambda cfg, tmp: ["-c", str(cfg), "--space", _space(tmp, "Optimizer.momentum: {type: gaussian, low: 0, high: 1}\n")],
                          "unknown type 'gaussian'"),
    "unknown spec key": (lambda cfg, tmp: ["-c", str(cfg), "--space", _space(tmp, "Optimizer.momentum: {lowe: 0.1, high: 1}\n")],
                         "unknown key\\(s\\) \\['lowe'\\]"),
    "empty choices": (lambda cfg, tmp: ["-c", str(cfg), "--space", _space(tmp, "Optimizer.momentum: {choices: []}\n")],
                      "categorical needs a non-empty list of choices"),
    "int with fractions": (lambda cfg, tmp: ["-c", str(cfg), "--space", _space(tmp, "Global.epochs: {type: int, low: 1.5, high: 3}\n")],
                           "int bounds must be whole numbers"),
    "log from zero": (lambda cfg, tmp: ["-c", str(cfg), "--space", _space(tmp, "Optimizer.momentum: {low: 0, high: 1, log: true}\n")],
                      "a log range needs low > 0"),
    "negative step": (lambda cfg, tmp: ["-c", str(cfg), "--space", _space(tmp, "Optimizer.momentum: {low: 0.1, high: 1, step: -0.1}\n")],
                      "step must be > 0"),
    "step with log": (lambda cfg, tmp: ["-c", str(cfg), "--space", _space(tmp, "Optimizer.momentum: {low: 0.1, high: 1, step: 0.1, log: true}\n")],
                      "step and log cannot be combined"),
    "empty range": (lambda cfg, tmp: ["-c", str(cfg), "--space", _space(tmp, "Optimizer.momentum: {low: 0.9, high: 0.9}\n")],
                    "empty range \\[0.9, 0.9\\]"),
    "three bounds": (lambda cfg, tmp: ["-c", str(cfg), "--space", _space(tmp, "Optimizer.momentum: {bounds: [0.1, 0.5, 0.9]}\n")],
                     "bounds must be \\[low, high\\]"),
    "spec is a word": (lambda cfg, tmp: ["-c", str(cfg), "--space", _space(tmp, "Optimizer.momentum: fast\n")],
                       "expected a mapping like"),
    "bound is a word": (lambda cfg, tmp: ["-c", str(cfg), "--space", _space(tmp, "Optimizer.momentum: {low: small, high: 1}\n")],
                        "low must be a number, got 'small'"),
    "when not a mapping": (lambda cfg, tmp: ["-c", str(cfg), "--space", _space(tmp, "Optimizer.momentum: {low: 0.1, high: 1, when: yes}\n")],
                           "when must map a path to a value"),
    "scale_with without reference": (lambda cfg, tmp: ["-c", str(cfg), "--space", _space(tmp, "Optimizer.momentum: {low: 0.1, high: 1, scale_with: Global.epochs}\n")],
                                     "scale_with needs a reference > 0"),
    "unknown apply": (lambda cfg, tmp: ["-c", str(cfg), "--space", _space(tmp, "Optimizer.momentum: {low: 0.1, high: 1, apply: multiply}\n")],
                      "unknown apply 'multiply'"),
    "enqueue of an untuned key": (lambda cfg, tmp: ["-c", str(cfg), "--space", _space(tmp, "Optimizer.momentum: {low: 0.1, high: 1}\nenqueue:\n  - {Optimizer.nesterov: true}\n")],
                                  "Optimizer.nesterov"),
    "-o without a value": (lambda cfg, tmp: ["-c", str(cfg), "-o", "Global.epochs", "--preset", "clas-lr"],
                           "-o 'Global.epochs' must be KEY=VALUE"),
    "no config": (lambda cfg, tmp: ["--preset", "clas-lr"], "the following arguments are required: -c/--config"),
    "config is empty": (lambda cfg, tmp: ["-c", _bytes(tmp, "empty.yaml", b""), "--preset", "clas-lr"],
                        "is not a PaddleClas config"),
    "config of another suite": (lambda cfg, tmp: ["-c", _bytes(tmp, "det.yml", b"architecture: YOLOv3\nepoch: 3\n"), "--preset", "clas-lr"],
                                "is not a PaddleClas config"),
    "config not YAML": (lambda cfg, tmp: ["-c", _bytes(tmp, "bad.yaml", b"Global: [1, 2\n"), "--preset", "clas-lr"],
                        "is not valid YAML"),
    "out under a file": (lambda cfg, tmp: ["-c", str(cfg), "--preset", "clas-lr", "--out", _bytes(tmp, "plain", b"x") + "/sub"],
                         "cannot write to --out .*/plain/sub: Not a directory"),
    # --- --param PATH=SPEC: each bad spelling names the one to write ---
    "param without =": (lambda cfg, tmp: ["-c", str(cfg), "--param", "Optimizer.momentum"],
                        "--param 'Optimizer.momentum' must read PATH=LOW:HIGH\\[:STEP\\], PATH=log:LOW:HIGH, .*"
                        "PATH=choice:A,B,C or PATH=\\[log:\\]around:FACTOR\\[:LOW:HIGH\\], "
                        "e.g. --param Optimizer.lr.learning_rate=log:1e-4:1e-1"),
    "param one value": (lambda cfg, tmp: ["-c", str(cfg), "--param", "Optimizer.momentum=0.9"],
                        "--param Optimizer.momentum=0.9 is one value, not a range: write "
                        "Optimizer.momentum=LOW:HIGH \\(e.g. Optimizer.momentum=0.45:1.8\\)"),
    "param hydra interval": (lambda cfg, tmp: ["-c", str(cfg), "--param", "Optimizer.momentum=interval(0.8,0.99)"],
                             "interval\\(...\\) is not read here \\(Hydra's sweep syntax\\); "
                             "write Optimizer.momentum=0.8:0.99$"),
    "param hydra log interval": (lambda cfg, tmp: ["-c", str(cfg), "--param",
                                                   "Optimizer.lr.learning_rate=tag(log, interval(1e-4, 1e-1))"],
                                 "write Optimizer.lr.learning_rate=log:1e-4:1e-1$"),
    "param hydra choice": (lambda cfg, tmp: ["-c", str(cfg), "--param", "DataLoader.Train.sampler.batch_size=choice(32,64)"],
                           "write DataLoader.Train.sampler.batch_size=choice:32,64$"),
    "param hydra range": (lambda cfg, tmp: ["-c", str(cfg), "--param", "Global.epochs=range(1,10,2)"],
                          "write Global.epochs=int:1:9:2$"),  # Hydra's range stops before 10
    "param bare list": (lambda cfg, tmp: ["-c", str(cfg), "--param", "DataLoader.Train.sampler.batch_size=32,64"],
                        "a list of values needs 'choice:'; write DataLoader.Train.sampler.batch_size=choice:32,64$"),
    "param unknown word": (lambda cfg, tmp: ["-c", str(cfg), "--param", "Optimizer.lr.learning_rate=logg:1e-4:1e-1"],
                           "'logg' is not a number or one of int, float, log, new, choice; write PATH=LOW:HIGH"),
    "param four numbers": (lambda cfg, tmp: ["-c", str(cfg), "--param", "Global.epochs=1:2:3:4"],
                           "4 numbers; a range is LOW:HIGH or LOW:HIGH:STEP"),
    "param inverted": (lambda cfg, tmp: ["-c", str(cfg), "--param", "Optimizer.momentum=0.99:0.8"],
                       "--param Optimizer.momentum=0.99:0.8: low 0.99 > high 0.8; swap them"),
    "param log from zero": (lambda cfg, tmp: ["-c", str(cfg), "--param", "Optimizer.lr.learning_rate=log:0:0.1"],
                            "--param Optimizer.lr.learning_rate=log:0:0.1: a log range needs low > 0"),
    "param choice with log": (lambda cfg, tmp: ["-c", str(cfg), "--param", "DataLoader.Train.sampler.batch_size=log:choice:32,64"],
                              "a choice takes no int/float/log; write DataLoader.Train.sampler.batch_size=choice:A,B,C"),
    "param empty choice": (lambda cfg, tmp: ["-c", str(cfg), "--param", "DataLoader.Train.sampler.batch_size=choice:"],
                           "empty choice; list the values"),
    "param twice": (lambda cfg, tmp: ["-c", str(cfg), "--param", "Optimizer.momentum=0.8:0.9",
                                      "--param", "Optimizer.momentum=0.5:0.9"],
                    "--param Optimizer.momentum given twice \\(Optimizer.momentum=0.8:0.9 and "
                    "Optimizer.momentum=0.5:0.9\\); keep one"),
    "param unknown path": (lambda cfg, tmp: ["-c", str(cfg), "--param", "Optimizer.momentun=0.8:0.99"],
                           "unknown path 'Optimizer.momentun'.*did you mean Optimizer.momentum"),
    "param without a value": (lambda cfg, tmp: ["-c", str(cfg), "--param"], "argument --param: expected one argument"),
}


# Bad tuning options after a good config and preset: NAME | OPTIONS | MESSAGE (a regex), one case a line
BAD_OPTIONS = """
unknown sampler               | --sampler tpee                            | unknown sampler 'tpee'; choose one of tpe, gp
unknown metric                | --metric top3                             | unknown metric 'top3' for this config; choose one of top1, top5
unknown pruner                | --pruner sha                              | unknown pruner 'sha'
bad pruner step               | --pruner asha:0                           | bad pruner 'asha:0': only asha:N and median:N take a first step N
bad stages                    | --stages random,tpe                       | --stages takes SAMPLER:TRIALS stages then a last SAMPLER
workers 0                     | --workers 0                               | --workers must be >= 1, got 0
max failures -1               | --max-failures -1                         | --max-failures must be >= 1, got -1; leave it out
trial timeout 0               | --trial-timeout 0                         | --trial-timeout must be longer than 0, got '0'; leave the option out for no limit
trial memory 0                | --trial-memory 0GB                        | --trial-memory must be more than 0
negative seed                 | --seed -3                                 | --seed must be >= 0
duration 1.2.3h               | --time-budget 1.2.3h                      | --time-budget: cannot read duration '1.2.3h'; write it like 90s, 30m, 1h30m
negative duration             | --time-budget -5m                         | --time-budget: cannot read duration '-5m'
trials 0                      | --trials 0                                | --trials must be >= 1, got 0
trials negative               | --trials -3                               | --trials must be >= 1
trials not a number           | --trials ten                              | argument --trials: invalid int value: 'ten'
workers negative              | --workers -2                              | --workers must be >= 1, got -2
early stopping 0              | --early-stopping-rounds 0                 | --early-stopping-rounds must be >= 1
retry negative                | --retry-failed -1                         | --retry-failed must be >= 0
trials per gpu 0              | --trials-per-gpu 0                        | --trials-per-gpu and --gpus-per-trial must be >= 1
gpus not ids                  | --gpus a,b                                | --gpus takes GPU ids like 0,1,2,3
gpus on a cpu build           | --gpus 0                                  | --gpus 0: this Paddle build has no CUDA
more gpus per trial than gpus | --gpus 0,1 --gpus-per-trial 3             | --gpus-per-trial 3 needs at least
unknown direction             | --direction sideways                      | argument --direction: invalid choice: 'sideways'
more directions than metrics  | --direction maximize --direction minimize | 2 --direction for 1 --metric
bad constraint                | --constraint latency_ms<20                | --constraint 'latency_ms<20' must read METRIC<=VALUE
constraint on unknown metric  | --constraint speed<=3                     | --constraint on unknown metric 'speed'
several metrics with a pruner | --metric top1 --metric params_m           | Optuna cannot prune multi-objective
unknown storage scheme        | --storage ftp://host/x                    | malformed storage URL 'ftp://host/x'
journal without a file        | --storage journal://                      | names no file: write journal:///path/study.log
one stage only                | --stages tpe                              | --stages takes SAMPLER:TRIALS stages then a last SAMPLER
stage count not a number      | --stages random:x,tpe                     | --stages: 'random:x' must be SAMPLER:TRIALS
negative pruner step          | --pruner asha:-1                          | bad pruner 'asha:-1'
bad memory unit               | --trial-memory 8XB                        | --trial-memory: cannot read memory size '8XB'
negative memory               | --trial-memory -1GB                       | --trial-memory: cannot read memory size '-1GB'
time budget 0                 | --time-budget 0h                          | --time-budget must be longer than 0
time budget unit              | --time-budget 5x                          | --time-budget: cannot read duration '5x'
heartbeat 0                   | --heartbeat 0s                            | --heartbeat must be longer than 0
bad duration                  | --time-budget soon                        | cannot read duration 'soon'
"""
for row in BAD_OPTIONS.strip().splitlines():
    name, tuning, message = (cell.strip() for cell in row.split("|"))
    CASES[name] = (_options(*tuning.split()), message)


def test_launcher_exit_code_and_single_line(digits_config, tmp_path):
    """The real `python -m paddle_autotune_plugins SCRIPT ... --autotune` path, as a user runs it."""
    script = tmp_path / "train.py"
    script.write_text("print('never runs')\n")
    proc = subprocess.run([PYTHON, "-m", "paddle_autotune_plugins", str(script), "-c", str(digits_config),
                           "--autotune", "--preset", "clas-lr", "--trials", "3", "--samplr", "tpe"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "unrecognized arguments: --samplr" in proc.stderr
