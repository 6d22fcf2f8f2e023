"""A study run in this process, and the one-line refusal every data-paths test expects (both layers)."""
from paddle_autotune_plugins import cli


def tune(capsys, monkeypatch, cwd, args):
    """`paddle-autotune tune ARGS` in cwd, in this process: (exit code, stderr lines)."""
    monkeypatch.chdir(cwd)
    code = cli.main(["tune"] + args)
    return code, capsys.readouterr().err.splitlines()


def assert_refused(code, lines, out, *parts):
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("paddle-autotune: error: data not found: ")
    for part in parts:
        assert part in lines[0], lines[0]
    assert not out.exists()
