"""Which windows make up the global minibatch at step t: a pure function of (seed, t).

Epoch ``e`` visits the training windows in the order of a permutation drawn from
``numpy.random.default_rng([seed, e])``; step ``t`` takes the ``t % steps_per_epoch``-th slice
of it. Nothing depends on partitioning, on the order tasks answer or on what ran before, so
a resumed or retried run sees exactly the batches an uninterrupted one would.
"""

import numpy as np

from sparknn.errors import SparknnError


class BatchSchedule:
    """The global minibatches over ``train_windows``: ``batch(step)`` is the sorted window
    indices of step ``step``, ``steps_per_epoch`` full batches of ``batch_size`` (at most the
    number of windows) per epoch, each epoch in its own order drawn from ``seed``."""

    def __init__(self, train_windows, batch_size: int, seed: int):
        self.windows = np.asarray(train_windows, dtype=np.int64)
        if batch_size < 1:
            raise SparknnError(f"batch_size must be >= 1, got {batch_size}")
        if len(self.windows) == 0:
            raise SparknnError("no training windows (corpus too small for val_fraction?)")
        self.batch_size = min(batch_size, len(self.windows))
        self.seed = seed
        self.steps_per_epoch = len(self.windows) // self.batch_size
        self._epoch, self._order = None, None

    def epoch_of(self, step: int) -> int:
        return step // self.steps_per_epoch

    def batch(self, step: int) -> np.ndarray:
        """Sorted global window indices of the batch at ``step`` (0-based)."""
        epoch = self.epoch_of(step)
        if epoch != self._epoch:
            rng = np.random.default_rng([self.seed, epoch])
            self._epoch, self._order = epoch, rng.permutation(len(self.windows))
        start = (step % self.steps_per_epoch) * self.batch_size
        return np.sort(self.windows[self._order[start : start + self.batch_size]])
