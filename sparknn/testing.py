"""Fault injection for tests: make a Spark training task's Python worker die mid-training.

Nothing but tests sets :data:`faults`; the trainers read it when they start their barrier
stage (:class:`~sparknn.word2vec.exchange.RoundServer`,
:class:`~sparknn.distributed.sources.SparkGradients`), and the first task's worker then
exits once, at that word2vec round or SGD step, so that Spark relaunches the stage.
"""

from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class Faults:
    """Where the first task's worker exits (None: nowhere)."""

    word2vec_round: int | None = None  # a word2vec round, counted over every epoch's rounds
    step: int | None = None  # a step of sparknn.distributed's synchronous SGD


faults = Faults()


@contextmanager
def task_dies(*, at_round: int | None = None, at_step: int | None = None):
    """Within the block, trainers started make their first task's worker exit once at word2vec
    round ``at_round`` or SGD step ``at_step``."""
    before = (faults.word2vec_round, faults.step)
    faults.word2vec_round, faults.step = at_round, at_step
    try:
        yield
    finally:
        faults.word2vec_round, faults.step = before
