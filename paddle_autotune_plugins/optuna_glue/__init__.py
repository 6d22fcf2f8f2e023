"""Optuna glue: the samplers (TPE, the prior around the config, PULC greedy), the pruners and the storages."""
