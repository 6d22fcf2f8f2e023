"""What a study leaves for the user as it runs: trials.csv, the live console lines, the summary, the exported
configs, MLflow; and what the console says of a trial process (why it ended, its memory)."""
