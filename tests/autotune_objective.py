"""Objectives for the AutoTuner tests (trials import them by name, as they would a user's module)."""
import random

from paddle_autotune_plugins import report


def noisy_quadratic(config):
    """Peak 1.0 at lr=0.03 (log scale), momentum=0.9; seeded noise per config, one report per epoch."""
    import math

    rng = random.Random(hash((round(config["lr"], 12), round(config.get("momentum", 0.0), 12))) & 0xFFFF)
    score = 1.0 - (math.log10(config["lr"]) - math.log10(0.03)) ** 2 - 4 * (config.get("momentum", 0.9) - 0.9) ** 2
    for epoch in range(1, 4):
        report(epoch, score * epoch / 3 + rng.gauss(0, 0.01))
    return score + rng.gauss(0, 0.01)


def constant(config):
    report(1, 0.5)
    return 0.5
