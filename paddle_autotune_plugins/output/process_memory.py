"""The resident memory of a trial's process tree (--trial-memory)."""


def tree_rss(pid: int) -> int:
    """Resident memory of a process and all its children, in bytes (0 once it is gone)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root] + root.children(recursive=True)
    except psutil.Error:
        return 0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total
