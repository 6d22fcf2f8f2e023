"""Schedule compression's shared arithmetic (--fidelity schedule): milestones of a long schedule placed at
the same fractions of a shorter one, rounded as the suites' compressions round them.

>>> scale_milestones([30, 60, 80], 90, 10)
[3, 7, 9]
"""
import math
from typing import Optional, Sequence, Union

Number = Union[int, float]


def round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def scale_milestones(milestones: Sequence[Number], full: Number, new: int, what: str = "milestones") -> list[int]:
    """Epoch milestones of a ``full``-epoch schedule placed at the same fractions of ``new`` epochs.

    Rounded to the nearest whole epoch, then moved the least needed to stay strictly increasing; one inside
    the full training (0 < m < full) stays inside the new one (1 <= m <= new - 1), one at 0 stays at 0, one
    at or past the end stays past it. Raises ValueError when they cannot all be kept that way."""
    ms = list(milestones)
    if any(not isinstance(m, (int, float)) or isinstance(m, bool) for m in ms):
        raise ValueError(f"{what} must be numbers of epochs, got {ms!r}")
    if any(b <= a for a, b in zip(ms, ms[1:])):
        raise ValueError(f"{what} {ms} must be strictly increasing")
    ratio = new / full
    lows: list[int] = []
    highs: list[Optional[int]] = []
    out: list[int] = []
    for m in ms:
        if m <= 0:
            lows.append(0)
            highs.append(0)
        elif m < full:
            lows.append(1)
            highs.append(new - 1)
        else:
            lows.append(new)
            highs.append(None)
        out.append(round_half_up(m * ratio))
    out = [max(lo, o) if hi is None else min(max(lo, o), hi) for o, lo, hi in zip(out, lows, highs)]
    for i in range(1, len(out)):  # forward: at least one epoch after the previous
        out[i] = max(out[i], out[i - 1] + 1)
    for i in range(len(out) - 1, -1, -1):  # backward: back inside the training, room for the next ones
        high = highs[i]
        cap = high if high is not None else out[i]
        if i + 1 < len(out):
            cap = min(cap, out[i + 1] - 1)
        out[i] = min(out[i], cap)
    bad = [i for i, (o, lo, hi) in enumerate(zip(out, lows, highs)) if o < lo or (hi is not None and o > hi)]
    if bad:
        inside = sum(1 for m in ms if 0 < m < full)
        raise ValueError(f"{what} {ms} of a {full}-epoch schedule cannot be kept at {new} epochs: {inside} "
                         f"change(s) inside the training need at least {inside + 1} epochs, 1 apart")
    return out
