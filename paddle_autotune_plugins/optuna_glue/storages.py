"""Where a study lives. The default is a SQLite file in --out, written only by its coordinator; shared
storages let several coordinators (``paddle-autotune worker``) run one study:

- ``journal:///path/study.log``: Optuna's journal file, for several coordinators on one machine (or a
  shared file system);
- ``postgresql://user:password@host/db`` or ``mysql+pymysql://...``: for several machines;
- ``sqlite:///path/study.db``: an explicit SQLite file.

Credentials in URLs are never printed: messages go through :func:`redact`.

>>> redact("postgresql://tuner:s3cret@db.local:5432/studies")
'postgresql://tuner:***@db.local:5432/studies'
>>> redact("cannot open postgresql://tuner:p/a@ss@db/studies: timeout")  # '/' and an unencoded '@'
'cannot open postgresql://tuner:***@db/studies: timeout'
"""
import json
import pathlib
import re
from collections.abc import Container, Sequence
from typing import TYPE_CHECKING, Any, Optional, TextIO, Union

import optuna
import optuna.storages.journal  # named below; optuna.storages imports it anyway, the type checker needs it said
from optuna.distributions import BaseDistribution
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from paddle_autotune_plugins.errors import UsageError

if TYPE_CHECKING:
    from optuna.study._frozen import FrozenStudy

_RDB_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql")


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")
_CREDENTIALS = re.compile(r"[^\s'\"]*:[^\s'\"]*@[^\s'\"]*")  # user:password@host, even without a scheme


def redact(text: object) -> str:
    """A URL, or a message holding URLs, with every password masked, whatever characters it holds."""
    text = _URL.sub(lambda m: _redact_url(m.group(0)), str(text))
    return _CREDENTIALS.sub(lambda m: _redact_bare(m.group(0)), text)


def _redact_bare(token: str) -> str:
    """'postgre//tuner:pw@host/db' (a URL too malformed to parse): everything from the user's ':' to the
    last '@' is the password."""
    at = token.rfind("@")
    colon = token.find(":", token.rfind("/", 0, token.find(":")) + 1)
    if "***@" in token or colon < 0 or colon > at:
        return token
    return f"{token[:colon]}:***@{token[at + 1:]}"


def _redact_url(url: str) -> str:
    scheme, rest = url.split("://", 1)
    at = rest.rfind("@")  # the last '@' ends the credentials: an unencoded '@' may sit in the password
    if at < 0 or ":" not in rest[:at]:
        return url
    if rest.count("@") == 1:  # unambiguous: SQLAlchemy's own parsing and masking
        import sqlalchemy

        try:
            return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
        except Exception:  # not a database URL it parses (journal://, a garbled one): mask it ourselves
            pass
    return f"{scheme}://{rest[:at].split(':', 1)[0]}:***@{rest[at + 1:]}"


def open_storage(url: Optional[str], out: pathlib.Path,
                 existing: bool = False) -> tuple[Union[str, optuna.storages.BaseStorage], bool]:
    """(storage for optuna.create_study, embedded?) for a --storage URL (None: the default in out).
    existing: the study must be there already (show, report, export): a missing file is not created."""
    if url is None:
        return f"sqlite:///{out / 'study.db'}", True  # opened by embedded_sqlite when the study starts
    match = re.match(r"^([a-z][a-z0-9+]*)://", url)
    scheme = match.group(1).split("+")[0] if match else None
    if scheme in _RDB_SCHEMES:
        check_credentials(url)
    if scheme in ("journal", "sqlite"):
        check_file(url, _file_of(url, scheme), existing)
    try:
        if scheme == "journal":
            path = url[len("journal://"):]
            return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path)), False
        if scheme in _RDB_SCHEMES:  # plain postgresql:// is SQLAlchemy's psycopg (3) driver, which setup installs
            return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True}), False
    except UsageError:
        raise
    except Exception as e:  # connection refused, bad credentials, missing driver: say it without the password
        message = redact(str(e).strip().splitlines()[0]) if str(e).strip() else type(e).__name__
        raise UsageError(f"cannot open storage {redact(url)}: {message}") from None
    raise UsageError(f"malformed storage URL '{redact(url)}'; use journal:///path/study.log, "
                     f"sqlite:///path/study.db or postgresql://user:password@host/db")


def _file_of(url: str, scheme: str) -> Optional[str]:
    """The file a journal:// or sqlite:// URL names ('' for none, ':memory:' for SQLite's in-memory one)."""
    if scheme == "journal":
        return url[len("journal://"):]
    import sqlalchemy

    try:
        database = sqlalchemy.engine.make_url(url).database or ""
    except Exception:  # a URL SQLAlchemy cannot parse: refused when it is opened
        return None
    return ":memory:" if database == ":memory:" or "mode=memory" in url else database


def check_file(url: str, path: Optional[str], existing: bool) -> None:
    """A storage file the study can be kept in: named, on disk, and writable (or, for existing, there)."""
    import os

    example = "journal:///path/study.log" if url.startswith("journal") else "sqlite:///path/study.db"
    if path is None:
        return
    if url.startswith("journal") and not path:
        raise UsageError(f"storage URL '{redact(url)}' names no file: write journal:///path/study.log")
    if path in ("", ":memory:"):
        raise UsageError(f"storage URL '{redact(url)}' keeps the study in memory, so nothing would be kept: name a "
                         f"file, e.g. {example}, or leave --storage out (study.db in --out)")
    file = pathlib.Path(path)
    if existing and not file.is_file():
        raise UsageError(f"no study file {file} (from --storage {redact(url)}): give the URL the study was run with")
    if file.exists() and not file.is_file():
        raise UsageError(f"storage file {file} is not a regular file; name a file, e.g. {example}")
    folder = file.parent if str(file.parent) else pathlib.Path(".")
    if not folder.is_dir():
        raise UsageError(f"storage file {file}: its folder {folder} does not exist; create it or name another file")
    if not existing and not os.access(file if file.exists() else folder, os.W_OK):
        raise UsageError(f"storage file {file} cannot be written (read-only or immutable); make it writable, "
                         f"or name another file")


def check_credentials(url: str) -> None:
    """An unencoded '@' in a password makes the driver read part of the password as the host name (and
    print it): refuse it before connecting, without showing it."""
    credentials = url.split("://", 1)[1].split("?", 1)[0].rpartition("@")[0]
    if "@" in credentials:
        raise UsageError(f"storage URL {redact(url)}: the user or password holds an '@'; encode it as %40 "
                         f"(and ':' as %3A, '/' as %2F) in the URL")


def is_storage_failure(error: BaseException) -> bool:
    """A study storage (or the disk under it) that stopped working, as opposed to a bug of ours."""
    import errno

    import sqlalchemy

    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO)
    return isinstance(error, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.DatabaseError,
                              sqlalchemy.exc.InterfaceError, optuna.exceptions.StorageInternalError))


def describe_failure(error: Optional[BaseException]) -> str:
    """The first line of the deepest error in the chain that says something: Optuna wraps the database's own
    error in a generic one, and under that SQLAlchemy's pool may leave one that says nothing ("()")."""
    said, seen = type(error).__name__, set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        text = str(getattr(error, "orig", None) or error).strip().splitlines()
        if text and re.search("[A-Za-z]", text[0]):
            said = text[0]
        error = error.__cause__ or error.__context__
    return redact(said)


def remedy(error: BaseException) -> str:
    text = describe_failure(error).lower()
    if "full" in text or "no space" in text or "quota" in text:
        return "freeing disk space"
    if "connect" in text or "server" in text or "terminat" in text or "closed" in text:
        return "the database server is back"
    return "the cause is fixed"


def check_embedded(out: pathlib.Path) -> None:
    """The default study file must be a readable Optuna SQLite study, or absent. An empty one (a crash while
    it was created) is dropped when nothing else of a run is there, and refused when trials are: a new
    study must never be written over folders and a table that an earlier run left."""
    import sqlite3

    db = out / "study.db"
    if not db.exists():
        return
    try:
        with open(db, "r+b"):  # read and written by the study: a file it may not open is said so, here
            pass
    except OSError as e:
        raise cannot_write(db, e) from None
    if (out / "study.db-journal").exists():  # a coordinator killed mid-write: a read-write open rolls it back
        _roll_back(db)
    left = sorted(p.name for p in out.glob("trial_*")) + [p.name for p in out.glob("trials.csv")]
    if db.stat().st_size == 0:
        if left in ([], ["trial_0000"]):  # nothing, or the early trial 0 of a study that was never created
            db.unlink()
            return
        raise UsageError(f"{db} is empty (cut off while it was created?) but {out} holds an earlier run "
                         f"({', '.join(left[:3])}{' ...' if len(left) > 3 else ''}): move them away, or use another "
                         f"--out; nothing was changed")
    try:
        with open(db, "rb") as f:
            if f.read(16) != b"SQLite format 3\x00":
                raise sqlite3.DatabaseError("not an SQLite file")
        connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            check = connection.execute("PRAGMA quick_check").fetchone()[0]
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            connection.close()
        if check != "ok":
            raise sqlite3.DatabaseError(check)
        if tables and "studies" not in tables:
            raise sqlite3.DatabaseError("it holds no Optuna study")
    except sqlite3.Error as e:
        raise _damaged(db, e) from None


def _roll_back(db: pathlib.Path) -> None:
    """Open the study file read-write once: SQLite rolls back the hot journal a killed writer left."""
    import sqlite3

    try:
        connection = sqlite3.connect(db)
        try:
            connection.execute("SELECT name FROM sqlite_master").fetchall()
        finally:
            connection.close()
    except sqlite3.Error as e:
        raise _damaged(db, e) from None


def _damaged(db: pathlib.Path, error: BaseException) -> UsageError:
    reason = " ".join(str(error).split())  # one line: SQLite's own messages may hold newlines
    return UsageError(f"{db} is damaged or not a study ({reason}): move it away and restore a backup, or use "
                      f"another --out; nothing was changed")


def lock_folder(out: pathlib.Path) -> TextIO:
    """Hold --out for this coordinator: two coordinators on one embedded study would each believe they
    are its only writer. Released when the returned file is closed (or the process ends)."""
    import fcntl
    import os

    try:
        out.mkdir(parents=True, exist_ok=True)
        lock = open(out / ".lock", "a+")
    except OSError as e:
        raise cannot_write(out, e) from None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.seek(0)
        owner = lock.read().strip() or "?"
        lock.close()
        raise UsageError(f"another paddle-autotune (pid {owner}) is running the study in {out}; wait for it, "
                         f"use another --out, or share a --storage with 'paddle-autotune worker'") from None
    try:  # unbuffered: a write that fails leaves nothing for close() to fail on again
        os.ftruncate(lock.fileno(), 0)
        os.write(lock.fileno(), str(os.getpid()).encode())
    except OSError as e:  # e.g. the disk was full before the study started
        lock.close()
        raise cannot_write(out, e) from None
    return lock


def cannot_write(path: pathlib.Path, error: OSError) -> UsageError:
    """The one line for a --out (or its study file) that this process cannot write, and what to do about it."""
    import errno

    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = "free some disk space there, or use another --out"
    elif error.errno in (errno.EACCES, errno.EPERM):
        fix = "give this user read and write access to it (chmod u+rw), or use another --out"
    else:
        fix = "use another --out"
    return UsageError(f"cannot write {path}: {error.strerror or error}; {fix}")


def embedded_sqlite(path: pathlib.Path) -> "MemoryMirror":
    """The default storage: a SQLite file in --out that only its coordinator writes.

    - Reads come from an in-memory copy of the study (MemoryMirror): the TPE sampler reads every trial
      several times per ask, and reading them back from SQLite was most of the coordinator's time per
      trial. Every write still goes to the file at once, so a crash loses nothing and the same command
      resumes from the file.
    - Write-ahead logging with synchronous=NORMAL: a write is a log append, not a synced rewrite of the
      file (a power cut can lose the last trials, never corrupt the file).
    """
    import sqlalchemy

    path.parent.mkdir(parents=True, exist_ok=True)
    rdb = optuna.storages.RDBStorage(f"sqlite:///{path}")

    @sqlalchemy.event.listens_for(rdb.engine, "connect")
    def _pragmas(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    rdb.engine.dispose()  # connections opened while creating the schema reconnect with the pragmas
    return MemoryMirror(rdb)


class MemoryMirror(optuna.storages.BaseStorage):
    """Optuna storage for a study with one writer (this process): reads are served by an InMemoryStorage,
    writes go to it and to the file storage. A study already in the file is copied to memory when opened.

    >>> import optuna
    >>> storage = MemoryMirror(optuna.storages.RDBStorage("sqlite://"))
    >>> study = optuna.create_study(storage=storage, study_name="s")
    >>> study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    >>> again = optuna.load_study(study_name="s", storage=MemoryMirror(storage.disk))  # as on resume
    >>> [t.params == u.params for t, u in zip(study.trials, again.trials)]
    [True, True, True]
    """

    def __init__(self, disk: optuna.storages.BaseStorage) -> None:
        self.disk = disk
        self.mem = optuna.storages.InMemoryStorage()
        self.study_ids: dict[int, int] = {}  # memory study id -> file study id
        self.trial_ids: dict[int, int] = {}  # memory trial id -> file trial id

    # --- studies ----------------------------------------------------------------------------
    def create_new_study(self, directions: Sequence[StudyDirection], study_name: Optional[str] = None) -> int:
        disk_id = self.disk.create_new_study(directions, study_name)  # raises if the file has it already
        mem_id = self.mem.create_new_study(directions, self.disk.get_study_name_from_id(disk_id))
        self.study_ids[mem_id] = disk_id
        return mem_id

    def get_study_id_from_name(self, study_name: str) -> int:
        try:
            return self.mem.get_study_id_from_name(study_name)
        except KeyError:
            return self._copy_to_memory(self.disk.get_study_id_from_name(study_name), study_name)

    def _copy_to_memory(self, disk_id: int, study_name: str) -> int:
        mem_id = self.mem.create_new_study(self.disk.get_study_directions(disk_id), study_name)
        self.study_ids[mem_id] = disk_id
        for key, value in self.disk.get_study_user_attrs(disk_id).items():
            self.mem.set_study_user_attr(mem_id, key, value)
        for key, value in self.disk.get_study_system_attrs(disk_id).items():
            self.mem.set_study_system_attr(mem_id, key, value)
        for trial in sorted(self.disk.get_all_trials(disk_id, deepcopy=False), key=lambda t: t.number):
            self.trial_ids[self.mem.create_new_trial(mem_id, template_trial=trial)] = trial._trial_id
        return mem_id

    def delete_study(self, study_id: int) -> None:
        self.disk.delete_study(self.study_ids.pop(study_id))
        self.mem.delete_study(study_id)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self.mem.set_study_user_attr(study_id, key, value)
        self.disk.set_study_user_attr(self.study_ids[study_id], key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        self.mem.set_study_system_attr(study_id, key, value)
        self.disk.set_study_system_attr(self.study_ids[study_id], key, value)

    def get_study_name_from_id(self, study_id: int) -> str:
        return self.mem.get_study_name_from_id(study_id)

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        return self.mem.get_study_directions(study_id)

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return self.mem.get_study_user_attrs(study_id)

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return self.mem.get_study_system_attrs(study_id)

    def get_all_studies(self) -> list["FrozenStudy"]:
        for study in self.disk.get_all_studies():  # the names are what callers use
            self.get_study_id_from_name(study.study_name)
        return self.mem.get_all_studies()

    # --- trials -----------------------------------------------------------------------------
    def create_new_trial(self, study_id: int, template_trial: Optional[FrozenTrial] = None) -> int:
        mem_id = self.mem.create_new_trial(study_id, template_trial=template_trial)
        self.trial_ids[mem_id] = self.disk.create_new_trial(self.study_ids[study_id],
                                                            template_trial=self.mem.get_trial(mem_id))
        return mem_id

    def set_trial_param(self, trial_id: int, param_name: str, param_value_internal: float,
                        distribution: BaseDistribution) -> None:
        self.mem.set_trial_param(trial_id, param_name, param_value_internal, distribution)
        self.disk.set_trial_param(self.trial_ids[trial_id], param_name, param_value_internal, distribution)

    def set_trial_state_values(self, trial_id: int, state: TrialState,
                               values: Optional[Sequence[float]] = None) -> bool:
        changed = self.mem.set_trial_state_values(trial_id, state, values)
        if changed:
            self.disk.set_trial_state_values(self.trial_ids[trial_id], state, values)
        return changed

    def set_trial_intermediate_value(self, trial_id: int, step: int, intermediate_value: float) -> None:
        self.mem.set_trial_intermediate_value(trial_id, step, intermediate_value)
        self.disk.set_trial_intermediate_value(self.trial_ids[trial_id], step, intermediate_value)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self.mem.set_trial_user_attr(trial_id, key, value)
        self.disk.set_trial_user_attr(self.trial_ids[trial_id], key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self.mem.set_trial_system_attr(trial_id, key, value)
        self.disk.set_trial_system_attr(self.trial_ids[trial_id], key, value)

    def get_trial(self, trial_id: int) -> FrozenTrial:
        return self.mem.get_trial(trial_id)

    def get_all_trials(self, study_id: int, deepcopy: bool = True,
                       states: Optional[Container[TrialState]] = None) -> list[FrozenTrial]:
        return self.mem.get_all_trials(study_id, deepcopy=deepcopy, states=states)


def jsonable(values: Any) -> Any:
    """Values as a study's attributes (and the trial's params.json) can hold them: JSON, anything else as text."""
    return json.loads(json.dumps(values, default=str))
