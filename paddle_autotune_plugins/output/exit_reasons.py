"""Why a trial process ended badly, in a short line read from its exit code and the tail of its log."""
import os
import re
import signal


_ERROR_LINE = re.compile(r"^\s*([A-Za-z_.]*(Error|Exception|Interrupt)|Killed|Segmentation fault)\b.*")


def exit_reason(code: int, log_path: str | os.PathLike[str]) -> str:
    """A short, readable reason for a trial process that ended badly."""
    tail = _log_tail(log_path)
    if code < 0:
        name = signal.Signals(-code).name
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"killed by {name}{hint}"
    if "MemoryError" in tail or "out of memory" in tail.lower():
        return f"out of memory (exit code {code})"
    errors = [m.group(0).strip() for line in tail.splitlines() if (m := _ERROR_LINE.match(line))]
    detail = f": {errors[-1][:240]}" if errors else ""
    return f"exit code {code}{detail}"


def _log_tail(path: str | os.PathLike[str], size: int = 20000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - size))
            return f.read().decode(errors="replace")
    except OSError:
        return ""
