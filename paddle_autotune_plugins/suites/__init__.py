"""The adapter seam: what a suite must write, the shared bases for YAML suites and flag scripts."""
