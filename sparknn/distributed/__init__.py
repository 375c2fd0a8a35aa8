"""Synchronous data-parallel SGD on Spark.

The driver owns the parameters and the optimizer; one long-lived barrier stage keeps each
partition's data resident on its executor; per step, tasks receive the parameters and send
back gradient sums as raw binary frames (see :mod:`sparknn.distributed.protocol`).
"""

from sparknn.distributed.batches import BatchSchedule
from sparknn.distributed.replica import Replica, RowReplica, RowShard
from sparknn.distributed.sources import LocalGradients, SparkGradients

__all__ = [
    "BatchSchedule", "LocalGradients", "Replica", "RowReplica", "RowShard", "SparkGradients",
]  # fmt: skip
