"""One trial, as a process: its birth, the reporting protocol it speaks, the hooks inside it, its stop."""
