"""What a barrier task computes on: the :class:`Replica` contract, and one for in-memory rows.

A replica is a copy of the model plus the examples one task holds. The driver names the
examples of a step by their *global* indices; each task answers for those it holds, so the
result depends only on which examples make up the batch, never on how they were partitioned.
:class:`RowReplica` serves rows kept as numpy arrays (:class:`RowShard`); the char-LM has its
own (:class:`sparknn.charlm.CharLMReplica`, a RowReplica over windows of an encoded text).
"""

from typing import Protocol, runtime_checkable

import numpy as np

from sparknn.nn.model import Sequential


@runtime_checkable
class Replica(Protocol):
    """The executor side of the gradient exchange (see :mod:`sparknn.distributed.worker`).

    * ``params``: the model's contiguous parameter vector; the task receives the driver's
      parameters into it, so it must be the array the model computes with;
    * ``gradient(indices) -> (loss_sum, grad_sum, n)``: the summed loss and the gradient of
      that sum over the ``n`` examples among ``indices`` that this replica holds
      (``grad_sum`` may be None when ``n`` is 0; it may be overwritten by the next call);
    * ``evaluate(indices) -> (loss_sum, n)``: the summed loss without training behaviour
      (no dropout), over the held examples among ``indices``.

    ``indices`` is a sorted int64 array of global example indices. A replica whose model
    reports accuracy (compiled with ``metrics=["accuracy"]``) may return one more value from
    each, ``correct``: the summed accuracy of those ``n`` examples (what ``Sequential.fit``
    adds up), so ``gradient -> (loss_sum, grad_sum, n, correct)`` and
    ``evaluate -> (loss_sum, n, correct)``.
    """

    params: np.ndarray

    def gradient(self, indices: np.ndarray) -> tuple[float, np.ndarray | None, int]: ...

    def evaluate(self, indices: np.ndarray) -> tuple[float, int]: ...


class RowShard:
    """Rows of a data set resident on one executor: ``x[i]``, ``y[i]`` is global row ``rows[i]``.

    ``rows`` must be sorted and unique (as ``zipWithIndex`` numbers rows).
    """

    def __init__(self, rows, x, y):
        self.rows = np.asarray(rows, dtype=np.int64)
        if len(self.rows) != len(x) or len(x) != len(y):
            raise ValueError(f"{len(self.rows)} row indices for {len(x)} x and {len(y)} y rows")
        if len(self.rows) > 1 and not np.all(np.diff(self.rows) > 0):
            raise ValueError("row indices must be sorted and unique")
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.rows)

    def select(self, indices) -> np.ndarray:
        """Local positions of the global ``indices`` (sorted) this shard holds, in order."""
        positions = np.searchsorted(self.rows, indices)
        inside = positions < len(self.rows)
        positions = positions[inside]
        return positions[self.rows[positions] == np.asarray(indices)[inside]]

    def examples(self, positions):
        return self.x[positions], self.y[positions]


class RowReplica:
    """A model copy and the :class:`RowShard` s of one task.

    Each shard computes its own gradient sum and the sums are added, exactly as if every
    shard ran in a task of its own; so a data set's result does not depend on how many shards
    share a task. A model compiled with ``metrics=["accuracy"]`` also gets ``correct`` back
    from ``gradient`` and ``evaluate`` (see :class:`Replica`).
    """

    def __init__(self, model, shards, eval_batch: int = 1024):
        self.model = model
        self.shards = list(shards)
        self.eval_batch = eval_batch
        self.params = model.params
        self._sum = None

    @classmethod
    def factory(cls, model_config: dict, backend: str):
        """A picklable ``shards -> replica`` for :class:`~sparknn.distributed.SparkGradients`."""

        def make(shards):
            return cls(Sequential.from_config(model_config, backend=backend), shards)

        return make

    def gradient(self, indices):
        held = [(shard, mine) for shard in self.shards if len(mine := shard.select(indices))]
        if len(held) <= 1:  # the common case: one shard per task, no copy
            if not held:
                return self._with_accuracy((0.0, None, 0), 0.0)
            shard, mine = held[0]
            x, y = shard.examples(mine)
            result = self.model.loss_and_gradient(x, y)
            return self._with_accuracy(result, self._accuracy(y))
        if self._sum is None:
            self._sum = np.empty_like(self.model.grads)
        loss, n, correct = 0.0, 0, 0.0
        for i, (shard, mine) in enumerate(held):
            x, y = shard.examples(mine)
            part_loss, part_grad, part_n = self.model.loss_and_gradient(x, y)
            if i == 0:
                np.copyto(self._sum, part_grad)
            else:
                np.add(self._sum, part_grad, out=self._sum)
            loss += part_loss
            n += part_n
            correct += self._accuracy(y)
        return self._with_accuracy((loss, self._sum, n), correct)

    def evaluate(self, indices):
        loss, n, correct = 0.0, 0, 0.0
        for shard in self.shards:
            mine = shard.select(indices)
            for start in range(0, len(mine), self.eval_batch):
                x, y = shard.examples(mine[start : start + self.eval_batch])
                result = self.model.evaluate(x, y, batch_size=len(x), return_dict=True)
                loss += result["loss"] * len(x)
                n += len(x)
                correct += result.get("accuracy", 0.0) * len(x)
        return self._with_accuracy((loss, n), correct)

    def _accuracy(self, y) -> float:
        """The summed accuracy of the last ``loss_and_gradient`` batch (0 without metrics)."""
        return self.model.last_accuracy_sum(y) if self.model.metrics else 0.0

    def _with_accuracy(self, result: tuple, correct: float) -> tuple:
        return (*result, correct) if self.model.metrics else result
