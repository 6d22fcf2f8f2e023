"""Issue 28: the user's config as the prior - rescaled to the user's devices, ranges centred on it."""
from conftest import autotune, read_trials

from paddle_autotune_plugins.suites.adapter import Task

# --- the prior-guided sampler wired in (--prior, --sampler greedy), and what the study says of it ----------
TOY = '''
import argparse, math
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--epochs", type=int, default=2)
args = parser.parse_args()
for epoch in range(1, args.epochs + 1):  # the larger the rate the better, past the range's top
    print(f"epoch {epoch} acc: {0.5 + 0.1 * math.log10(args.lr) + 0.01 * epoch:.5f}")
'''


def toy_study(tmp_path, *options):
    (tmp_path / "train.py").write_text(TOY)
    out = tmp_path / "out"
    proc = autotune(["train.py", "--lr", "0.01", "--autotune", "--param", "lr=log:around:10", "--metric", "acc",
                     "--trials", "8", "--pruner", "none", "--out", str(out)] + list(options), cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, read_trials(out), out


def test_prior_is_the_default_and_the_tables_say_where_each_trial_came_from(tmp_path):
    proc, rows, out = toy_study(tmp_path)
    assert "lr: float [0.001, 0.1] log; centred on the config's 0.01" in proc.stderr
    assert rows[0]["drawn_from"] == "config"
    sources = {r["drawn_from"] for r in rows[1:]}
    assert sources <= {"prior", "uniform", "sampler"} and "prior" in sources, rows
    assert "drawn around the config:" in proc.stdout
    show = autotune(["show", "--out", str(out)])
    assert show.returncode == 0 and "drawn from" in show.stdout, show.stdout
    assert any(line.split()[4] == "prior" for line in show.stdout.splitlines() if line[:2].strip().isdigit())


def test_prior_none_is_the_plain_sampler(tmp_path):
    _, rows, _ = toy_study(tmp_path, "--prior", "none", "--sampler", "random")
    assert [r["drawn_from"] for r in rows] == ["config"] + ["sampler"] * 7


def test_greedy_sampler_starts_from_the_config(tmp_path):
    proc, rows, _ = toy_study(tmp_path, "--sampler", "greedy")
    assert rows[0]["drawn_from"] == "config" and {r["drawn_from"] for r in rows[1:]} <= {"greedy", "sampler"}
    # PULC's pass over lr: the config's value times 1/10, 1/3, 3, 10 (clipped to the range) after the baseline
    tried = sorted(round(float(r["lr"]), 6) for r in rows[1:5])
    assert tried == [0.001, 0.003333, 0.03, 0.1], rows
    # the best trials sit at the top of the range: the summary says to widen it upwards
    assert "lr: the best trials sit at the high end of [0.001, 0.1]; widen it upwards, e.g. --param " \
           "lr=log:0.001:1" in proc.stdout, proc.stdout


def test_prior_greedy_runs_pulcs_pass_from_the_config_then_the_named_sampler(tmp_path):
    proc, rows, _ = toy_study(tmp_path, "--prior", "greedy")
    assert [r["drawn_from"] for r in rows] == ["config"] + ["greedy"] * 4 + ["sampler"] * 3, rows
    tried = sorted(round(float(r["lr"]), 6) for r in rows[1:5])
    assert tried == [0.001, 0.003333, 0.03, 0.1], rows
    assert "PULC's pass from the config: 4 complete trials; best drawn from: greedy" in proc.stdout, proc.stdout
    assert "PULC's pass from the config, then tpe, pruner none" in proc.stderr, proc.stderr[:500]


def test_dry_run_prints_the_space_and_trial_0s_command_and_trains_nothing(tmp_path):
    (tmp_path / "train.py").write_text(TOY)
    out = tmp_path / "out"
    proc = autotune(["train.py", "--lr", "0.01", "--autotune", "--param", "lr=log:around:10", "--metric", "acc",
                     "--out", str(out), "--dry-run"], cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "lr: float [0.001, 0.1] log; centred on the config's 0.01" in proc.stdout
    assert "the prior around the config, then tpe, pruner asha" in proc.stdout, proc.stdout[:500]
    command = next(line for line in proc.stdout.splitlines() if "trial 0 (the config as given)" in line)
    assert command.endswith("train.py --lr 0.01"), command
    assert not (out / "study.db").exists() and not list(out.glob("trial_*"))


def test_a_flag_the_command_leaves_out_is_centred_on_the_scripts_own_default(tmp_path):
    """The TOY script's --help prints no defaults; its add_argument's default=0.01 is what trial 0 trains with."""
    (tmp_path / "train.py").write_text(TOY)
    out = tmp_path / "out"
    proc = autotune(["train.py", "--autotune", "--param", "lr=log:around:10", "--metric", "acc", "--trials", "3",
                     "--pruner", "none", "--out", str(out)], cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "lr: float [0.001, 0.1] log; centred on the trainer's default 0.01" in proc.stderr, proc.stderr[:1500]
    assert "the command does not give lr: the search starts from the trainer's own default (lr 0.01)" in proc.stderr
    rows = read_trials(out)
    assert float(rows[0]["lr"]) == 0.01 and rows[0]["drawn_from"] == "config", rows[0]
    assert "--lr" not in (out / "trial_0000" / "command.txt").read_text()  # trial 0 runs the command as given


def test_a_resumed_study_draws_around_the_centres_it_stored(tmp_path):
    """The centres live in the study: a resumed run (or a worker, which has no config of its own) uses them."""
    from fake_suite import FakeAdapter

    from paddle_autotune_plugins.optuna_glue.prior_sampler import PriorSampler
    from paddle_autotune_plugins.search_space import space
    from paddle_autotune_plugins.settings.options import Settings
    from paddle_autotune_plugins.study.coordinator import Coordinator

    script = tmp_path / "fake_train.py"
    script.write_text("import sys, yaml\nfrom paddle_autotune_plugins.trials.reporting import report\n"
                      "cfg = yaml.safe_load(open(sys.argv[1]))\nreport(1, {'score': -abs(cfg['x'] - 0.3)})\n")
    task = Task(FakeAdapter(script), {"x": 0.9, "steps": 1}, config_path="fake.yaml", cwd=str(tmp_path))
    params = space.parse_space({"x": {"low": 0.0, "high": 1.0}})
    first = Coordinator(task, params, Settings(out=tmp_path / "out", trials=3, quiet=True, pruner="none",
                                               centres={"x": 0.9}))
    first.run()
    again = Coordinator(task, params, Settings(out=tmp_path / "out", trials=6, quiet=True, pruner="none"))
    again.run()
    assert isinstance(again.study.sampler, PriorSampler) and again.study.sampler.centres == {"x": 0.9}
    sources = [t.user_attrs.get("drawn_from") for t in again.study.trials]
    assert sources[0] is None and set(sources[1:]) <= {"prior", "uniform", "sampler"}


def test_reference_devices_names_the_devices_a_config_is_written_for(tmp_path):
    """The bundled digits config is written for one device: with --reference-devices 1 (as its demo passes) the
    range is centred on its own rate, not on the rate rescaled from PaddleClas's 4 GPUs (the demo's draws all
    sat 4x below its baseline)."""
    from paddle_autotune_plugins.adapters.paddleclas.digits import write_demo_config

    config = write_demo_config(tmp_path / "cfg")
    base = ["tune", "--suite", "clas", "-c", str(config), "--preset", "clas-lr", "--dry-run"]
    shipped = autotune(base + ["--out", str(tmp_path / "a")], timeout=300)
    assert shipped.returncode == 0, shipped.stderr[-2000:]
    assert "centred on 0.00075 (the config's 0.003, rescaled)" in shipped.stdout + shipped.stderr
    own = autotune(base + ["--reference-devices", "1", "--out", str(tmp_path / "b")], timeout=300)
    assert own.returncode == 0, own.stderr[-2000:]
    text = own.stdout + own.stderr
    assert "centred on the config's 0.003" in text and "written for 1 device, a trial trains on 1" in text, text[-2000:]
