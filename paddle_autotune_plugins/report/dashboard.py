"""``paddle-autotune dashboard``: optuna-dashboard on a study, served on 127.0.0.1 until Ctrl-C.

``--out DIR`` opens the study file a tuning run keeps there (study.db, also while the study runs);
``--storage URL [--study NAME]`` a shared storage, with the URLs ``tune --storage`` takes. The URL is
printed on one line (``dashboard: http://127.0.0.1:8080/dashboard/...``). Without ``--port`` it listens
on 8080, or on a free port when 8080 is taken; a ``--port`` that is taken is an error.

Studies name their objectives (``study.set_metric_names``), so the dashboard's plots say ``top1``, not
"Objective 0"; a study recorded before they did gets them from its ``objectives`` attribute here.
"""
import argparse
from collections.abc import Sequence
import errno
import pathlib
import socketserver
import sys
from typing import TYPE_CHECKING, Any, Optional
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from paddle_autotune_plugins.errors import UsageError

if TYPE_CHECKING:  # optuna is imported when the dashboard opens
    import optuna

DEFAULT_PORT = 8080
HOST = "127.0.0.1"


def add_parser(sub: "argparse._SubParsersAction[Any]") -> argparse.ArgumentParser:
    p = sub.add_parser("dashboard", help="optuna-dashboard on a study, on 127.0.0.1 (prints its URL)",
                       description=__doc__.split("\n\n")[1].replace("``", ""))
    p.add_argument("--out", default="autotune_out", help="the tuning run's --out folder (its study.db)")
    p.add_argument("--storage", help="a study storage URL instead (as tune --storage takes it)")
    p.add_argument("--study", help="open this study's page (default: the list of the storage's studies)")
    p.add_argument("--port", type=port_number,
                   help=f"port to listen on (default {DEFAULT_PORT}, or a free one when it is taken; 0: any free one)")
    p.add_argument("--host", default=HOST, help=f"address to listen on (default {HOST}: this machine only)")
    p.set_defaults(func=cmd_dashboard)
    return p


def port_number(text: str) -> int:
    """argparse's type for --port: a TCP port, 0 (any free one) to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port '{text}': give a number from 1 to 65535 (0: any free one)")
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} does not exist: give a number from 1 to 65535 (0: any free "
                                         f"one)")
    return port


def open_dashboard_storage(out: str, storage_url: Optional[str] = None) -> tuple["optuna.storages.BaseStorage", str]:
    """(storage, what it is called in messages) for --out or --storage."""
    import optuna

    from paddle_autotune_plugins.optuna_glue.storages import open_storage, redact

    if storage_url:
        storage, _ = open_storage(storage_url, pathlib.Path(out).resolve(), existing=True)
        assert not isinstance(storage, str), "open_storage opens a given URL (only None gives a URL back)"
        return storage, redact(storage_url)
    db = pathlib.Path(out).resolve() / "study.db"
    if not db.is_file():
        raise UsageError(f"no study in --out {out} (no study.db there): run a study with that --out first, "
                         f"or give --storage URL for a study kept elsewhere")
    return optuna.storages.RDBStorage(f"sqlite:///{db}"), str(db)


def name_metrics(storage: "optuna.storages.BaseStorage") -> None:
    """Studies started before the coordinator named their objectives: name them from their attributes."""
    for summary in storage.get_all_studies():
        attrs = summary.user_attrs
        names = attrs.get("objectives") or ([attrs["metric"]] if "metric" in attrs else None)
        if not names or "study:metric_names" in summary.system_attrs or len(names) != len(summary.directions):
            continue
        try:
            storage.set_study_system_attr(summary._study_id, "study:metric_names", list(names))
        except Exception:  # noqa: BLE001 - a read-only storage: the dashboard shows "Objective 0"
            pass


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True  # Ctrl-C does not wait for a browser's open connection
    allow_reuse_address = True  # a restart right after Ctrl-C gets its port back (a port in use is still refused)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        pass


def bind(app: Any, host: str, port: Optional[int]) -> WSGIServer:
    """The server on host:port; port None tries DEFAULT_PORT, then a free one."""
    from wsgiref.simple_server import make_server

    try:
        return make_server(host, DEFAULT_PORT if port is None else port, app, server_class=_Server,
                           handler_class=_QuietHandler)
    except OSError as e:
        if e.errno != errno.EADDRINUSE:
            raise UsageError(f"cannot listen on {host}:{port if port is not None else DEFAULT_PORT}: "
                             f"{e.strerror or e}") from None
        if port is not None:
            raise UsageError(f"port {port} on {host} is taken (another server listens there): choose another "
                             f"--port, or leave it out to get a free one") from None
    server = make_server(host, 0, app, server_class=_Server, handler_class=_QuietHandler)
    print(f"[autotune] port {DEFAULT_PORT} is taken; listening on {server.server_port} instead", file=sys.stderr,
          flush=True)
    return server


def cmd_dashboard(opts: argparse.Namespace, rest: Sequence[str] = ()) -> int:
    try:
        import optuna_dashboard
    except ImportError:
        raise UsageError("the dashboard needs optuna-dashboard: pip install optuna-dashboard "
                         "(make setup installs it)") from None
    storage, where = open_dashboard_storage(opts.out, opts.storage)
    studies = storage.get_all_studies()
    page = "/dashboard/"
    if opts.study:
        found = [s for s in studies if s.study_name == opts.study]
        if not found:
            names = ", ".join(s.study_name for s in studies) or "none"
            raise UsageError(f"no study '{opts.study}' in {where} (studies there: {names})")
        page = f"/dashboard/studies/{found[0]._study_id}"
    elif len(studies) == 1:
        page = f"/dashboard/studies/{studies[0]._study_id}"
    name_metrics(storage)
    server = bind(optuna_dashboard.wsgi(storage), opts.host, opts.port)
    host = f"[{opts.host}]" if ":" in opts.host else opts.host
    print(f"dashboard: http://{host}:{server.server_port}{page}   (study storage {where}; Ctrl-C stops it)",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
