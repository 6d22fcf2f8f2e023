"""The study: the coordinator (ask, launch, listen, prune, tell), its view of the trials, objectives, fidelity."""
