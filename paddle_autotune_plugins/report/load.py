"""Loading a study that a run left (finished, interrupted or still running) for reading it back."""
import os
import pathlib
from typing import Optional

import optuna

from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.optuna_glue.storages import redact


DEFAULT_STUDY = "autotune"


def load_study(out: str | os.PathLike[str], study: Optional[str] = None,
               storage: str | optuna.storages.BaseStorage | None = None, label: Optional[str] = None) -> optuna.Study:
    """The Optuna study a run left in ``out`` (or in ``storage``, for --storage runs).

    ``study`` is the --study name; without it 'autotune', or the only study the storage holds. ``label``:
    the storage's URL, for messages (``storage`` may be an opened storage object).
    """
    if storage is None:
        db = pathlib.Path(out) / "study.db"
        if not db.is_file():  # checked first: opening a SQLite URL would create an empty file
            raise UsageError(f"no study in {out}: {db} does not exist; pass the --out folder of a tuning run "
                             f"(or --storage URL for a study kept elsewhere)")
        storage = f"sqlite:///{db.resolve()}"
    shown = redact(label or (storage if isinstance(storage, str) else "the --storage"))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        names = optuna.get_all_study_names(storage)
    except Exception as e:  # malformed URL, unreachable server, not a database
        raise UsageError(f"cannot read the study storage {shown}: {redact(str(e).splitlines()[0])}") from None
    if study is None:
        study = DEFAULT_STUDY if DEFAULT_STUDY in names or len(names) != 1 else names[0]
    if study not in names:
        held = f"it holds {', '.join(sorted(names))}: pass --study NAME" if names else "it holds no study yet"
        raise UsageError(f"no study '{study}' in {shown}; {held}")
    return optuna.load_study(study_name=study, storage=storage)
