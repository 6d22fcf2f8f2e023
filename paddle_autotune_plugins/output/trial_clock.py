"""How far a running trial's training is, and the time it still needs, from its progress lines."""
from typing import Any, Optional


class TrialClock:
    """How far one trial's training is, from its progress lines (reporting.report_progress), and what
    that says about the time it still needs: remaining epochs x its measured seconds per epoch."""

    iter: Optional[int]  # the iteration last reported in the running epoch, of iters; at iter_time
    iters: Optional[int]
    iter_time: Optional[float]

    def __init__(self, started: float) -> None:
        self.started = started  # the trial process's start
        self.epoch: Optional[int] = None  # the epoch running, or the last one that ended
        self.epochs: Optional[int] = None
        self.done = 0  # epochs completed
        self.first: Optional[float] = None  # when the first timed epoch started ...
        self.base = 0  # ... with this many epochs completed before it
        self.boundary: Optional[float] = None  # time of the last epoch start or end
        self.seconds_per_epoch: Optional[float] = None
        self.iter = self.iters = self.iter_time = None

    def update(self, progress: dict[str, Any], when: float) -> None:
        k = int(progress["epoch"])
        if progress.get("epochs"):
            self.epochs = int(progress["epochs"])
        end = bool(progress.get("end"))
        done = k if end else k - 1
        if done < self.done or (not end and k == self.epoch and done == self.done and progress.get("iter") is None):
            return  # an epoch that has already ended (ppdet's eval starts an "epoch" too), or a repeated start
        if progress.get("iter") is not None:
            if self.epoch == k - 1 and self.done == k - 1 and self.boundary is not None:
                self.epoch = k  # its start line was not seen: it started when the previous one ended
            elif k != self.epoch or done != self.done:  # nothing seen of it before: it starts now
                self._boundary(k, k - 1, when, first_at=when)
            self.iter, self.iters, self.iter_time = progress["iter"], progress.get("iters"), when
            return
        # an end line with no start seen (e.g. a script that prints only "epoch 1/5 ... val_acc"): timed from
        # the process's start, start-up included
        self._boundary(k, done, when, first_at=self.started if end else when)

    def _boundary(self, k: int, done: int, when: float, first_at: float) -> None:
        if self.first is None:
            self.first, self.base = first_at, (k - 1)
        if done > self.base and when > self.first:
            self.seconds_per_epoch = (when - self.first) / (done - self.base)
        if k != self.epoch or done != self.done:
            self.iter = self.iters = self.iter_time = None
        self.epoch, self.done, self.boundary = k, max(self.done, done), when

    def rate(self) -> Optional[float]:
        """Seconds per epoch: measured over the epochs done, else guessed from the iterations of the first one."""
        if self.seconds_per_epoch is not None:
            return self.seconds_per_epoch
        if self.iter and self.iters and self.iter_time and self.boundary is not None and self.iter_time > self.boundary:
            return (self.iter_time - self.boundary) * self.iters / self.iter
        return None

    def eta(self, now: float) -> Optional[float]:
        """Seconds this trial still needs, or None while nothing has been timed (or the epochs are unknown)."""
        rate = self.rate()
        if rate is None or self.epochs is None:
            return None
        assert self.boundary is not None  # a rate is measured from an epoch's start or end
        return max(0.0, (self.epochs - self.done) * rate - (now - self.boundary))

    def where(self) -> str:
        if self.epoch is None:
            return "no epoch reported yet"
        text = f"epoch {self.epoch}/{self.epochs}" if self.epochs else f"epoch {self.epoch}"
        if self.iter is not None:
            text += f" iter {self.iter}/{self.iters}" if self.iters else f" iter {self.iter}"
        return text + (" ended" if self.done == self.epoch and self.iter is None else "")
