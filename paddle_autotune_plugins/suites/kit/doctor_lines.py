"""The lines ``paddle-autotune doctor`` prints for a suite: its installed version, and each run-time fix
with whether it applies here. Doctor reports; these never fail.

>>> version_line("no-such-distribution-here", missing_note=" (a checkout still works)")
'no-such-distribution-here: not installed (a checkout still works)'
"""
import importlib.metadata
from typing import Any, Callable, Sequence


def version_line(distribution: str, installed_note: str = "", missing_note: str = "") -> str:
    """``NAME VERSION`` + installed_note, or ``NAME: not installed`` + missing_note."""
    try:
        return f"{distribution} {importlib.metadata.version(distribution)}{installed_note}"
    except Exception:  # noqa: BLE001 - doctor reports, never fails
        return f"{distribution}: not installed{missing_note}"


def fix_lines(fixes: Sequence[tuple[str, str, Callable[[], Any]]]) -> list[str]:
    """doctor's line per run-time fix (name, what it fixes, whether it applies here); never fails."""
    lines = []
    for name, text, applies in fixes:
        try:
            state = "applied" if applies() else "not needed"
        except Exception as e:  # noqa: BLE001 - doctor reports, never fails
            state = f"unknown ({type(e).__name__})"
        lines.append(f"  fix {name}: {state} - {text}")
    return lines
