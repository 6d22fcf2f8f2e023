"""Inside a generic trial: every printed `METRIC: value` / `METRIC=value` line becomes one report."""
import re
import sys

from paddle_autotune_plugins.reporting import report


class _MetricTee:
    """Passes output through unchanged and reports each line that carries the metric."""

    def __init__(self, stream, metric):
        self._stream = stream
        self._pattern = re.compile(rf"(?<![\w.]){re.escape(metric)}\s*[:=]\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf)",
                                   re.IGNORECASE)
        self._metric = metric
        self._partial = ""
        self._count = 0

    def write(self, text):
        self._partial += text
        *lines, self._partial = self._partial.split("\n")
        for line in lines:
            match = self._pattern.search(line)
            if match:
                self._count += 1
                report(self._count, {self._metric: float(match.group(1))})
        return self._stream.write(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def install(metric):
    if metric:
        sys.stdout = _MetricTee(sys.stdout, metric)
