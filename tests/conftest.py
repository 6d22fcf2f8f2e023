import csv
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"  # the shared helpers and toy trial scripts, whichever layer's folder a test sits in
PYTHON = sys.executable


def autotune(args, cwd=None, **kwargs):
    """`python -m paddle_autotune_plugins ARGS`, as a user runs it."""
    return subprocess.run([PYTHON, "-m", "paddle_autotune_plugins"] + list(args), cwd=cwd or REPO,
                          capture_output=True, text=True, **kwargs)


LAYERS = ("unit", "integration", "e2e")  # tests/<layer>/: each test is marked by the folder it sits in


def pytest_collection_modifyitems(items):
    """Mark each test with its folder's layer, so `pytest -m unit` selects what `pytest tests/unit` runs."""
    for item in items:
        folder = pathlib.Path(item.path).resolve().relative_to(TESTS).parts[0]
        if folder in LAYERS:
            item.add_marker(folder)


@pytest.fixture(autouse=True)
def _unit_tests_start_no_process(request, monkeypatch):
    """The unit layer starts no process (that is what keeps `make test-fast` under a minute): a unit test
    that does fails and says where it belongs."""
    if request.node.get_closest_marker("unit") is None:
        return

    def refuse(*args, **kwargs):
        raise AssertionError("a unit test started a process: it belongs in tests/integration")

    monkeypatch.setattr(subprocess.Popen, "_execute_child", refuse)
    monkeypatch.setattr(os, "fork", refuse)


CHROMIUM = "/usr/bin/chromium"


def assert_renders(page, tmp_path):
    """Screenshot an HTML page in headless Chromium (Debian's) and check it is not blank."""
    from PIL import Image

    shot = tmp_path / "shot.png"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1280,2000",
           pathlib.Path(page).resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert shot.exists(), f"no screenshot (exit {proc.returncode}): {proc.stderr[-2000:]}"
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 2000)
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50, "the page rendered (nearly) blank"
    white = sum(count for count, rgb in colours if rgb == (255, 255, 255))
    assert white < 0.95 * 1280 * 2000  # the plots are there: a good share of the page is not white


def read_trials(out):
    with open(pathlib.Path(out) / "trials.csv") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="session")
def digits_root():
    from paddle_autotune_plugins.adapters.paddleclas.digits import ensure_digits

    return ensure_digits()


DIGITS_TRAIN_IMAGES = 480  # of the 1,437: a real training, a third of the demo's time an epoch


@pytest.fixture()
def digits_config(tmp_path, digits_root):
    """The bundled digits config with real data paths, in a fresh folder, training on a fixed random subset
    of the images (the list is in a random order: its first DIGITS_TRAIN_IMAGES) and evaluating on all."""
    import yaml

    from paddle_autotune_plugins.adapters.paddleclas.digits import write_demo_config

    path = write_demo_config(tmp_path / "cfg")
    cfg = yaml.safe_load(path.read_text())
    dataset = cfg["DataLoader"]["Train"]["dataset"]
    subset = tmp_path / "cfg" / "train_subset.txt"
    subset.write_text("".join(pathlib.Path(dataset["cls_label_path"]).read_text().splitlines(True)[:DIGITS_TRAIN_IMAGES]))
    dataset["cls_label_path"] = str(subset)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


class PostgresServer:
    """A real PostgreSQL server of its own on loopback (Debian's postgresql package, installed by `make
    setup`): a fresh cluster in a temp dir, so no system service is needed. stop()/start() let a test take
    it away mid-study and bring it back."""

    def __init__(self):
        import glob
        import socket
        import tempfile

        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            pytest.skip("PostgreSQL is not installed (make setup installs it as root: apt-get install postgresql)")
        self.bindir = os.path.dirname(bins[-1])
        self.data = pathlib.Path(tempfile.mkdtemp(prefix="autotune-pg-"))  # not under pytest's root-only tmp
        self.as_user = []
        if os.geteuid() == 0:  # initdb refuses root: run the server as the package's postgres user
            shutil.chown(self.data, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self._run("initdb", "-D", str(self.data / "db"), "-U", "postgres", "--auth=trust")
        self.start()
        psql = lambda sql: self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-c", sql)
        psql("CREATE USER tuner WITH PASSWORD 's3cret-pw'")
        psql("CREATE DATABASE studies OWNER tuner")
        self.url = f"postgresql://tuner:s3cret-pw@127.0.0.1:{self.port}/studies"

    def _run(self, tool, *args):
        return subprocess.run(self.as_user + [f"{self.bindir}/{tool}"] + list(args), check=True, capture_output=True,
                              text=True)

    def start(self):
        self._run("pg_ctl", "-D", str(self.data / "db"), "-w", "-l", str(self.data / "log"), "-o",
                  f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1", "start")

    def stop(self, mode="fast"):
        self._run("pg_ctl", "-D", str(self.data / "db"), "-m", mode, "-w", "stop")

    def remove(self):
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.data, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url():
    """The session's PostgreSQL server, for tests that only use it."""
    server = PostgresServer()
    try:
        yield server.url
    finally:
        server.remove()


@pytest.fixture()
def postgres_server():
    """A server of the test's own, which it may stop and start."""
    server = PostgresServer()
    try:
        yield server
    finally:
        server.remove()


CHECKOUTS_ENV = "PADDLE_AUTOTUNE_CHECKOUTS"


def checkout_root(name):
    """The read-only upstream copy `name` in $PADDLE_AUTOTUNE_CHECKOUTS, or a skip saying how to enable it."""
    base = os.environ.get(CHECKOUTS_ENV)
    if not base:
        pytest.skip(f"upstream checkouts not configured: set {CHECKOUTS_ENV}=/path/to/upstream copies to run")
    root = pathlib.Path(base) / name
    if not root.is_dir():
        pytest.skip(f"{root} not found: {CHECKOUTS_ENV} has no copy named {name}")
    return root


def copy_checkout(name, dest):
    """A writable copy of an upstream checkout (the copies are read-only), as a user's clone would be."""
    root = checkout_root(name)
    target = pathlib.Path(dest) / name
    shutil.copytree(root, target, ignore=shutil.ignore_patterns("*.pyc", "__pycache__", ".git"))
    for path in [target] + list(target.rglob("*")):  # read-only sources keep their mode through copytree
        path.chmod(path.stat().st_mode | 0o200)
    return target


def trial_lines(trial_dir):
    """(evaluations, the trainer's reported values) from a trial's metrics.jsonl."""
    import json

    lines = [json.loads(line) for line in (pathlib.Path(trial_dir) / "metrics.jsonl").read_text().splitlines()]
    return [x for x in lines if "metrics" in x], [x["used"] for x in lines if "used" in x]


def knob_text(trial):
    """A trial's knob verdict as show prints it ("" where nothing tuned was checked)."""
    from paddle_autotune_plugins.trials.knobs import Verdict

    verdict = Verdict.from_attr(trial.user_attrs.get("knobs"))
    return verdict.text() if verdict else ""
