"""word2vec rounds on Spark: one long-lived barrier stage, row exchanges with the driver.

Each barrier task holds one or more partitions (a
:class:`~sparknn.word2vec.replica.PartitionTrainer` each: the encoded tokens and the
partition's own copy of both matrices) for the whole run, so the corpus and the model cross
the network once, not every round. A round is one exchange:

* driver -> task, ``ROUND``: ``int64[4]`` (epoch, round index, n0, n1), ``float64[2]`` (the
  fraction of each partition to train), then the rows merged last round and their new
  values: ``int32[n0]``, ``float32[n0, d]`` for syn0, the same for syn1neg. A task that
  connected after training started (a relaunched stage, whose replicas are new) is sent
  every row (of the driver's model as of its last recovery point, to which it went back:
  see "Recovery" in docs/word2vec-design.md) and, flag ``FLAG_RESTORE``, the lost replicas'
  unsent rows: ``int64[1]`` (k), then k times ``int64[2]`` (partition, m) and
  :func:`unsent_arrays`. Flag ``FLAG_REPORT_UNSENT`` (a recovery point) asks for each
  replica's unsent rows.
* task -> driver, one ``ROWS`` frame per partition it holds (``count`` = frames still to
  come): ``int64[4]`` (n0, n1, pairs, words), ``float64[3]`` (loss, alpha, seconds), then
  the rows it sends (those it changed; see "Deferred rows" in docs/word2vec-design.md),
  their deltas and update counts, for syn0 then syn1neg; with ``FLAG_REPORT_UNSENT``, then
  ``int64[1]`` (m) and the unsent rows it held before training (:func:`unsent_arrays`).

The driver merges the rows (:func:`~sparknn.word2vec.merge.merge_rows`) and sends the merged
rows with the next round. Frames are raw numpy buffers after the fixed header, never pickle.
The stage, its retries and authentication are the char-LM trainer's
(:mod:`sparknn.distributed`).
"""

import logging
import os

import numpy as np

from sparknn.distributed.protocol import (
    FLAG_DIE,
    ROUND,
    ROWS,
    STOP,
    Channel,
    Header,
    new_secret,
)
from sparknn.distributed.server import TaskFailed, TaskServer
from sparknn.distributed.sources import BarrierStage, driver_address
from sparknn.distributed.worker import barrier_task
from sparknn.testing import faults
from sparknn.word2vec.memory import keep_freed_memory
from sparknn.word2vec.replica import NO_ROWS, RoundResult
from sparknn.word2vec.rounds import ReplicasLost

# ROUND and ROWS flags besides FLAG_DIE (see the module docstring).
FLAG_REPORT_UNSENT, FLAG_RESTORE = 2, 4


def unsent_arrays(unsent):
    """A replica's unsent rows (``PartitionTrainer.unsent_rows``) as frame arrays:
    ``int32[m]`` rows, ``float32[m, d]`` values, ``int32[m]`` update counts."""
    rows, values, counts = unsent
    return _i32(rows), _f32(values), _i32(counts)


def recv_unsent(channel, m: int, dim: int):
    return (
        _recv(channel, np.int32, m), _recv(channel, np.float32, (m, dim)),
        _recv(channel, np.int32, m),
    )  # fmt: skip


def send_round(channel, epoch, round_index, start, stop, update, flags=0, restore=None) -> None:
    """A ROUND frame; ``restore`` (partition -> unsent rows) goes to new replicas."""
    rows0, values0, rows1, values1 = update
    meta = np.array([epoch, round_index, len(rows0), len(rows1)], dtype=np.int64)
    fractions = np.array([start, stop], dtype=np.float64)
    arrays = [meta, fractions, _i32(rows0), _f32(values0), _i32(rows1), _f32(values1)]
    if restore is not None:
        flags |= FLAG_RESTORE
        arrays.append(np.array([len(restore)], dtype=np.int64))
        for partition, unsent in sorted(restore.items()):
            arrays.append(np.array([partition, len(unsent[0])], dtype=np.int64))
            arrays.extend(unsent_arrays(unsent))
    channel.send(Header(ROUND, flags=flags), *arrays)


def send_result(channel, result, remaining: int) -> None:
    meta = np.array([len(result.rows0), len(result.rows1), result.pairs, result.words], np.int64)
    stats = np.array([result.loss, result.alpha, result.seconds], dtype=np.float64)
    arrays = [
        meta, stats, _i32(result.rows0), _f32(result.deltas0), _i32(result.counts0),
        _i32(result.rows1), _f32(result.deltas1), _i32(result.counts1),
    ]  # fmt: skip
    flags = 0
    if result.unsent is not None:
        flags = FLAG_REPORT_UNSENT
        arrays.append(np.array([len(result.unsent[0])], dtype=np.int64))
        arrays.extend(unsent_arrays(result.unsent))
    channel.send(Header(ROWS, step=result.partition, count=remaining, flags=flags), *arrays)


def recv_result(channel, header, dim: int):
    meta, stats = _recv(channel, np.int64, 4), _recv(channel, np.float64, 3)
    n0, n1, pairs, words = (int(x) for x in meta)
    rows0, deltas0, counts0 = (
        _recv(channel, np.int32, n0), _recv(channel, np.float32, (n0, dim)),
        _recv(channel, np.int32, n0),
    )  # fmt: skip
    rows1, deltas1, counts1 = (
        _recv(channel, np.int32, n1), _recv(channel, np.float32, (n1, dim)),
        _recv(channel, np.int32, n1),
    )  # fmt: skip
    unsent = None
    if header.flags & FLAG_REPORT_UNSENT:
        unsent = recv_unsent(channel, int(_recv(channel, np.int64, 1)[0]), dim)
    loss, alpha, seconds = (float(x) for x in stats)
    return RoundResult(
        header.step, rows0, deltas0, counts0, rows1, deltas1, counts1, loss, pairs, words, alpha,
        seconds, unsent,
    )  # fmt: skip


def serve_rounds(channel: Channel, trainers) -> dict:
    """The task side: answer ROUND requests for the partitions ``trainers`` hold, until STOP."""
    keep_freed_memory()
    dim = trainers[0].syn0.shape[1] if trainers else 0
    rounds, compute_seconds = 0, 0.0
    while True:
        request = channel.recv_header()
        if request.kind == STOP:
            break
        if request.kind != ROUND:
            raise ConnectionError(f"unexpected message kind {request.kind}")
        epoch, round_index, n0, n1 = (int(x) for x in _recv(channel, np.int64, 4))
        start, stop = (float(x) for x in _recv(channel, np.float64, 2))
        update = (
            _recv(channel, np.int32, n0), _recv(channel, np.float32, (n0, dim)),
            _recv(channel, np.int32, n1), _recv(channel, np.float32, (n1, dim)),
        )  # fmt: skip
        restore = None
        if request.flags & FLAG_RESTORE:
            restore = {}
            for _ in range(int(_recv(channel, np.int64, 1)[0])):
                partition, m = (int(x) for x in _recv(channel, np.int64, 2))
                restore[partition] = recv_unsent(channel, m, dim)
        if request.flags & FLAG_DIE:
            os._exit(17)  # fault injection (tests): this Python worker dies mid-training
        report_unsent = bool(request.flags & FLAG_REPORT_UNSENT)
        for index, trainer in enumerate(trainers):
            lost = None if restore is None else restore.get(trainer.partition, NO_ROWS)
            result = trainer.round(
                epoch, round_index, start, stop, update, lost, report_unsent
            )  # fmt: skip
            compute_seconds += result.seconds
            send_result(channel, result, remaining=len(trainers) - 1 - index)
        rounds += 1
    return {"rounds": rounds, "compute_seconds": compute_seconds}


class RoundServer(TaskServer):
    """The driver side: one ROUND exchange with every connected task per round."""

    def __init__(self, n_tasks, dim, secret, bind_host="", advertise_host=None):
        super().__init__(n_tasks, secret, bind_host, advertise_host)
        self.dim = dim
        self.rounds_done = 0
        # fault injection (tests only, see sparknn.testing): (round, task) that must die, once
        self.die_at_round = None
        if faults.word2vec_round is not None:
            self.die_at_round = (faults.word2vec_round, 0)

    def connection(self, channel, hello):
        return _RoundConnection(channel, hello, synced=self.rounds_done == 0)

    def run_round(
        self, epoch, round_index, start, stop, update, model, report_unsent=False, restore=None
    ):  # fmt: skip
        """One exchange (see the module docstring); a task that connected after training
        started is sent the whole ``model`` and ``restore``, the unsent rows of the
        replicas it replaces."""
        if all(conn.synced for conn in self.tasks.values()):
            full = None
        else:  # a relaunched task is sent every row's value
            syn0, syn1neg = model
            everything = np.arange(len(syn0), dtype=np.int32)
            full = (everything, syn0, everything, syn1neg)

        def one(conn):
            die = self.die_at_round == (self.rounds_done, conn.task) and not self.reconnects
            flags = (FLAG_DIE if die else 0) | (FLAG_REPORT_UNSENT if report_unsent else 0)
            if conn.synced:
                send_round(conn.channel, epoch, round_index, start, stop, update, flags)
            else:
                send_round(
                    conn.channel, epoch, round_index, start, stop, full, flags, restore or {}
                )  # fmt: skip
            results = []
            while True:
                header = conn.channel.recv_header()
                if header.kind != ROWS:
                    raise ConnectionError(f"expected ROWS, got message kind {header.kind}")
                results.append(recv_result(conn.channel, header, self.dim))
                if header.count == 0:
                    return results

        futures = [self.pool.submit(one, conn) for conn in self.tasks.values()]
        results, failure = [], None
        for future in futures:
            try:
                results.extend(future.result())
            except (OSError, ConnectionError) as error:
                failure = failure or error
        if failure is not None:
            self.drop_all()
            raise TaskFailed(str(failure))
        for conn in self.tasks.values():
            conn.synced = True
        self.rounds_done += 1
        return sorted(results, key=lambda result: result.partition)


class SparkRounds:
    """The round source of :func:`~sparknn.word2vec.rounds.run_rounds` on a barrier stage; a
    context manager that closes the stage on exit. ``log`` takes the stage's messages (a
    failed task, waiting for its relaunch); by default they go to this module's logger."""

    def __init__(self, spark, shards, make_trainers, dim, connect_timeout=300.0, log=None):
        log = log or logging.getLogger(__name__).info
        bind, advertise = driver_address(spark)
        self.server = RoundServer(
            shards.getNumPartitions(), dim, new_secret(), bind_host=bind, advertise_host=advertise
        )
        task = barrier_task(self.server.address, self.server.secret, make_trainers, serve_rounds)
        self.stage = BarrierStage(
            spark, shards, self.server, task, "sparknn word2vec rounds (barrier stage)",
            connect_timeout, log,
        )  # fmt: skip

    def run_round(
        self, epoch, round_index, start, stop, update, model, report_unsent=False, restore=None
    ):  # fmt: skip
        """The round on the stage's tasks; :class:`ReplicasLost` if a task failed (Spark
        relaunches the stage, whose new tasks the next call waits for)."""
        try:
            return self.stage.once(
                lambda: self.server.run_round(
                    epoch, round_index, start, stop, update, model, report_unsent, restore
                )
            )
        except TaskFailed as error:
            raise ReplicasLost(str(error)) from None

    def close(self):
        self.stage.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stage.__exit__(*exc_info)  # its error never replaces one leaving the block


class _RoundConnection:
    def __init__(self, channel, hello, synced: bool):
        self.channel, self.task, self.attempt = channel, hello.step, hello.count
        self.synced = synced  # holds the driver's model as of the last round


def _recv(channel, dtype, shape):
    array = np.empty(shape, dtype=dtype)
    if array.size:
        channel.recv_into(array)
    return array


def _i32(array):
    return np.ascontiguousarray(array, dtype=np.int32)


def _f32(array):
    return np.ascontiguousarray(array, dtype=np.float32)
