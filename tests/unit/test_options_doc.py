"""docs/options.md is generated from options.Settings (paddle_autotune_plugins/settings/options_doc.py): it cannot
drift from the options."""
from conftest import REPO

from paddle_autotune_plugins.settings import options, options_doc

REGENERATE = "python -m paddle_autotune_plugins.settings.options_doc > docs/options.md"


def test_docs_options_md_is_what_the_generator_writes():
    assert (REPO / "docs" / "options.md").read_text() == options_doc.render(), f"docs/options.md is stale: {REGENERATE}"


def test_every_option_has_a_row_with_its_flag_default_and_help():
    rows = {line.split("`")[1].split(" ")[0]: line for line in options_doc.render().splitlines()
            if line.startswith("| `--")}
    assert list(rows) == [f.metadata["flag"] for f in options.option_fields()]
    trials = next(f.metadata for f in options.option_fields() if f.metadata["flag"] == "--trials")
    assert rows["--trials"] == f"| `--trials TRIALS` | `20` | the study | {trials['help']} |"
    assert rows["--mlflow"].startswith("| `--mlflow [URI]` |  | its own command | ")
    assert rows["--prior"].startswith("| `--prior {config,greedy,none}` | `config` | the study | ")
    assert rows["--retry-failed"].startswith("| `--retry-failed RETRY_FAILED` | `0` | ")
