"""Timestamps for the benchmarks, recorded inside every Python process they start (and its children).

The benchmarks put this folder on PYTHONPATH and name a file in BENCH_TIMING_FILE; nothing happens
without that variable. Each process then appends one JSON line at exit:

- ``proc_start``: when the kernel started the process (/proc/self/stat, 10 ms resolution), for a fork (a
  ``--warm-start`` trial) the fork's own start;
- ``first_step``: the ``created`` time (sub-millisecond) of the first ppcls log record containing
  ``[Train][Epoch`` - ppcls prints it right after the first training iteration (``[Iter: 0/...]``);
  the log line itself only has second resolution, so the record's own timestamp is used;
- ``exit``: when the interpreter ran its atexit handlers, and ``cpu``: the process's CPU seconds by then.

The filter sits on the ``ppcls`` logger (a logging.Filter, not a handler, so ppcls's own handler set-up
and its output are unchanged). Both sides of every comparison run with it, so its cost (importing
``logging`` a little earlier) cancels.
"""
import os

_PATH = os.environ.get("BENCH_TIMING_FILE")

if _PATH:
    import atexit
    import json
    import logging
    import sys
    import time

    def _proc_start():
        try:
            with open("/proc/self/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks = int(fields[19])  # field 22 (starttime); the text after ')' starts at field 3
            with open("/proc/uptime") as f:
                uptime = float(f.read().split()[0])
            return time.time() - uptime + ticks / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None

    _record = {"pid": os.getpid(), "proc_start": _proc_start(), "site": time.time(), "first_step": None,
               "tag": os.environ.get("BENCH_TAG"), "omp": os.environ.get("OMP_NUM_THREADS")}

    class _FirstTrainStep(logging.Filter):
        def filter(self, record):
            if _record["first_step"] is None:
                try:
                    if "[Train][Epoch" in record.getMessage():
                        _record["first_step"] = record.created
                except Exception:
                    pass
            return True

    logging.getLogger("ppcls").addFilter(_FirstTrainStep())

    def _forked():
        """A fork (a --warm-start trial) is a process of its own: its start is now, its tag comes at exit."""
        _record.update(pid=os.getpid(), proc_start=_proc_start(), site=time.time(), first_step=None)

    os.register_at_fork(after_in_child=_forked)

    def _write():
        _record["exit"] = time.time()
        _record["tag"] = os.environ.get("BENCH_TAG")  # a warm trial takes its environment after the fork
        try:
            import resource

            usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
            _record["cpu"] = usage.ru_utime + usage.ru_stime
        except (ImportError, OSError):
            pass
        _record["argv"] = list(sys.argv)
        try:
            with open(_PATH, "a") as f:
                f.write(json.dumps(_record) + "\n")
        except OSError:
            pass

    atexit.register(_write)
