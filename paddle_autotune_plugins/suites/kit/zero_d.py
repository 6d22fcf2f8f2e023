"""Paddle >= 2.5 returns 0-D tensors from reductions and scalar indexing, where older Paddle returned shape
[1]; suite code written before then concatenates or indexes them and fails on Paddle 3. What the adapters'
run-time fixes for it share: telling a 0-D value, turning it into shape [1], and a ``paddle`` stand-in whose
``concat`` does that to its inputs.

>>> import numpy
>>> is_0d(numpy.float32(1.5).reshape(())), is_0d(1.5), as_1d(numpy.zeros(())).shape
(True, False, (1,))
>>> fake_paddle = type("paddle", (), {"concat": staticmethod(lambda x, axis=0, name=None: numpy.concatenate(x, axis))})
>>> PaddleWith1DConcat(fake_paddle).concat([numpy.zeros(()), numpy.ones(2)]).tolist()
[0.0, 1.0, 1.0]
"""
from typing import Any, Optional


def is_0d(x: Any) -> bool:
    """A 0-D tensor or array (a Python number is not one)."""
    shape = getattr(x, "shape", None)
    return shape is not None and not isinstance(x, (int, float)) and len(shape) == 0


def as_1d(x: Any) -> Any:
    """x as shape [1] where it is 0-D (for a tensor, differentiably), else x as it is."""
    return x.reshape([1]) if is_0d(x) else x


class PaddleWith1DConcat:
    """Stands in for the ``paddle`` module inside one suite module (``module.paddle = PaddleWith1DConcat(paddle)``):
    ``concat`` takes 0-D inputs as shape [1], what they were before 0-D tensors; every other attribute, read or
    written, is paddle's. A concat of 0-D tensors can only fail, so no working call changes."""

    def __init__(self, paddle: Any) -> None:
        self.__dict__["_paddle"] = paddle

    def __getattr__(self, name: str) -> Any:
        return getattr(self._paddle, name)

    def __setattr__(self, name: str, value: Any) -> None:  # keep the stand-in transparent for writes too
        setattr(self._paddle, name, value)

    def __repr__(self) -> str:
        return f"<paddle (0-D concat fix by paddle-autotune) {self._paddle!r}>"

    def concat(self, x: Any, axis: int = 0, name: Optional[str] = None) -> Any:
        if isinstance(x, (list, tuple)) and any(is_0d(t) for t in x):
            x = [as_1d(t) for t in x]
        return self._paddle.concat(x, axis=axis, name=name)
