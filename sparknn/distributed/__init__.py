"""Synchronous data-parallel SGD on Spark.

The driver owns the parameters and the optimizer; one long-lived barrier stage keeps each
partition's data resident on its executor; per step, tasks receive the parameters and send
back gradient sums as raw binary frames (see :mod:`sparknn.distributed.protocol`).
"""

from sparknn.distributed.batches import BatchSchedule
from sparknn.distributed.protocol import Channel
from sparknn.distributed.replica import Replica, RowReplica, RowShard
from sparknn.distributed.sources import LocalGradients, SparkGradients
from sparknn.distributed.trainer import fit, resume

__all__ = [
    "BatchSchedule", "Channel", "LocalGradients", "Replica", "RowReplica", "RowShard",
    "SparkGradients", "fit", "resume",
]  # fmt: skip
