"""Inside a generic trial, before the user's script runs: its printed metric lines are the reports
(suites/kit/script_output.py reads them), its parsed flags the knob proof."""
from paddle_autotune_plugins.suites.kit.script_output import EpochLines, MetricLines, hook_parse_args, read_output


def install(metric):
    """The generic trial: printed `METRIC: value` lines are reports, `epoch k/N` lines its progress; parsed
    flags are the knob proof."""
    hook_parse_args()
    if metric:
        metrics, epochs = MetricLines(metric), EpochLines(metric)
        read_output(lambda line: (metrics(line), epochs(line)))
