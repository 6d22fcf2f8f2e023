"""Where a study lives. The default is a SQLite file in --out, written only by its coordinator; shared
storages let several coordinators (``paddle-autotune worker``) run one study:

- ``journal:///path/study.log``: Optuna's journal file, for several coordinators on one machine (or a
  shared file system);
- ``postgresql://user:password@host/db`` or ``mysql+pymysql://...``: for several machines;
- ``sqlite:///path/study.db``: an explicit SQLite file.

Credentials in URLs are never printed: messages go through :func:`redact`.

>>> redact("postgresql://tuner:s3cret@db.local:5432/studies")
'postgresql://tuner:***@db.local:5432/studies'
"""
import re

import optuna

from .errors import UsageError

_RDB_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql")


def redact(url):
    """The URL with any password masked, even in a URL too malformed to parse."""
    return re.sub(r"(^|[/\s'\"])([^:/@\s'\"]+):[^@/\s]+@", r"\1\2:***@", str(url))


def open_storage(url, out):
    """(storage for optuna.create_study, embedded?) for a --storage URL (None: the default in out)."""
    if url is None:
        return f"sqlite:///{out / 'study.db'}", True
    match = re.match(r"^([a-z][a-z0-9+]*)://", url)
    scheme = match.group(1).split("+")[0] if match else None
    try:
        if scheme == "journal":
            path = url[len("journal://"):]
            if not path:
                raise UsageError(f"storage URL '{redact(url)}' names no file: write journal:///path/study.log")
            return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path)), False
        if scheme in _RDB_SCHEMES:
            if re.match(r"^postgres(ql)?://", url):  # SQLAlchemy 2.1's default driver is psycopg 3: use psycopg2
                url = "postgresql+psycopg2://" + url.split("://", 1)[1]
            return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True}), False
    except UsageError:
        raise
    except Exception as e:  # connection refused, bad credentials, missing driver: say it without the password
        message = redact(str(e).strip().splitlines()[0]) if str(e).strip() else type(e).__name__
        raise UsageError(f"cannot open storage {redact(url)}: {message}") from None
    raise UsageError(f"malformed storage URL '{redact(url)}'; use journal:///path/study.log, "
                     f"sqlite:///path/study.db or postgresql://user:password@host/db")
