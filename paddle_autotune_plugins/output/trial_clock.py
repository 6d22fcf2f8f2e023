"""How far a running trial's training is, and the time it still needs, from its progress lines."""


class TrialClock:
    """How far one trial's training is, from its progress lines (reporting.report_progress), and what
    that says about the time it still needs: remaining epochs x its measured seconds per epoch."""

    def __init__(self, started):
        self.started = started  # the trial process's start
        self.epoch = None  # the epoch running, or the last one that ended
        self.epochs = None
        self.done = 0  # epochs completed
        self.first = None  # when the first timed epoch started ...
        self.base = 0  # ... with this many epochs completed before it
        self.boundary = None  # time of the last epoch start or end
        self.seconds_per_epoch = None
        self.iter = self.iters = self.iter_time = None

    def update(self, progress, when):
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

    def _boundary(self, k, done, when, first_at):
        if self.first is None:
            self.first, self.base = first_at, (k - 1)
        if done > self.base and when > self.first:
            self.seconds_per_epoch = (when - self.first) / (done - self.base)
        if k != self.epoch or done != self.done:
            self.iter = self.iters = self.iter_time = None
        self.epoch, self.done, self.boundary = k, max(self.done, done), when

    def rate(self):
        """Seconds per epoch: measured over the epochs done, else guessed from the iterations of the first one."""
        if self.seconds_per_epoch is not None:
            return self.seconds_per_epoch
        if self.iter and self.iters and self.iter_time and self.boundary is not None and self.iter_time > self.boundary:
            return (self.iter_time - self.boundary) * self.iters / self.iter
        return None

    def eta(self, now):
        """Seconds this trial still needs, or None while nothing has been timed (or the epochs are unknown)."""
        rate = self.rate()
        if rate is None or self.epochs is None:
            return None
        return max(0.0, (self.epochs - self.done) * rate - (now - self.boundary))

    def where(self):
        if self.epoch is None:
            return "no epoch reported yet"
        text = f"epoch {self.epoch}/{self.epochs}" if self.epochs else f"epoch {self.epoch}"
        if self.iter is not None:
            text += f" iter {self.iter}/{self.iters}" if self.iters else f" iter {self.iter}"
        return text + (" ended" if self.done == self.epoch and self.iter is None else "")
