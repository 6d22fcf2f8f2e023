"""Issue 28: the user's config as the prior - rescaled to the user's devices, ranges centred on it."""
import math

import pytest
import yaml
from conftest import autotune, checkout_root, read_trials

from paddle_autotune_plugins import rescale
from paddle_autotune_plugins.adapter import Task, get_adapter

MOBILENET = "ppcls/configs/ImageNet/MobileNetV3/MobileNetV3_small_x0_35.yaml"


def clas_task(optimizer, lr, schedule="Cosine"):
    cfg = {"Global": {"epochs": 4}, "Arch": {"name": "MobileNetV3_small_x0_35"},
           "Optimizer": {"name": optimizer, "lr": {"name": schedule, "learning_rate": lr}},
           "DataLoader": {"Train": {"sampler": {"batch_size": 512}}}}
    return Task(get_adapter("clas"), cfg)


@pytest.mark.parametrize("optimizer, reference, factor", [
    ("Momentum", 4, 0.25),  # linear: a quarter of the total batch, a quarter of the rate
    ("AdamW", 8, math.sqrt(1 / 8)),  # square root for the Adam family, whose configs ppcls writes for 8 GPUs
])
def test_clas_config_rescaled_to_one_device(optimizer, reference, factor):
    result = rescale.rescale(clas_task(optimizer, 1.3), devices=1)
    assert (result.reference, result.devices, result.paths) == (reference, 1, ["Optimizer.lr.learning_rate"])
    assert result.config["Optimizer"]["lr"]["learning_rate"] == pytest.approx(1.3 * factor)
    assert result.given["Optimizer"]["lr"]["learning_rate"] == 1.3  # the task's config is left as given
    assert f"-> {1.3 * factor:.4g}" in result.line()


def test_no_rescale_on_the_reference_devices_or_without_a_known_rule():
    same = rescale.rescale(clas_task("Momentum", 1.3), devices=4)
    assert not same.moved and "stays as configured" in same.line()
    unknown = rescale.rescale(clas_task("Ftrl", 1.3), devices=1)
    assert not unknown.moved and "no known scaling rule" in unknown.line()
    nlp = rescale.rescale(Task(get_adapter("nlp"), {"learning_rate": 5e-5}), devices=1)
    assert not nlp.moved and nlp.line() is None  # PaddleNLP names no reference device count


def test_det_adamw_config_rescaled_by_square_root():
    cfg = {"LearningRate": {"base_lr": 1e-4}, "OptimizerBuilder": {"optimizer": {"type": "AdamW"}}}
    result = rescale.rescale(Task(get_adapter("det"), cfg), devices=2)
    assert result.config["LearningRate"]["base_lr"] == pytest.approx(1e-4 * 0.5)  # sqrt(2 / 8)


def test_mobilenetv3_on_one_device_dry_run_and_trial_1(tmp_path):
    """PaddleClas develop's MobileNetV3_small_x0_35 (lr 1.3, batch 512 a GPU, 4 GPUs) on the CPU: the range
    is centred on 1.3 x 1/4 = 0.325 (linear rule, Momentum) and trial 1 trains that config."""
    from paddle_autotune_plugins.adapters.paddleclas.digits import ensure_digits

    root = checkout_root("PaddleClas-develop")
    command = ["tools/train.py", "-c", MOBILENET, "--autotune", "--preset", "clas-lr", "--out", str(tmp_path / "dry"),
               "--dry-run"]
    dry = autotune(command, cwd=root, timeout=300)  # no ImageNet here: shown in full, then refused as a study would be
    assert dry.returncode == 2 and "error: data not found: DataLoader.Train.dataset.image_root" in dry.stderr
    assert "Optimizer.lr.learning_rate: float [0.0325, 3.25] log; centred on 0.325 (the config's 1.3, rescaled)" \
        in dry.stdout
    assert "learning rate 1.3 -> 0.325 (x0.25, linear rule for Momentum" in dry.stdout
    assert "trial 0 (the config as given)" in dry.stdout and not (tmp_path / "dry" / "trial_0000").exists()
    # two short trainings on 32 digits (a missing data set, or a failing baseline, would stop the study before
    # trial 1): what matters is what each was written with
    digits = ensure_digits()
    small = tmp_path / "digits_32.txt"
    small.write_text("".join((digits / "train_list.txt").read_text().splitlines(True)[:32]))
    data = [f"DataLoader.{mode}.dataset.{key}={value}" for mode in ("Train", "Eval")
            for key, value in (("image_root", digits), ("cls_label_path", small))]
    out = tmp_path / "study"
    run = autotune(["tools/train.py", "-c", MOBILENET, "-o", "Global.epochs=1"] + [a for d in data for a in ("-o", d)]
                   + ["--autotune", "--preset", "clas-lr", "--out", str(out), "--trials", "2"], cwd=root, timeout=600)
    assert "trial 1 runs the config rescaled to 1 device(s)" in run.stderr, run.stderr[-2000:]
    written = [yaml.safe_load((out / f"trial_000{n}" / "config.yaml").read_text()) for n in (0, 1)]
    assert [w["Optimizer"]["lr"]["learning_rate"] for w in written] == [1.3, pytest.approx(0.325)]
    assert [r["drawn_from"] for r in read_trials(out)] == ["config", "rescaled config"]


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


def test_dry_run_prints_the_space_and_trial_0s_command_and_trains_nothing(tmp_path):
    (tmp_path / "train.py").write_text(TOY)
    out = tmp_path / "out"
    proc = autotune(["train.py", "--lr", "0.01", "--autotune", "--param", "lr=log:around:10", "--metric", "acc",
                     "--out", str(out), "--dry-run"], cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "lr: float [0.001, 0.1] log; centred on the config's 0.01" in proc.stdout
    command = next(line for line in proc.stdout.splitlines() if "trial 0 (the config as given)" in line)
    assert command.endswith("train.py --lr 0.01"), command
    assert not (out / "study.db").exists() and not list(out.glob("trial_*"))


def test_a_rate_written_as_text_is_the_number_the_trainer_reads():
    """PyYAML reads ppcls's `learning_rate: 4e-3` (ConvNeXt, DeiT ...) as text; ppcls evaluates it to 0.004."""
    result = rescale.rescale(clas_task("AdamW", "4e-3"), devices=2)
    assert result.config["Optimizer"]["lr"]["learning_rate"] == pytest.approx(0.004 * 0.5)  # sqrt(2 / 8)
    from paddle_autotune_plugins import presets

    (lr,) = presets.resolve(["clas-lr"], "clas", clas_task("AdamW", "4e-3").config).params
    assert (lr.low, lr.high) == (pytest.approx(4e-4), pytest.approx(4e-2))
    assert lr.current(clas_task("AdamW", "4e-3").config) == 0.004  # trial 0's value, inside the range


def test_clas_rate_range_stays_above_the_warmup_start():
    """MobileViT: AdamW 2e-3 warmed up from 2e-4; a range a factor of 10 down would cross the warm-up's start,
    which ppcls's LinearWarmup refuses (end_lr must be greater than start_lr)."""
    from paddle_autotune_plugins import presets

    task = clas_task("AdamW", 2e-3)
    task.config["Optimizer"]["lr"].update(warmup_epoch=5, warmup_start_lr="2e-4")
    params = presets.resolve(["clas-lr"], "clas", task.config).params
    notes = task.adapter.check_space(task, params)
    assert params[0].low == pytest.approx(2.02e-4) and params[0].contains(2e-3)
    assert any("starts above warmup_start_lr 0.0002" in n for n in notes), notes


def test_devices_of_a_trial_cpu_one_else_its_gpus(monkeypatch):
    """On the CPU a trial is 1 device; with GPUs it has --gpus-per-trial of them (which a pasted
    `paddle.distributed.launch --gpus 0,1` command sets), and the rescaling follows."""
    import argparse

    from paddle_autotune_plugins import adapter as adapter_module
    from paddle_autotune_plugins import cli

    clas = get_adapter("clas")
    assert rescale.trial_devices(clas, 2) == 1  # this machine's CPU build
    monkeypatch.setattr(adapter_module, "available_device", lambda: "gpu")
    assert rescale.trial_devices(clas, 2) == 2
    task = clas_task("Momentum", 0.8)
    params, notes = cli.build_params(task, argparse.Namespace(preset=[], space=None, gpus_per_trial=2,
                                                              param=["Optimizer.lr.learning_rate=log:around:10"]))
    assert params[0].centre == pytest.approx(0.4) and "a trial trains on 2: learning rate 0.8 -> 0.4" in notes[0]


def test_a_resumed_study_draws_around_the_centres_it_stored(tmp_path):
    """The centres live in the study: a resumed run (or a worker, which has no config of its own) uses them."""
    from fake_suite import FakeAdapter
    from paddle_autotune_plugins import space
    from paddle_autotune_plugins.coordinator import Coordinator, Settings
    from paddle_autotune_plugins.prior_sampler import PriorSampler

    script = tmp_path / "fake_train.py"
    script.write_text("import sys, yaml\nfrom paddle_autotune_plugins.reporting import report\n"
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
