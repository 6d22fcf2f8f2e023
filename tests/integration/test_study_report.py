"""The report (report/): the trials table, the HTML report (checked in headless Chromium too) and VisualDL HParams,
on a real study written by the coordinator with a fake trainer (seconds, no suite needed)."""
import pathlib
import re

from conftest import CHROMIUM, assert_renders
from fake_suite import FakeAdapter
import pytest

from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.report.html_page import write_report
from paddle_autotune_plugins.report.load import load_study
from paddle_autotune_plugins.report.trials_table import trials_table
from paddle_autotune_plugins.report.visualdl_export import log_to_visualdl
from paddle_autotune_plugins.search_space import space
from paddle_autotune_plugins.settings.options import Settings
from paddle_autotune_plugins.study.coordinator import Coordinator
from paddle_autotune_plugins.suites.adapter import Task

# A fake trainer like the one in test_coordinator.py: a score peaking at x=0.3, better with c='a'; "diverges"
# (exits with an error) when x > 0.8, so a seeded study holds complete, pruned and failed trials.
FAKE_TRAIN = '''
import sys, yaml
from paddle_autotune_plugins.trials.reporting import report
cfg = yaml.safe_load(open(sys.argv[1]))
for step in range(1, cfg["steps"] + 1):
    if cfg["x"] > 0.8:
        raise FloatingPointError("loss diverged")
    score = 1.0 - (cfg["x"] - 0.3) ** 2 - 0.1 * (cfg["c"] != "a") - 0.05 * abs(cfg["Model"]["width"] - 64) / 64
    report(step, {"score": score * step / cfg["steps"]})
'''


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    """A finished 14-trial study: baseline (trial 0) + complete + pruned + failed trials."""
    root = tmp_path_factory.mktemp("study")
    script = root / "fake_train.py"
    script.write_text(FAKE_TRAIN)
    task = Task(FakeAdapter(script), {"x": 0.7, "c": "b", "Model": {"width": 32}, "steps": 4},
                config_path="fake.yaml", cwd=str(root))
    params = space.parse_space({"x": {"low": 0.0, "high": 1.0}, "c": {"values": ["a", "b"]},
                                "Model.width": {"values": [32, 64, 128]}})
    settings = Settings(out=root / "out", trials=14, sampler="random", pruner="asha", seed=2, quiet=True)
    Coordinator(task, params, settings).run()
    return root / "out"


def states(study):
    return [t.state.name for t in study.get_trials()]


def test_load_study(out, tmp_path):
    study = load_study(out)
    assert study.study_name == "autotune" and study.user_attrs["metric"] == "score"
    assert {"COMPLETE", "PRUNED", "FAIL"} <= set(states(study)), states(study)
    with pytest.raises(UsageError, match="no study in .*study.db does not exist"):
        load_study(tmp_path)
    assert not (tmp_path / "study.db").exists()  # looking did not create an empty database
    with pytest.raises(UsageError, match="no study 'other' .* it holds autotune"):
        load_study(out, study="other")


def test_trials_table_best_first(out):
    study = load_study(out)
    lines = trials_table(study)
    print("\n".join(lines))
    assert lines[0] == "Study 'autotune': maximize score; 14 trials, best first. * = baseline (your config as given)"
    assert "  width = Model.width" in lines  # short names, full path in the legend
    head = lines.index(next(line for line in lines if line.lstrip().startswith("#  state")))
    assert lines[head].split() == ["#", "state", "value", "duration", "drawn", "from", "reason", "knobs", "x", "c",
                                   "width"]
    rows = lines[head + 2:]
    assert len(rows) == 14
    numbers = [int(r.split()[0].rstrip("*")) for r in rows]
    row_states = [r.split()[1] for r in rows]
    # COMPLETE (best value first), then PRUNED, then FAIL
    order = {"COMPLETE": 0, "PRUNED": 1, "FAIL": 2}
    assert [order[s] for s in row_states] == sorted(order[s] for s in row_states)
    complete = [float(r.split()[2]) for r in rows if r.split()[1] == "COMPLETE"]
    assert complete == sorted(complete, reverse=True) and complete[0] == pytest.approx(study.best_value, rel=1e-5)
    assert numbers[0] == study.best_trial.number
    pruned = [float(r.split()[2]) for r in rows if r.split()[1] == "PRUNED"]
    assert pruned == sorted(pruned, reverse=True)
    # the baseline row is marked and shows the config's own values; reasons are there
    baseline = next(r for r in rows if r.split()[0] == "0*")
    assert baseline.split()[-3:] == ["0.7", "b", "32"] and baseline.split()[4] == "config"  # where it came from
    assert any("pruned at step" in r for r in rows if " PRUNED " in r)
    assert all("exit code 1: FloatingPointError" in r for r in rows if " FAIL " in r)
    # fixed width: every column starts where its header does
    for name in ("state", "reason", "x"):
        col = lines[head].index(f" {name}") + 1
        assert all(r[col - 1] == " " and r[col] != " " for r in rows if len(r) > col and name != "reason"
                   or name == "reason" and r.split()[1] != "COMPLETE"), name


def test_report_html_and_pngs(out):
    study = load_study(out)
    path = write_report(study, out)
    assert path == out / "report.html"
    page = path.read_text()
    uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(uris) >= 5
    assert "http://" not in page and "https://" not in page and "<script" not in page  # self-contained
    pngs = {p.name for p in (out / "report").glob("*.png")}
    assert {"history.png", "intermediate.png", "importances.png", "parallel.png",
            "slice_x.png", "slice_c.png", "slice_width.png"} <= pngs, pngs
    assert all((out / "report" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for name in pngs)
    # summary: baseline vs best, counts, best params
    assert "vs baseline" in page and "complete," in page and "pruned," in page and "failed" in page
    assert f"(trial {study.best_trial.number})" in page and "<code>Model.width</code>" in page
    assert f"<code>paddle-autotune dashboard --out {out}</code>" in page and "pip install" not in page
    # the importances say which evaluator made them, and that the dashboard's may rank otherwise
    assert "Evaluator: fANOVA (Optuna&#x27;s FanovaImportanceEvaluator, seed 0). paddle-autotune dashboard computes " \
           "its importances with PED-ANOVA" in page


def test_log_to_visualdl(out, tmp_path):
    pytest.importorskip("visualdl")
    study = load_study(out)
    runs = log_to_visualdl(study, tmp_path / "vdl")
    finished = [t for t in study.get_trials() if t.state.name in ("COMPLETE", "PRUNED")]
    assert sorted(r.name for r in runs) == sorted(f"trial_{t.number:04d}" for t in finished)
    assert all(any(r.glob("vdlrecords.*.log")) for r in runs)


@pytest.mark.skipif(not pathlib.Path(CHROMIUM).exists(),
                    reason=f"{CHROMIUM} is absent: install Debian's chromium (.ci/system-packages.txt)")
def test_report_renders_in_headless_chromium(out, tmp_path):
    page = write_report(load_study(out), out)
    assert_renders(page, tmp_path)


def test_show_and_report_say_when_a_knob_did_not_act(tmp_path):
    script = tmp_path / "ignores_x.py"  # a trainer that reads another key than the one tuned
    script.write_text("import sys, yaml\nfrom paddle_autotune_plugins.trials.reporting import report, report_used\n"
                      "cfg = yaml.safe_load(open(sys.argv[1]))\nreport_used({'x': 0.5})\n"
                      "for step in (1, 2):\n    report(step, {'score': step / 2})\n")
    task = Task(FakeAdapter(script), {"x": 0.7, "steps": 2}, config_path="fake.yaml", cwd=str(tmp_path))
    Coordinator(task, space.parse_space({"x": {"low": 0.0, "high": 1.0}}),
                Settings(out=tmp_path / "out", trials=2, pruner="none", quiet=True)).run()
    study = load_study(tmp_path / "out")
    lines = trials_table(study)
    rows = [r.split() for r in lines if r.split()[0] in ("0*", "1")]
    assert len(rows) == 2 and all("MISMATCH" in r for r in rows)
    assert any(line.startswith("WARNING: 2 trial(s) trained with other values") for line in lines)
    assert "  trial 0: x: given 0.7, trainer used 0.5" in lines
    page = pathlib.Path(write_report(study, tmp_path / "out")).read_text()
    assert "<p class=warn><b>WARNING: 2 trial(s) trained with other values" in page


def vdl_records(logdir):
    """(run folder, record kind, tag) -> how many records VisualDL reads there."""
    from collections import Counter

    from visualdl import LogReader

    counts = Counter()
    for f in pathlib.Path(logdir).glob("*/vdlrecords.*"):
        reader = LogReader(file_path=str(f))
        for kind, tags in reader.get_tags().items():
            for tag in tags:
                counts[f.parent.name, kind, tag] += len(reader.get_data(kind, tag))
    return counts


def test_report_visualdl_twice_writes_each_record_once(out, capsys):
    pytest.importorskip("visualdl")
    from paddle_autotune_plugins import cli

    assert cli.main(["report", "--out", str(out), "--visualdl"]) == 0
    once = vdl_records(out / "vdl")
    study = load_study(out)
    finished = [t for t in study.get_trials() if t.state.name in ("COMPLETE", "PRUNED")]
    assert {run for run, _, _ in once} == {f"trial_{t.number:04d}" for t in finished}
    assert all(once[run, "hyper_parameters", "hparam"] == 1 for run, _, _ in once)
    assert cli.main(["report", "--out", str(out), "--visualdl"]) == 0
    assert vdl_records(out / "vdl") == once
    assert sorted(p.name for p in (out / "vdl").iterdir()) == sorted({run for run, _, _ in once})  # no leftovers
