"""What a study leaves for the user as it runs: trials.csv, the live console lines, the summary, MLflow."""
