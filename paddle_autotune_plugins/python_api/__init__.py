"""The Python API: ``AutoTuner(train_evaluate, search_space=...).run()`` for any objective."""
