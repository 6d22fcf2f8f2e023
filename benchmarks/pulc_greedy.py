"""PaddleClas PULC's hyperparameter search, re-implemented from its described behaviour, for the benchmarks.

PULC's ``tools/search_strategy.py`` searches one key at a time, in the order its search config lists them
(learning rate first): each value of the key's list is a complete training with the keys already searched
fixed at their best and the others at the base config's values; the value with the highest result (the
mean over ``search_times`` runs, 1 by default; ties keep the earlier value) is fixed before the next key.
Its lists hold 3 to 6 values a key. Here a key's list is the tuned parameter's ``grid_values(points)``
(log-spaced for a log range, every choice of a categorical), and "fixed at the base config" is the
baseline trial's value where it lies in the space (else the list's middle value).

    >>> import types
    >>> lr = types.SimpleNamespace(name="lr", grid_values=lambda points: [0.001, 0.01, 0.1])
    >>> bs = types.SimpleNamespace(name="bs", grid_values=lambda points: [16, 32])
    >>> score = lambda c: -abs(c["lr"] - 0.01) + c["bs"] / 1000
    >>> greedy_search([lr, bs], {"lr": 0.1, "bs": 16}, lambda configs: [score(c) for c in configs])
    ({'lr': 0.01, 'bs': 32}, 5)
"""

POINTS = 5  # values a continuous key gets, as PULC's learning-rate list (5 values over about 2.5 decades)


def start_values(params, baseline):
    """The base config's value of each key where it lies in the space (encoded, as Optuna stores it), else
    the middle of its list."""
    start = {}
    for p in params:
        grid, value = p.grid_values(POINTS), baseline.get(p.name)
        start[p.name] = p.encode(value) if value is not None and p.contains(value) else grid[len(grid) // 2]
    return start


def greedy_search(params, start, evaluate, points=POINTS):
    """(best values, trainings run). ``evaluate(configs) -> results`` trains each config (a dict of
    encoded values, as Optuna stores them) and returns its result (None for a failed training)."""
    current, trainings = dict(start), 0
    for p in params:
        candidates = [dict(current, **{p.name: v}) for v in p.grid_values(points)]
        results = evaluate(candidates)
        trainings += len(candidates)
        best, best_result = None, None
        for candidate, result in zip(candidates, results):
            if result is not None and (best_result is None or result > best_result):
                best, best_result = candidate, result
        if best is not None:
            current = best
    return current, trainings
