"""paddle-autotune: hyperparameter tuning for PaddleClas, PaddleDetection and PaddleNLP on Optuna.

Usage from a suite checkout (everything before --autotune is your usual command)::

    python -m paddle_autotune_plugins tools/train.py -c configs/x.yaml --autotune --preset clas-lr --trials 20
"""
__version__ = "0.1.0"
