"""What a study holds, as the report reads it: its tuned parameters and their short names, its metrics and
their directions; and how a value is shown."""
from collections.abc import Sequence
from typing import Any

import optuna


def tuned_params(study: optuna.Study) -> list[str]:
    """Dotted paths of the tuned parameters, in the order of the space."""
    names = list(study.user_attrs.get("params") or [])
    for t in study.get_trials(deepcopy=False):
        names += [n for n in list(t.params) + list(t.user_attrs.get("values", {})) if n not in names]
    return names


def short_names(paths: Sequence[str]) -> dict[str, str]:
    """The shortest dotted suffix that tells each path apart.

    >>> short_names(["Optimizer.lr.learning_rate", "Optimizer.regularizer.coeff", "Loss.Train.0.CELoss.epsilon"])
    {'Optimizer.lr.learning_rate': 'learning_rate', 'Optimizer.regularizer.coeff': 'coeff', \
'Loss.Train.0.CELoss.epsilon': 'epsilon'}
    """
    parts = {p: p.split(".") for p in paths}
    depth = {p: 2 if len(s) > 1 and s[-1].isdigit() else 1 for p, s in parts.items()}  # "values.0", not "0"
    while True:
        short = {p: ".".join(parts[p][-depth[p]:]) for p in paths}
        clashes = [p for p in paths if list(short.values()).count(short[p]) > 1 and depth[p] < len(parts[p])]
        if not clashes:
            return short
        for p in clashes:
            depth[p] += 1


def maximizes(study: optuna.Study) -> list[bool]:
    return [d == optuna.study.StudyDirection.MAXIMIZE for d in study.directions]  # True = maximize


def metric_names(study: optuna.Study) -> list[str]:
    if study.metric_names:
        return list(study.metric_names)
    if len(study.directions) == 1:
        return [study.user_attrs.get("metric", "value")]
    return [f"objective {i}" for i in range(len(study.directions))]


def fmt_value(v: Any, width: int = 18) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    text = str(v)
    return text if len(text) <= width else text[:width - 3] + "..."
