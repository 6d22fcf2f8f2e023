"""Faults a trial's own process can cause, with real processes and real storages (round 3 of the reliability
work): whatever a trial forks ends with it, and whatever it writes can fail only that trial."""

import optuna


def test_a_huge_line_keeps_only_its_start_in_memory():
    from paddle_autotune_plugins.suites.kit import script_output as hooks

    class Sink:
        def write(self, text):
            return len(text)

    lines = []
    tee = hooks._LineTee(Sink(), lines.append)
    for _ in range(1000):
        tee.write("y" * 1000)
        assert tee._size <= hooks.MAX_LINE
    tee.write(" val_acc: 0.5\nnext")
    assert lines == ["y" * hooks.MAX_LINE] and tee._size == 4


def test_a_storage_failure_is_described_by_the_deepest_error_that_says_something():
    """The chain of the restart above, as SQLAlchemy and Optuna raise it: the pool's empty error lies deepest."""
    import sqlalchemy

    from paddle_autotune_plugins.optuna_glue.storages import describe_failure

    try:
        try:
            try:
                raise sqlalchemy.exc.InvalidatePoolError()
            except sqlalchemy.exc.InvalidatePoolError:
                raise ConnectionError("connection failed: FATAL:  the database system is shutting down\nmore")
        except ConnectionError as e:
            raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.") from e
    except optuna.exceptions.StorageInternalError as e:
        assert describe_failure(e) == "connection failed: FATAL:  the database system is shutting down"
